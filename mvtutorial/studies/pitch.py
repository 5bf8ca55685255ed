"""Chapter 6's pitch study: where the recommended model loses pitch on the tones, per frequency class
and waveform, and whether a family built on it keeps more.

The recommended configuration (:data:`mvtutorial.studies.separation.RECOMMENDED`) puts timbre in the shared
code but keeps pitch less precisely than the input holds it (private -> frequency about .72 on
posterior samples against .99 for a probe on the time-averaged log-mel), and loses most at the top
classes, where the naive tones alias. Each family here changes one thing of the recommended
configuration (or adds one mechanism to a change that helped), states why it might help, and is
trained for 3 seeds and scored with the separation study's evaluation
(:data:`mvtutorial.studies.separation.STUDY_EVAL`) plus :func:`per_class_accuracy`.
Negative results are kept. ``python -m mvtutorial.studies.pitch`` writes ``assets/pitch/``
(resumable: a run with a result is not run again; training state in the cache); ``--family NAME``
and ``--seed S`` (each repeatable) run only those, ``--jobs N`` sets the parallel runs (default 2).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..checkpoint import load_model
from ..config import TrainConfig, config_from_dict
from ..data import load_tone_dataset, ToneConfig
from ..evaluate import encode_split
from ..experiments import run_dir, run_key, run_one
from ..listening import fit_feature_classifier
from ..metrics.probes import make_probe
from ..sweeps import run_sweep
from .separation import (check_targets, Family, FAMILIES, label, PAPER, RECOMMENDED, recommended_config, run_values, STUDY_EVAL,
                         study_results, study_table)
from .store import ASSETS
from .swaps import judge_models

__all__ = ["PITCH_FAMILIES", "SEEDS", "pitch_config", "pitch_grid", "per_class_accuracy", "input_ceiling_per_class",
           "run_pitch_study", "pitch_results", "per_class_records", "per_class_table", "pitch_table", "pitch_swap_records", "per_class_summary",
           "DATA_CONTROLS", "run_data_controls", "control_results", "row_label", "control_row", "CEILING",
           "TABLE_KEYS"]

#: What the pitch study's table shows (probe keys on posterior samples, ratios, S), in order.
TABLE_KEYS = ("private/frequency", "both/frequency", "both_fused/frequency", "shared/timbre", "shared_fused/timbre",
              "private/timbre", "shared/frequency", "shared_fused/frequency", "mi_ratio_timbre", "mi_ratio_frequency")

#: Families of the pitch study by identifier: overrides of the recommended configuration, hypothesis, label.
PITCH_FAMILIES: dict[str, Family] = {
    "freqconv": Family(
        {"arch": "freqconv"},
        "two convolutions along frequency before the encoder's MLP see a partial moved up the spectrum as the same "
        "pattern shifted, so pitch becomes easier to keep precisely, also among the aliases of the top classes", "+ frequency-conv encoder"),
    "calibrated": Family(
        {"reconstruction": "gaussian"},
        "a Gaussian decoder with one variance set to the batch's mean squared error (optimal sigma-VAE) prices "
        "distortion in nats, like the rates: a unit of squared error costs 1/(2 sigma^2) nats instead of 1, about 30 "
        "at the recommended model's error, so the rates (unchanged) get that much cheaper and the private code can "
        "afford the nats of pitch detail; the same discount may let timbre back into the private code",
        "+ calibrated decoder"),
    "adversary": Family(
        {"arch": "freqconv", "private_adversary": 10.0, "rate_private": 1.5},
        "the private rate is what keeps timbre out of the private code, and it also blurs pitch; an adversary that "
        "predicts the shared code from the private sample, its gradient reversed into the encoder (Ganin & Lempitsky "
        "2015; the private/shared split of domain separation networks, Bousmalis et al. 2016), takes over that job, so "
        "the private rate can drop to 1.5 and pitch detail becomes affordable, on the frequency-conv encoder",
        "+ adversary, freq-conv, private rate 1.5"),
}
SEEDS = (0, 1, 2)
FOLDER = "pitch"
#: Data controls: the recommended configuration, unchanged, on a variant of the tone set (identifier, also
#: its results folder -> ToneConfig overrides, hypothesis, label). They separate what is the model's fault from what is the data's.
DATA_CONTROLS: dict[str, Family] = {
    "band-limited-tones": Family(
        {"synthesis": "bandlimited"},
        "without aliasing a tone's loudest partials are its harmonics, so pitch is easy to keep; but above ~2.7 kHz a "
        "band-limited square or sawtooth keeps only one or two harmonics, so timbre itself fades there",
        "band-limited tones"),
}
COLUMNS = {"private -> frequency": ("private", "frequency"), "both -> frequency": ("both", "frequency"),
           "shared -> timbre": ("shared", "timbre"), "private -> timbre": ("private", "timbre")}


def pitch_config(name: str, seed: int = 0, mode: str = "full") -> TrainConfig:
    """The :class:`TrainConfig` of pitch family ``name`` (an identifier of :data:`PITCH_FAMILIES`): the
    recommended configuration plus its overrides."""
    if name not in PITCH_FAMILIES:
        raise ValueError(f"unknown pitch family {name!r}; choose from {list(PITCH_FAMILIES)}")
    return TrainConfig.preset(mode, seed=seed, **{**FAMILIES[RECOMMENDED].overrides, **PITCH_FAMILIES[name].overrides})


def row_label(name: str) -> str:
    """The table row (display label) of a pitch family, a data control or a study family (identifiers)."""
    for registry in (PITCH_FAMILIES, DATA_CONTROLS, FAMILIES):
        if name in registry:
            return registry[name].label
    raise ValueError(f"unknown family {name!r}; choose from {[*PITCH_FAMILIES, *DATA_CONTROLS, *FAMILIES]}")


def pitch_grid(seeds: Sequence[int] = SEEDS, families: Sequence[str] | None = None, mode: str = "full") -> list[TrainConfig]:
    """Every (family, seed) config, family-major."""
    return [pitch_config(f, s, mode) for f in (families or PITCH_FAMILIES) for s in seeds]


def _per_class(correct: dict[str, np.ndarray], factors: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({"freq_class": factors["freq_class"].to_numpy(), "waveform": factors["waveform_name"].to_numpy(),
                          **correct})
    out = frame.groupby(["freq_class", "waveform"]).mean()
    out["n"] = frame.groupby(["freq_class", "waveform"]).size()
    return out


@torch.no_grad()
def per_class_accuracy(model, ds, seed: int = 0, max_train: int = 10_000, samples: bool = True) -> pd.DataFrame:
    """MLP probe accuracy per (frequency class, waveform) on the test split.

    The probes of the separation study (MLP, one probe seed, at most ``max_train`` training codes,
    posterior samples unless ``samples=False``: train codes sampled with ``seed``, test codes with
    ``seed + 1``, as :func:`mvtutorial.evaluate.evaluate_model` does) for each code -> factor of
    :data:`COLUMNS`; each test clip counts once, in its own cell. Returns a DataFrame indexed by
    ``(freq_class, waveform)`` with one accuracy column per probe and ``n`` (test clips per cell).
    """
    train, test = encode_split(model, ds, "train", pair_seed=seed), encode_split(model, ds, "test", pair_seed=seed)
    if samples:
        train, test = train.sample(seed), test.sample(seed + 1)
    keep = np.arange(len(train.factors))
    if len(keep) > max_train:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), max_train, replace=False))
    tr, te = train.latents(), test.latents()
    correct = {}
    for name, (latent, factor) in COLUMNS.items():
        column = ds.factor_columns[factor]
        probe = make_probe("mlp", seed).fit(tr[latent][keep], train.factors[column].to_numpy()[keep])
        correct[name] = probe.predict(te[latent]) == test.factors[column].to_numpy()
    return _per_class(correct, test.factors)


def input_ceiling_per_class(ds, seed: int = 0, max_train: int = 10_000) -> pd.DataFrame:
    """The input's own ceiling per (frequency class, waveform): the same MLP probe on the time-averaged
    log-mel (no model in between), for frequency and for timbre."""
    train, test = ds.split_indices("train"), ds.split_indices("test")
    if len(train) > max_train:
        train = np.sort(np.random.default_rng(seed).choice(train, max_train, replace=False))
    pooled = ds.features.mean(dim=-1).numpy()
    correct = {}
    for name, factor in (("input -> frequency", "frequency"), ("input -> timbre", "timbre")):
        y = ds.factors[ds.factor_columns[factor]].to_numpy()
        correct[name] = make_probe("mlp", seed).fit(pooled[train], y[train]).predict(pooled[test]) == y[test]
    return _per_class(correct, ds.factors.iloc[test])


def _frame_json(frame: pd.DataFrame) -> dict:
    """``{"<freq_class>/<waveform>": {column: value}}``: every number keyed by its cell's names."""
    return {f"{c}/{w}": {k: float(v) for k, v in row.items()} for (c, w), row in frame.iterrows()}


