"""Benchmark: the sweep machinery (joblib, resumable result files) on a small ablation.

Times the same small sweep (by default the fast-mode grid of chapter 5: reconstruction alone plus
alpha, beta, gamma = 1 one at a time, i.e. 4 tiny configs, 1 epoch each on the 840-clip set,
logistic probes) with several worker / thread settings, each into a fresh temporary folder:

* ``n_jobs=1`` with the default threads (``cpu_count // n_jobs``);
* ``n_jobs=1, threads=1``;
* ``n_jobs=2`` (one thread each), loky worker processes, whose start-up and imports are included.

It prints each wall time and the speed-up of ``n_jobs=2`` over each ``n_jobs=1`` variant, then
re-runs the ``n_jobs=2`` sweep on its finished folder to time the resume path (nothing to train).

The same sweep then runs on Dask distributed (``run_sweep(..., backend="dask")``) on a
``LocalCluster`` of 2 worker processes with 1 thread each, the same parallelism as ``n_jobs=2``:
the cluster's start-up (spawned workers importing torch and the package) and the sweep on the
started cluster are timed apart, and the overhead per run against joblib ``n_jobs=2`` is
printed (``--skip-dask`` leaves it out).
Tiny runs are dominated by fixed costs (process start, imports, evaluation), so the speed-up here
is a lower bound of what long runs get.

``--full-estimate`` also trains ONE config of the real ablation (:func:`ablation_base`, the full
preset) for a single epoch through :func:`run_one`, splits its wall time into the epoch and the
rest (data loading, evaluation), and extrapolates to the whole paper ablation
(``ablation_grid(seeds=(0, 1, 2))``, 30 runs x ``ABLATION_EPOCHS`` epochs) at ``--n-jobs-full``
parallel runs. Early stopping can only shorten it. This takes a few minutes on a laptop CPU.

``--full-compare EPOCHS`` times the real thing at both settings: two configs of the paper ablation
(reconstruction alone and gamma = 1, full preset, seed 100 so no shipped result is reused, the
ablation's own evaluation with MLP probes) trained for EPOCHS epochs, once with ``n_jobs=1`` (2
threads) and once with ``n_jobs=2`` (1 thread each), and prints both throughputs and their ratio.

Run: ``python benchmarks/bench_sweep.py [--epochs 1] [--full-estimate] [--threads-full 1]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from mvtutorial.data import load_tone_dataset
from mvtutorial.studies.ablation import ABLATION_EPOCHS, ablation_base, ablation_grid
from mvtutorial.experiments import run_key, run_one
from mvtutorial.sweeps import run_sweep
from mvtutorial.config import TrainConfig

EVAL_FAST = {"probe": "logistic", "max_probe_train": 500, "probe_seeds": (0,)}


def small_sweep(epochs: int, seeds: tuple[int, ...]) -> list[TrainConfig]:
    base = TrainConfig.preset("fast", epochs=epochs, hidden=(32, 32))
    return ablation_grid(values=(0.0, 1.0), seeds=seeds, base=base)


def time_sweep(configs, n_jobs: int, threads: int | None, keep: bool = False,
               eval_kwargs: dict | None = EVAL_FAST) -> tuple[float, Path]:
    """Wall time of ``run_sweep`` into a fresh temporary folder (removed unless ``keep``)."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-sweep-j{n_jobs}-"))
    t0 = time.perf_counter()
    table = run_sweep(configs, folder, n_jobs=n_jobs, threads=threads, eval_kwargs=eval_kwargs)
    seconds = time.perf_counter() - t0
    assert table["key"].nunique() == len(configs), "a run is missing from the sweep's results"
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return seconds, folder


