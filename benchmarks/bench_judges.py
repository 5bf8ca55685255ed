"""Benchmark: the counterfactual judges of 2,000 swaps of one model, against the classifier score.

Target (swap-judges issue): scoring 2,000 swaps of one model stays under a minute on 2 cores. Both
judge the shipped recommended checkpoint (seed 0) on the full tone set, same pairs, in the same run:

* ours: :func:`mvtutorial.judges.judge_model` -- render and featurise 2,000 counterfactuals, decode
  the swaps and the counterfactuals' reconstructions, four spectral distances and three pitch
  estimates per swap (no Griffin-Lim: the judges read the log-mels);
* reference: :func:`mvtutorial.listening.swap_score` with an already fitted classifier (the fit,
  ~20 s, is shared by every model and left out).

Run: ``python benchmarks/bench_judges.py [--threads 1]``. Prints both wall times and their ratio.
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
from mvtutorial.judges import judge_model
from mvtutorial.listening import fit_feature_classifier, swap_score
from mvtutorial.studies.store import asset_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads")
    parser.add_argument("--pairs", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s), "
          f"load {os.getloadavg()[0]:.1f}")
    with threadpool_limits(args.threads):
        ds = load_tone_dataset("full")
        model = load_model(asset_path("recommended", "seed0.pt"))
        classifier = fit_feature_classifier(ds, seed=0)
        t0 = time.perf_counter()
        judge_model(model, ds, n_pairs=args.pairs, seed=0)
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        swap_score(model, ds, classifier, n_pairs=args.pairs, seed=0)
        reference = time.perf_counter() - t0
    print(f"judges, {args.pairs} swaps: {ours:.1f} s (target < 60 s: {'met' if ours < 60 else 'MISSED'})")
    print(f"classifier score, same swaps: {reference:.1f} s; judges / classifier = {ours / reference:.1f}x")


if __name__ == "__main__":
    main()