def run_pitch_study(seeds: Sequence[int] = SEEDS, families: Sequence[str] | None = None, out: str | Path | None = None,
                    n_jobs: int = 2, threads: int | None = 1) -> Path:
    """Train and evaluate every pitch family (resumable), then write per-class accuracies of every run
    and of the shipped paper-faithful and recommended checkpoints, and the input's ceiling, into
    ``out`` (default ``assets/pitch``): ``<key>.json`` (the study's evaluation), ``per_class/<name>.json``."""
    out = Path(out) if out is not None else ASSETS / FOLDER
    configs = pitch_grid(seeds, families)
    runs = run_dir(None, FOLDER)
    run_sweep(configs, out, n_jobs=n_jobs, eval_kwargs=STUDY_EVAL, runs_dir=runs, threads=threads)
    ds = load_tone_dataset("full")
    models = {f"{name}-seed{s}": (ASSETS / folder / f"seed{s}.pt") for name, folder in
              (("paper", "headline"), ("recommended", "recommended")) for s in seeds}
    models.update({f"{run_key(c)}": runs / run_key(c) for c in configs})
    with threadpool_limits(limits=threads):
        for name, path in models.items():
            target = out / "per_class" / f"{name}.json"
            if not target.exists():
                atomic_write_json({"model": name, "per_class": _frame_json(per_class_accuracy(load_model(path), ds))}, target)
        target = out / "per_class" / "input.json"
        if not target.exists():
            atomic_write_json({"model": "input", "per_class": _frame_json(input_ceiling_per_class(ds))}, target)
        _swap_records(configs, runs, out, ds)
    return out


