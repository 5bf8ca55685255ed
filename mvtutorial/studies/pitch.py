"""Chapter 6's pitch study: where the study's base model loses pitch on the tones, per frequency class
and waveform, and whether a family built on it keeps more.

The base, ``+ cross-view + rate`` (:data:`mvtutorial.studies.separation.PREVIOUS`, the recommendation before
this study), puts timbre in the shared code but keeps pitch less precisely than the input holds it
(private -> frequency about .70 on posterior samples against .99 for a probe on the time-averaged log-mel),
and loses most at the top classes, where the naive tones alias. Each family here changes one thing of the
base (or adds one mechanism to a change that helped), states why it might help, and is
trained for 3 seeds and scored with the separation study's evaluation
(:data:`mvtutorial.studies.separation.STUDY_EVAL`) plus :func:`per_class_accuracy`.
Negative results are kept. ``python -m mvtutorial.studies.pitch`` writes ``assets/pitch/``
(resumable: a run with a result is not run again; training state in the cache); ``--family NAME``
and ``--seed S`` (each repeatable) run only those, ``--jobs N`` sets the parallel runs (default 2).
"""
from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Sequence

import pandas as pd
from threadpoolctl import threadpool_limits

from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..checkpoint import load_model
from ..config import TrainConfig, config_from_dict, config_to_dict
from ..data import load_tone_dataset, ToneConfig
from ..experiments import pending_runs, run_dir, run_key, run_one
from ..listening import fit_feature_classifier
from ..sweeps import run_sweep, sweep_past_divergence
from ..trackers import add_tracker_judges
from ..training import NonFiniteLossError
from .separation import (check_targets, DECODER_STAGE, FAMILIES, family_config, label, PAPER, PREVIOUS, run_values, STUDY_EVAL,
                         study_results, study_table)
from .pitch_families import DATA_CONTROLS, PITCH_FAMILIES
from .alias_comb import comb_record, comb_summary
from .pitch_axis import axis_record, axis_records, axis_summary, pitch_axis
from .per_class import (CEILING, frame_json, input_as, input_ceiling_per_class, per_class_accuracy,
                        per_class_records, per_class_table)
from .store import ASSETS
from .swap_classes import add_swap_cells
from .swaps import judge_models

__all__ = ["PITCH_FAMILIES", "SEEDS", "pitch_config", "pitch_grid",
           "run_pitch_study", "pitch_results", "pitch_table", "pitch_swap_records", "per_class_summary",
           "DATA_CONTROLS", "run_data_controls", "control_results", "family_of_config", "diverged_runs", "train_runs", "row_label", "control_row", "CEILING",
           "TABLE_KEYS", "pitch_axes", "pitch_combs", "base_name"]

#: What the pitch study's table shows (probe keys on posterior samples, ratios, S), in order.
TABLE_KEYS = ("private/frequency", "both/frequency", "both_fused/frequency", "shared/timbre", "shared_fused/timbre",
              "private/timbre", "shared/frequency", "shared_fused/frequency", "mi_ratio_timbre", "mi_ratio_frequency")

SEEDS = (0, 1, 2)
FOLDER = "pitch"


def pitch_config(name: str, seed: int = 0, mode: str = "full") -> TrainConfig:
    """The :class:`TrainConfig` of pitch family ``name`` (an identifier of :data:`~mvtutorial.studies.pitch_families.PITCH_FAMILIES`): the
    study's base, :data:`~mvtutorial.studies.separation.PREVIOUS` (the recommendation before this study), plus its overrides."""
    if name not in PITCH_FAMILIES:
        raise ValueError(f"unknown pitch family {name!r}; choose from {list(PITCH_FAMILIES)}")
    return TrainConfig.preset(mode, seed=seed, **{**FAMILIES[PREVIOUS].overrides, **PITCH_FAMILIES[name].overrides})


def base_name(seed: int) -> str:
    """The name of the study's base run of training seed ``seed`` in per-class and swap files (``cross-view-rate-seed0``)."""
    return f"{PREVIOUS}-seed{seed}"


def row_label(name: str) -> str:
    """The table row (display label) of a pitch family, a data control or a study family (identifiers)."""
    for registry in (PITCH_FAMILIES, DATA_CONTROLS, FAMILIES):
        if name in registry:
            return registry[name].label
    raise ValueError(f"unknown family {name!r}; choose from {[*PITCH_FAMILIES, *DATA_CONTROLS, *FAMILIES]}")


def pitch_grid(seeds: Sequence[int] = SEEDS, families: Sequence[str] | None = None, mode: str = "full") -> list[TrainConfig]:
    """Every (family, seed) config, family-major."""
    return [pitch_config(f, s, mode) for f in (families or PITCH_FAMILIES) for s in seeds]


