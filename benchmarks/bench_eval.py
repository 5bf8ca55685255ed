"""Benchmark: one run's evaluation, the separation study's protocol against the headline protocol.

Target (separation issue): one run's evaluation (probes, MI matrix, scores) in <= 60 s on this
2-core machine. Both protocols evaluate the same shipped headline checkpoint (seed 0) on the full
tone set, in the same run:

* ours: :data:`mvtutorial.studies.separation.STUDY_EVAL` -- MLP probes with one probe seed (at most
  10,000 training codes) on all five codes, on posterior means AND samples, k-NN MI matrices for
  both, MIG / DCI / SAP, the full-split KL decomposition;
* reference: the headline evaluation of chapter 4 (``evaluate_model`` defaults: MLP probes x 3
  probe seeds, means only).

Run: ``python benchmarks/bench_eval.py [--threads 1]``. Prints both wall times and their ratio.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from threadpoolctl import threadpool_limits

from mvtutorial.checkpoint import load_model
from mvtutorial.data import load_tone_dataset
from mvtutorial.evaluate import evaluate_model
from mvtutorial.studies.store import asset_path
from mvtutorial.studies.separation import STUDY_EVAL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads (1 survives a busy machine)")
    parser.add_argument("--skip-reference", action="store_true", help="time only the study's protocol")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s), load {os.getloadavg()[0]:.1f}")
    ds = load_tone_dataset("full")
    model = load_model(asset_path("headline", "seed0.pt"))
    times = {}
    with threadpool_limits(args.threads):
        t0 = time.perf_counter()
        result = evaluate_model(model, ds, **STUDY_EVAL)
        times["study (means + samples, 1 probe seed)"] = time.perf_counter() - t0
        print(f"study protocol: {times['study (means + samples, 1 probe seed)']:.1f} s "
              f"({len(result['probes'])} + {len(result['samples']['probes'])} probes, scores, decomposition)", flush=True)
        if not args.skip_reference:
            t0 = time.perf_counter()
            evaluate_model(model, ds)
            times["reference (headline: means, 3 probe seeds)"] = time.perf_counter() - t0
    for name, seconds in times.items():
        print(f"  {name:45s} {seconds:7.1f} s")
    study = times["study (means + samples, 1 probe seed)"]
    print(f"target <= 60 s: {'met' if study <= 60 else 'MISSED'} ({study:.1f} s)")
    if len(times) == 2:
        print(f"ratio reference / study: {times['reference (headline: means, 3 probe seeds)'] / study:.2f}x")


if __name__ == "__main__":
    main()
