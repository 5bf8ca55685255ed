"""Chapter 8's study: other ways to split a representation, compared with one evaluation.

Every baseline is an objective of :mod:`mvtutorial.objectives.baselines` (or the multi-view objective
with other weights) on the same model, trainer and data; this module holds the grid, the comparison
table, the interleaved timing and the swap scores of the runs, and reads the shipped results
(``assets/baselines``).
"""
from __future__ import annotations

import dataclasses
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from .._progress import tqdm
from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..checkpoint import load_model
from ..config import TrainConfig, config_from_dict
from ..data import load_tone_dataset
from ..experiments import run_dir, run_key
from ..listening import fit_feature_classifier
from ..model import MultiViewVAE
from ..results import format_stats, seed_stats
from ..sweeps import run_sweep, sweep_past_divergence
from ..training import NonFiniteLossError, pair_octaves, run_epoch
from .ablation import ABLATION_EPOCHS
from .separation import Family, FAMILIES, family_row, label, PAPER as PAPER_FAMILY, RECOMMENDED_STANDARD, separation_score, STUDY_EVAL
from .store import asset_path, output_root, sweep_into
from .swaps import write_swap_score

__all__ = ["PAPER", "RECOMMENDED_OBJECTIVE", "SINGLE_VIEW", "ALL_PRIVATE", "ALL_SHARED", "ADA_GVAE", "RECON_CONTRASTIVE",
           "CONTRASTIVE_ONLY", "BASELINES", "NO_DECODER", "decoder_rows", "baseline_config", "baseline_grid", "baseline_of",
           "COMPARISON", "COLUMNS", "PARTS", "comparison_frame", "comparison_table", "comparison_display", "incomplete_rows",
           "seed_values",
           "run_fast_baselines", "seconds_per_epoch", "add_swap_scores", "baseline_results", "baseline_timing",
           "baselines_markdown", "reproduce_baselines", "reproduce_baseline_timing"]

#: Chapter 8's baselines by identifier: overrides of the full preset, what it tests, and its row label in
#: every table of the chapter. Same data, model size and evaluation as the separation study
#: (:data:`mvtutorial.studies.separation.STUDY_EVAL`), all at the ablation's epoch budget
#: (:data:`mvtutorial.studies.ablation.ABLATION_EPOCHS`), the paper's and the recommended objective included.
BASELINES: dict[str, Family] = {
    "paper": Family(dict(FAMILIES[PAPER_FAMILY].overrides), "the paper's objective (chapters 3-4): reconstruction + 0.1 DWKL",
                    label(PAPER_FAMILY)),
    "recommended": Family(dict(FAMILIES[RECOMMENDED_STANDARD].overrides),
                          "the separation study's recommended objective and encoder (chapter 6), at the baselines' budget",
                          f"{label(RECOMMENDED_STANDARD)} (recommended)"),
    "single-view": Family({"objective": "single_view", "alpha": 1.0, "beta": 6.0, "gamma": 1.0},
                          "no pairs: which dimensions carry timbre and pitch without the multi-view signal (Chen et al. 2018)",
                          "single-view beta-TCVAE"),
    "all-private": Family({"objective": "all_private"}, "the paper's loss with every dimension private",
                          "all private (no shared path)"),
    "all-shared": Family({"objective": "all_shared"}, "the paper's loss with every dimension fused across views",
                         "all shared (no private path)"),
    "ada-gvae": Family({"objective": "ada_gvae", "gamma": 0.0, "rate_private": 1.0},
                       "weakly supervised pairs pick the shared dimensions adaptively (Locatello et al. 2020)", "Ada-GVAE"),
    "recon-contrastive": Family({"gamma": 0.0, "contrastive": 1.0},
                                "InfoNCE between the views' shared codes added to reconstruction (the follow-up's direction)",
                                "reconstruction + contrastive"),
    "contrastive-only": Family({"objective": "contrastive_only", "gamma": 0.0, "contrastive": 1.0},
                               "InfoNCE alone, no decoder: the shared code only has to identify the partner", "contrastive only"),
}
#: The baselines' rows (display labels), so that the chapter's prose and code name each row once.
PAPER, RECOMMENDED_OBJECTIVE, SINGLE_VIEW, ALL_PRIVATE, ALL_SHARED, ADA_GVAE, RECON_CONTRASTIVE, CONTRASTIVE_ONLY = (
    b.label for b in BASELINES.values())