def run_pitch_study(seeds: Sequence[int] = SEEDS, families: Sequence[str] | None = None, out: str | Path | None = None,
                    n_jobs: int = 2, threads: int | None = 1) -> Path:
    """Train and evaluate every pitch family (resumable), then write per-class accuracies of every run
    and of the shipped paper-faithful checkpoints, the base's runs and the input's ceiling, into
    ``out`` (default ``assets/pitch``): ``<key>.json`` (the study's evaluation), ``per_class/<name>.json``, and
    for the transposition families ``axis/<key>.json`` (:mod:`mvtutorial.studies.pitch_axis`) and ``comb/<key>.json``
    (:func:`mvtutorial.studies.alias_comb.comb_record`).
    A run that diverges is a result too: ``diverged/<key>.json`` records it (:func:`diverged_runs`) and it
    is not tried again."""
    out = Path(out) if out is not None else ASSETS / FOLDER
    runs = run_dir(None, FOLDER)
    configs = train_runs(pitch_grid(seeds, families), out, runs, n_jobs, threads)
    ds = load_tone_dataset("full")
    models = {f"paper-seed{s}": ASSETS / "headline" / f"seed{s}.pt" for s in seeds}  # and the base's runs (reproduce separation)
    models.update({base_name(s): run_dir(family_config(PREVIOUS, s), "separation") for s in seeds})
    models.update({f"{run_key(c)}": runs / run_key(c) for c in configs})
    with threadpool_limits(limits=threads):
        for name, path in models.items():
            target = out / "per_class" / f"{name}.json"
            if not target.exists():
                atomic_write_json({"model": name, "per_class": frame_json(per_class_accuracy(load_model(path), ds))}, target)
        target = out / "per_class" / "input.json"
        if not target.exists():
            atomic_write_json({"model": "input", "per_class": frame_json(input_ceiling_per_class(ds))}, target)
        named = [(f"{family}-seed{s}", family_config(family, s), run_dir(family_config(family, s), "separation"), label(family))
                 for family in (PREVIOUS, DECODER_STAGE) for s in seeds]  # the base; the decoder stage the last family pairs with
        _swap_records(named + [(run_key(c), c, runs / run_key(c), row_label(family_of_config(c))) for c in configs], out, ds)
        for config in configs:  # the equivariant families: where they put pitch (pitch_axis), how the decoder follows it (alias_comb)
            key = run_key(config)
            axis_path, comb_path = out / "axis" / f"{key}.json", out / "comb" / f"{key}.json"
            if config.transposition <= 0 or (axis_path.exists() and comb_path.exists()):
                continue
            model, identity = load_model(runs / key), {"key": key, "family": row_label(family_of_config(config)), "seed": config.seed}
            if not axis_path.exists():
                atomic_write_json(axis_record(pitch_axis(model, ds), **identity), axis_path)
            if not comb_path.exists():
                atomic_write_json(comb_record(model, ds, **identity), comb_path)
    return out


def pitch_combs(folder: str | Path | None = None) -> pd.DataFrame:
    """The transposition families' comb (:func:`mvtutorial.studies.alias_comb.comb_summary` of ``comb/*.json``, mean
    over seeds): rows family labels in :data:`PITCH_FAMILIES` order."""
    records = [read_json(p) for p in sorted((Path(folder) if folder is not None else ASSETS / FOLDER).joinpath("comb").glob("*.json"))]
    return comb_summary(records, [f.label for f in PITCH_FAMILIES.values()])


def pitch_axes(folder: str | Path | None = None) -> pd.DataFrame:
    """The transposition families' pitch axis per waveform (:func:`mvtutorial.studies.pitch_axis.axis_summary` of
    ``axis/*.json``, mean over seeds): rows (family label, waveform), families in :data:`PITCH_FAMILIES` order."""
    return axis_summary(axis_records(Path(folder) if folder is not None else ASSETS / FOLDER, [f.label for f in PITCH_FAMILIES.values()]))


def train_runs(configs: Sequence[TrainConfig], out: Path, runs: Path, n_jobs: int = 2, threads: int | None = 1) -> list[TrainConfig]:
    """Train and evaluate ``configs`` into ``out`` (:func:`mvtutorial.sweeps.run_sweep`, resumable; checkpoints
    in ``runs``) and return those with a result. A run that diverges (:class:`~mvtutorial.training.NonFiniteLossError`)
    is recorded in ``out/diverged/<key>.json`` and not tried again; the others still run."""
    todo = [c for c in configs if not (out / "diverged" / f"{run_key(c)}.json").exists()]

    def record_divergence(config: TrainConfig, err: NonFiniteLossError) -> None:
        record = {"family": family_of_config(config), "seed": config.seed, "key": run_key(config),
                  "config": config_to_dict(config), "error": str(err), "version": __version__}
        atomic_write_json(record, out / "diverged" / f"{run_key(config)}.json")

    sweep_past_divergence(todo, out, n_jobs, lambda cs, jobs: run_sweep(cs, out, n_jobs=jobs, eval_kwargs=STUDY_EVAL,
                                                                        runs_dir=runs, threads=threads), record_divergence)
    missing = {run_key(c) for c in pending_runs(todo, out)}
    return [c for c in todo if run_key(c) not in missing]


