"""Synthetic tone set (SynTone-like) and same-timbre / different-pitch pairs.

A clip is one of four waveforms (the *timbre*, shared by both views of a pair) at
one of 21 geometric frequency classes (the *pitch*, private to each view), with
a random amplitude and start phase. Everything is vectorised over clips: the
factor table is drawn first, then audio is rendered from it in chunks, so any
clip can be re-rendered later from its row alone.

Reference: Wilkins et al., "Self-Supervised Multi-View Learning for Disentangled
Music Audio Representations", ISMIR 2024 LBD; Brima et al., SynTone (2024).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

__all__ = [
    "WAVEFORMS",
    "SPLITS",
    "ToneConfig",
    "frequency_centres",
    "sample_factors",
    "synthesize",
    "render",
    "generate_tones",
    "sample_pairs",
]

WAVEFORMS: tuple[str, ...] = ("sine", "triangle", "sawtooth", "square")
SPLITS: tuple[str, ...] = ("train", "val", "test")
SYNTHESIS_METHODS = ("naive", "bandlimited")


@dataclass(frozen=True)
class ToneConfig:
    """How the tone set is drawn (defaults: chapter 1 of the book; the paper leaves most of them open).

    Attributes
    ----------
    sample_rate : int
        Hz.
    duration : float
        Seconds per clip.
    waveforms : tuple of str
        Subset of :data:`WAVEFORMS`; label ``i`` is ``waveforms[i]``.
    n_freq_classes : int
        Number of pitch classes; centres ``f_min * 2**(k * class_step_octaves)``.
    f_min : float
        Centre of class 0 in Hz.
    class_step_octaves : float
        Spacing of class centres (0.2 octave = 2.4 semitones).
    jitter_semitones : float
        Each clip's frequency is its centre times ``2**(u/12)``, ``u ~ U(-j, j)``.
    n_amplitudes : int
        Amplitude levels ``linspace(amp_min, amp_max, n_amplitudes)``.
    n_clips : int
        Total clips, spread as evenly as possible over waveform x frequency class.
    synthesis : {"naive", "bandlimited"}
        Naive waveforms keep aliasing (as SynTone); band-limited sums only the
        harmonics below Nyquist.
    split : tuple of 3 floats
        Train/val/test fractions, applied inside every (waveform, class) cell.
    """

    sample_rate: int = 16_000
    duration: float = 1.0
    waveforms: tuple[str, ...] = WAVEFORMS
    n_freq_classes: int = 21
    f_min: float = 440.0
    class_step_octaves: float = 0.2
    jitter_semitones: float = 1.0
    n_amplitudes: int = 20
    amp_min: float = 0.1
    amp_max: float = 1.0
    n_clips: int = 32_000
    synthesis: str = "naive"
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "waveforms", tuple(self.waveforms))
        object.__setattr__(self, "split", tuple(float(s) for s in self.split))
        if not self.sample_rate > 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate!r}")
        if not self.duration > 0:
            raise ValueError(f"duration must be positive, got {self.duration!r}")
        unknown = [w for w in self.waveforms if w not in WAVEFORMS]
        if unknown or not self.waveforms:
            raise ValueError(f"unknown waveform(s) {unknown or list(self.waveforms)!r}; choose from {WAVEFORMS}")
        if len(set(self.waveforms)) != len(self.waveforms):
            raise ValueError(f"waveforms must be distinct, got {self.waveforms!r}")
        if self.n_freq_classes < 2:
            raise ValueError(f"n_freq_classes must be >= 2 (pitch must vary inside a pair), got {self.n_freq_classes!r}")
        if not self.f_min > 0 or not self.class_step_octaves > 0:
            raise ValueError(f"f_min and class_step_octaves must be positive, got {self.f_min!r}, {self.class_step_octaves!r}")
        if self.jitter_semitones < 0:
            raise ValueError(f"jitter_semitones must be >= 0, got {self.jitter_semitones!r}")
        top = self.f_min * 2 ** ((self.n_freq_classes - 1) * self.class_step_octaves + self.jitter_semitones / 12)
        if top >= self.sample_rate / 2:
            raise ValueError(
                f"highest frequency {top:.1f} Hz (f_min={self.f_min}, n_freq_classes={self.n_freq_classes}, "
                f"jitter_semitones={self.jitter_semitones}) is at or above Nyquist {self.sample_rate / 2:.1f} Hz"
            )
        if self.n_amplitudes < 1 or not 0 < self.amp_min <= self.amp_max:
            raise ValueError(
                f"need n_amplitudes >= 1 and 0 < amp_min <= amp_max, got {self.n_amplitudes!r}, {self.amp_min!r}, {self.amp_max!r}"
            )
        if self.synthesis not in SYNTHESIS_METHODS:
            raise ValueError(f"unknown synthesis {self.synthesis!r}; choose from {SYNTHESIS_METHODS}")
        if len(self.split) != 3 or any(s < 0 for s in self.split) or abs(sum(self.split) - 1) > 1e-6:
            raise ValueError(f"split must be 3 non-negative fractions summing to 1, got {self.split!r}")
        counts = self.split_counts(self.n_clips // self.n_cells)
        if min(counts) == 0:
            raise ValueError(
                f"split {self.split!r} leaves a partition empty: each of the {self.n_cells} (waveform, class) cells "
                f"has {self.n_clips // self.n_cells} clip(s) -> train/val/test {counts}; raise n_clips"
            )

    @property
    def n_cells(self) -> int:
        return len(self.waveforms) * self.n_freq_classes

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration))

    def split_counts(self, n: int) -> tuple[int, int, int]:
        """Train/val/test counts for a cell of ``n`` clips."""
        n_val, n_test = int(round(n * self.split[1])), int(round(n * self.split[2]))
        return n - n_val - n_test, n_val, n_test

    @classmethod
    def preset(cls, mode: str, **overrides) -> "ToneConfig":
        """``"full"``: the 32,000-clip set; ``"fast"``: 840 clips (10 per cell) for smoke runs."""
        presets = {"full": {}, "fast": {"n_clips": 840}}
        if mode not in presets:
            raise ValueError(f"unknown mode {mode!r}; choose from {sorted(presets)}")
        return dataclasses.replace(cls(), **{**presets[mode], **overrides})


def frequency_centres(config: ToneConfig) -> np.ndarray:
    """Class centre frequencies in Hz, shape ``(n_freq_classes,)``: ``f_min * 2**(k * step)``."""
    return config.f_min * 2.0 ** (np.arange(config.n_freq_classes) * config.class_step_octaves)


def sample_factors(config: ToneConfig, seed: int) -> pd.DataFrame:
    """Draw the factor table of every clip.

    Returns
    -------
    DataFrame with one row per clip: ``waveform`` (int label), ``waveform_name``,
    ``freq_class`` (int), ``freq_hz``, ``amplitude``, ``phase`` (radians) and
    ``split`` (``"train"|"val"|"test"``, stratified per cell). Cells get
    ``n_clips // n_cells`` or one more clip.
    """
    rng = np.random.default_rng(seed)
    n, n_classes = config.n_clips, config.n_freq_classes
    cell = np.arange(n) % config.n_cells  # balanced over waveform x class
    waveform, freq_class = cell // n_classes, cell % n_classes
    jitter = rng.uniform(-config.jitter_semitones, config.jitter_semitones, n)
    freq = frequency_centres(config)[freq_class] * 2.0 ** (jitter / 12)
    levels = np.linspace(config.amp_min, config.amp_max, config.n_amplitudes)
    amplitude = levels[rng.integers(0, config.n_amplitudes, n)]
    phase = rng.uniform(0, 2 * np.pi, n)

    split = np.empty(n, dtype=object)
    order = rng.permutation(n)  # random position of each clip inside its cell
    for c in range(config.n_cells):  # 84 cells: cheap
        members = order[cell[order] == c]
        n_train, n_val, _ = config.split_counts(len(members))
        split[members[:n_train]] = "train"
        split[members[n_train : n_train + n_val]] = "val"
        split[members[n_train + n_val :]] = "test"

    return pd.DataFrame(
        {
            "waveform": waveform.astype(np.int64),
            "waveform_name": np.asarray(config.waveforms)[waveform],
            "freq_class": freq_class.astype(np.int64),
            "freq_hz": freq,
            "amplitude": amplitude,
            "phase": phase,
            "split": pd.Categorical(split, categories=list(SPLITS)),
        }
    )


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


def render(factors: pd.DataFrame, config: ToneConfig, chunk: int = 2048) -> np.ndarray:
    """Audio of the clips in ``factors`` (rows from :func:`sample_factors`), float32 ``(N, n_samples)``."""
    cols = [factors[c].to_numpy() for c in ("waveform", "freq_hz", "amplitude", "phase")]
    options = {"sample_rate": config.sample_rate, "duration": config.duration, "method": config.synthesis,
               "waveforms": config.waveforms}
    if len(factors) <= chunk:  # one chunk: synthesize's own array, no copy
        return synthesize(*cols, **options)
    out = np.empty((len(factors), config.n_samples), dtype=np.float32)
    for start in range(0, len(factors), chunk):
        sl = slice(start, start + chunk)
        out[sl] = synthesize(*(c[sl] for c in cols), **options)
    return out


def generate_tones(config: ToneConfig, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """Factor table and audio ``(n_clips, n_samples)`` of the whole tone set."""
    factors = sample_factors(config, seed)
    return render(factors, config), factors


def sample_pairs(factors: pd.DataFrame, split: str = "train", rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Pair every clip of ``split`` with a partner of the same waveform and another frequency class.

    Each clip of the split is the first view exactly once (shuffled); the second view is
    drawn uniformly among the other classes, then uniformly among that cell's clips, so
    amplitude and phase are independent across the pair. Call again (new ``rng`` state)
    to re-draw pairs each epoch.

    Returns
    -------
    int64 array ``(n_split, 2)`` of row positions into ``factors``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    idx = np.flatnonzero((factors["split"] == split).to_numpy())
    if len(idx) == 0:
        raise ValueError(f"split {split!r} is empty")
    wave = factors["waveform"].to_numpy()[idx]
    cls = factors["freq_class"].to_numpy()[idx]
    n_wave, n_cls = int(wave.max()) + 1, int(factors["freq_class"].max()) + 1
    if n_cls < 2:
        raise ValueError("need at least 2 frequency classes to form pairs")
    cell = wave * n_cls + cls
    order = np.argsort(cell, kind="stable")
    counts = np.bincount(cell, minlength=n_wave * n_cls)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    anchors = rng.permutation(len(idx))
    partner_cls = (cls[anchors] + rng.integers(1, n_cls, len(anchors))) % n_cls
    partner_cell = wave[anchors] * n_cls + partner_cls
    if np.any(counts[partner_cell] == 0):
        missing = np.unique(partner_cell[counts[partner_cell] == 0])[0]
        raise ValueError(f"split {split!r} has no clip for waveform {missing // n_cls}, class {missing % n_cls}")
    pick = starts[partner_cell] + (rng.random(len(anchors)) * counts[partner_cell]).astype(np.int64)
    return np.stack([idx[anchors], idx[order[pick]]], axis=1).astype(np.int64)