#: Objectives without a decoder term: no reconstruction, no swap score.
NO_DECODER = ("contrastive_only",)


def decoder_rows() -> list[str]:
    """The rows of the baselines whose objective trains a decoder (every one but those of :data:`NO_DECODER`), in table order."""
    return [b.label for b in BASELINES.values() if b.overrides.get("objective") not in NO_DECODER]


def baseline_config(name: str, mode: str = "full", seed: int = 0):
    """The :class:`~mvtutorial.config.TrainConfig` of baseline ``name`` (an identifier: a key of :data:`BASELINES`)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {list(BASELINES)}")
    budget = {"epochs": ABLATION_EPOCHS} if mode == "full" else {}
    return TrainConfig.preset(mode, seed=seed, **budget, **BASELINES[name].overrides)


def baseline_grid(seeds=(0, 1, 2), names=None, mode: str = "full") -> list:
    """Every baseline (or ``names``) x ``seeds``, in the order of :data:`BASELINES`."""
    return [baseline_config(n, mode, s) for n in (names or BASELINES) for s in seeds]


def baseline_of(config) -> str | None:
    """The row (display label) of the baseline ``config`` belongs to (any seed, any data mode), or ``None``."""
    for name, baseline in BASELINES.items():
        ref = baseline_config(name, "full", config.seed)
        if dataclasses.replace(config, data_mode="full", epochs=ref.epochs, batch_size=ref.batch_size,
                               patience=ref.patience) == ref:
            return baseline.label
    return None


#: Columns of chapter 8's comparison: key -> label. Probes on single-view codes (posterior samples by default).
COMPARISON = {
    "private/timbre": "private timbre", "shared/timbre": "shared timbre", "both/timbre": "both timbre",
    "private/frequency": "private freq.", "shared/frequency": "shared freq.", "both/frequency": "both freq.",
    "mi_ratio_timbre": "MI ratio timbre", "mi_ratio_frequency": "MI ratio freq.",
    "mig": "MIG", "dci_disentanglement": "DCI dis.", "sap": "SAP",
    "swap_timbre": "swap timbre", "swap_frequency": "swap pitch", "swap_both": "swap both",
    "train_seconds_per_epoch": "s / epoch",
}
#: Every column of :func:`comparison_table`: :data:`COMPARISON` and the separation score S of chapter 6.
COLUMNS = {**COMPARISON, "S": "S"}
#: The chapter's table in three parts, by what the columns measure, so that each part fits the page.
PARTS = {"probe accuracy": ["private/timbre", "shared/timbre", "both/timbre", "private/frequency", "shared/frequency", "both/frequency"],
         "MI ratios and disentanglement scores": ["mi_ratio_timbre", "mi_ratio_frequency", "S", "mig", "dci_disentanglement", "sap"],
         "swap scores and cost": ["swap_timbre", "swap_frequency", "swap_both", "train_seconds_per_epoch"]}
#: Digits of each column in the chapter and the README (2 for the others).
DIGITS = {"mi_ratio_timbre": 1, "mi_ratio_frequency": 1, "train_seconds_per_epoch": 1}


def comparison_frame(records, names=None, swap: dict | None = None, codes: str = "sample") -> pd.DataFrame:
    """One row per run of chapter 8's comparison.

    Parameters
    ----------
    records : run results of :func:`mvtutorial.experiments.run_one` (with ``samples`` and ``scores``).
    names : ``config -> row name or None`` (default :func:`baseline_of`, then the separation study's
        :func:`~mvtutorial.studies.separation.family_row`); runs it names ``None`` are left out.
    swap : ``(row name, seed) ->`` :func:`~mvtutorial.listening.swap_score` record for runs whose JSON
        holds none (``record["swap"]`` wins).
    codes : probes on posterior ``"sample"`` s or ``"mean"`` s.

    Returns
    -------
    DataFrame with the columns ``configuration``, ``seed`` and every key of :data:`COLUMNS` (S per run);
    missing values (no decoder: no swap score) are NaN.
    """
    if codes not in ("sample", "mean"):
        raise ValueError(f"codes must be 'sample' or 'mean', got {codes!r}")
    names = names or (lambda c: baseline_of(c) or family_row(c))
    rows = []
    for r in records:
        name = names(config_from_dict(r["config"]))
        if name is None:
            continue
        src = r["samples"] if codes == "sample" else r
        v = {k: src["probes"].get(k, np.nan) for k in COMPARISON if "/" in k}
        v.update(mi_ratio_timbre=src["mi_ratio_timbre"], mi_ratio_frequency=src["mi_ratio_frequency"],
                 train_seconds_per_epoch=r["train_seconds_per_epoch"], **{k: r.get("scores", {}).get(k, np.nan)
                                                                        for k in ("mig", "dci_disentanglement", "sap")})
        s = r.get("swap") or (swap or {}).get((name, r["seed"])) or {}
        v.update({k: s.get(k, np.nan) for k in ("swap_timbre", "swap_frequency", "swap_both")})
        v["S"] = separation_score(v)
        rows.append({"configuration": name, "seed": r["seed"], **v})
    return pd.DataFrame(rows, columns=["configuration", "seed", *COLUMNS])


def comparison_table(records, names=None, swap: dict | None = None, codes: str = "sample",
                     timing: dict | None = None) -> pd.DataFrame:
    """Chapter 8's comparison: mean, sd and n over training seeds of every column of :data:`COLUMNS`.

    Parameters
    ----------
    records, names, swap, codes : as for :func:`comparison_frame`.
    timing : ``name -> seconds per epoch`` of one interleaved measurement (:func:`baseline_timing`'s
        ``"seconds_per_epoch"``); it replaces the sweep's wall-clock mean of ``train_seconds_per_epoch``
        (sd NaN, n 1) in the rows it names.

    Returns
    -------
    :func:`mvtutorial.results.seed_stats` table, one row per configuration (the baselines first, in the
    order of :data:`BASELINES`); empty if no run is named.
    """
    stats = seed_stats(comparison_frame(records, names, swap, codes), "configuration", list(COLUMNS))
    if len(stats) == 0:
        return stats
    rows = [b.label for b in BASELINES.values()]
    order = [n for n in rows if n in stats.index] + [n for n in stats.index if n not in rows]
    stats = stats.loc[order]
    for name, seconds in (timing or {}).items():
        if name in stats.index:
            stats.loc[name, [("train_seconds_per_epoch", k) for k in ("mean", "sd", "n")]] = [seconds, np.nan, 1]
    return stats


def comparison_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison_table` as "mean ± sd" strings (:func:`mvtutorial.results.format_stats`), columns
    ``(part, label)`` of :data:`PARTS` and :data:`COLUMNS`."""
    shown = format_stats(table, DIGITS)
    return pd.concat({part: shown[keys].rename(columns=COLUMNS) for part, keys in PARTS.items()}, axis=1)


