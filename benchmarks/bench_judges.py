"""Benchmark: the counterfactual judges of 2,000 swaps of one model, against the classifier score.

Target (swap-judges issue): scoring 2,000 swaps of one model stays under a minute on 2 cores. Both
judge the shipped recommended checkpoint (seed 0) on the full tone set, same pairs, in the same run:

* ours: :func:`mvtutorial.judges.judge_model` -- render and featurise 2,000 counterfactuals, decode
  the swaps and the counterfactuals' reconstructions, four spectral distances and three pitch
  estimates per swap (no Griffin-Lim: these judges read the log-mels) -- plus the second pitch judge,
  :func:`mvtutorial.trackers.track_model`: Griffin-Lim of the swaps inside the pretrained tracker's
  range (8 central frames, 8 iterations) and PESTO on the result (3 frames per clip). The tracker is
  loaded, and its validation on real clips (once per data set, not per model) run, outside the timing;
* reference: :func:`mvtutorial.listening.swap_score` with an already fitted classifier (the fit,
  ~20 s, is shared by every model and left out).

Run: ``python benchmarks/bench_judges.py [--threads 1]``. Prints the wall times (both judges, their
sum, the classifier score), the ratio of the sum to the classifier score, and the CPU seconds of this
process beside each wall time: on a machine shared with other jobs the wall time grows with the load
while the CPU time stays what the work costs (with one thread, about its wall time on an idle core).
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
from mvtutorial.trackers import load_tracker, track_model


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
        load_tracker(ds.feature_config)
        (spectral, spectral_cpu), _ = timed(judge_model, model, ds, n_pairs=args.pairs, seed=0)
        (tracker, tracker_cpu), tracked = timed(track_model, model, ds, n_pairs=args.pairs, seed=0)
        (reference, reference_cpu), _ = timed(swap_score, model, ds, classifier, n_pairs=args.pairs, seed=0)
    ours, ours_cpu = spectral + tracker, spectral_cpu + tracker_cpu
    print(f"log-mel judges (distance, peak pitch), {args.pairs} swaps: {spectral:.1f} s ({spectral_cpu:.1f} s CPU)")
    print(f"pitch tracker (Griffin-Lim + PESTO) on the {int(tracked.in_range.sum())} of them in its range: "
          f"{tracker:.1f} s ({tracker_cpu:.1f} s CPU)")
    print(f"judges, {args.pairs} swaps, Griffin-Lim included: {ours:.1f} s ({ours_cpu:.1f} s CPU) "
          f"(target < 60 s: {'met' if ours < 60 else 'MISSED'} by the wall time, load {os.getloadavg()[0]:.1f})")
    print(f"classifier score, same swaps: {reference:.1f} s ({reference_cpu:.1f} s CPU); judges / classifier = "
          f"{ours / reference:.1f}x wall, {ours_cpu / reference_cpu:.1f}x CPU")


def timed(fn, *args, **kwargs):
    """``((wall s, CPU s of this process), fn(*args, **kwargs))``."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return (time.perf_counter() - t0, time.process_time() - c0), out


if __name__ == "__main__":
    main()
