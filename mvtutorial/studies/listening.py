"""Chapter 7's swap score: decode *a*'s private code with *b*'s shared code and ask a classifier
trained on real log-mels which timbre and pitch the result has.

``python -m mvtutorial.reproduce swap`` scores the shipped paper-faithful and recommended checkpoints
(2,000 test pairs, one classifier of seed 0) into ``assets/swap/<folder>-seed{S}.json``;
:mod:`mvtutorial.studies.swaps` judges the same pairs against their counterfactuals.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..cache import read_json
from ..checkpoint import load_model
from ..data import load_tone_dataset
from ..listening import fit_feature_classifier, swap_table, to_audio
from ..players import audio_grid_html
from .separation import PAPER, RECOMMENDED, label
from .store import ASSETS, output_root, shipped_input, where
from .swaps import write_swap_score

__all__ = ["SWAP_CONFIGS", "reproduce_swap", "swap_records", "swap_markdown", "example_pitches", "test_clip", "example_grid", "decoded_grid_html", "swap_readings", "judge_readings"]

#: Shipped checkpoints the swap score is computed for: separation-study family (identifier) -> assets folder (3 seeds each).
SWAP_CONFIGS = {PAPER: "headline", RECOMMENDED: "recommended"}


def reproduce_swap(seeds=(0, 1, 2), n_pairs: int = 2000, threads: int | None = None, out: str | Path | None = None) -> None:
    """Swap scores (chapter 7) of the paper-faithful and recommended checkpoints (the output folder's,
    else the shipped ones) into ``<root>/swap/<folder>-seed{S}.json`` (:func:`output_root` of ``out``)
    by :func:`~mvtutorial.studies.swaps.write_swap_score`: one real-log-mel classifier (seed 0), 2,000
    test pairs. A seed without a checkpoint is a ``FileNotFoundError`` before the classifier is fitted."""
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
                record = write_swap_score(root / "swap" / f"{folder}-seed{seed}.json", model, ds, classifier, n_pairs=n_pairs,
                                          config=label(name), checkpoint=f"{folder}/seed{seed}.pt", train_seed=seed,
                                          command="python -m mvtutorial.reproduce swap")
                print(f"{label(name)} seed {seed}: swap timbre {record['swap_timbre']:.3f} frequency "
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


# --------------------------------------------------------------------------- #
# Chapter 7's examples and readings
# --------------------------------------------------------------------------- #
#: The two families' rows (display labels) in the swap tables: records name their family by label.
PAPER_FAMILY, RECOMMENDED_FAMILY = label(PAPER), label(RECOMMENDED)


def example_pitches(ds, n_pitches: int = 4) -> list[int]:
    """``n_pitches`` frequency classes spread from low to high (clear of the two ends)."""
    return [int(round(k)) for k in np.linspace(2, ds.config.n_freq_classes - 3, n_pitches)]


def test_clip(ds, waveform: int, freq_class: int, seed: int = 0) -> int:
    """Row of a test clip of this waveform and frequency class, drawn with ``seed``."""
    test = ds.factors.iloc[ds.split_indices("test")]
    return int(np.random.default_rng([seed, waveform, freq_class]).choice(test.index[(test.waveform == waveform) & (test.freq_class == freq_class)]))


def example_grid(ds, n_pitches: int = 4, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Test clips to listen to: one per (waveform, frequency class) for the classes of
    :func:`example_pitches` (:func:`test_clip`). Returns ``(rows (n_waveforms, n_pitches), column labels)``."""
    test = ds.factors.iloc[ds.split_indices("test")]
    pitches = example_pitches(ds, n_pitches)
    grid = np.array([[test_clip(ds, w, k, seed) for k in pitches] for w in range(len(ds.config.waveforms))])
    labels = [f"class {k} ({test.loc[test.freq_class == k, 'freq_hz'].median():.0f} Hz)" for k in pitches]
    return grid, labels


def decoded_grid_html(decoded, feature_config, row_labels, col_labels, title: str, n_iter: int = 64) -> str:
    """Players for a grid of decoded log-mels ``(rows, cols, n_mels, n_frames)``: each inverted with
    Griffin-Lim (:func:`mvtutorial.listening.to_audio`) and shown beside its spectrogram."""
    decoded = np.asarray(decoded)
    audio = to_audio(decoded.reshape(-1, *decoded.shape[2:]), feature_config, n_iter=n_iter)
    return audio_grid_html(decoded, audio.reshape(*decoded.shape[:2], -1), row_labels, col_labels, title=title)


def _pct(table: pd.DataFrame, config: str, key: str) -> str:
    return f"{100 * table.loc[config, (key, 'mean')]:.0f} %"


