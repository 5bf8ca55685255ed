"""From tones to instruments (chapter 9): the tone set's two configurations trained on sampled notes.

The paper's configuration (the headline, :func:`mvtutorial.studies.headline.headline_config`) and the one
the separation study recommends (:func:`mvtutorial.studies.separation.recommended_config`) are trained,
unchanged, on the sampled-instrument set (:mod:`mvtutorial.data.instruments`), 3 seeds each, and scored
with the separation study's evaluation (:data:`mvtutorial.studies.separation.STUDY_EVAL`), so every number
sits beside its tone-set counterpart. ``python -m mvtutorial.reproduce instruments`` (resumable)
writes ``assets/instruments/<key>.json`` and the slim checkpoints
``assets/instruments/{headline,recommended}-seed{S}.pt``; chapters in full mode read them and never
train.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from threadpoolctl import threadpool_limits

from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..checkpoint import export_checkpoint, load_checkpoint, load_model
from ..config import TrainConfig
from ..experiments import pending_runs, run_dir, run_key, run_one
from ..data.instruments import InstrumentConfig, instrument_spec as _instrument_spec, load_instrument_dataset
from ..listening import fit_feature_classifier, swap_score, swap_table
from .headline import headline_config
from .separation import RECOMMENDED, STUDY_EVAL, recommended_config, study_table
from .store import asset_path

__all__ = ["STUDY_CONFIGS", "TRANSFER_SEEDS", "transfer_config", "transfer_grid", "instrument_spec",
           "run_transfer_study", "transfer_results", "transfer_swap_records", "transfer_model", "HELDOUT_BANK",
           "heldout_config", "run_heldout_study", "heldout_results", "heldout_input_ceiling", "transfer_markdown"]

#: Short name -> (separation-study family, builder of its TrainConfig(mode, seed)).
STUDY_CONFIGS = {
    "headline": ("paper (headline)", lambda mode, seed: headline_config(mode, seed=seed)),
    "recommended": (RECOMMENDED, lambda mode, seed: recommended_config(mode, seed=seed)),
}
TRANSFER_SEEDS = (0, 1, 2)
FOLDER = "instruments"


def transfer_config(name: str, seed: int = 0, mode: str = "full") -> TrainConfig:
    """The :class:`TrainConfig` of ``name`` (``"headline"`` or ``"recommended"``): the tone set's own, unchanged."""
    if name not in STUDY_CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; choose from {list(STUDY_CONFIGS)}")
    return STUDY_CONFIGS[name][1](mode, seed)


def transfer_grid(seeds: Sequence[int] = TRANSFER_SEEDS, mode: str = "full") -> list[tuple[str, TrainConfig]]:
    """Every (name, config) of the study, configuration-major."""
    return [(name, transfer_config(name, s, mode)) for name in STUDY_CONFIGS for s in seeds]


def instrument_spec(mode: str = "full", seed: int = 0) -> dict:
    """The data spec of the instrument preset ``mode`` (what shipped runs must have been trained on), without rendering."""
    return _instrument_spec(InstrumentConfig.preset(mode), seed=seed)


def run_transfer_study(seeds: Sequence[int] = TRANSFER_SEEDS, out: str | Path | None = None, threads: int | None = 1,
                       mode: str = "full", progress: bool = True) -> list[dict]:
    """Train and evaluate every run of :func:`transfer_grid` that has no valid result in ``out``
    (default ``assets/instruments``), export its slim checkpoint beside it, return all results.

    Resumable: finished runs are skipped, an interrupted run continues from its last epoch
    (run folders in the cache, ``runs/instruments/<key>``).
    """

    out = Path(out) if out is not None else asset_path(FOLDER)
    ds = load_instrument_dataset(mode, progress=progress)
    runs = run_dir(None, FOLDER)
    grid = transfer_grid(seeds, mode)
    todo = {run_key(c) for c in pending_runs([c for _, c in grid], out)}
    for name, config in grid:
        if run_key(config) in todo:
            if progress:
                print(f"training {name} seed {config.seed} on the instrument set", flush=True)
            record = run_one(config, out, threads=threads, eval_kwargs=STUDY_EVAL, runs_dir=runs, dataset=ds)
            if progress:
                print(f"  done in {record['seconds']:.0f} s ({record['epochs']} epochs)", flush=True)
        checkpoint = out / f"{name}-seed{config.seed}.pt"
        if not checkpoint.exists() and (runs / run_key(config)).exists():
            export_checkpoint(runs / run_key(config), checkpoint)
    _swap_scores(grid, ds, out, threads, progress)
    return transfer_results(seeds, out, mode)


