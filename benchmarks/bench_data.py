"""Benchmark: synthesise and featurise the whole tone set (32,000 clips -> 128 x 32 log-mels).

Compared in the same run:

* ours: :func:`mvtutorial.data.build_tone_dataset` (no cache): chunks of 256 clips rendered and
  featurised in worker threads (one torch thread each), a batched float32 ``torch.fft.rfft`` per
  32 clips, squares of the real and imaginary parts in place, block-sparse mel projection,
  per-clip dB / min-max. Timed ``--repeats`` times; the best and the median are printed.
* the machine's FFT floor: ``torch.fft.rfft`` of exactly the frames our STFT transforms
  (32,000 clips x 32 frames x 2048 points, float32, same threads) on ready-made frames, i.e. the
  FFT alone with nothing else, in batches of 4, 8 and 32 clips (the fastest counts); our time is
  printed as a multiple of it, with the FFT's throughput in GFLOP/s (counted as ``2.5 N log2 N``
  per real FFT of size N).
* reference: a per-clip loop the way SynTone-style code does it: numpy synthesis of one clip
  (``np.sin``, ``scipy.signal.sawtooth`` / ``square``), then ``librosa.feature.melspectrogram``,
  ``librosa.power_to_db`` and min-max. It is timed on the first ``--n-clips`` clips of the same
  factor table and scaled linearly to the full set.

It also prints where the time goes (one thread, ``--profile-clips`` clips: factor table, synthesis,
STFT frames, FFT, squares + mel projection, normalisation; then the cache write of the full set:
checksum and ``np.savez`` + fsync), and how exact float32 is: the max abs difference of our
normalised log-mels from the same pipeline in float64 on ``--profile-clips`` clips (in
normalised units and in dB, one unit being at most ``top_db`` = 80 dB).

Targets: full set <= 5 s; ours >= 11x faster than the reference.

Run: ``python benchmarks/bench_data.py [--n-clips 500] [--full-clips 32000] [--threads N] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from mvtutorial.data import ToneConfig, render, sample_factors
from mvtutorial.data.dataset import _checksum, _save, _stored_columns
from mvtutorial.data.tones import BUILD_CHUNK, build_tone_dataset
from mvtutorial.features import FeatureConfig, _interleaved_blocks, _normalise_db, logmel, stft_frames

TARGET_FULL_S = 5.0
TARGET_RATIO = 11.0
FULL_CLIPS = 32_000
BATCH = 32  # clips per FFT call, as in build_tone_dataset


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


def fft_floor(n_clips: int, tc: ToneConfig, fc: FeatureConfig, threads: int, batches=(4, 8, BATCH)) -> tuple[float, float, int]:
    """Seconds for ``torch.fft.rfft`` of every STFT frame of ``n_clips`` clips (ready-made frames,
    ``threads`` worker threads with one torch thread each, as ours), the GFLOP/s that makes, and the
    clips per FFT call that gave it: the fastest of ``batches`` (small batches stay in cache; ours
    uses :data:`BATCH`, which is faster end to end on 2 threads once the other stages are counted)."""
    n_frames = fc.shape(tc.n_samples)[1]
    best = (math.inf, 0)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for batch in batches:
            frames = [torch.randn(batch * n_frames, fc.n_fft) for _ in range(threads)]
            n_batches = math.ceil(n_clips / batch)

            def work(worker: int) -> None:
                for _ in range(worker, n_batches, threads):
                    torch.fft.rfft(frames[worker])

            work(0)  # warm-up (MKL descriptor)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(work, range(threads)))
            best = min(best, (time.perf_counter() - t0, batch))
    finally:
        torch.set_num_threads(previous)
    flops = n_clips * n_frames * 2.5 * fc.n_fft * math.log2(fc.n_fft)
    return best[0], flops / best[0] / 1e9, best[1]


def profile(n_clips: int, tc: ToneConfig, fc: FeatureConfig, seed: int) -> dict[str, float]:
    """Single-thread seconds per stage for ``n_clips`` clips, done the way build_tone_dataset does them."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    stages = dict.fromkeys(["factor table", "synthesis", "STFT frames", "FFT", "squares + mel", "normalisation"], 0.0)
    try:
        t0 = time.perf_counter()
        factors = sample_factors(tc, seed).iloc[:n_clips]
        stages["factor table"] = (time.perf_counter() - t0) * n_clips / tc.n_clips
        blocks = _interleaved_blocks(fc, "cpu")
        for start in range(0, n_clips, BUILD_CHUNK):
            t0 = time.perf_counter()
            audio = torch.from_numpy(render(factors.iloc[start : start + BUILD_CHUNK], tc, chunk=BUILD_CHUNK))
            stages["synthesis"] += time.perf_counter() - t0
            for i in range(0, len(audio), BATCH):
                t0 = time.perf_counter()
                frames = stft_frames(audio[i : i + BATCH], fc)
                t1 = time.perf_counter()
                spec = torch.fft.rfft(frames)
                t2 = time.perf_counter()
                squares = torch.view_as_real(spec).square_().view(-1, 2 * spec.shape[-1])
                mel = squares.new_empty(len(squares), fc.n_mels)
                for band, lo, hi, fb in blocks:
                    torch.mm(squares[:, lo:hi], fb, out=mel[:, band : band + fb.shape[1]])
                t3 = time.perf_counter()
                _normalise_db(mel.view(*spec.shape[:-1], fc.n_mels), fc.top_db)
                t4 = time.perf_counter()
                stages["STFT frames"] += t1 - t0
                stages["FFT"] += t2 - t1
                stages["squares + mel"] += t3 - t2
                stages["normalisation"] += t4 - t3
    finally:
        torch.set_num_threads(previous)
    return stages


