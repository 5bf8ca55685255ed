"""Chapter 1's tour of the tone set: the factor grid, spectra and aliasing, the harmonics left below
Nyquist, the dB range of the log-mels, and how closely the torch and librosa front ends agree.

Everything here measures the data definition (:class:`mvtutorial.data.ToneConfig`,
:class:`mvtutorial.features.FeatureConfig`); nothing trains. The chapter prints these tables so
that every number its prose uses is on the page.
"""
from __future__ import annotations

import time
from typing import Sequence

import librosa
import numpy as np
import pandas as pd
import torch
import torchaudio

from ..data import WAVEFORMS, ToneConfig, frequency_centres, synthesize
from ..features import FeatureConfig, logmel, logmel_librosa, mel_power

__all__ = ["HARMONICS", "grid_summary", "class_bands", "class_of", "spectrum_db", "spectral_peaks", "spectral_centroid",
           "folded_frequency", "fold_table", "alias_table", "harmonics_below_nyquist", "pure_sine_classes",
           "db_range", "floor_table", "librosa_agreement", "filterbank_agreement"]

#: Which harmonics each waveform's Fourier series holds: ``"odd"``, ``"all"`` or only the fundamental,
#: with the amplitude of harmonic ``k`` relative to a unit sine (e.g. Oppenheim & Schafer, *Signals and Systems*).
HARMONICS: dict[str, tuple[str, object]] = {
    "sine": ("fundamental", lambda k: np.where(k == 1, 1.0, 0.0)),
    "triangle": ("odd", lambda k: 8 / (np.pi**2 * k**2)),
    "sawtooth": ("all", lambda k: 2 / (np.pi * k)),
    "square": ("odd", lambda k: 4 / (np.pi * k)),
}


def grid_summary(config: ToneConfig) -> pd.Series:
    """The factor grid of a tone set in numbers: classes, their range and spacing, the jitter band,
    the gap between neighbouring bands (semitones), amplitude levels, cells and split fractions."""
    centres = frequency_centres(config)
    step = 12 * config.class_step_octaves
    return pd.Series({
        "frequency classes": config.n_freq_classes,
        "class centres (Hz)": f"{centres[0]:.0f}-{centres[-1]:.0f}",
        "centre spacing (semitones)": round(step, 3),
        "jitter band (semitones)": 2 * config.jitter_semitones,
        "gap between bands (semitones)": round(step - 2 * config.jitter_semitones, 3),
        "amplitude levels": f"{config.n_amplitudes}: {config.amp_min:g}, "
                            f"{np.linspace(config.amp_min, config.amp_max, config.n_amplitudes)[1]:.3f}, ..., {config.amp_max:g}",
        "(waveform, class) cells": config.n_cells,
        "split train/val/test": "/".join(f"{s:g}" for s in config.split),
        "sample rate (Hz)": config.sample_rate,
    }, name="value")


def class_bands(config: ToneConfig) -> pd.DataFrame:
    """One row per frequency class: its centre and the lowest and highest frequency its jitter allows (Hz)."""
    centres = frequency_centres(config)
    width = 2 ** (config.jitter_semitones / 12)
    return pd.DataFrame({"centre": centres, "low": centres / width, "high": centres * width}).rename_axis("class")


def class_of(freq_hz: float, config: ToneConfig) -> int | None:
    """The frequency class whose band holds ``freq_hz``, or None when it falls in a gap (or outside)."""
    bands = class_bands(config)
    inside = bands.index[(bands.low <= freq_hz) & (freq_hz <= bands.high)]
    return int(inside[0]) if len(inside) else None