def _swap_scores(grid, ds, out: Path, threads: int | None, progress: bool) -> None:
    """Swap scores (:func:`mvtutorial.listening.swap_score`, 2,000 test pairs, one real-log-mel
    classifier of seed 0) of every exported checkpoint without one, as ``swap/{name}-seed{S}.json``."""
    classifier = None
    previous = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            for name, config in grid:
                path, checkpoint = out / "swap" / f"{name}-seed{config.seed}.json", out / f"{name}-seed{config.seed}.pt"
                if path.exists() or not checkpoint.exists():
                    continue
                classifier = classifier or fit_feature_classifier(ds, seed=0)
                record = {"config": STUDY_CONFIGS[name][0], "name": name, "checkpoint": checkpoint.name, "train_seed": config.seed, "version": __version__,
                          "data": ds.spec(), **swap_score(load_model(checkpoint), ds, classifier, n_pairs=2000, seed=0),
                          "command": "python -m mvtutorial.reproduce instruments"}
                atomic_write_json(record, path)
                if progress:
                    print(f"swap score {name} seed {config.seed}: {record.get('swap_both', float('nan')):.3f} (both)", flush=True)
    finally:
        torch.set_num_threads(previous)


def transfer_swap_records(seeds: Sequence[int] = TRANSFER_SEEDS, folder: str | Path | None = None) -> list[dict]:
    """The shipped swap-score records of the study (``swap/{name}-seed{S}.json``) that exist."""
    folder = Path(folder) if folder is not None else asset_path(FOLDER)
    paths = [folder / "swap" / f"{name}-seed{s}.json" for name in STUDY_CONFIGS for s in seeds]
    return [read_json(p) for p in paths if p.exists()]


#: The held-out-bank question: train on TimGM6mb's notes, test on FluidR3_GM's recordings of the
#: same instruments (``fluid-soundfont-gm``). Only the recommended configuration, 3 seeds, results only.
HELDOUT_BANK = "FluidR3_GM"


def heldout_config() -> InstrumentConfig:
    """The full instrument preset with every test-split note rendered from :data:`HELDOUT_BANK`."""
    return InstrumentConfig.preset("full", test_soundfont=HELDOUT_BANK)


def run_heldout_study(seeds: Sequence[int] = TRANSFER_SEEDS, out: str | Path | None = None, threads: int | None = 1,
                      progress: bool = True) -> list[dict]:
    """Train the recommended configuration on the held-out-bank set (:func:`heldout_config`) and
    evaluate it with the study's evaluation (probes fitted on TimGM6mb training notes, scored on
    FluidR3_GM test notes), into ``out`` (default ``assets/instruments/heldout``); resumable."""

    out = Path(out) if out is not None else asset_path(FOLDER, "heldout")
    ds = load_instrument_dataset(heldout_config(), progress=progress)
    configs = [transfer_config("recommended", s) for s in seeds]
    for config in pending_runs(configs, out):
        if progress:
            print(f"training recommended seed {config.seed} on the held-out-bank set", flush=True)
        record = run_one(config, out, threads=threads, eval_kwargs=STUDY_EVAL, runs_dir=run_dir(None, f"{FOLDER}-heldout"), dataset=ds)
        if progress:
            print(f"  done in {record['seconds']:.0f} s", flush=True)
    ceiling = out / "input_ceiling.json"
    if not ceiling.exists():  # the same question asked of the input: no model in between
        with threadpool_limits(limits=threads):
            classifier = fit_feature_classifier(ds, seed=0)
        atomic_write_json({"test_accuracy": classifier.test_accuracy, "data": ds.spec(), "version": __version__,
                           "what": "MLP on time-averaged real log-mels, fitted on TimGM6mb training notes, scored on "
                                   f"{HELDOUT_BANK} test notes (listening.fit_feature_classifier, seed 0)"}, ceiling)
    return heldout_results(seeds, out)


def heldout_input_ceiling(folder: str | Path | None = None) -> dict | None:
    """Test accuracy per factor of a classifier on the real time-averaged log-mels across banks (fitted on
    TimGM6mb training notes, scored on FluidR3_GM test notes): what the input allows; None if not shipped."""
    path = (Path(folder) if folder is not None else asset_path(FOLDER, "heldout")) / "input_ceiling.json"
    return read_json(path)["test_accuracy"] if path.exists() else None


