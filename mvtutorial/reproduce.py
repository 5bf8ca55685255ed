"""Regenerate the shipped results: ``python -m mvtutorial.reproduce headline|ablation``.

``headline``: trains the headline configuration (full preset) for seeds 0, 1, 2 (resumable
runs in the cache folder), evaluates each (MLP probes x 3 probe seeds, MI matrix, scores,
decomposition) and writes ``mvtutorial/assets/headline/seed{S}.pt`` (slim checkpoint) and
``seed{S}.json`` atomically. ``ablation``: the paper's one-term-at-a-time sweep
(10 distinct configs x 3 seeds) into ``mvtutorial/assets/ablation/<key>.json``; killed runs resume.
"""
from __future__ import annotations

import argparse
import sys
import time

from .cache import atomic_write_json, cache_dir
from .evaluate import evaluate_run
from .experiments import ablation_grid, run_sweep
from .pretrained import ASSETS, HEADLINE_SEEDS, export_checkpoint, headline_config
from .train import train


def reproduce_headline(seeds=HEADLINE_SEEDS, threads: int | None = None) -> None:
    out = ASSETS / "headline"
    for seed in seeds:
        t0 = time.perf_counter()
        config = headline_config("full", seed=seed)
        run_dir = cache_dir() / "runs" / f"headline-seed{seed}"
        resume = (run_dir / "checkpoint.pt").exists()
        try:
            train(config, run_dir, resume=resume, threads=threads)
        except ValueError:  # stale checkpoint (other config or version): start over
            train(config, run_dir, resume=False, threads=threads)
        export_checkpoint(run_dir, out / f"seed{seed}.pt")
        metrics = evaluate_run(run_dir, write=False)
        metrics["wall_seconds"] = time.perf_counter() - t0
        metrics["command"] = "python -m mvtutorial.reproduce headline"
        atomic_write_json(metrics, out / f"seed{seed}.json")
        print(f"seed {seed}: {metrics['probes']}  ({metrics['wall_seconds']:.0f} s)", flush=True)


def reproduce_ablation(seeds=(0, 1, 2), n_jobs: int = 2) -> None:
    t0 = time.perf_counter()
    table = run_sweep(ablation_grid(seeds=seeds), ASSETS / "ablation", n_jobs=n_jobs, verbose=10,
                      runs_dir=cache_dir() / "runs" / "ablation")
    print(table.groupby(["alpha", "beta", "gamma", "latent", "factor"]).accuracy.mean().round(3).to_string())
    print(f"sweep wall time {time.perf_counter() - t0:.0f} s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mvtutorial.reproduce", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["headline", "ablation"])
    p.add_argument("--seeds", type=lambda s: tuple(int(v) for v in s.split(",")), default=(0, 1, 2), help="comma-separated seeds")
    p.add_argument("--n-jobs", type=int, default=2, help="parallel runs (ablation)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (headline)")
    args = p.parse_args(argv)
    if args.what == "headline":
        reproduce_headline(args.seeds, args.threads)
    else:
        reproduce_ablation(args.seeds, args.n_jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
