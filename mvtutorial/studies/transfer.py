"""From tones to instruments (chapter 9): the tone set's two configurations trained on sampled notes.

The paper's configuration (the headline, :func:`mvtutorial.studies.headline.headline_config`) and the
objective and encoder the separation study recommends, at the preset's own schedule
(:data:`mvtutorial.studies.separation.RECOMMENDED_STANDARD`: the tones' 60 + 60 decoder-epoch schedule does
not win in every seed on the notes, :mod:`mvtutorial.studies.transfer_schedule`), are trained, unchanged, on
the sampled-instrument set (:mod:`mvtutorial.data.instruments`), 3 seeds each, and scored
with the separation study's evaluation (:data:`mvtutorial.studies.separation.STUDY_EVAL`), so every number
sits beside its tone-set counterpart. ``python -m mvtutorial.reproduce instruments`` (resumable)
writes ``assets/instruments/<key>.json`` and the slim checkpoints
``assets/instruments/{headline,recommended}-seed{S}.pt``; chapters in full mode read them and never
train.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..checkpoint import export_checkpoint, load_checkpoint, load_model
from ..config import TrainConfig, config_from_dict
from ..experiments import pending_runs, run_dir, run_key, run_one
from ..data.instruments import InstrumentConfig, instrument_spec as _instrument_spec, load_instrument_dataset
from ..listening import fit_feature_classifier, swap_score
from ..results import format_stats, seed_stats
from .headline import headline_config
from .separation import family_config, PAPER, RECOMMENDED_STANDARD, STUDY_EVAL, family_row, label, study_results, study_table
from .store import asset_path
from .swaps import write_swap_score

__all__ = ["STUDY_CONFIGS", "FAMILY", "LABELS", "TRANSFER_SEEDS", "transfer_config", "transfer_grid", "instrument_spec",
           "run_transfer_study", "transfer_results", "transfer_swap_records", "transfer_model", "HELDOUT_BANK",
           "heldout_config", "run_heldout_study", "heldout_results", "heldout_input_ceiling", "transfer_markdown",
           "PROBE_ROWS", "SWAP_ROWS", "tone_results", "runs_of", "chapter_runs", "chapter_swaps", "probe_table",
           "swap_stats", "note_name", "note_grid"]

#: Short name (the shipped files' prefix) -> (separation-study family identifier, builder of its TrainConfig(mode, seed)).
STUDY_CONFIGS = {
    "headline": (PAPER, lambda mode, seed: headline_config(mode, seed=seed)),
    "recommended": (RECOMMENDED_STANDARD, lambda mode, seed: family_config(RECOMMENDED_STANDARD, seed, mode)),
}
#: Short name -> its separation-study family's row (display label) in every table, and row -> the chapter's label.
FAMILY = {name: label(family) for name, (family, _) in STUDY_CONFIGS.items()}
LABELS = {FAMILY["headline"]: "paper-faithful", FAMILY["recommended"]: "recommended"}
TRANSFER_SEEDS = (0, 1, 2)
FOLDER = "instruments"


def transfer_config(name: str, seed: int = 0, mode: str = "full") -> TrainConfig:
    """The :class:`TrainConfig` of ``name`` (``"headline"`` or ``"recommended"``, the latter
    :data:`~mvtutorial.studies.separation.RECOMMENDED_STANDARD`): the tone set's own, unchanged."""
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
    classifier of seed 0) of every exported checkpoint without one, as ``swap/{name}-seed{S}.json``
    (:func:`~mvtutorial.studies.swaps.write_swap_score`)."""
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
                record = write_swap_score(path, load_model(checkpoint), ds, classifier, n_pairs=2000, config=FAMILY[name],
                                          name=name, checkpoint=checkpoint.name, train_seed=config.seed, data=ds.spec(),
                                          command="python -m mvtutorial.reproduce instruments")
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
    swap = format_stats(swap_stats(swaps)) if swaps else None
    lines = ["Sampled-instrument notes (full preset: 8 GM instruments x 21 pitches, TimGM6mb), MLP probes on test-split "
             "posterior **samples**, mean +- sd over training seeds; chance 0.125 (instrument), 0.048 (pitch). "
             "Swap: share of 2,000 decoded swaps with both the shared donor's instrument and the private donor's pitch.", "",
             "| configuration | test notes | n | " + " | ".join(name for _, name in cols) + " | swap both |", "|---" * (len(cols) + 4) + "|"]
    for recs, bank in ((records, "TimGM6mb"), (held, HELDOUT_BANK)):
        if not recs:
            continue
        table = study_table(recs, "sample")
        cells = format_stats(table)
        for family in table.index:
            sw = swap.loc[family, "swap_both"] if swap is not None and bank == "TimGM6mb" and family in swap.index else "-"
            row = " | ".join([*cells.loc[family, [k for k, _ in cols]], sw]).replace("\u00a0±\u00a0", " +- ")
            lines.append(f"| {family} | {bank} | {int(table.loc[family, ('S', 'n')])} | {row} |")
    return "\n".join(lines)


#: Rows of the chapter's probe tables: key of :func:`probe_table` -> label.
PROBE_ROWS = {"shared/timbre": "shared: timbre", "private/timbre": "private: timbre", "private/frequency": "private: pitch",
              "shared/frequency": "shared: pitch", "shared_fused/timbre": "fused: timbre", "shared_fused/frequency": "fused: pitch",
              "both/timbre": "both: timbre", "both/frequency": "both: pitch", "mi_ratio_timbre": "MI ratio timbre",
              "mi_ratio_frequency": "MI ratio pitch", "S": "S", "mig": "MIG", "dci_disentanglement": "DCI dis.",
              "chance/timbre": "chance: timbre", "chance/frequency": "chance: pitch"}
#: Rows of the chapter's swap table: the keys of :func:`mvtutorial.listening.swap_score` it shows.
SWAP_ROWS = ["swap_timbre", "swap_frequency", "swap_both", "leak_timbre", "leak_frequency", "recon_timbre", "recon_frequency",
             "real_timbre", "real_frequency", "chance_timbre", "chance_frequency"]


def tone_results() -> list[dict]:
    """The shipped separation-study runs (chapter 6) of the study's two configurations: the tone-set counterparts."""
    return [r for r in study_results() if family_row(config_from_dict(r["config"])) in LABELS]