def _checked_result(path: Path, expected: dict, what: str, name: str) -> list[dict]:
    """``[record + name]`` when ``path`` exists (``[]`` otherwise); ``ValueError`` if it was trained on other data."""
    if not path.exists():
        return []
    record = read_json(path)
    if record.get("data") != expected:
        raise ValueError(f"{path} was trained on other data than {what}; "
                         "regenerate it with `python -m mvtutorial.reproduce instruments`")
    return [{**record, "name": name}]


def heldout_results(seeds: Sequence[int] = TRANSFER_SEEDS, folder: str | Path | None = None) -> list[dict]:
    """The shipped results of :func:`run_heldout_study` that exist (checked against :func:`heldout_config`)."""

    folder = Path(folder) if folder is not None else asset_path(FOLDER, "heldout")
    expected = _instrument_spec(heldout_config())
    out = []
    for seed in seeds:
        out += _checked_result(folder / f"{run_key(transfer_config('recommended', seed))}.json", expected,
                               "the held-out-bank preset", "recommended")
    return out


def transfer_results(seeds: Sequence[int] = TRANSFER_SEEDS, folder: str | Path | None = None, mode: str = "full") -> list[dict]:
    """The shipped (or ``folder``'s) results of the study that exist, each with a ``"name"`` key.

    Raises ``ValueError`` when a result was trained on other data than the instrument preset ``mode``.
    """

    folder = Path(folder) if folder is not None else asset_path(FOLDER)
    expected = instrument_spec(mode)
    out = []
    for name, config in transfer_grid(seeds, mode):
        out += _checked_result(folder / f"{run_key(config)}.json", expected, f"the {mode!r} instrument preset", name)
    return out


def transfer_model(name: str, seed: int = 0, folder: str | Path | None = None):
    """``(model, history)`` of a shipped run of the study (``assets/instruments/{name}-seed{seed}.pt``);
    refuses a checkpoint of another config, package version or data set, naming the difference."""
    config = transfer_config(name, seed)
    path = (Path(folder) if folder is not None else asset_path(FOLDER)) / f"{name}-seed{seed}.pt"
    ckpt = load_checkpoint(path, config)
    if ckpt.get("data") != instrument_spec("full"):
        raise ValueError(f"checkpoint {path} was trained on other data than the full instrument preset; "
                         "regenerate it with `python -m mvtutorial.reproduce instruments`")
    return load_model(path), ckpt["history"]


def transfer_markdown() -> str:
    """Markdown table of the shipped study (mean +- sd over seeds, probes on posterior samples), with the
    held-out-bank runs and the swap scores; printed by ``python -m mvtutorial.reproduce table``."""

    records, held = transfer_results(), heldout_results()
    if not records:
        return "(no shipped instrument results: run `python -m mvtutorial.reproduce instruments`)"
    cols = [("shared/timbre", "shared instrument"), ("private/timbre", "private instrument"), ("private/frequency", "private pitch"),
            ("shared/frequency", "shared pitch"), ("mi_ratio_timbre", "MI ratio instrument"), ("mi_ratio_frequency", "MI ratio pitch"),
            ("S", "S"), ("dci_disentanglement", "DCI dis.")]
    swaps = transfer_swap_records()
    swap = swap_table(swaps) if swaps else None
    lines = ["Sampled-instrument notes (full preset: 8 GM instruments x 21 pitches, TimGM6mb), MLP probes on test-split "
             "posterior **samples**, mean +- sd over training seeds; chance 0.125 (instrument), 0.048 (pitch). "
             "Swap: share of 2,000 decoded swaps with both the shared donor's instrument and the private donor's pitch.", "",
             "| configuration | test notes | n | " + " | ".join(name for _, name in cols) + " | swap both |", "|---" * (len(cols) + 4) + "|"]
    for recs, bank in ((records, "TimGM6mb"), (held, HELDOUT_BANK)):
        if not recs:
            continue
        table = study_table(recs, "sample")
        for family, row in table.iterrows():
            cells = [f"{row[(k, 'mean')]:.2f} +- {row[(k, 'sd')]:.2f}" for k, _ in cols]
            sw = (f"{swap.loc[family, ('swap_both', 'mean')]:.2f} +- {swap.loc[family, ('swap_both', 'sd')]:.2f}"
                  if swap is not None and bank == "TimGM6mb" and family in swap.index else "-")
            lines.append(f"| {family} | {bank} | {int(row[('S', 'n')])} | " + " | ".join(cells) + f" | {sw} |")
    return "\n".join(lines)
