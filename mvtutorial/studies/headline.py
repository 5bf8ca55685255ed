"""Chapters 3-4's study: the paper's headline configuration (reconstruction + 0.1 DWKL), trained for
three seeds, evaluated with MLP probes, MI matrices and scores, beside the paper's numbers. Chapter
3's readings of one trained model (its loss terms, reconstructions and their inversions) are here;
chapter 4's tables are in :mod:`mvtutorial.studies.headline_analysis`.

``python -m mvtutorial.reproduce headline`` writes ``assets/headline/seed{S}.pt`` (slim checkpoints)
and ``seed{S}.json``; chapters in ``full`` mode load them through :func:`headline_model`, and
``fast`` mode (CI) trains a tiny model in seconds.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Mapping

import librosa
import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from .. import paper
from ..cache import atomic_write_json
from ..checkpoint import export_checkpoint, load_checkpoint, load_model
from ..config import TrainConfig
from ..evaluate import evaluate_run
from ..experiments import run_dir
from ..features import griffin_lim
from ..training import TrainResult, train
from .store import asset_path, finished_in_cache, output_root, read_records, refuse_training
from .tones_tour import db_range, spectral_centroid, spectrum_db

__all__ = ["HEADLINE_SEEDS", "headline_config", "headline_model", "headline_results", "headline_markdown", "reproduce_headline",
           "saturation_table", "training_reading", "reconstruction_examples", "inversions"]

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


def saturation_table(history: pd.DataFrame, n: Mapping[str, int], shared_dim: int) -> pd.DataFrame:
    """The last epoch's minibatch MI, TC and DWKL beside the ceilings of the estimator: ``log N``
    for MI, ``(D - 1) log N`` for TC (Chen et al. 2018's estimator with ``q(z_i) ~ q(z_i | x_i) / N``).

    ``history``: one row per epoch with ``train_*`` and ``val_*`` terms; ``n``: ``{"train": N,
    "val": N}``, the clips each estimate is drawn from. Columns ``train`` and ``validation`` (nats).
    """
    last = history.iloc[-1]
    return pd.DataFrame({
        split: {"N (clips the batches are drawn from)": n[split], "log N": math.log(n[split]),
                "MI shared, last epoch": last[f"{split}_shared_mi"],
                "MI private (per view), last epoch": last[f"{split}_private_mi"] / 2,
                "(D - 1) log N": (shared_dim - 1) * math.log(n[split]),
                "TC shared, last epoch": last[f"{split}_shared_tc"], "DWKL shared, last epoch": last[f"{split}_shared_dwkl"]}
        for split in ("train", "val")}).rename(columns={"val": "validation"})


def training_reading(history: pd.DataFrame, n: Mapping[str, int], shared_dim: int, gamma: float, tol: float = 0.1) -> str:
    """Markdown bullets of what a training history measured (chapter 3): the reconstruction over the
    epochs and its train / validation gap, the DWKL part of the total, the first epoch at which the
    shared MI estimate sits within ``tol`` nats of its ceiling ``log N``, the last TC against
    ``(D - 1) log N``, and the largest DWKL estimate of any epoch (nats). Arguments as :func:`saturation_table`."""
    h, last = history, history.iloc[-1]
    rec = h["val_reconstruction"]
    dwkl = gamma * (2 * last["val_shared_dwkl"] + last["val_private_dwkl"])
    log_n = math.log(n["train"])
    ok = (h["train_shared_mi"] >= log_n - tol).to_numpy()
    since = next((h.index[i] for i in range(len(ok)) if ok[i:].all()), None)  # saturated from this epoch to the end
    cap = (shared_dim - 1) * log_n
    top = float(h[[f"{s}_{c}_dwkl" for s in ("train", "val") for c in ("shared", "private")]].to_numpy().max())
    return "\n".join([
        f"* **Reconstruction** (validation): {rec.iloc[0]:.0f} after epoch {h.index[0]}, {rec.iloc[-1]:.0f} after epoch "
        f"{h.index[-1]} (training: {last['train_reconstruction']:.0f}); the DWKL part of the last validation total, "
        f"gamma (2 DWKL shared + DWKL private), is {dwkl:+.1f}.",
        f"* **MI**, shared, training: {last['train_shared_mi']:.2f} nats at the last epoch against log N = {log_n:.2f}; "
        + (f"within {tol:g} nats of it from epoch {since} on." if since is not None else
           f"within {tol:g} nats of it in {int(ok.sum())} of {len(h)} epochs, not the last."),
        f"* **TC**, shared, training: {last['train_shared_tc']:.1f} nats at the last epoch, "
        f"{last['train_shared_tc'] / cap:.0%} of (D - 1) log N = {cap:.1f}.",
        f"* **DWKL**: the largest estimate of any epoch, split and subspace is {top:+.1f} nats"
        + (", so every one lies below zero." if top < 0 else "."),
    ])


@torch.no_grad()
def reconstruction_examples(model, ds, target_class: int = 5, split: str = "test", pair_seed: int = 0) -> dict:
    """One clip per waveform, decoded from posterior means (chapter 3): the first view of the pair of
    ``ds.pairs(split, pair_seed)`` whose class is nearest ``target_class``, with the fused shared mean
    of the pair and the clip's own private mean.

    Returns ``pairs`` ``(W, 2)`` row indices, ``inputs`` and ``recons`` ``(W, bands, frames)``, and
    ``table``: per waveform the clip, its frequency (Hz), the squared error summed over bins, that of
    the average training log-mel, their ratio (1: no better than the average spectrum), and the share
    of the error in dim bins (input below 0.5).
    """
    pairs, factors = ds.pairs(split, rng=pair_seed), ds.factors
    first = factors.iloc[pairs[:, 0]]
    rows = []
    for w in range(len(ds.config.waveforms)):
        cand = np.flatnonzero(first["waveform"].to_numpy() == w)
        rows.append(pairs[cand[np.argmin(np.abs(first["freq_class"].to_numpy()[cand] - target_class))]])
    rows = np.array(rows)
    model.eval()
    x1, x2 = ds.features[rows[:, 0]], ds.features[rows[:, 1]]
    (p1, s1), (_, s2) = model.encode(x1), model.encode(x2)
    recon = model.decode(p1.mu, model.fuse([s1, s2]).mu)
    train = ds.split_indices("train")
    average = sum(ds.features[train[i:i + 4096]].sum(0) for i in range(0, len(train), 4096)) / len(train)
    sq = (recon - x1) ** 2
    err, err_avg = sq.flatten(1).sum(1), ((average - x1) ** 2).flatten(1).sum(1)
    table = pd.DataFrame({"waveform": list(ds.config.waveforms), "clip": rows[:, 0],
                          "Hz": factors.freq_hz.to_numpy()[rows[:, 0]], "squared error": err.numpy(),
                          "average spectrum's error": err_avg.numpy(), "ratio": (err / err_avg).numpy(),
                          "share in dim bins": ((sq * (x1 < 0.5)).flatten(1).sum(1) / err).numpy()}).set_index("waveform")
    return {"pairs": rows, "inputs": x1, "recons": recon, "table": table}


def inversions(ds, clip: int, x: torch.Tensor, recon: torch.Tensor, n_iter: int = 64) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Griffin-Lim inversions of a clip's log-mel ``x`` and of its reconstruction ``recon`` (both
    ``(bands, frames)``) beside the clip's audio (chapter 3; Griffin & Lim 1984).

    Returns ``(audio, table)``: label -> waveform ``(n,)``, the input inverted twice (with the
    ``top_db`` range assumed, and with the clip's true dB range); and per label the spectral centroid
    (Hz), the strongest partial (Hz) and the mel band nearest to it. ``n_iter``: Griffin-Lim iterations.
    """

    fc, sr = ds.feature_config, ds.feature_config.sample_rate
    wave = ds.audio(clip)[0]
    true_range = float(db_range(wave[None], fc)[0])
    audio = {"original audio": wave,
             f"Griffin-Lim of the input log-mel ({fc.top_db:g} dB assumed)": griffin_lim(x, fc, n_iter).numpy(),
             f"Griffin-Lim of the input log-mel (true range, {true_range:.0f} dB)":
                 griffin_lim(x, fc, n_iter, db_range=true_range).numpy(),
             f"Griffin-Lim of the reconstruction ({fc.top_db:g} dB assumed)": griffin_lim(recon, fc, n_iter).numpy()}
    centres = librosa.mel_frequencies(fc.n_mels + 2, fmin=fc.f_min, fmax=fc.f_max)[1:-1]
    rows = []
    for label, y in audio.items():
        freq, db = spectrum_db(y, sr)
        peak = float(freq[np.argmax(db)])
        rows.append({"version": label, "spectral centroid (Hz)": spectral_centroid(y, sr), "strongest partial (Hz)": peak,
                     "its mel band": int(np.argmin(np.abs(centres - peak)))})
    return audio, pd.DataFrame(rows).set_index("version")
