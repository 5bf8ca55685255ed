"""Chapter 7's swap score: decode *a*'s private code with *b*'s shared code and ask a classifier
trained on real log-mels which timbre and pitch the result has.

``python -m mvtutorial.reproduce swap`` scores the shipped paper-faithful and recommended checkpoints
(2,000 test pairs, one classifier of seed 0) into ``assets/swap/<folder>-seed{S}.json``;
:mod:`mvtutorial.studies.swaps` judges the same pairs against their counterfactuals.
"""
from __future__ import annotations

from pathlib import Path

from threadpoolctl import threadpool_limits

from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..checkpoint import load_model
from ..data import load_tone_dataset
from ..listening import fit_feature_classifier, swap_score, swap_table
from .store import ASSETS, output_root, shipped_input, where

__all__ = ["SWAP_CONFIGS", "reproduce_swap", "swap_records", "swap_markdown"]

#: Shipped checkpoints the swap score is computed for: name -> assets folder (3 seeds each).
SWAP_CONFIGS = {"paper (headline)": "headline", "+ cross-view + rate": "recommended"}


def reproduce_swap(seeds=(0, 1, 2), n_pairs: int = 2000, threads: int | None = None, out: str | Path | None = None) -> None:
    """Swap scores (chapter 7) of the paper-faithful and recommended checkpoints (the output folder's,
    else the shipped ones) into ``<root>/swap/<folder>-seed{S}.json`` (:func:`output_root` of ``out``):
    one real-log-mel classifier (seed 0), 2,000 test pairs. A seed without a checkpoint is a
    ``FileNotFoundError`` before the classifier is fitted."""
    root = output_root(out)
    for folder in SWAP_CONFIGS.values():
        missing = [s for s in seeds if not shipped_input(root, folder, f"seed{s}.pt").exists()]
        if missing:
            have = sorted(int(p.stem[4:]) for p in ASSETS.joinpath(folder).glob("seed*.pt") if p.stem[4:].isdigit())
            raise FileNotFoundError(f"no {folder} checkpoint for seed(s) {missing} in {where(root, folder)}"
                                    f"{'' if root == ASSETS else ' or assets/' + folder} (shipped seeds: {have}); use --seeds "
                                    f"from those, or train them first (python -m mvtutorial.reproduce "
                                    f"{'headline' if folder == 'headline' else 'separation'} --seeds ...)")
    with threadpool_limits(limits=threads):
        ds = load_tone_dataset("full")
        classifier = fit_feature_classifier(ds, seed=0)
        print(f"classifier on real log-mels, test accuracy {classifier.test_accuracy}", flush=True)
        for name, folder in SWAP_CONFIGS.items():
            for seed in seeds:
                model = load_model(shipped_input(root, folder, f"seed{seed}.pt"))
                record = {"config": name, "checkpoint": f"{folder}/seed{seed}.pt", "train_seed": seed, "version": __version__,
                          **swap_score(model, ds, classifier, n_pairs=n_pairs, seed=0),
                          "command": "python -m mvtutorial.reproduce swap"}
                atomic_write_json(record, root / "swap" / f"{folder}-seed{seed}.json")
                print(f"{name} seed {seed}: swap timbre {record['swap_timbre']:.3f} frequency "
                      f"{record['swap_frequency']:.3f} both {record['swap_both']:.3f}", flush=True)


def swap_records() -> list[dict]:
    """The shipped swap-score records (``assets/swap``), paper-faithful first."""
    order = {folder: i for i, folder in enumerate(SWAP_CONFIGS.values())}
    paths = sorted((ASSETS / "swap").glob("*.json"), key=lambda p: (order.get(p.stem.split("-")[0], 99), p.stem))
    return [read_json(p) for p in paths]


def swap_markdown() -> str:
    """Markdown table of the shipped swap scores (mean +- sd over training seeds) with chance levels."""
    records = swap_records()
    if not records:
        return "(no shipped swap scores: run `python -m mvtutorial.reproduce swap`)"
    table = swap_table(records)
    cols = [("swap_timbre", "timbre follows shared donor"), ("swap_frequency", "pitch follows private donor"),
            ("swap_both", "both"), ("leak_timbre", "timbre from private donor"), ("leak_frequency", "pitch from shared donor"),
            ("recon_timbre", "recon. timbre"), ("recon_frequency", "recon. pitch")]
    r = records[0]
    lines = [f"Swap score (chapter 7): {r['n_pairs']:,} test pairs differing in timbre and pitch, decoded as "
             "*a*'s private code + *b*'s shared code and labelled by a classifier trained on real log-mels "
             f"(test accuracy timbre {r['real_timbre']:.2f}, pitch {r['real_frequency']:.2f}); mean +- sd over the "
             f"shipped training seeds. Chance: timbre {r['chance_timbre']:.2f}, pitch {r['chance_frequency']:.3f}, "
             f"both {r['chance_both']:.3f}.", "",
             "| configuration | n | " + " | ".join(name for _, name in cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for config, row in table.iterrows():
        cells = [f"{row[(k, 'mean')]:.2f} +- {row[(k, 'sd')]:.2f}" for k, _ in cols]
        lines.append(f"| {config} | {int(row[('n', '')])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