def _swap_records(configs: Sequence[TrainConfig], runs: Path, out: Path, ds) -> None:
    """Swap score and counterfactual judges of every trained run, as the shipped tone records are made
    (chapter 7: 2,000 test pairs, pair seed 0, the seed-0 real-log-mel classifier), in ``out/swap/<key>.json``."""
    todo = [c for c in configs if (runs / run_key(c) / "checkpoint.pt").exists() and not (out / "swap" / f"{run_key(c)}.json").exists()]
    classifier = fit_feature_classifier(ds, seed=0) if todo else None
    names = {pitch_config(f, s): PITCH_FAMILIES[f].label for f in PITCH_FAMILIES for s in SEEDS}
    for config in todo:
        key = run_key(config)
        [record] = judge_models({key: load_model(runs / key)}, ds, n_pairs=2000, seed=0,
                                labels={key: names.get(config, key)}, classifier=classifier)
        record.update(key=key, train_seed=config.seed, version=__version__, command="python -m mvtutorial.studies.pitch")
        atomic_write_json(record, out / "swap" / f"{key}.json")


def _control_dataset(name: str):

    return load_tone_dataset(ToneConfig.preset("full", **DATA_CONTROLS[name].overrides))


def run_data_controls(seeds: Sequence[int] = SEEDS, out: str | Path | None = None, threads: int | None = 1) -> Path:
    """Train and evaluate the recommended configuration on every :data:`DATA_CONTROLS` variant
    (resumable; results in ``out/controls/<variant slug>/<key>.json``, its per-class accuracies and the
    variant's input ceiling in ``.../per_class/``). One run at a time (``threads`` torch threads)."""
    out = Path(out) if out is not None else ASSETS / FOLDER
    for name in DATA_CONTROLS:
        folder, runs = out / "controls" / name, run_dir(None, FOLDER) / name
        ds = _control_dataset(name)
        for seed in seeds:
            config = recommended_config("full", seed=seed)
            if not (folder / f"{run_key(config)}.json").exists():  # the key names the config, the folder the data
                run_one(config, folder, threads=threads, eval_kwargs=STUDY_EVAL, runs_dir=runs, dataset=ds)
            target = folder / "per_class" / f"recommended-seed{seed}.json"
            if not target.exists():
                with threadpool_limits(limits=threads):
                    table = per_class_accuracy(load_model(runs / run_key(config)), ds)
                atomic_write_json({"model": f"recommended-seed{seed}", "per_class": _frame_json(table)}, target)
        target = folder / "per_class" / "input.json"
        if not target.exists():
            atomic_write_json({"model": "input", "per_class": _frame_json(input_ceiling_per_class(ds))}, target)
    return out


def control_results(folder: str | Path | None = None) -> dict[str, list[dict]]:
    """The data controls' evaluation results by variant identifier (those that exist)."""
    folder = Path(folder) if folder is not None else ASSETS / FOLDER
    return {name: [read_json(p) for p in sorted((folder / "controls" / name).glob("*.json"))]
            for name in DATA_CONTROLS}


