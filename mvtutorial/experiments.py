"""Resumable, parallel sweeps over training configurations (joblib).

Each run (one :class:`~mvtutorial.config.TrainConfig`, seed included) is stored as
``RESULTS/<key>.json`` where ``key`` hashes the config; the file is written
atomically once the run is trained and evaluated. A sweep skips runs whose file
is valid, re-runs those whose file is corrupt (with a warning), and can be killed
and restarted at any point without losing or repeating finished work.

Two backends run the pending runs (:func:`run_sweep`):

* ``backend="joblib"`` (default): ``joblib.Parallel(n_jobs=...)`` on this machine (or whatever
  ``joblib.parallel_config`` is active around the call);
* ``backend="dask"``: Dask distributed, one task per run, on the cluster of a scheduler address
  (``tcp://host:8786``), a ``distributed.Client``, or a ``LocalCluster`` started for the sweep.
  By default each run's record comes back to this process, which writes ``<key>.json``
  atomically as it arrives (the machines need no shared folder); ``write_on="workers"`` has the
  workers write into a results folder they all share instead. A worker that dies has its run
  started again elsewhere (resuming from its checkpoint when the new worker sees the same runs
  folder); a client that dies loses nothing written, and the same call resumes the sweep.
"""
from __future__ import annotations

import dataclasses
import itertools
import numbers
import os
import time
import warnings
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import joblib
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ._version import __version__
from .cache import atomic_write_json, config_hash, read_json
from .config import TrainConfig, config_to_dict
from .training import train

__all__ = ["expand_grid", "ablation_base", "ablation_grid", "gamma_beta_grid", "run_key", "run_one", "record_checkpoint", "run_sweep", "load_results", "pending_runs", "ablation_cell",
           "SWEEP_BACKENDS", "SCHEDULER_TIMEOUT", "check_sweep_options", "check_scheduler"]

PAPER_VALUES = (0.0, 0.1, 0.5, 1.0)
#: Epochs per ablation run. The paper does not say; 10 epochs of the full preset keep the
#: 30-run sweep (10 configs x 3 seeds) within ~1.6 h on 2 cores (the headline runs train up to 30 with early stopping).
ABLATION_EPOCHS = 10
#: Backends of :func:`run_sweep`.
SWEEP_BACKENDS = ("joblib", "dask")
#: Seconds :func:`run_sweep` waits for a Dask scheduler address to answer (Dask's own default is 30).
SCHEDULER_TIMEOUT = 10.0


def ablation_base() -> TrainConfig:
    """The config every ablation run starts from: the full preset at :data:`ABLATION_EPOCHS` epochs."""
    return TrainConfig.preset("full", epochs=ABLATION_EPOCHS)


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
    return _unique(configs)


def ablation_grid(
    values: Sequence[float] = PAPER_VALUES, seeds: Sequence[int] = (0, 1, 2), base: TrainConfig | str | None = None
) -> list[TrainConfig]:
    """The paper's protocol: reconstruction plus one of alpha, beta, gamma at a time (others 0).

    With the paper's values {0, 0.1, 0.5, 1} that is 10 distinct configs per seed: 3 terms x 3
    non-zero values, plus the all-zero run that the three columns of the paper's figure share.
    ``base`` defaults to :func:`ablation_base`.
    """
    base = ablation_base() if base is None else base
    configs = []
    for term in ("alpha", "beta", "gamma"):
        overrides = [{"alpha": 0.0, "beta": 0.0, "gamma": 0.0, term: float(v)} for v in values]
        for o in overrides:
            configs += expand_grid({k: [v] for k, v in o.items()}, seeds, base)
    return _unique(configs)


def gamma_beta_grid(
    gammas: Sequence[float] = (0.0, 0.1, 1.0),
    betas: Sequence[float] = (0.0, 0.1, 1.0),
    seeds: Sequence[int] = (0, 1, 2),
    base: TrainConfig | str | None = None,
) -> list[TrainConfig]:
    """Beyond the paper: the 2-D grid gamma x beta (alpha = 0) of chapter 5's heatmap.

    Its edges (beta = 0 or gamma = 0) are configs of :func:`ablation_grid` with the same keys, so
    an ablation's result files serve them; only the interior cells (both terms on) are new.
    ``base`` defaults to :func:`ablation_base`.
    """
    base = ablation_base() if base is None else base
    return expand_grid({"gamma": gammas, "beta": betas, "alpha": [0.0]}, seeds, base)