def time_cache_write(ds) -> tuple[float, float]:
    """Seconds for the checksum of the features and for writing the cache file (savez + fsync)."""
    t0 = time.perf_counter()
    _checksum(ds.features.numpy(), _stored_columns(ds.factors))
    checksum_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=Path.home()) as folder:  # same disk as the cache folder
        t0 = time.perf_counter()
        _save(Path(folder) / "tones.npz", ds, {"format": 0, "spec": ds.spec(), "stamp": ""})  # includes its own checksum
        save_s = time.perf_counter() - t0
    return checksum_s, save_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clips", type=int, default=500, help="clips timed in the reference loop (scaled to the full set)")
    parser.add_argument("--full-clips", type=int, default=FULL_CLIPS, help="size of the set built by our pipeline")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=3, help="timed builds of the whole set (best and median printed)")
    parser.add_argument("--profile-clips", type=int, default=2048, help="clips in the per-stage profile and the float64 check")
    parser.add_argument("--no-cache-write", action="store_true", help="skip timing the cache write (0.5 GB to disk)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    tc = ToneConfig(n_clips=args.full_clips)
    fc = FeatureConfig()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"torch {torch.__version__}, {threads} threads"
          + (f", load average {load[0]:.1f} at start" if load else ""))

    # where the time goes (one thread), scaled to the full set
    n_prof = min(args.profile_clips, args.full_clips)
    stages = profile(n_prof, tc, fc, args.seed)
    total = sum(stages.values())
    print(f"profile, 1 thread, {n_prof:,} clips scaled to {FULL_CLIPS:,} ({1e3 * total / n_prof:.3f} ms/clip): "
          + ", ".join(f"{k} {v * FULL_CLIPS / n_prof:.2f} s ({100 * v / total:.0f}%)" for k, v in stages.items()))

    # float32 against the same pipeline in float64
    audio = torch.from_numpy(render(sample_factors(tc, args.seed).iloc[:n_prof], tc))
    gap = (logmel(audio, fc) - logmel(audio.double(), fc, dtype=torch.float64)).abs().max().item()
    print(f"float32 vs float64 on {n_prof:,} clips: max |difference| {gap:.1e} normalised units "
          f"(<= {gap * fc.top_db:.1e} dB)")

    # ours: warm up once on a few clips (filterbank construction, first-call allocations)
    logmel(torch.zeros(8, tc.n_samples), fc)
    times = []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        ds = build_tone_dataset(tc, fc, args.seed, threads=threads)
        times.append(time.perf_counter() - t0)
    ours_s = min(times)
    ours_full = ours_s * FULL_CLIPS / args.full_clips
    print(f"ours:      {args.full_clips:,} clips -> {tuple(ds.features.shape)} in {ours_s:.2f} s best, "
          f"{statistics.median(times):.2f} s median of {len(times)} ({1e3 * ours_s / args.full_clips:.3f} ms/clip)"
          + (f"; scaled to {FULL_CLIPS:,}: {ours_full:.1f} s" if args.full_clips != FULL_CLIPS else ""))

    floor_s, gflops, floor_batch = fft_floor(args.full_clips, tc, fc, threads)
    print(f"FFT floor: rfft of the same {args.full_clips * fc.shape(tc.n_samples)[1]:,} frames x {fc.n_fft} points "
          f"alone, fastest in batches of {floor_batch} clips: {floor_s:.2f} s ({gflops:.1f} GFLOP/s); "
          f"ours = {ours_s / floor_s:.1f}x the floor")

    if not args.no_cache_write:
        checksum_s, save_s = time_cache_write(ds)
        print(f"cache write ({ds.features.numpy().nbytes / 1e9:.2f} GB of features): checksum {checksum_s:.2f} s, "
              f"savez + fsync (with its checksum) {save_s:.2f} s")

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