def pitch_results(folder: str | Path | None = None) -> list[dict]:
    """The study's evaluation results (``<key>.json``), each with its family's identifier as ``"family"``."""
    folder = Path(folder) if folder is not None else ASSETS / FOLDER
    names = {}
    for name in PITCH_FAMILIES:
        for s in SEEDS:
            names[pitch_config(name, s)] = name
    out = []
    for path in sorted(folder.glob("*.json")):
        record = read_json(path)
        family = names.get(config_from_dict(record["config"]))
        if family is not None:
            out.append({**record, "family": family})
    return out


def per_class_records(folder: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Per-class accuracy tables by model name (``paper-seed0``, ``recommended-seed1``, a run key,
    ``input``), read back from ``per_class/*.json``."""
    folder = Path(folder) if folder is not None else ASSETS / FOLDER
    out = {}
    for path in sorted((folder / "per_class").glob("*.json")):
        record = read_json(path)
        rows = {tuple(k.split("/")): v for k, v in record["per_class"].items()}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index = pd.MultiIndex.from_tuples([(int(c), w) for c, w in frame.index], names=["freq_class", "waveform"])
        out[record["model"]] = frame.sort_index()
    return out


def per_class_table(tables: dict[str, pd.DataFrame], column: str = "private -> frequency", by: str = "freq_class",
                    groups: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """``column`` per ``by`` (``"freq_class"`` or ``"waveform"``), mean over the seeds of each group
    (``groups``: label -> model names; default each model alone), weighted by the test clips per cell."""
    groups = groups or {name: [name] for name in tables}
    rows = {}
    for label, names in groups.items():
        parts = [tables[n] for n in names if n in tables and column in tables[n]]
        if not parts:
            continue
        per = [(t[column] * t["n"]).groupby(level=by).sum() / t["n"].groupby(level=by).sum() for t in parts]
        rows[label] = pd.concat(per, axis=1).mean(axis=1)
    return pd.DataFrame(rows).T


CEILING = "raw input (ceiling)"


def control_row(control: str, row: str | None = None) -> str:
    """The table row of ``row`` (default: the recommended family's) on data control ``control`` (an identifier)."""
    return f"{row or label(RECOMMENDED)}, {row_label(control)}"


def _input_as(tables: dict[str, pd.DataFrame], column: str) -> dict[str, pd.DataFrame]:
    """``tables`` with the input's probe of ``column``'s factor (``"input -> frequency"``) named
    ``column``, so the input's row sits beside the models' (it reads the factor from the log-mel)."""
    if "input" in tables:
        factor = column.split(" -> ")[1]
        tables = {**tables, "input": tables["input"].rename(columns={f"input -> {factor}": column})}
    return tables


def per_class_summary(column: str = "private -> frequency", by: str = "freq_class", folder: str | Path | None = None) -> pd.DataFrame:
    """``column`` per ``by`` for the raw input (row :data:`CEILING`, its own probe on the time-averaged
    log-mel), the paper-faithful and recommended checkpoints and every pitch family (mean over seeds):
    rows in that order (display labels, :func:`row_label`), columns the classes (or waveforms)."""
    tables = _input_as(per_class_records(folder), column)
    groups = {CEILING: ["input"], label(PAPER): [f"paper-seed{s}" for s in SEEDS],
              label(RECOMMENDED): [f"recommended-seed{s}" for s in SEEDS]}
    groups.update({row_label(name): [run_key(pitch_config(name, s)) for s in SEEDS] for name in PITCH_FAMILIES})
    table = per_class_table(tables, column, by, groups)
    root = Path(folder) if folder is not None else ASSETS / FOLDER
    for name in DATA_CONTROLS:  # the same rows on each data variant, labelled with it
        controls = _input_as(per_class_records(root / "controls" / name), column)
        extra = per_class_table(controls, column, by, {control_row(name, CEILING): ["input"],
                                                       control_row(name): [f"recommended-seed{s}" for s in SEEDS]})
        table = pd.concat([table, extra])
    return table


def pitch_table(codes: str = "sample", folder: str | Path | None = None) -> pd.DataFrame:
    """Mean, sd and n over seeds of :data:`TABLE_KEYS` and the targets met, for the paper-faithful and
    the recommended families (the separation study's shipped runs) and every pitch family: rows the
    family (display labels, :func:`row_label`), columns ``(key, "mean" | "sd" | "n")`` plus ``("targets met", "of 12")``."""
    base = study_table(study_results(), codes)
    rows = [{"family": row_label(r["family"]), **run_values(r, codes)} for r in pitch_results(folder)]
    rows += [{"family": control_row(name), **run_values(r, codes)}
             for name, records in control_results(folder).items() for r in records]
    parts = [base.loc[[label(f) for f in (PAPER, RECOMMENDED) if label(f) in base.index]]]
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
