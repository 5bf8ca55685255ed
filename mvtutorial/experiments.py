"""Runs and their results: one configuration trained, evaluated and written as ``RESULTS/<key>.json``.

Each run (one :class:`~mvtutorial.config.TrainConfig`, seed included) is stored as
``RESULTS/<key>.json`` where ``key`` hashes the config; the file is written
atomically once the run is trained and evaluated. A sweep skips runs whose file
is valid, re-runs those whose file is corrupt (with a warning), and can be killed
and restarted at any point without losing or repeating finished work.
:mod:`mvtutorial.sweeps` runs many of them in parallel (joblib or Dask).
"""
from __future__ import annotations

import dataclasses
import itertools
import time
import warnings
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd
from threadpoolctl import threadpool_limits

from ._version import __version__
from .cache import atomic_write_json, cache_dir, read_json
from .checkpoint import load_checkpoint, load_model
from .config import TrainConfig, config_to_dict, run_key
from .data import load_tone_dataset
from .evaluate import evaluate_model
from .training import train

__all__ = ["expand_grid", "unique_configs", "run_key", "run_dir", "run_one", "record_checkpoint", "load_results", "pending_runs"]

def expand_grid(grid: Mapping[str, Sequence], seeds: Sequence[int] = (0,), base: TrainConfig | str = "full") -> list[TrainConfig]:
    """Cartesian product of ``grid`` (field -> values) x ``seeds`` on top of ``base`` (a config or preset name).

    Raises ``ValueError`` for an unknown field, an empty value list, no seeds, or any invalid value.
    """
    base = TrainConfig.preset(base) if isinstance(base, str) else base
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed"}
    unknown = sorted(set(grid) - fields)
    if unknown:
        raise ValueError(f"unknown grid parameter(s) {unknown}; choose from {sorted(fields)}")
    empty = sorted(k for k, v in grid.items() if len(list(v)) == 0)
    if empty:
        raise ValueError(f"grid parameter(s) {empty} have no values")
    if len(list(seeds)) == 0:
        raise ValueError("seeds is empty")
    keys = list(grid)
    configs = []
    for values in itertools.product(*(list(grid[k]) for k in keys)):
        for seed in seeds:
            configs.append(dataclasses.replace(base, **dict(zip(keys, values)), seed=int(seed)))
    return unique_configs(configs)


def unique_configs(configs: Iterable[TrainConfig]) -> list[TrainConfig]:
    seen, out = set(), []
    for c in configs:
        if run_key(c) not in seen:
            seen.add(run_key(c))
            out.append(c)
    return out


def run_dir(config: TrainConfig | None, study: str) -> Path:
    """The cache folder a run of ``config`` trains in for ``study``: ``cache_dir()/runs/<study>/<run_key>``
    (``config=None``: the study's runs folder). The one place a run's folder is named, so every caller
    that trains the same configuration for the same study resumes the same run."""
    if not study or "/" in study or study in (".", ".."):
        raise ValueError(f"study must be a plain folder name, got {study!r}")
    folder = cache_dir() / "runs" / study
    return folder if config is None else folder / run_key(config)


def _valid_result(path: Path, config: TrainConfig) -> bool:
    if not path.exists():
        return False
    try:
        result = read_json(path)
        ok = result.get("config") == config_to_dict(config) and "probes" in result
    except (ValueError, OSError, AttributeError) as err:
        warnings.warn(f"corrupt result {path} ({err}); it will be re-run", stacklevel=3)
        return False
    if not ok:
        warnings.warn(f"result {path} does not match its config; it will be re-run", stacklevel=3)
    return ok


def pending_runs(configs: Sequence[TrainConfig], results_dir: str | Path) -> list[TrainConfig]:
    """The configs of ``configs`` without a valid result file in ``results_dir``."""
    results_dir = Path(results_dir)
    return [c for c in configs if not _valid_result(results_dir / f"{run_key(c)}.json", c)]