def spectrum_db(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectrum of one clip ``(n,)`` with a Hann window, in dB, scaled so that a
    unit-amplitude sine peaks at 0 dB. Returns ``(frequencies in Hz, dB)``, each ``(n // 2 + 1,)``."""
    x = np.asarray(x, dtype=np.float64)
    w = np.hanning(len(x))
    mag = np.abs(np.fft.rfft(x * w)) / (w.sum() / 2)
    return np.fft.rfftfreq(len(x), 1 / sample_rate), 20 * np.log10(mag + 1e-12)


def spectral_peaks(x: np.ndarray, sample_rate: int, floor_db: float = -60.0) -> list[int]:
    """Frequencies (Hz, rounded) of the local maxima of :func:`spectrum_db` above ``floor_db``,
    excluding 0 Hz and Nyquist (the end bins)."""
    freq, db = spectrum_db(x, sample_rate)
    mid = db[1:-1]
    is_peak = (mid > floor_db) & (mid >= db[:-2]) & (mid >= db[2:])
    return freq[1:-1][is_peak].round().astype(int).tolist()


def spectral_centroid(y: np.ndarray, sample_rate: int) -> float:
    """Power-weighted mean frequency (Hz) of one clip ``(n,)``, Hann-windowed: a rough measure of brightness."""
    y = np.asarray(y, dtype=np.float64)
    power = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    return float((power * np.fft.rfftfreq(len(y), 1 / sample_rate)).sum() / power.sum())


def folded_frequency(freq_hz, sample_rate: int) -> np.ndarray:
    """Where a frequency lands after sampling at ``sample_rate``: ``|f - m f_s|`` for the nearest
    integer ``m``, always in ``[0, f_s / 2]`` (aliasing; e.g. Oppenheim & Schafer, ch. 7)."""
    f = np.asarray(freq_hz, dtype=np.float64)
    return np.abs(f - np.round(f / sample_rate) * sample_rate)


def fold_table(freq_hz: float, sample_rate: int, harmonics: Sequence[int]) -> pd.DataFrame:
    """Harmonic ``k``, its frequency ``k f`` and where sampling folds it (Hz), one row per ``k``."""
    k = np.asarray(harmonics)
    return pd.DataFrame({"harmonic": k, "frequency": k * freq_hz,
                         "lands at": folded_frequency(k * freq_hz, sample_rate)}).set_index("harmonic")


def _predicted_peaks(name: str, freq_hz: float, sample_rate: int, floor_db: float) -> list[int]:
    """Folded frequencies of the harmonics of ``name`` louder than ``floor_db``, strictly inside (0, Nyquist)."""
    kind, amplitude = HARMONICS[name]
    k = np.arange(1, int(10 ** (-floor_db / 20) * 4) + 1)  # beyond this every harmonic is below the floor
    k = k[(amplitude(k) > 10 ** (floor_db / 20)) & ((k % 2 == 1) | (kind == "all"))]
    folds = np.unique(np.round(folded_frequency(k * freq_hz, sample_rate)).astype(int))
    return [int(f) for f in folds if 0 < f < sample_rate / 2]


def alias_table(freq_hz: float, sample_rate: int = 16_000, waveforms: Sequence[str] = WAVEFORMS,
                floor_db: float = -60.0) -> pd.DataFrame:
    """Spectral peaks (Hz) of each waveform at ``freq_hz``, rendered naively and band-limited, beside
    the folded harmonics the Fourier series predicts; ``as predicted`` says whether the naive peaks are
    exactly those."""
    rows = {}
    for name in waveforms:
        naive, band = (spectral_peaks(synthesize(name, freq_hz, sample_rate=sample_rate, method=m)[0], sample_rate, floor_db)
                       for m in ("naive", "bandlimited"))
        predicted = _predicted_peaks(name, freq_hz, sample_rate, floor_db)
        rows[name] = {"naive": naive, "predicted folds": predicted, "as predicted": naive == predicted, "band-limited": band}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("waveform")


def harmonics_below_nyquist(name: str, freq_hz, sample_rate: int = 16_000) -> np.ndarray:
    """Number of harmonics ``k f < f_s / 2`` in the Fourier series of waveform ``name`` (odd ones only
    for triangle and square, the fundamental alone for the sine), per frequency in ``freq_hz``."""
    f = np.atleast_1d(np.asarray(freq_hz, dtype=np.float64))
    below = np.ceil(sample_rate / 2 / f).astype(int) - 1  # largest k with k f < f_s / 2
    kind = HARMONICS[name][0]
    return {"fundamental": np.ones_like(below), "odd": (below + 1) // 2, "all": below}[kind]


def pure_sine_classes(config: ToneConfig) -> pd.DataFrame:
    """Per waveform, the first frequency class from which band-limiting leaves a pure sine: at the
    class centre, and for the whole class band (its lowest jittered frequency). None: never."""
    bands = class_bands(config)
    rows = {}
    for name in config.waveforms:
        first = {}
        for where in ("centre", "low"):
            single = harmonics_below_nyquist(name, bands[where].to_numpy(), config.sample_rate) == 1
            tail = np.flatnonzero(~single)
            start = 0 if len(tail) == 0 else tail[-1] + 1
            first[f"from class (at the {'centre' if where == 'centre' else 'band bottom'})"] = (
                int(start) if start < len(bands) else None)
        rows[name] = first
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("waveform")


def db_range(audio: np.ndarray, feature_config: FeatureConfig) -> np.ndarray:
    """Each clip's dB range before the floor, capped at ``top_db`` (the range the [0, 1] scaling
    stretches): ``min(max D - min D, top_db)`` with ``D = 10 log10 mel power``. ``audio``: ``(N, n)``; returns ``(N,)``."""
    mel = mel_power(torch.as_tensor(np.atleast_2d(audio)), feature_config)
    db = 10 * torch.log10(mel.clamp_min(1e-10)).flatten(1)
    return np.minimum((db.max(1).values - db.min(1).values).numpy(), feature_config.top_db)


def floor_table(ds, per_waveform: int = 64, seed: int = 0) -> pd.DataFrame:
    """Per waveform, over ``per_waveform`` random clips of ``ds``: the fraction whose log-mel reaches
    the ``top_db`` floor, and the median and smallest dB range (:func:`db_range`)."""
    rng = np.random.default_rng(seed)
    rows = {}
    for label, name in enumerate(ds.config.waveforms):
        pool = np.flatnonzero(ds.factors.waveform.to_numpy() == label)
        pick = np.sort(rng.choice(pool, min(per_waveform, len(pool)), replace=False))
        r = db_range(ds.audio(pick), ds.feature_config)
        rows[name] = {"clips": len(pick), "reach the floor": float(np.mean(r >= ds.feature_config.top_db)),
                      "median range (dB)": float(np.median(r)), "smallest range (dB)": float(r.min())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("waveform")


def librosa_agreement(ds, indices: np.ndarray) -> dict:
    """:func:`~mvtutorial.features.logmel` against :func:`~mvtutorial.features.logmel_librosa` on
    the clips ``indices`` of ``ds``: largest and mean absolute difference on the [0, 1] scale, where
    the largest sits (waveform, mel band, frame, feature value), and both timings (ms)."""
    audio = ds.audio(indices)
    t0 = time.perf_counter()
    ours = logmel(torch.from_numpy(audio), ds.feature_config).numpy()
    t1 = time.perf_counter()
    ref = logmel_librosa(audio, ds.feature_config)
    t2 = time.perf_counter()
    diff = np.abs(ours - ref)
    clip, band, frame = np.unravel_index(diff.argmax(), diff.shape)
    return {"clips": len(indices), "max": float(diff.max()), "mean": float(diff.mean()),
            "waveform": str(ds.factors.waveform_name.iloc[indices[clip]]), "band": int(band), "frame": int(frame),
            "value": float(ref[clip, band, frame]), "torch_ms": 1000 * (t1 - t0), "librosa_ms": 1000 * (t2 - t1)}


def filterbank_agreement(fc: FeatureConfig) -> dict:
    """torchaudio's float32 Slaney mel filterbank against librosa's float64 one: median and largest
    relative difference of the non-zero weights, where the largest sits, and what it does to a band
    fed only through that weight: ``10 log10(1 + r)`` dB, and that over ``top_db`` on the [0, 1] scale."""

    fb32 = torchaudio.functional.melscale_fbanks(fc.n_fft // 2 + 1, fc.f_min, fc.f_max, fc.n_mels, fc.sample_rate,
                                                 norm="slaney", mel_scale="slaney").numpy().T
    fb64 = librosa.filters.mel(sr=fc.sample_rate, n_fft=fc.n_fft, n_mels=fc.n_mels, fmin=fc.f_min, fmax=fc.f_max,
                               dtype=np.float64)
    band, fft_bin = np.nonzero(fb64)
    rel = np.abs(fb32 - fb64)[band, fft_bin] / fb64[band, fft_bin]
    k = int(rel.argmax())
    edge_db = float(10 * np.log10(1 + rel.max()))
    return {"median": float(np.median(rel)), "max": float(rel.max()), "band": int(band[k]), "fft_bin": int(fft_bin[k]),
            "weight": float(fb64[band[k], fft_bin[k]]), "peak_weight": float(fb64[band[k]].max()),
            "edge_db": edge_db, "edge_unit": edge_db / fc.top_db}
