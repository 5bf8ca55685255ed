"""Chapters 3-4's study: the paper's headline configuration (reconstruction + 0.1 DWKL), trained for
three seeds, evaluated with MLP probes, MI matrices and scores, beside the paper's numbers.

``python -m mvtutorial.reproduce headline`` writes ``assets/headline/seed{S}.pt`` (slim checkpoints)
and ``seed{S}.json``; chapters in ``full`` mode load them through :func:`headline_model`, and
``fast`` mode (CI) trains a tiny model in seconds.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from .. import paper
from ..cache import atomic_write_json
from ..checkpoint import export_checkpoint, load_checkpoint, load_model
from ..config import TrainConfig
from ..evaluate import evaluate_run
from ..experiments import run_dir
from ..training import TrainResult, train
from .store import asset_path, finished_in_cache, output_root, read_records, refuse_training

__all__ = ["HEADLINE_SEEDS", "headline_config", "headline_model", "headline_results", "headline_markdown", "reproduce_headline"]

HEADLINE_SEEDS = (0, 1, 2)


def headline_config(mode: str = "full", seed: int = 0, **overrides) -> TrainConfig:
    """The headline configuration: reconstruction + gamma * DWKL (alpha = beta = 0), see chapter 3."""
    return TrainConfig.preset(mode, seed=seed, **overrides)


def headline_model(mode: str = "full", seed: int = 0, force_train: bool = False, progress: bool = True,
                   train_if_missing: bool = False):
    """``(model, history)`` of the headline configuration.

    ``fast``: trains the fast preset (seconds). ``full``: loads the shipped checkpoint for
    ``seed`` when present (and written by this package version; seeds :data:`HEADLINE_SEEDS` are
    shipped), else the finished run in the cache folder (``run_dir(config, "headline")``, where ``reproduce headline`` trains it). Otherwise
    it trains the full preset there (resumable) only when asked: ``train_if_missing=True``, or
    ``force_train`` (retrain even a shipped seed); else a ``ValueError`` names the shipped seeds.
    """
    config = headline_config(mode, seed=seed)
    shipped = asset_path("headline", f"seed{seed}.pt")
    if mode == "full" and not force_train and shipped.exists():
        ckpt = load_checkpoint(shipped, config)  # refuses another config or version, naming it
        return load_model(shipped), ckpt["history"]
    if mode == "fast":
        result: TrainResult = train(config, progress=progress)
        return result.model, result.history
    folder = run_dir(config, "headline")
    if not (force_train or train_if_missing or finished_in_cache(folder, config)):
        refuse_training("headline", seed, folder, config)  # a 30-epoch run must be asked for
    result = train(config, folder, resume=False if force_train else "auto", progress=progress)
    return result.model, result.history


def headline_results() -> list[dict]:
    """Evaluation JSON of the shipped headline runs (one dict per seed); empty list if none shipped."""
    return read_records("headline", "seed*.json")


def headline_markdown() -> str:
    """Markdown table of the shipped headline results (mean +- sd over seeds) beside the paper."""
    runs = headline_results()
    if not runs:
        return "(no shipped headline results: run `python -m mvtutorial.reproduce headline`)"
    lines = [f"Headline configuration, {len(runs)} training seed(s) ({', '.join(str(r['seed']) for r in runs)}), "
             f"MLP probes on test-split posterior means; mvtutorial {runs[0]['version']}.", "",
             "| latent | timbre (ours) | timbre (paper) | frequency (ours) | frequency (paper) |", "|---|---|---|---|---|"]
    for latent in ("private", "shared", "both", "shared_fused"):
        cells = []
        for factor in ("timbre", "frequency"):
            vals = np.array([r["probes"][f"{latent}/{factor}"] for r in runs])
            theirs = paper.PROBES.get((latent, factor))
            cells += [f"{vals.mean():.3f} +- {vals.std(ddof=1) if len(vals) > 1 else 0:.3f}", f"{theirs:.3f}" if theirs else "-"]
        lines.append(f"| {latent} | " + " | ".join(cells) + " |")
    ratios = [(r["mi_ratio_timbre"], r["mi_ratio_frequency"]) for r in runs]
    t, f = np.mean(ratios, axis=0)
    lines += ["", f"Summed k-NN MI ratios: timbre shared/private {t:.1f} (paper {paper.mi_ratio('timbre'):.1f}), frequency private/shared {f:.1f} (paper {paper.mi_ratio('frequency'):.1f})."]
    return "\n".join(lines)


def reproduce_headline(seeds=HEADLINE_SEEDS, threads: int | None = None, out: str | Path | None = None) -> None:
    """Train (resumable), export and evaluate the headline configuration for ``seeds`` into ``<root>/headline/``."""
    out = output_root(out) / "headline"
    for seed in seeds:
        t0 = time.perf_counter()
        config = headline_config("full", seed=seed)
        folder = run_dir(config, "headline")
        train(config, folder, resume="auto", threads=threads)
        export_checkpoint(folder, out / f"seed{seed}.pt")
        with threadpool_limits(limits=threads):  # sklearn probes' BLAS threads
            metrics = evaluate_run(folder, write=False)
        metrics["wall_seconds"] = time.perf_counter() - t0
        metrics["command"] = "python -m mvtutorial.reproduce headline"
        atomic_write_json(metrics, out / f"seed{seed}.json")
        print(f"seed {seed}: {metrics['probes']}  ({metrics['wall_seconds']:.0f} s)", flush=True)
