"""Resumable, parallel sweeps over training configurations: every pending run of a list of
configurations (:func:`mvtutorial.experiments.run_one`), then the tidy table of all their results.

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

import numbers
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import joblib
import pandas as pd

from ._progress import tqdm
from .cache import atomic_write_json
from .config import TrainConfig
from .experiments import load_results, pending_runs, run_dir, run_key, run_one
from .training import NonFiniteLossError

__all__ = ["run_sweep", "sweep_past_divergence", "SWEEP_BACKENDS", "SCHEDULER_TIMEOUT", "check_sweep_options", "check_scheduler"]

#: Backends of :func:`run_sweep`.
SWEEP_BACKENDS = ("joblib", "dask")
#: Seconds :func:`run_sweep` waits for a Dask scheduler address to answer (Dask's own default is 30).
SCHEDULER_TIMEOUT = 10.0


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
        if backend == "joblib":  # sequential with verbose, joblib 1.6 hides a run's own error behind an AttributeError
            joblib.Parallel(n_jobs=n_jobs, verbose=verbose if workers > 1 else 0)(
                joblib.delayed(run_one)(c, results_dir, threads, eval_kwargs, runs_dir) for c in todo
            )
        else:
            _run_dask(todo, Path(results_dir), workers, threads, eval_kwargs, runs_dir, scheduler, write_on, verbose)
    return load_results(results_dir, configs)


def sweep_past_divergence(configs: Sequence[TrainConfig], results_dir: str | Path, n_jobs: int,
                          sweep: Callable[[list, int], object],
                          on_diverged: Callable[[TrainConfig, NonFiniteLossError], None]) -> None:
    """``sweep(configs, n_jobs)`` (the caller's :func:`run_sweep` call), finishing the runs a divergence stops.

    A run that diverges raises :class:`~mvtutorial.training.NonFiniteLossError` out of the whole sweep, and a
    parallel backend stops the runs beside it; those still without a result in ``results_dir`` then run one
    at a time (``sweep([config], 1)``), and each that diverges is handed to ``on_diverged(config, error)``.
    """
    try:
        sweep(list(configs), n_jobs)
    except NonFiniteLossError:
        for config in pending_runs(configs, results_dir):
            try:
                sweep([config], 1)
            except NonFiniteLossError as err:
                on_diverged(config, err)


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


def _distributed():
    """The ``distributed`` package (Dask), imported on first use: only ``backend="dask"`` needs it,
    and importing it takes about half a second."""
    try:
        import distributed
        import distributed.comm
    except ImportError as err:  # pragma: no cover - distributed is in requirements.txt and the cluster extra
        raise ImportError("backend='dask' needs the distributed package: pip install 'mvtutorial[cluster]'") from err
    return distributed


def check_scheduler(scheduler) -> None:
    """``ValueError`` / ``TypeError`` unless ``scheduler`` is None, a ``distributed.Client`` or a
    scheduler address with a port (``tcp://host:8786``, ``host:8786``); reachability is checked
    when the sweep connects (:data:`SCHEDULER_TIMEOUT`)."""
    if scheduler is None:
        return
    dist = _distributed()
    if not isinstance(scheduler, str):
        if not isinstance(scheduler, dist.Client):
            raise TypeError(f"scheduler must be a Dask scheduler address such as 'tcp://10.0.0.5:8786', a distributed.Client "
                            f"or None, got {type(scheduler).__name__} {scheduler!r}")
        return
    try:
        protocol, location = dist.comm.parse_address(scheduler)
        if protocol in ("tcp", "tls", "ws", "wss"):
            dist.comm.parse_host_port(location)
    except (ValueError, TypeError) as err:
        raise ValueError(f"scheduler {scheduler!r} is not a Dask scheduler address ({err}); use tcp://HOST:PORT, "
                         "e.g. tcp://10.0.0.5:8786 as printed by `dask scheduler`") from None


def _dask_run(config: TrainConfig, results_dir: str, threads: int | None, eval_kwargs: dict | None,
              runs_dir: str | None, write_on: str) -> dict:
    """One run on a dask worker: :func:`run_one`, writing the record into ``results_dir`` (shared
    folder) or only returning it (the client writes it); checkpoints in the worker's runs folder."""
    runs = Path(runs_dir) if runs_dir is not None else run_dir(None, Path(results_dir).name)
    if write_on == "workers":
        return run_one(config, results_dir, threads, eval_kwargs, runs)
    with tempfile.TemporaryDirectory(prefix="mvtutorial-record-") as scratch:  # the client writes the real one
        return run_one(config, scratch, threads, eval_kwargs, runs)


def _run_dask(todo, results_dir: Path, n_jobs, threads, eval_kwargs, runs_dir, scheduler, write_on, verbose) -> None:
    dist = _distributed()
    cluster = client = None
    try:
        if isinstance(scheduler, dist.Client):
            active = scheduler
        else:
            if scheduler is None:
                cluster = dist.LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
            if cluster is not None:
                client = active = dist.Client(cluster)
            else:
                try:
                    client = active = dist.Client(scheduler, timeout=SCHEDULER_TIMEOUT)
                except OSError as err:  # Dask's own error comes after 30 s and a long traceback
                    detail = "" if "Timed out" in str(err) else f" ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
                    raise ConnectionError(f"no Dask scheduler answered at {scheduler!r} within {SCHEDULER_TIMEOUT:g} s{detail}; "
                                          "start one with `dask scheduler` and check the address and port, or run "
                                          "without a scheduler (a LocalCluster on this machine)") from None
        futures = [active.submit(_dask_run, c, str(results_dir), threads, eval_kwargs,
                                 None if runs_dir is None else str(runs_dir), write_on,
                                 key=f"mvtutorial-run-{run_key(c)}", pure=False) for c in todo]
        bar = tqdm(total=len(futures), desc="runs", disable=not verbose)
        for future in dist.as_completed(futures):
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