def _unique(configs: Iterable[TrainConfig]) -> list[TrainConfig]:
    seen, out = set(), []
    for c in configs:
        if run_key(c) not in seen:
            seen.add(run_key(c))
            out.append(c)
    return out


def run_key(config: TrainConfig) -> str:
    """File stem of a run: a hash of its full config (seed included) and the package version."""
    return config_hash(config_to_dict(config), __version__)


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
    :func:`mvtutorial.instruments.load_instrument_dataset`); default the config's tone preset.
    """
    from .data import load_tone_dataset

    t0 = time.perf_counter()
    run_dir = Path(runs_dir or Path(results_dir) / "runs") / run_key(config)
    ds = dataset if dataset is not None else load_tone_dataset(config.data_mode, seed=config.data_seed)
    result = train(config, run_dir, dataset=ds, resume="auto", progress=False, threads=threads)
    return _record(config, result.model, result.history, result.best_epoch, ds, results_dir, threads, eval_kwargs, t0)


def record_checkpoint(
    config: TrainConfig, checkpoint: str | Path, results_dir: str | Path, threads: int | None = None, eval_kwargs: dict | None = None,
    dataset=None,
) -> dict:
    """Like :func:`run_one` for a run that is already trained: evaluate the checkpoint (which must
    be of ``config`` and this package version) and write ``<key>.json``; nothing is retrained.
    ``dataset``: the data it was trained on, when that is not the config's tone preset."""
    from .checkpoint import load_checkpoint, load_model
    from .data import load_tone_dataset

    t0 = time.perf_counter()
    ckpt = load_checkpoint(checkpoint, config)
    ds = dataset if dataset is not None else load_tone_dataset(config.data_mode, seed=config.data_seed)
    return _record(config, load_model(checkpoint), ckpt["history"], ckpt["best"]["epoch"], ds, results_dir, threads, eval_kwargs, t0)


def _record(config, model, history, best_epoch, ds, results_dir, threads, eval_kwargs, t0) -> dict:
    from .evaluate import evaluate_model

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