def runs_of(records: Sequence[dict], family: str) -> list[dict]:
    """The results of ``records`` whose config belongs to the separation-study family of row (display label) ``family``."""
    return [r for r in records if family_row(config_from_dict(r["config"])) == family]


def probe_table(records: Sequence[dict], codes: str = "sample") -> pd.DataFrame:
    """Chapter 9's probe table: :func:`~mvtutorial.studies.separation.study_table` of ``records`` (tone or
    instrument runs, each with ``"chance"``; probes on posterior ``codes``: ``"sample"`` or ``"mean"``) joined
    with each factor's chance accuracy (columns ``chance/<factor>``), the level a probe is read against."""
    chance = pd.DataFrame([{"family": family_row(config_from_dict(r["config"])),
                            **{f"chance/{k}": v for k, v in r["chance"].items()}} for r in records])
    return study_table(records, codes).join(seed_stats(chance, "family"))


def swap_stats(records: Sequence[dict], by: str = "config") -> pd.DataFrame:
    """Mean, sd and n over training seeds (:func:`mvtutorial.results.seed_stats`) of :data:`SWAP_ROWS` of
    swap-score records, per ``by`` (the family)."""
    return seed_stats(pd.DataFrame(records), by, SWAP_ROWS)


def chapter_runs(mode: str, ds, out: str | Path | None = None) -> tuple[list[dict], dict]:
    """Chapter 9's results and seed-0 models.

    Parameters
    ----------
    mode : ``"full"``: the shipped results and checkpoints; ``"fast"``: seed 0 of each configuration trained
        now on ``ds`` into ``out`` (default a temporary folder), logistic probes, no MIG / DCI (seconds).

    Returns
    -------
    ``(records, {name: model})``: each record with its ``"name"``, each model seed 0's.
    """
    if mode == "full":
        return transfer_results(), {name: transfer_model(name, seed=0)[0] for name in STUDY_CONFIGS}
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="mvtutorial-instruments-"))
    records, models = [], {}
    for name in STUDY_CONFIGS:
        record = run_one(transfer_config(name, 0, mode), out, threads=1, dataset=ds,
                         eval_kwargs={**STUDY_EVAL, "probe": "logistic", "scores": False})
        records.append({**record, "name": name})
        models[name] = load_model(out / "runs" / record["key"])
    return records, models


def chapter_swaps(mode: str, ds, models: dict, n_pairs: int = 500) -> list[dict]:
    """Swap-score records of chapter 9: the shipped ones (``"full"``), else those of ``models`` on ``ds``
    (``n_pairs`` test pairs, a real-log-mel classifier of seed 0), each with its family as ``"config"``."""
    if mode == "full":
        return transfer_swap_records()
    classifier = fit_feature_classifier(ds, seed=0)
    return [{"config": FAMILY[name], "train_seed": 0, **swap_score(m, ds, classifier, n_pairs=n_pairs, seed=0)}
            for name, m in models.items()]


_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(midi: int) -> str:
    """Scientific pitch name of a MIDI note (60 -> ``"C4"``, 80 -> ``"G#5"``)."""
    return f"{_NOTE_NAMES[int(midi) % 12]}{int(midi) // 12 - 1}"


def note_grid(ds, n_notes: int = 4, split: str = "test", seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """One note of ``split`` per instrument and pitch, for a grid of players.

    Parameters
    ----------
    ds : an instrument data set; n_notes : evenly spaced MIDI notes over its range (the columns);
    split : where the notes come from; seed : the choice among a cell's notes at its loudest velocity.

    Returns
    -------
    ``(clip indices of shape (instruments, n_notes), the MIDI notes)``.
    """
    cfg, rng = ds.config, np.random.default_rng(seed)
    notes = [int(cfg.pitch_low + k) for k in np.linspace(0, cfg.n_pitches - 1, n_notes).round().astype(int)]
    rows = ds.factors.iloc[ds.split_indices(split)]
    grid = np.empty((len(cfg.programs), n_notes), dtype=int)
    for i in range(len(cfg.programs)):
        for j, note in enumerate(notes):
            cell = rows[(rows.instrument == i) & (rows.midi_note == note)]
            grid[i, j] = int(rng.choice(cell.index[cell.velocity == cell.velocity.max()]))
    return grid, notes
