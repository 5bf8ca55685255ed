"""Waveform synthesis of the tone set: sine, triangle, sawtooth and square tones, vectorised over clips.

:func:`synthesize` renders a batch of tones at given frequencies, amplitudes and start phases,
either naively (the ideal waveform sampled, aliasing kept, as SynTone) or band-limited (its
Fourier series up to Nyquist). The tone set (:mod:`mvtutorial.data.tones`) renders its clips with it.

Reference: Wilkins et al., "Self-Supervised Multi-View Learning for Disentangled Music Audio
Representations", ISMIR 2024 LBD; Brima et al., SynTone (2024).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["WAVEFORMS", "SYNTHESIS_METHODS", "synthesize"]

WAVEFORMS: tuple[str, ...] = ("sine", "triangle", "sawtooth", "square")
SYNTHESIS_METHODS: tuple[str, ...] = ("naive", "bandlimited")


def _waveform_ids(waveform: Sequence[int | str] | np.ndarray, names: Sequence[str]) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(waveform))
    if arr.dtype.kind in ("U", "S", "O"):
        bad = sorted({str(w) for w in arr if w not in names})
        if bad:
            raise ValueError(f"unknown waveform(s) {bad}; choose from {tuple(names)}")
        return np.array([names.index(w) for w in arr])
    bad = sorted({int(w) for w in arr if not 0 <= int(w) < len(names)})
    if bad:
        raise ValueError(f"unknown waveform label(s) {bad}; labels are 0..{len(names) - 1} for {tuple(names)}")
    return arr.astype(np.int64)


def synthesize(
    waveform: Sequence[int | str] | np.ndarray | int | str,
    freq_hz: np.ndarray | float,
    amplitude: np.ndarray | float = 1.0,
    phase: np.ndarray | float = 0.0,
    *,
    sample_rate: int = 16_000,
    duration: float = 1.0,
    method: str = "naive",
    waveforms: Sequence[str] = WAVEFORMS,
) -> np.ndarray:
    """Render a batch of tones.

    Parameters
    ----------
    waveform : int labels or names, shape ``(N,)`` (a scalar broadcasts)
    freq_hz, amplitude, phase : arrays of shape ``(N,)`` or scalars
        Frequency in Hz (must be below Nyquist), peak amplitude, start phase in radians.
    method : {"naive", "bandlimited"}
        ``naive`` evaluates the ideal waveform at the sample times (aliasing);
        ``bandlimited`` sums its Fourier series up to Nyquist:
        e.g. square ``(4/pi) sum_{k odd} sin(k theta)/k`` over ``k f < sample_rate/2``.

    Returns
    -------
    float32 array, shape ``(N, round(sample_rate * duration))``.
    """
    if method not in SYNTHESIS_METHODS:
        raise ValueError(f"unknown synthesis method {method!r}; choose from {SYNTHESIS_METHODS}")
    if not (0 < sample_rate < np.inf) or not (0 < duration < np.inf):
        raise ValueError(f"sample_rate and duration must be positive and finite, got {sample_rate!r}, {duration!r}")
    names = list(waveforms)
    wave = _waveform_ids(waveform, names)
    freq, amp, ph = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (freq_hz, amplitude, phase))
    for name, values in (("frequency", freq), ("amplitude", amp), ("phase", ph)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} must be finite, got {float(values[~np.isfinite(values)][0])!r} "
                             f"(at index {int(np.flatnonzero(~np.isfinite(values))[0])})")
    wave, freq, amp, ph = np.broadcast_arrays(wave, freq, amp, ph)
    if np.any(freq <= 0) or np.any(freq >= sample_rate / 2):
        bad = freq[(freq <= 0) | (freq >= sample_rate / 2)][0]
        raise ValueError(f"frequency {bad:.1f} Hz must be in (0, Nyquist={sample_rate / 2:.1f}) Hz")

    n = int(round(sample_rate * duration))
    # One waveform at a time, each rendered in place into a contiguous block of rows (clips in
    # waveform order), then put back in the caller's order: no masked copies of the audio.
    order = np.argsort(wave, kind="stable")
    bounds = np.searchsorted(wave[order], np.arange(len(names) + 1))
    out = torch.empty(len(freq), n)
    for label in np.unique(wave):
        rows = order[bounds[label] : bounds[label + 1]]
        block = out[bounds[label] : bounds[label + 1]]
        if names[label] == "sine" or method == "naive":
            _naive(names[label], _cycles(freq[rows], ph[rows], n, sample_rate, out=block))
        else:
            block.copy_(_bandlimited(names[label], freq[rows], ph[rows], n, sample_rate))
        block.mul_(torch.from_numpy(amp[rows].astype(np.float32))[:, None])
    if np.any(order != np.arange(len(order))):
        out = out[torch.from_numpy(np.argsort(order))]
    return out.numpy()


def _cycles(freq: np.ndarray, phase: np.ndarray, n: int, sample_rate: int, block: int = 64,
            out: torch.Tensor | None = None) -> torch.Tensor:
    """Fractional cycles ``frac(f t + phase / 2 pi)`` at ``t = arange(n) / sample_rate``, float32 ``(N, n)``
    (written into ``out`` when given).

    ``f t`` reaches thousands of cycles, where float32 would drift by ~1e-3 cycle. Writing
    ``t = (64 q + r) / sr`` and wrapping each part in float64 on small arrays keeps the
    float32 sum exact to ~1e-7 cycle at a fraction of a float64 pass over all samples.
    """
    q = np.arange(-(-n // block)) * block / sample_rate
    r = np.arange(block) / sample_rate
    coarse = torch.from_numpy(np.mod(freq[:, None] * q + phase[:, None] / (2 * np.pi), 1.0).astype(np.float32))
    fine = torch.from_numpy(np.mod(freq[:, None] * r, 1.0).astype(np.float32))
    if out is None:
        out = torch.empty(len(freq), n)
    if n % block == 0:  # the sum lands directly in ``out``
        torch.add(coarse[:, :, None], fine[:, None, :], out=out.view(len(freq), -1, block))
    else:
        out.copy_((coarse[:, :, None] + fine[:, None, :]).reshape(len(freq), -1)[:, :n])
    return out.frac_()  # the sum is >= 0, so frac (x - trunc x) is x - floor x


def _naive(name: str, p: torch.Tensor) -> torch.Tensor:
    """The ideal waveform at positions ``p`` in [0, 1) of its period, computed in place in ``p``."""
    if name == "sine":
        return p.mul_(2 * np.pi).sin_()
    if name == "sawtooth":
        return p.mul_(2).sub_(1)  # 2p - 1
    if name == "square":
        return p.ge_(0.5).mul_(-2).add_(1)  # 1 - 2 [p >= 1/2]
    return p.sub_(0.5).abs_().mul_(-4).add_(1)  # triangle: 1 - 4 |p - 1/2|


def _bandlimited(name: str, freq: np.ndarray, phase: np.ndarray, n: int, sample_rate: int) -> torch.Tensor:
    # Fourier series of the naive shapes above (same phase convention), truncated per clip at Nyquist.
    out = torch.zeros(len(freq), n)
    for k in range(1, int(sample_rate / 2 // freq.min()) + 1):
        keep = torch.from_numpy(k * freq < sample_rate / 2)
        if not keep.any() or (name != "sawtooth" and k % 2 == 0):
            continue
        theta = 2 * np.pi * _cycles(k * freq[keep.numpy()], k * phase[keep.numpy()], n, sample_rate)
        if name == "sawtooth":  # 2p - 1 = -(2/pi) sum_k sin(k theta)/k
            out[keep] -= 2 / (np.pi * k) * torch.sin(theta)
        elif name == "square":  # sign(sin theta) = (4/pi) sum_{k odd} sin(k theta)/k
            out[keep] += 4 / (np.pi * k) * torch.sin(theta)
        else:  # triangle 1 - 4|p - 1/2| = -(8/pi^2) sum_{k odd} cos(k theta)/k^2
            out[keep] -= 8 / (np.pi * k) ** 2 * torch.cos(theta)
    return out