def full_estimate(threads: int, n_jobs_full: int) -> None:
    config = dataclasses.replace(ablation_base(), epochs=1)
    n_runs = len(ablation_grid(seeds=(0, 1, 2)))
    print(f"\nfull estimate: one ablation config (full preset) for 1 epoch, {threads} thread(s) ...", flush=True)
    load_tone_dataset(config.data_mode, seed=config.data_seed)  # build / cache the data outside the timing
    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-full-"))
    try:
        t0 = time.perf_counter()
        record = run_one(config, folder, threads=threads)
        total = time.perf_counter() - t0
        history = json.loads((folder / "runs" / run_key(config) / "history.json").read_text())["history"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    epoch_s = history[0]["seconds"]
    rest_s = total - epoch_s
    per_run = epoch_s * ABLATION_EPOCHS + rest_s
    sweep = n_runs * per_run / max(1, n_jobs_full)
    print(f"  1 epoch {epoch_s:.1f} s, data loading + evaluation {rest_s:.1f} s (run_one total {total:.1f} s; "
          f"probes {record['probe']!r})")
    print(f"  per run at {ABLATION_EPOCHS} epochs: ~{per_run:.0f} s = {per_run / 60:.1f} min")
    print(f"  paper ablation: {n_runs} runs -> ~{n_runs * per_run / 3600:.1f} h sequential, "
          f"~{sweep / 3600:.1f} h with {n_jobs_full} parallel runs (if each keeps this per-run speed)")


def full_compare(epochs: int) -> None:
    base = dataclasses.replace(ablation_base(), epochs=epochs)
    configs = [dataclasses.replace(base, gamma=g, seed=100) for g in (0.0, 1.0)]
    load_tone_dataset(base.data_mode, seed=base.data_seed)  # cached data, outside the timing
    print(f"\nfull compare: {len(configs)} full-preset ablation runs, {epochs} epoch(s) each, MLP probes")
    times = {}
    for n_jobs, threads in ((1, 2), (2, 1)):
        seconds, _ = time_sweep(configs, n_jobs, threads, eval_kwargs=None)  # the ablation's own evaluation
        times[n_jobs] = seconds
        print(f"  n_jobs={n_jobs}, threads={threads}: {seconds:7.1f} s  "
              f"({3600 * len(configs) / seconds:.1f} runs/h)", flush=True)
    print(f"  throughput ratio n_jobs=2 / n_jobs=1: {times[1] / times[2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1, help="epochs per tiny run (default 1)")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per tiny config (4 configs each)")
    parser.add_argument("--skip-default-threads", action="store_true",
                        help="skip n_jobs=1 with default threads (slow on a busy machine)")
    parser.add_argument("--full-estimate", action="store_true", help="also time one full-preset epoch and extrapolate")
    parser.add_argument("--threads-full", type=int, default=1, help="torch threads for the --full-estimate run")
    parser.add_argument("--n-jobs-full", type=int, default=2, help="parallel runs assumed by the full estimate")
    parser.add_argument("--full-compare", type=int, default=0, metavar="EPOCHS",
                        help="also time 2 real ablation runs of EPOCHS epochs at n_jobs 1 vs 2")
    parser.add_argument("--only-full", action="store_true", help="skip the small sweep")
    parser.add_argument("--skip-dask", action="store_true", help="skip the Dask LocalCluster comparison")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"torch {torch.__version__}; load average at start {os.getloadavg()[0]:.1f}")
    if not args.only_full:
        small(args)
    if args.full_estimate:
        full_estimate(args.threads_full, args.n_jobs_full)
    if args.full_compare:
        full_compare(args.full_compare)
    print(f"load average at end: {os.getloadavg()[0]:.1f} (other processes share the cores: timings inflate under load)")


def small(args) -> None:
    configs = small_sweep(args.epochs, tuple(range(args.seeds)))
    load_tone_dataset("fast")  # build / cache the fast data outside the timings
    print(f"small sweep: {len(configs)} configs (fast data, hidden 32-32, {args.epochs} epoch(s), logistic probes)")

    variants = [] if args.skip_default_threads else [("n_jobs=1 (default threads)", 1, None)]
    variants += [("n_jobs=1, threads=1", 1, 1), ("n_jobs=2 (1 thread each)", 2, None)]
    times = {}
    for name, n_jobs, threads in variants:
        seconds, folder = time_sweep(configs, n_jobs, threads, keep=n_jobs == 2)
        times[name] = seconds
        print(f"  {name:<28} {seconds:7.1f} s  ({seconds / len(configs):.1f} s per run)", flush=True)
    two = times["n_jobs=2 (1 thread each)"]
    for name, seconds in times.items():
        if not name.startswith("n_jobs=2"):
            print(f"  speed-up of n_jobs=2 over {name}: {seconds / two:.2f}x")
    t0 = time.perf_counter()
    run_sweep(configs, folder, n_jobs=2, eval_kwargs=EVAL_FAST)
    print(f"  resume of the finished n_jobs=2 sweep (nothing to run): {time.perf_counter() - t0:.2f} s")
    shutil.rmtree(folder, ignore_errors=True)
    if not args.skip_dask:
        dask_compare(configs, two)


def _import_package() -> None:
    import mvtutorial.experiments  # noqa: F401  (torch, sklearn, the package: what a run imports first)


def dask_compare(configs, joblib_seconds: float) -> None:
    """The same sweep on a Dask LocalCluster (2 processes x 1 thread), start-up and sweep timed apart."""
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(_import_package)
        startup = time.perf_counter() - t0
        folder = Path(tempfile.mkdtemp(prefix="bench-sweep-dask-"))
        t1 = time.perf_counter()
        # checkpoints inside the temporary folder (by default a dask worker keeps them in its own cache)
        table = run_sweep(configs, folder, threads=1, eval_kwargs=EVAL_FAST, backend="dask", scheduler=client,
                          runs_dir=folder / "runs")
        sweep = time.perf_counter() - t1
        assert table["key"].nunique() == len(configs), "a run is missing from the dask sweep's results"
        shutil.rmtree(folder, ignore_errors=True)
        t2 = time.perf_counter()
    close = time.perf_counter() - t2
    print(f"  dask LocalCluster (2 workers x 1 thread): start-up with imports {startup:.1f} s, "
          f"sweep {sweep:.1f} s, close {close:.1f} s")
    print(f"  dask overhead per run vs joblib n_jobs=2 ({joblib_seconds:.1f} s): "
          f"{(sweep - joblib_seconds) / len(configs):+.2f} s on a started cluster, "
          f"{(startup + sweep + close - joblib_seconds) / len(configs):+.2f} s with start-up and close")


if __name__ == "__main__":
    main()