def incomplete_rows(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Rows of :func:`comparison_table` with fewer runs than the most complete row: ``name -> (n, most)``
    (a run that diverged leaves no result; ``reproduce baselines`` reports it and goes on)."""
    n = table[("both/timbre", "n")].astype(int)
    return {name: (int(k), int(n.max())) for name, k in n.items() if k < n.max()}


def seed_values(frame: pd.DataFrame, name: str, value: str) -> pd.Series:
    """``value`` of every run of configuration ``name`` in a :func:`comparison_frame`, indexed by seed (ascending)."""
    return frame[frame.configuration == name].set_index("seed")[value].sort_index()


def run_fast_baselines(out: str | Path, epochs: int = 1, n_pairs: int = 300) -> list[dict]:
    """Chapter 8 in fast mode: every baseline, seed 0, trained for ``epochs`` on the fast tone preset into
    ``out`` (checkpoints in ``out/runs``), evaluated as :data:`STUDY_EVAL` with cheap logistic probes
    (at most 500 training codes) and given a swap score (``n_pairs`` test pairs). Seconds; toy numbers."""
    configs = [dataclasses.replace(c, epochs=epochs) for c in baseline_grid(seeds=(0,), mode="fast")]
    run_sweep(configs, out, n_jobs=1, threads=1, eval_kwargs={**STUDY_EVAL, "probe": "logistic", "max_probe_train": 500})
    ds = load_tone_dataset("fast")
    return add_swap_scores(configs, out, Path(out) / "runs", ds, fit_feature_classifier(ds, seed=0), n_pairs=n_pairs)


def seconds_per_epoch(configs: dict, ds, steps: int = 40, rounds: int = 3, seed: int = 0) -> dict[str, float]:
    """Training time per epoch of each config on this machine, measured in one process and interleaved.

    Each of ``rounds`` rounds times ``steps`` optimiser steps of every config in turn (a fresh model,
    Adam, the config's batch size, the same training pairs); the median seconds per step times the
    steps in one epoch of ``ds``'s training split is returned, ``name -> seconds``. Interleaving the
    configs makes the numbers comparable even when the machine's load changes during the measurement,
    which the per-run wall times of a parallel sweep are not.
    """
    if steps < 1 or rounds < 1:
        raise ValueError(f"steps and rounds must be >= 1, got {steps!r} and {rounds!r}")
    n_train = len(ds.split_indices("train"))
    pairs = ds.pairs("train", rng=seed)
    per_step: dict[str, list[float]] = {name: [] for name in configs}
    octaves = {name: pair_octaves(config, ds.factors) for name, config in configs.items()}  # the transposition term's
    for _ in range(rounds):
        for name, config in configs.items():
            torch.manual_seed(seed)
            model = MultiViewVAE(config.model_config(ds.input_shape))
            opt = torch.optim.Adam(model.parameters(), lr=config.lr)
            batch = pairs[: steps * config.batch_size]
            t0 = time.perf_counter()
            run_epoch(model, opt, ds.features, batch, config, n_train, torch.Generator().manual_seed(seed),
                      octaves=octaves[name])
            per_step[name].append((time.perf_counter() - t0) / steps)
    return {name: float(np.median(v)) * math.ceil(n_train / configs[name].batch_size) for name, v in per_step.items()}


def add_swap_scores(configs, results_dir, runs_dir, ds, classifier=None, n_pairs: int = 2000,
                    progress: bool = True) -> list[dict]:
    """Add the swap score (:func:`mvtutorial.listening.swap_score`, pair seed 0) to the result JSON of every
    run of ``configs`` that has a decoder and no score yet (atomic rewrite by
    :func:`~mvtutorial.studies.swaps.write_swap_score`, key ``"swap"``; checkpoints in ``runs_dir/<key>``).

    ``classifier`` defaults to ``fit_feature_classifier(ds, seed=0)`` (the one ``reproduce swap`` uses),
    fitted only if some run still needs a score. Returns the records of the configs that have a result,
    in the order of ``configs``."""
    paths = {run_key(c): Path(results_dir) / f"{run_key(c)}.json" for c in configs}
    records = {key: read_json(path) for key, path in paths.items() if path.exists()}
    todo = [c for c in configs if run_key(c) in records and c.objective not in NO_DECODER
            and "swap" not in records[run_key(c)]]
    if todo and classifier is None:
        classifier = fit_feature_classifier(ds, seed=0)
    for config in tqdm(todo, desc="swap scores", disable=not progress):
        key = run_key(config)
        records[key] = write_swap_score(paths[key], load_model(Path(runs_dir) / key), ds, classifier, n_pairs=n_pairs, under="swap")
    return [records[key] for key in dict.fromkeys(run_key(c) for c in configs) if key in records]


def baseline_results() -> list[dict]:
    """Evaluation JSON of every shipped chapter 8 run (``assets/baselines``, timing file aside); empty if none."""
    return [read_json(p) for p in sorted(asset_path("baselines").glob("*.json")) if p.name != "timing.json"]


def baseline_timing() -> dict | None:
    """``assets/baselines/timing.json`` (seconds per epoch of each baseline, measured interleaved), or ``None``."""
    path = asset_path("baselines", "timing.json")
    return read_json(path) if path.exists() else None


def reproduce_baselines(seeds=(0, 1, 2), n_jobs: int = 2, threads: int | None = None, n_pairs: int = 2000,
                        **backend) -> None:
    """Chapter 8's baselines (:data:`BASELINES` x seeds, full preset, the separation
    study's evaluation) into ``assets/baselines/<key>.json``; then the swap score of each run with a
    decoder is added to its JSON (key ``"swap"``, same classifier and pairs as ``reproduce swap``)."""
    configs = baseline_grid(seeds)
    root = output_root(backend.get("out"))
    sweep_past_divergence(  # a diverged run is a result (chapter 8 reports it); the others still run
        configs, root / "baselines", n_jobs, lambda todo, jobs: sweep_into(todo, "baselines", jobs, threads, STUDY_EVAL, **backend),
        lambda config, err: print(f"warning: a run diverged and has no result: {err}", file=sys.stderr, flush=True))
    with threadpool_limits(limits=threads):
        ds = load_tone_dataset("full")
        add_swap_scores(configs, root / "baselines", run_dir(None, "baselines"), ds, n_pairs=n_pairs)
    if not (root / "baselines" / "timing.json").exists():
        reproduce_baseline_timing(threads=threads or 1, out=root)


def reproduce_baseline_timing(threads: int = 1, out: str | Path | None = None) -> dict:
    """Seconds per training epoch of every baseline, measured interleaved in one process
    (:func:`seconds_per_epoch`, 40 steps x 3 rounds) into ``<root>/baselines/timing.json``
    (:func:`output_root` of ``out``)."""
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        ds = load_tone_dataset("full")
        seconds = seconds_per_epoch({b.label: baseline_config(n) for n, b in BASELINES.items()}, ds, steps=40, rounds=3)
    record = {"seconds_per_epoch": seconds, "threads": threads, "steps": 40, "rounds": 3, "machine": platform.processor() or platform.machine(),
              "version": __version__, "command": "python -m mvtutorial.reproduce baselines"}
    atomic_write_json(record, output_root(out) / "baselines" / "timing.json")
    print({k: round(v, 1) for k, v in seconds.items()}, flush=True)
    return record


def baselines_markdown() -> str:
    """Markdown table of chapter 8's comparison (mean +- sd over training seeds; seconds per epoch from timing.json)."""
    timing = (baseline_timing() or {}).get("seconds_per_epoch", {})
    table = comparison_table(baseline_results(), timing=timing)
    if len(table) == 0:
        return "(no shipped baseline results: run `python -m mvtutorial.reproduce baselines`)"
    keys = [k for k in COMPARISON if k != "train_seconds_per_epoch"]
    lines = ["Baselines (chapter 8; 10-epoch full preset, MLP probes on test-split posterior **samples**, mean +- sd over "
             "training seeds; swap score as in chapter 7; seconds per epoch measured interleaved on one thread):", "",
             "| configuration | n | " + " | ".join(COMPARISON[k] for k in keys) + " | s / epoch |", "|---" * (len(keys) + 3) + "|"]
    cells = format_stats(table.fillna({(k, "sd"): 0.0 for k in keys}), DIGITS, missing="-")
    for name in table.index:
        sec = timing.get(name)
        lines.append(f"| {name} | {int(table.loc[name, (keys[0], 'n')])} | " + " | ".join(cells.loc[name, keys]).replace("\u00a0±\u00a0", " +- ")
                     + f" | {'-' if sec is None else f'{sec:.1f}'} |")
    return "\n".join(lines)