def run_sweep(
    configs: Sequence[TrainConfig],
    results_dir: str | Path,
    n_jobs: int = 1,
    eval_kwargs: dict | None = None,
    verbose: int = 0,
    runs_dir: str | Path | None = None,
    threads: int | None = None,
    backend: str = "joblib",
    scheduler=None,
    write_on: str = "client",
) -> pd.DataFrame:
    """Run every config without a valid result (in parallel), then return :func:`load_results`.

    Parameters
    ----------
    configs : the runs; those with a valid ``results_dir/<run_key>.json`` are skipped.
    n_jobs : parallel runs: joblib workers, or the worker processes of the ``LocalCluster`` that
        the dask backend starts when no ``scheduler`` is given (-1: one per core).
    threads : torch/BLAS threads per run; default ``cpu_count // n_jobs`` on this machine, and
        for a remote dask cluster the workers' own setting (dask starts workers with 1 thread).
    runs_dir : training checkpoints (``runs_dir/<key>/``), so a killed run resumes. Default
        ``results_dir/runs``; with the dask backend, each worker's own cache folder,
        ``cache_dir()/runs/<results_dir name>`` on that machine.
    backend : ``"joblib"`` (default; the backend of the active ``joblib.parallel_config``) or
        ``"dask"`` (needs the ``distributed`` package).
    scheduler : dask only: a ``distributed.Client``, a scheduler address such as
        ``"tcp://10.0.0.5:8786"``, or None to start a ``LocalCluster`` of ``n_jobs`` worker
        processes with one thread each for this sweep (closed at the end). An address that does
        not answer within :data:`SCHEDULER_TIMEOUT` seconds is a ``ConnectionError``.
    write_on : dask only: ``"client"`` (default): each run's record is returned to this process,
        which writes it to ``results_dir`` atomically as it arrives; workers need no access to
        ``results_dir``. ``"workers"``: each worker writes ``results_dir/<key>.json`` itself
        (a folder every worker machine shares, e.g. NFS), as the joblib backend does.

    Raises
    ------
    TypeError, ValueError
        Before any run starts (:func:`check_sweep_options`, :func:`check_scheduler`): configs that
        are not ``TrainConfig`` objects, ``n_jobs`` not >= 1 or -1, ``threads`` < 1, a scheduler
        that is not an address.

    Notes
    -----
    A worker that dies (killed, machine lost) has its run started again on another worker; a
    sweep whose client dies is resumed by calling this again (finished runs are skipped, and a
    worker finds an interrupted run's checkpoint in its runs folder). Results do not depend on the
    backend: same configs and threads per run give the same numbers (tested with a worker killed).
    """
    check_sweep_options(configs, n_jobs, threads)
    if not configs:
        raise ValueError("no configs to run")
    if backend not in SWEEP_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {SWEEP_BACKENDS}")
    if write_on not in ("client", "workers"):
        raise ValueError(f"write_on must be 'client' or 'workers', got {write_on!r}")
    if backend == "joblib" and (scheduler is not None or write_on != "client"):
        raise ValueError("scheduler and write_on are options of backend='dask'")
    if backend == "dask":
        check_scheduler(scheduler)
    todo = pending_runs(configs, results_dir)
    if todo:
        workers = n_jobs if n_jobs > 0 else os.cpu_count() or 1
        if threads is None and (backend == "joblib" or scheduler is None):
            threads = max(1, (os.cpu_count() or 1) // workers)
        if backend == "joblib":
            joblib.Parallel(n_jobs=n_jobs, verbose=verbose)(
                joblib.delayed(run_one)(c, results_dir, threads, eval_kwargs, runs_dir) for c in todo
            )
        else:
            _run_dask(todo, Path(results_dir), workers, threads, eval_kwargs, runs_dir, scheduler, write_on, verbose)
    return load_results(results_dir, configs)


def check_sweep_options(configs=(), n_jobs: int = 1, threads: int | None = None) -> None:
    """One clear error, before any run starts, for what :func:`run_sweep` cannot use: configs that
    are not :class:`TrainConfig` objects (``TypeError``), ``n_jobs`` other than an integer >= 1 or
    -1, ``threads`` other than None or an integer >= 1 (``ValueError``)."""
    if isinstance(configs, (str, bytes, TrainConfig)) or not hasattr(configs, "__len__"):
        raise TypeError(f"configs must be a list of TrainConfig objects, got {type(configs).__name__} {configs!r}")
    for i, c in enumerate(configs):
        if not isinstance(c, TrainConfig):  # e.g. a preset name: asdict would fail deep inside the run key
            raise TypeError(f"configs must be TrainConfig objects (e.g. TrainConfig.preset('full', gamma=0.5)), "
                            f"got {type(c).__name__} {c!r} at position {i}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or not (n_jobs >= 1 or n_jobs == -1):
        raise ValueError(f"n_jobs must be an integer >= 1 (parallel runs), or -1 for one per core, got {n_jobs!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1):
        raise ValueError(f"threads must be an integer >= 1 (torch/BLAS threads per run), got {threads!r}")


def check_scheduler(scheduler) -> None:
    """``ValueError`` / ``TypeError`` unless ``scheduler`` is None, a ``distributed.Client`` or a
    scheduler address with a port (``tcp://host:8786``, ``host:8786``); reachability is checked
    when the sweep connects (:data:`SCHEDULER_TIMEOUT`)."""
    if scheduler is None or not isinstance(scheduler, str):
        from distributed import Client

        if scheduler is not None and not isinstance(scheduler, Client):
            raise TypeError(f"scheduler must be a Dask scheduler address such as 'tcp://10.0.0.5:8786', a distributed.Client "
                            f"or None, got {type(scheduler).__name__} {scheduler!r}")
        return
    from distributed.comm import parse_address, parse_host_port

    try:
        protocol, location = parse_address(scheduler)
        if protocol in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except (ValueError, TypeError) as err:
        raise ValueError(f"scheduler {scheduler!r} is not a Dask scheduler address ({err}); use tcp://HOST:PORT, "
                         "e.g. tcp://10.0.0.5:8786 as printed by `dask scheduler`") from None


def _dask_run(config: TrainConfig, results_dir: str, threads: int | None, eval_kwargs: dict | None,
              runs_dir: str | None, write_on: str) -> dict:
    """One run on a dask worker: :func:`run_one`, writing the record into ``results_dir`` (shared
    folder) or only returning it (the client writes it); checkpoints in the worker's runs folder."""
    import tempfile

    from .cache import cache_dir

    runs = Path(runs_dir) if runs_dir is not None else cache_dir() / "runs" / Path(results_dir).name
    if write_on == "workers":
        return run_one(config, results_dir, threads, eval_kwargs, runs)
    with tempfile.TemporaryDirectory(prefix="mvtutorial-record-") as scratch:  # the client writes the real one
        return run_one(config, scratch, threads, eval_kwargs, runs)


def _run_dask(todo, results_dir: Path, n_jobs, threads, eval_kwargs, runs_dir, scheduler, write_on, verbose) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as err:  # pragma: no cover - distributed is in requirements.txt
        raise ImportError("backend='dask' needs the distributed package: pip install 'dask[distributed]'") from err
    from ._progress import tqdm

    cluster = client = None
    try:
        if isinstance(scheduler, Client):
            active = scheduler
        else:
            if scheduler is None:
                cluster = LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
            if cluster is not None:
                client = active = Client(cluster)
            else:
                try:
                    client = active = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
                except OSError as err:  # Dask's own error comes after 30 s and a long traceback
                    detail = "" if "Timed out" in str(err) else f" ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
                    raise ConnectionError(f"no Dask scheduler answered at {scheduler!r} within {SCHEDULER_TIMEOUT:g} s{detail}; "
                                          "start one with `dask scheduler` and check the address and port, or run "
                                          "without a scheduler (a LocalCluster on this machine)") from None
        futures = [active.submit(_dask_run, c, str(results_dir), threads, eval_kwargs,
                                 None if runs_dir is None else str(runs_dir), write_on,
                                 key=f"mvtutorial-run-{run_key(c)}", pure=False) for c in todo]
        bar = tqdm(total=len(futures), desc="runs", disable=not verbose)
        for future in as_completed(futures):
            record = future.result()  # a run that raised re-raises here; finished ones are written
            if write_on == "client":
                atomic_write_json(record, results_dir / f"{record['key']}.json")
            bar.update()
        bar.close()
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def load_results(results_dir: str | Path, configs: Sequence[TrainConfig] | None = None, codes: str = "mean") -> pd.DataFrame:
    """One tidy row per (run, latent, factor): alpha, beta, gamma, seed, latent, factor, accuracy,
    plus the run's MI sums. Restricted to ``configs`` when given; corrupt files are skipped with a warning.
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
                "key": r["key"], "alpha": cfg["alpha"], "beta": cfg["beta"], "gamma": cfg["gamma"], "seed": r["seed"],
                "latent": latent, "factor": factor, "accuracy": acc,
                "mi_sum": r["mi_sums"].get(f"{latent}/{factor}") if latent in ("private", "shared") else None,
                "seconds": r["seconds"],
            })
    return pd.DataFrame(rows)


def ablation_cell(table: pd.DataFrame, term: str, value: float, latent: str, factor: str) -> tuple[float, float, int] | None:
    """``(mean, sd, n_seeds)`` of the probe accuracy of ``latent`` for ``factor`` over the runs of
    ``table`` (from :func:`load_results`) with ``term`` at ``value`` and the other two weights at 0;
    None when no run has that cell (sd is NaN for a single seed)."""
    if term not in ("alpha", "beta", "gamma"):
        raise ValueError(f"unknown term {term!r}; choose alpha, beta or gamma")
    if len(table) == 0:
        return None
    keep = np.isclose(table[term], value)
    for other in {"alpha", "beta", "gamma"} - {term}:
        keep &= np.isclose(table[other], 0.0)
    acc = table[keep & (table.latent == latent) & (table.factor == factor)].accuracy.to_numpy()
    if len(acc) == 0:
        return None
    return float(acc.mean()), (float(acc.std(ddof=1)) if len(acc) > 1 else float("nan")), len(acc)