def _swap_records(runs: Sequence[tuple[str, TrainConfig, Path, str]], out: Path, ds) -> None:
    """Swap score and counterfactual judges of every trained run ``(name, config, run folder, row label)``, as the shipped
    tone records are made (chapter 7: 2,000 test pairs, pair seed 0, the seed-0 real-log-mel classifier), in
    ``out/swap/<name>.json``; then the pitch tracker's judges (:func:`mvtutorial.trackers.add_tracker_judges`) and
    the swap score per cell (:func:`mvtutorial.studies.swap_classes.add_swap_cells`) in each record that lacks them."""
    classifier, cache = None, {}  # fitted once, if any record lacks something; the tracker's validation, once
    for key, config, folder, row in runs:
        path = out / "swap" / f"{key}.json"
        record = read_json(path) if path.exists() else None
        done = record is not None and "tracker" in record["judges"] and "per_class" in record
        if done or not (folder / "checkpoint.pt").exists():
            continue
        model = load_model(folder)
        classifier = classifier or fit_feature_classifier(ds, seed=0)
        if record is None:  # written before the tracker runs, so a killed run keeps the score
            [record] = judge_models({key: model}, ds, n_pairs=2000, seed=0, labels={key: row}, classifier=classifier)
            record.update(key=key, train_seed=config.seed, version=__version__, command="python -m mvtutorial.studies.pitch")
            atomic_write_json(record, path)
        if "tracker" not in record["judges"]:
            atomic_write_json(add_tracker_judges(record, model, ds, cache), path)
        add_swap_cells({path: folder}, ds, lambda _: model, classifier, progress=False)


def _control_dataset(name: str):
    return load_tone_dataset(ToneConfig.preset("full", **DATA_CONTROLS[name].overrides))


def run_data_controls(seeds: Sequence[int] = SEEDS, out: str | Path | None = None, threads: int | None = 1) -> Path:
    """Train and evaluate the study's base (:data:`~mvtutorial.studies.separation.PREVIOUS`) on every :data:`DATA_CONTROLS` variant
    (resumable; results in ``out/controls/<variant slug>/<key>.json``, its per-class accuracies and the
    variant's input ceiling in ``.../per_class/``). One run at a time (``threads`` torch threads)."""
    out = Path(out) if out is not None else ASSETS / FOLDER
    for name in DATA_CONTROLS:
        folder, runs = out / "controls" / name, run_dir(None, FOLDER) / name
        ds = _control_dataset(name)
        for seed in seeds:
            config = family_config(PREVIOUS, seed)
            if not (folder / f"{run_key(config)}.json").exists():  # the key names the config, the folder the data
                run_one(config, folder, threads=threads, eval_kwargs=STUDY_EVAL, runs_dir=runs, dataset=ds)
            target = folder / "per_class" / f"{base_name(seed)}.json"
            if not target.exists():
                with threadpool_limits(limits=threads):
                    table = per_class_accuracy(load_model(runs / run_key(config)), ds)
                atomic_write_json({"model": base_name(seed), "per_class": frame_json(table)}, target)
        target = folder / "per_class" / "input.json"
        if not target.exists():
            atomic_write_json({"model": "input", "per_class": frame_json(input_ceiling_per_class(ds))}, target)
    return out


def control_results(folder: str | Path | None = None) -> dict[str, list[dict]]:
    """The data controls' evaluation results by variant identifier (those that exist)."""
    folder = Path(folder) if folder is not None else ASSETS / FOLDER
    return {name: [read_json(p) for p in sorted((folder / "controls" / name).glob("*.json"))]
            for name in DATA_CONTROLS}


@functools.cache
def _families_by_config() -> dict[TrainConfig, str]:
    return {pitch_config(f, s, mode): f for f in PITCH_FAMILIES for s in SEEDS for mode in ("full", "fast")}


def family_of_config(config: TrainConfig) -> str | None:
    """The pitch family (identifier) of ``config`` (any of :data:`SEEDS`, either preset), or None."""
    return _families_by_config().get(config)


def diverged_runs(folder: str | Path | None = None) -> list[dict]:
    """The runs of the study that diverged in training (``diverged/<key>.json``: family, seed, key, error)."""
    folder = Path(folder) if folder is not None else ASSETS / FOLDER
    return [read_json(p) for p in sorted((folder / "diverged").glob("*.json"))]


