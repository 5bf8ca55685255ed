"""Benchmark: render and featurise the sampled-instrument set (6,720 notes -> 128 x 32 log-mels).

Compared in the same run:

* ours: :func:`mvtutorial.data.render_notes`, chunks of 256 notes, one FluidSynth
  synthesiser per chunk (loaded once, warmed up once), in parallel over chunks with joblib
  threads (FluidSynth's C calls release the GIL), timed at ``n_jobs`` = 1 and 2;
* reference: what a straightforward script does, a fresh synthesiser (SoundFont loaded again) for
  every note, timed on the first ``--n-ref`` notes and scaled linearly to the set.

Also timed: the log-mel front end on the rendered set, and the whole
:func:`~mvtutorial.data.build_instrument_dataset` (what an empty cache costs a chapter).
The time of ``n_jobs=2`` relative to ``n_jobs=1`` depends on what else the 2 cores run.

Run: ``python benchmarks/bench_instruments.py [--mode full] [--n-ref 200]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from mvtutorial.features import FeatureConfig, logmel
from mvtutorial.data.instruments import InstrumentConfig, build_instrument_dataset, render_notes, sample_note_factors
from mvtutorial.data.soundfont import _Renderer


def time_reference(factors, config: InstrumentConfig) -> float:
    """Seconds to render ``factors`` with a fresh synthesiser per note."""
    n_hold = int(round(config.hold * config.sample_rate))
    t0 = time.perf_counter()
    for r in factors.itertuples(index=False):
        _Renderer((r.soundfont,), config.sample_rate, config.gain).note(
            r.soundfont, r.program, r.midi_note, r.velocity, r.detune_cents, n_hold, config.n_samples)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", default="full", choices=["fast", "full"])
    p.add_argument("--n-ref", type=int, default=200, help="notes rendered by the reference (scaled to the set)")
    args = p.parse_args()
    config = InstrumentConfig.preset(args.mode)
    factors = sample_note_factors(config, 0)
    n = len(factors)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
          f"{n} notes of {config.duration} s at {config.sample_rate} Hz ({args.mode} preset)")

    times = {}
    for jobs in (1, 2):
        t0 = time.perf_counter()
        audio = render_notes(factors, config, n_jobs=jobs, progress=False)
        times[jobs] = time.perf_counter() - t0
        print(f"render, n_jobs={jobs}: {times[jobs]:6.2f} s  ({n / times[jobs]:,.0f} notes/s)")
    ref = time_reference(factors.iloc[: args.n_ref], config) * n / min(args.n_ref, n)
    print(f"reference (fresh synthesiser per note, {args.n_ref} notes scaled to {n}): {ref:6.2f} s")
    print(f"ratio reference / ours (n_jobs=1): {ref / times[1]:.1f}x;  n_jobs=1 / n_jobs=2: {times[1] / times[2]:.2f}x")

    t0 = time.perf_counter()
    logmel(torch.from_numpy(audio), FeatureConfig())
    print(f"log-mel of the set: {time.perf_counter() - t0:6.2f} s")
    t0 = time.perf_counter()
    build_instrument_dataset(config, progress=False)
    print(f"build_instrument_dataset (render + log-mel, n_jobs=1, what an empty cache costs): {time.perf_counter() - t0:6.2f} s")
    assert np.isfinite(audio).all()


if __name__ == "__main__":
    main()