def swap_readings(table: pd.DataFrame, paper: str = PAPER_FAMILY, recommended: str = RECOMMENDED_FAMILY) -> list[str]:
    """Markdown bullets reading :func:`mvtutorial.listening.swap_table`: for each model whether its swaps
    take the shared donor's timbre (a verdict from the numbers: above twice chance and above the leak of
    the private donor's timbre), how often pitch follows the private donor against its reconstructions,
    and both at once against chance."""
    lines = []
    for config, name in ((paper, "paper-faithful"), (recommended, "recommended")):
        v = lambda k: float(table.loc[config, (k, "mean")])  # noqa: E731
        works = v("swap_timbre") > 2 * v("chance_timbre") and v("swap_timbre") > v("leak_timbre")
        lines.append(f"* **{name}: " + ("the split holds for timbre.** " if works else "the swaps fail for timbre.** ")
                     + f"{_pct(table, config, 'swap_timbre')} of swaps take the shared donor's timbre (chance "
                     f"{_pct(table, config, 'chance_timbre')}) and {_pct(table, config, 'leak_timbre')} keep the private "
                     f"donor's. The pitch follows the private donor in {_pct(table, config, 'swap_frequency')} of swaps, "
                     f"against {_pct(table, config, 'recon_frequency')} in the model's own reconstructions"
                     + (": swaps lose pitch that reconstructions keep." if v("swap_frequency") < v("recon_frequency") - 0.02
                        else "."))
    lines.append(f"* **both at once: {_pct(table, recommended, 'swap_both')}** for the recommended model, against a chance "
                 f"level of {100 * table.loc[recommended, ('chance_both', 'mean')]:.1f} % and "
                 f"{_pct(table, paper, 'swap_both')} for the paper-faithful one.")
    return lines


def judge_readings(judges: pd.DataFrame, per_class: pd.DataFrame, ceiling: str = "real clips (judge ceiling)",
                   paper: str = PAPER_FAMILY, recommended: str = RECOMMENDED_FAMILY) -> list[str]:
    """Markdown bullets reading the judges' table (:func:`mvtutorial.studies.swaps.judges_table`) and
    the per-class pitch judge (:func:`~mvtutorial.studies.swaps.judges_per_class`): distance to the
    counterfactual against copying a donor and the floor, pitch within 50 cents overall and in the
    lowest and top thirds of the classes, and whether the judge itself reads every class."""
    j = lambda c, k: float(judges.loc[c, (k, "mean")])  # noqa: E731
    third = len(per_class.columns) // 3
    low, high = per_class.columns[:third], per_class.columns[-third:]
    copy_p, floor_p = j(paper, "lsd_copy_private_donor"), j(paper, "lsd_reconstruction")
    copies = abs(j(paper, "lsd_swap") - copy_p) < 0.1 * copy_p
    gap = (j(recommended, "lsd_copy_private_donor") - j(recommended, "lsd_swap")) / (
        j(recommended, "lsd_copy_private_donor") - j(recommended, "lsd_reconstruction"))
    worst = float(per_class.loc[ceiling].min())
    return [
        f"* **paper-faithful:** its swaps sit {j(paper, 'lsd_swap'):.1f} dB from the counterfactual, against {copy_p:.1f} dB "
        f"for simply copying the pitch donor and {floor_p:.1f} dB for its own reconstruction of the counterfactual: "
        + ("the swap *is* the pitch donor, as the classifier found." if copies else "closer than a copy of the pitch donor."),
        f"* **recommended:** {j(recommended, 'lsd_swap'):.1f} dB, between the floor ({j(recommended, 'lsd_reconstruction'):.1f} dB) "
        f"and the copies ({j(recommended, 'lsd_copy_private_donor'):.1f} and {j(recommended, 'lsd_copy_shared_donor'):.1f} dB): "
        f"it closes {gap:.0%} of the way from a copy of the pitch donor to the floor.",
        f"* **pitch:** {j(recommended, 'within_50_cents_swap'):.0%} of its swaps are within 50 cents of the counterfactual's "
        f"pitch, against {j(recommended, 'within_50_cents_reconstruction'):.0%} of its reconstructions and "
        f"{j(recommended, 'pitch_judge_ceiling'):.0%} of the real clips; the paper-faithful model keeps "
        f"{j(paper, 'within_50_cents_swap'):.0%}" + (" (it copies its pitch donor)" if copies else "")
        + f". Per class, the recommended model keeps {per_class.loc[recommended, low].mean():.0%} in the lowest third of the "
        f"classes and {per_class.loc[recommended, high].mean():.0%} in the top third, where the naive tones alias"
        + (f": the judge reads the real clips of every class there (at least {worst:.0%}), so the loss is the model's."
           if worst >= 0.95 else f"; the judge itself reads only {worst:.0%} of the real clips of some class."),
    ]