def pitch_results(folder: str | Path | None = None) -> list[dict]:
    """The study's evaluation results (``<key>.json``), each with its family's identifier as ``"family"``."""
    folder = Path(folder) if folder is not None else ASSETS / FOLDER
    out = []
    for path in sorted(folder.glob("*.json")):
        record = read_json(path)
        family = family_of_config(config_from_dict(record["config"]))
        if family is not None:
            out.append({**record, "family": family})
    return out


def control_row(control: str, row: str | None = None) -> str:
    """The table row of ``row`` (default: the base family's) on data control ``control`` (an identifier)."""
    return f"{row or label(PREVIOUS)}, {row_label(control)}"


def per_class_summary(column: str = "private -> frequency", by: str = "freq_class", folder: str | Path | None = None) -> pd.DataFrame:
    """``column`` per ``by`` for the raw input (row :data:`CEILING`, its own probe on the time-averaged
    log-mel), the paper-faithful checkpoints, the base's runs and every pitch family (mean over seeds):
    rows in that order (display labels, :func:`row_label`), columns the classes (or waveforms)."""
    root = Path(folder) if folder is not None else ASSETS / FOLDER
    tables = input_as(per_class_records(root), column)
    groups = {CEILING: ["input"], label(PAPER): [f"paper-seed{s}" for s in SEEDS],
              label(PREVIOUS): [base_name(s) for s in SEEDS]}
    groups.update({row_label(name): [run_key(pitch_config(name, s)) for s in SEEDS] for name in PITCH_FAMILIES})
    table = per_class_table(tables, column, by, groups)
    for name in DATA_CONTROLS:  # the same rows on each data variant, labelled with it
        controls = input_as(per_class_records(root / "controls" / name), column)
        extra = per_class_table(controls, column, by, {control_row(name, CEILING): ["input"],
                                                       control_row(name): [base_name(s) for s in SEEDS]})
        table = pd.concat([table, extra])
    return table


def pitch_table(codes: str = "sample", folder: str | Path | None = None) -> pd.DataFrame:
    """Mean, sd and n over seeds of :data:`TABLE_KEYS` and the targets met, for the paper-faithful and
    the base families (the separation study's shipped runs) and every pitch family: rows the
    family (display labels, :func:`row_label`), columns ``(key, "mean" | "sd" | "n")`` plus ``("targets met", "of 12")``."""
    base = study_table(study_results(), codes)
    rows = [{"family": row_label(r["family"]), **run_values(r, codes)} for r in pitch_results(folder)]
    rows += [{"family": control_row(name), **run_values(r, codes)}
             for name, records in control_results(folder).items() for r in records]
    parts = [base.loc[[label(f) for f in (PAPER, PREVIOUS) if label(f) in base.index]]]
    if rows:
        stats = pd.DataFrame(rows).groupby("family", sort=False).agg(["mean", "std", "count"])
        parts.append(stats.rename(columns={"std": "sd", "count": "n"}, level=1))
    full = pd.concat(parts)
    met = [int(check_targets({k: row[(k, "mean")] for k in full.columns.get_level_values(0).unique()})["met"].sum())
           for _, row in full.iterrows()]
    table = full[[(k, stat) for k in TABLE_KEYS for stat in ("mean", "sd", "n") if (k, stat) in full.columns]].copy()
    table[("targets met", "of 12")] = met
    return table


def pitch_swap_records(folder: str | Path | None = None) -> list[dict]:
    """Swap records of the pitch families' runs (``swap/<key>.json``), shaped like chapter 7's."""
    folder = Path(folder) if folder is not None else ASSETS / FOLDER
    return [read_json(p) for p in sorted((folder / "swap").glob("*.json"))]


if __name__ == "__main__":  # python -m mvtutorial.studies.pitch [controls] [--family NAME] [--seed S] [--jobs N]
    cli = argparse.ArgumentParser(prog="python -m mvtutorial.studies.pitch", description="chapter 6's pitch study (resumable)")
    cli.add_argument("what", nargs="?", choices=("families", "controls"), default="families")
    cli.add_argument("--family", action="append", choices=list(PITCH_FAMILIES), help="only this family (repeatable)")
    cli.add_argument("--seed", action="append", type=int, choices=SEEDS, help="only this training seed (repeatable)")
    cli.add_argument("--jobs", type=int, default=2, help="training runs in parallel, one torch thread each (default 2)")
    args = cli.parse_args()
    seeds = tuple(args.seed or SEEDS)
    print("results in", run_data_controls(seeds) if args.what == "controls" else run_pitch_study(seeds, args.family, n_jobs=args.jobs))