def run_one(
    config: TrainConfig,
    results_dir: str | Path,
    threads: int | None = None,
    eval_kwargs: dict | None = None,
    runs_dir: str | Path | None = None,
    dataset=None,
) -> dict:
    """Train and evaluate one config, write ``<key>.json`` atomically, return the result.

    The training checkpoint lives in ``runs_dir/<key>/`` (default ``results_dir/runs``) so an
    interrupted run resumes from its last finished epoch. ``dataset``: another data source (e.g.
    :func:`mvtutorial.data.load_instrument_dataset`); default the config's tone preset.
    """
    t0 = time.perf_counter()
    folder = Path(runs_dir or Path(results_dir) / "runs") / run_key(config)
    ds = dataset if dataset is not None else load_tone_dataset(config.data_mode, seed=config.data_seed)
    result = train(config, folder, dataset=ds, resume="auto", progress=False, threads=threads)
    return _record(config, result.model, result.history, result.best_epoch, ds, results_dir, threads, eval_kwargs, t0)


def record_checkpoint(
    config: TrainConfig, checkpoint: str | Path, results_dir: str | Path, threads: int | None = None, eval_kwargs: dict | None = None,
    dataset=None,
) -> dict:
    """Like :func:`run_one` for a run that is already trained: evaluate the checkpoint (which must
    be of ``config`` and this package version) and write ``<key>.json``; nothing is retrained.
    ``dataset``: the data it was trained on, when that is not the config's tone preset."""
    t0 = time.perf_counter()
    ckpt = load_checkpoint(checkpoint, config)
    ds = dataset if dataset is not None else load_tone_dataset(config.data_mode, seed=config.data_seed)
    return _record(config, load_model(checkpoint), ckpt["history"], ckpt["best"]["epoch"], ds, results_dir, threads, eval_kwargs, t0)


def _record(config, model, history, best_epoch, ds, results_dir, threads, eval_kwargs, t0) -> dict:
    kwargs = {"probe_seeds": (0,), "scores": False, "max_probe_train": 5000,
              "latents": ("private", "shared", "shared_fused"), **(eval_kwargs or {})}
    with threadpool_limits(limits=threads):  # BLAS threads of the sklearn probes, like torch's above
        t_eval = time.perf_counter()
        evaluation = evaluate_model(model, ds, seed=0, **kwargs)
        eval_seconds = time.perf_counter() - t_eval
    key = run_key(config)
    record = {
        "key": key,
        "config": config_to_dict(config),
        "data": ds.spec(),
        "seed": config.seed,
        "version": __version__,
        "best_epoch": best_epoch,
        "epochs": len(history),
        "seconds": time.perf_counter() - t0,
        "eval_seconds": eval_seconds,
        "train_seconds_per_epoch": float(sum(h["seconds"] for h in history) / max(len(history), 1)),
        "losses": {k: v for k, v in history[-1].items() if k.startswith("val_")},
        **{k: v for k, v in evaluation.items() if k != "version"},
    }
    atomic_write_json(record, Path(results_dir) / f"{key}.json")
    return record


def load_results(results_dir: str | Path, configs: Sequence[TrainConfig] | None = None, codes: str = "mean") -> pd.DataFrame:
    """One tidy row per (run, latent, factor): the run's key and configuration (every field, ``hidden``
    as a tuple), seed, latent, factor, accuracy, plus the run's MI sums. Restricted to ``configs`` when given; corrupt files are skipped with a warning.
    ``codes``: ``"mean"`` (probes on posterior means) or ``"sample"`` (on posterior samples; runs
    evaluated without samples are skipped)."""
    if codes not in ("mean", "sample"):
        raise ValueError(f"codes must be 'mean' or 'sample', got {codes!r}")
    results_dir = Path(results_dir)
    paths = [results_dir / f"{run_key(c)}.json" for c in configs] if configs is not None else sorted(results_dir.glob("*.json"))
    rows = []
    for path in paths:
        if not path.exists():
            continue
        try:
            r = read_json(path)
        except ValueError as err:
            warnings.warn(f"skipping {err}", stacklevel=2)
            continue
        cfg = r["config"]
        if codes == "sample":
            if "samples" not in r:
                continue
            r = {**r, **r["samples"]}
        for name, acc in r["probes"].items():
            latent, factor = name.split("/")
            rows.append({
                "key": r["key"], **{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}, "seed": r["seed"],
                "latent": latent, "factor": factor, "accuracy": acc,
                "mi_sum": r["mi_sums"].get(f"{latent}/{factor}") if latent in ("private", "shared") else None,
                "seconds": r["seconds"],
            })
    return pd.DataFrame(rows)
