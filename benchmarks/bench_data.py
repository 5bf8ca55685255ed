"""Benchmark: synthesise and featurise the whole tone set (32,000 clips -> 128 x 32 log-mels).

Compared in the same run:

* ours: :func:`mvtutorial.dataset.build_tone_dataset` (no cache): vectorised synthesis in
  chunks, batched torch STFT + block-sparse mel projection, per-clip dB / min-max;
* reference: a per-clip loop the way SynTone-style code does it: numpy synthesis of one clip
  (``np.sin``, ``scipy.signal.sawtooth`` / ``square``), then ``librosa.feature.melspectrogram``,
  ``librosa.power_to_db`` and min-max. It is timed on the first ``--n-clips`` clips of the same
  factor table and scaled linearly to the full set.

Targets: full set <= 10 s; ours >= 20x faster than the reference.

Run: ``python benchmarks/bench_data.py [--n-clips 500] [--full-clips 32000] [--threads N]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from mvtutorial.data import ToneConfig, sample_factors
from mvtutorial.dataset import build_tone_dataset
from mvtutorial.features import FeatureConfig, logmel

TARGET_FULL_S = 10.0
TARGET_RATIO = 20.0
FULL_CLIPS = 32_000


def reference_clip(waveform: str, freq: float, amp: float, phase: float, tc: ToneConfig, fc: FeatureConfig) -> np.ndarray:
    """One clip, SynTone-style: numpy/scipy synthesis, librosa log-mel, min-max."""
    import librosa
    import scipy.signal

    t = np.arange(tc.n_samples) / tc.sample_rate
    arg = 2 * np.pi * freq * t + phase
    if waveform == "sine":
        y = amp * np.sin(arg)
    elif waveform == "sawtooth":
        y = amp * scipy.signal.sawtooth(arg)
    elif waveform == "square":
        y = amp * scipy.signal.square(arg)
    else:  # triangle
        y = amp * scipy.signal.sawtooth(arg, width=0.5)
    mel = librosa.feature.melspectrogram(
        y=y, sr=tc.sample_rate, n_fft=fc.n_fft, hop_length=fc.hop_length, n_mels=fc.n_mels, fmin=fc.f_min, fmax=fc.f_max,
        pad_mode="reflect",  # librosa >= 0.10 pads with zeros by default; ours (torchaudio's default) reflects
    )
    db = librosa.power_to_db(mel, ref=np.max, top_db=fc.top_db)
    return (db - db.min()) / max(db.max() - db.min(), 1e-6)


def time_reference(tc: ToneConfig, fc: FeatureConfig, n_clips: int, seed: int = 0) -> tuple[float, np.ndarray]:
    """Seconds for the per-clip loop over the first ``n_clips`` rows of the factor table."""
    rows = sample_factors(tc, seed).iloc[:n_clips]
    reference_clip("sine", 440.0, 1.0, 0.0, tc, fc)  # warm-up: imports, numba JIT inside librosa
    out = np.empty((len(rows), *fc.shape(tc.n_samples)), dtype=np.float32)
    t0 = time.perf_counter()
    for i, r in enumerate(rows.itertuples(index=False)):
        out[i] = reference_clip(r.waveform_name, r.freq_hz, r.amplitude, r.phase, tc, fc)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clips", type=int, default=500, help="clips timed in the reference loop (scaled to the full set)")
    parser.add_argument("--full-clips", type=int, default=FULL_CLIPS, help="size of the set built by our pipeline")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    tc = ToneConfig(n_clips=args.full_clips)
    fc = FeatureConfig()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads"
          + (f", load average {load[0]:.1f} at start" if load else ""))

    # ours: warm up once on a few clips (filterbank construction, first-call allocations)
    logmel(torch.zeros(8, tc.n_samples), fc)
    t0 = time.perf_counter()
    ds = build_tone_dataset(tc, fc, args.seed)
    ours_s = time.perf_counter() - t0
    ours_full = ours_s * FULL_CLIPS / args.full_clips
    print(f"ours:      {args.full_clips:,} clips -> {tuple(ds.features.shape)} in {ours_s:.2f} s "
          f"({1e3 * ours_s / args.full_clips:.3f} ms/clip)"
          + (f"; scaled to {FULL_CLIPS:,}: {ours_full:.1f} s" if args.full_clips != FULL_CLIPS else ""))

    n_ref = min(args.n_clips, args.full_clips)
    ref_s, ref_out = time_reference(tc, fc, n_ref, args.seed)
    ref_full = ref_s * FULL_CLIPS / n_ref
    print(f"reference: {n_ref:,} clips in {ref_s:.2f} s ({1e3 * ref_s / n_ref:.2f} ms/clip); "
          f"scaled to {FULL_CLIPS:,}: {ref_full:.1f} s")

    # sanity: same shapes, and sine clips (identical synthesis formula) agree closely
    sine = (ds.factors["waveform_name"].to_numpy()[:n_ref] == "sine")
    diff = np.abs(ds.features[:n_ref].numpy()[sine] - ref_out[sine]).max() if sine.any() else float("nan")
    print(f"check: reference shape {ref_out.shape[1:]} == ours {tuple(ds.features.shape[1:])}; "
          f"max |ours - reference| on the {int(sine.sum())} sine clips = {diff:.1e}")

    ratio = ref_full / ours_full
    print(f"speed-up: {ratio:.1f}x")
    print(f"target full set <= {TARGET_FULL_S:.0f} s: {'met' if ours_full <= TARGET_FULL_S else 'MISSED'} ({ours_full:.1f} s)")
    print(f"target speed-up >= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'} ({ratio:.1f}x)")
    if load:
        print(f"load average at end: {os.getloadavg()[0]:.1f} (other processes share the cores: timings inflate under load)")


if __name__ == "__main__":
    main()
