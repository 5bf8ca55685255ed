"""Benchmark: training throughput (pairs per second) of our loop against a naive PyTorch loop.

Compared in the same run, with the same model (headline configuration, ``arch="pooled"``),
the same loss and Adam with gradient clipping:

* ours: :func:`mvtutorial.training.train` for one epoch of the full set (~25,600 training pairs,
  re-drawn and shuffled; batches are index lookups into the cached log-mel tensor), with 1 and
  2 torch threads. Its time includes the validation pass (3,200 pairs, forward only);
* naive: the usual map-style ``torch.utils.data.Dataset`` that renders both clips of a pair
  (:func:`mvtutorial.data.synthesize`) and computes their log-mels
  (:func:`mvtutorial.features.logmel`) per item, through a ``DataLoader(batch_size=128,
  shuffle=True)``, timed over ``--naive-pairs`` pairs after one warm-up batch.

Then the three architectures of :class:`mvtutorial.model.ModelConfig` (``pooled``, ``mlp``,
``conv``) through our loop's epoch function for ``--arch-batches`` batches each.

Target: ours >= 3x the naive loop. ``--full-run`` also times the full preset of the headline
configuration end to end (``TrainConfig.preset("full")``: up to 30 epochs, early stopping).

Run: ``python benchmarks/bench_train.py [--naive-pairs 512] [--arch-batches 20] [--full-run]``.
Timings on a shared machine inflate with its load (printed at the start and the end).
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mvtutorial.data import synthesize
from mvtutorial.data import FactorDataset, load_tone_dataset
from mvtutorial.features import logmel
from mvtutorial.losses import multiview_loss
from mvtutorial.model import MultiViewVAE
from mvtutorial.config import TrainConfig
from mvtutorial.training import epoch_generators, run_epoch, train

TARGET_RATIO = 3.0


class NaivePairs(Dataset):
    """Pair ``i``: render both clips from their factor rows and featurise them, one at a time."""

    def __init__(self, ds: FactorDataset, pairs: np.ndarray) -> None:
        self.factors = ds.factors
        self.tone, self.feat = ds.config, ds.feature_config
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def _clip(self, row: int) -> torch.Tensor:
        f = self.factors.iloc[row]
        audio = synthesize(int(f.waveform), f.freq_hz, f.amplitude, f.phase, sample_rate=self.tone.sample_rate,
                           duration=self.tone.duration, method=self.tone.synthesis, waveforms=self.tone.waveforms)[0]
        return logmel(torch.from_numpy(audio), self.feat)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.pairs[i]
        return self._clip(a), self._clip(b)


def naive_pairs_per_s(ds: FactorDataset, config: TrainConfig, n_pairs: int, threads: int, batch_size: int = 128) -> tuple[float, int]:
    torch.set_num_threads(threads)
    pairs = ds.pairs("train", rng=0)
    n_train = len(pairs)
    loader = DataLoader(NaivePairs(ds, pairs), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(config.seed)
    model = MultiViewVAE(config.model_config(ds.input_shape))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(0)

    def step(x1, x2):
        out = model(x1, x2, generator=gen)
        loss = multiview_loss(out, x1, x2, config.weights, n_train, config.weighting, config.reconstruction).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()

    # sanity: the naive items are the cached features (same synthesis and log-mel, clip by clip)
    x1, x2 = loader.dataset[0]
    diff = max((x1 - ds.features[pairs[0, 0]]).abs().max().item(), (x2 - ds.features[pairs[0, 1]]).abs().max().item())
    assert diff < 1e-4, f"naive features differ from the cached ones by {diff}"
    batches = iter(loader)
    step(*next(batches))  # warm-up: first allocations, filterbank, optimiser state
    seen, t0 = 0, time.perf_counter()
    for x1, x2 in batches:
        step(x1, x2)
        seen += len(x1)
        if seen >= n_pairs:
            break
    return seen / (time.perf_counter() - t0), seen


def ours_pairs_per_s(ds: FactorDataset, config: TrainConfig, threads: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    result = train(config, dataset=ds, progress=False, threads=threads)
    seconds = time.perf_counter() - t0  # everything: model build, pair draws, training, validation
    n = len(ds.split_indices("train"))
    assert len(result.history) == 1
    return n / seconds, n


def arch_pairs_per_s(ds: FactorDataset, arch: str, n_batches: int, threads: int) -> tuple[float, int]:
    """Training steps of our epoch function on the first ``n_batches`` batches of an epoch's pairs."""
    config = TrainConfig.preset("full", arch=arch)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = MultiViewVAE(config.model_config(ds.input_shape))
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        n_train = len(ds.split_indices("train"))
        rng, gen = epoch_generators(0, 1, torch.device("cpu"))
        pairs = ds.pairs("train", rng=rng)
        run_epoch(model, opt, ds.features, pairs[: config.batch_size], config, n_train, gen)  # warm-up
        chunk = pairs[: n_batches * config.batch_size]
        t0 = time.perf_counter()
        run_epoch(model, opt, ds.features, chunk, config, n_train, gen, rng)
        return len(chunk) / (time.perf_counter() - t0), len(chunk)
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--naive-pairs", type=int, default=512, help="pairs timed in the naive loop")
    parser.add_argument("--arch-batches", type=int, default=20, help="batches timed per architecture")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to compare")
    parser.add_argument("--full-run", action="store_true", help="also time the full headline preset end to end")
    args = parser.parse_args()

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, torch {torch.__version__}"
          + (f", load average {load[0]:.1f} at start" if load else ""))
    t0 = time.perf_counter()
    ds = load_tone_dataset("full")
    print(f"full tone set: {len(ds):,} clips {tuple(ds.input_shape)} (cache load {time.perf_counter() - t0:.1f} s)")
    config = TrainConfig.preset("full", epochs=1)
    print(f"model: arch={config.arch}, hidden={config.hidden}, batch {config.batch_size} (ours) / 128 (naive)\n")

    rows = []
    for t in args.threads:
        rate, n = ours_pairs_per_s(ds, config, t)
        rows.append(("ours: train(), 1 epoch", t, n, rate))
    for t in args.threads:
        rate, n = naive_pairs_per_s(ds, config, args.naive_pairs, t)
        rows.append(("naive: per-item synth + logmel", t, n, rate))
    best_ours = max(r[3] for r in rows if r[0].startswith("ours"))
    best_naive = max(r[3] for r in rows if r[0].startswith("naive"))

    print(f"{'loop':<32} {'threads':>7} {'pairs':>7} {'pairs/s':>10}")
    for name, t, n, rate in rows:
        print(f"{name:<32} {t:>7} {n:>7,} {rate:>10,.0f}")
    ratio = best_ours / best_naive
    print(f"\nspeed-up (best of each): {ratio:.0f}x; target >= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'}")

    print(f"\narchitectures, our loop ({args.arch_batches} batches of {config.batch_size} pairs each, training steps only):")
    print(f"{'arch':<8} {'threads':>7} {'params':>9} {'pairs/s':>10} {'vs pooled':>10}")
    arch_rows = []
    for arch in ("pooled", "mlp", "conv"):
        for t in args.threads:
            rate, _ = arch_pairs_per_s(ds, arch, args.arch_batches, t)
            params = sum(p.numel() for p in MultiViewVAE(TrainConfig.preset("full", arch=arch).model_config(ds.input_shape)).parameters())
            arch_rows.append((arch, t, params, rate))
    pooled = {t: rate for arch, t, _, rate in arch_rows if arch == "pooled"}
    for arch, t, params, rate in arch_rows:
        print(f"{arch:<8} {t:>7} {params:>9,} {rate:>10,.0f} {rate / pooled[t]:>9.2f}x")

    if args.full_run:
        threads = max(args.threads, key=lambda t: pooled[t])
        full = TrainConfig.preset("full")
        print(f"\nfull run of the headline preset ({full.epochs} epochs max, patience {full.patience}), {threads} thread(s):")
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            result = train(full, out, dataset=ds, progress=False, threads=threads)
            seconds = time.perf_counter() - t0
        last = result.history[-1]
        print(f"  {len(result.history)} epochs in {seconds:.0f} s ({seconds / len(result.history):.1f} s/epoch), best epoch "
              f"{result.best_epoch}, stopped early: {result.stopped_early}, final val total {last['val_total']:.1f}, "
              f"val reconstruction {last['val_reconstruction']:.1f}")
    if load:
        print(f"\nload average at end: {os.getloadavg()[0]:.1f} (other processes share the cores: timings inflate under load)")


if __name__ == "__main__":
    main()
