"""The synthetic tone set (SynTone-like) as a data source: factors, audio, features and their cache.

A clip is one of four waveforms (the *timbre*, shared by both views of a pair) at one of 21
geometric frequency classes (the *pitch*, private to each view), with a random amplitude and start
phase. The factor table is drawn first (:func:`sample_factors`), then audio is rendered from it in
chunks (:func:`render`, with :func:`~mvtutorial.data.synthesis.synthesize`), so any clip can be
re-rendered later from its row alone.

Every chapter calls :func:`load_tone_dataset`; the first call synthesises and featurises the
clips, later calls (any chapter, any process) load the cached file
(:func:`~mvtutorial.data.dataset.load_cached`). The draw of the factors, the split and the pairs
(``"joint"``, :mod:`mvtutorial.data.pairs`) is the one the shipped runs were trained on: it must
not change (tests/test_data_layer.py holds its digests).

Reference: Wilkins et al., "Self-Supervised Multi-View Learning for Disentangled Music Audio
Representations", ISMIR 2024 LBD; Brima et al., SynTone (2024).
"""
from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..features import FeatureConfig, logmel
from .dataset import FactorDataset, load_cached
from .splits import SPLITS, assign_splits, check_fractions, split_counts
from .synthesis import SYNTHESIS_METHODS, WAVEFORMS, synthesize

__all__ = ["TONE_FACTORS", "TONE_FORMAT", "BUILD_CHUNK", "ToneConfig", "frequency_centres", "sample_factors", "render",
           "generate_tones", "tone_spec", "build_tone_dataset", "load_tone_dataset", "from_spec"]

#: The tone set's factors: name -> column of the factor table (timbre is shared by a pair, frequency is not).
TONE_FACTORS = {"timbre": "waveform", "frequency": "freq_class"}
#: Version of the tone set's draw, stored in its spec (a new draw would be a new version).
TONE_FORMAT = 1
#: Clips rendered and featurised together by :func:`build_tone_dataset` (16 MB of audio at 16 kHz, 1 s).
BUILD_CHUNK = 256


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
        check_fractions(self.split)
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
        """Train/val/test counts for a cell of ``n`` clips (:func:`~mvtutorial.data.splits.split_counts`)."""
        return split_counts(n, self.split)

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
    ``split`` (``"train"|"val"|"test"``, stratified per cell by
    :func:`~mvtutorial.data.splits.assign_splits`). Cells get ``n_clips // n_cells`` or one more clip.
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
    split = assign_splits(cell, config.split, rng)
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
    """Audio ``(n_clips, n_samples)`` and factor table of the whole tone set."""
    factors = sample_factors(config, seed)
    return render(factors, config), factors


def tone_spec(config: ToneConfig, feature_config: FeatureConfig | None = None, seed: int = 0) -> dict:
    """The JSON-ready data spec of a tone set (what checkpoints store), computed without rendering:
    ``{"source": "tones", "format", "tone_config", "feature_config", "seed"}``."""
    feature_config = feature_config or FeatureConfig(sample_rate=config.sample_rate)
    return json.loads(json.dumps({"source": "tones", "format": TONE_FORMAT, "tone_config": asdict(config),
                                  "feature_config": asdict(feature_config), "seed": seed}))


def _dataset(features: torch.Tensor, factors: pd.DataFrame, config: ToneConfig, feature_config: FeatureConfig,
             seed: int) -> FactorDataset:
    return FactorDataset(features, factors, dict(TONE_FACTORS), feature_config, tone_spec(config, feature_config, seed),
                         config, seed, render, "joint")


def build_tone_dataset(
    tone_config: ToneConfig, feature_config: FeatureConfig, seed: int = 0, threads: int | None = None
) -> FactorDataset:
    """Synthesise and featurise the whole set in memory (no cache).

    The clips go through in chunks of :data:`BUILD_CHUNK` (in waveform order, so a chunk is
    rendered as a few contiguous blocks): each chunk is rendered (:func:`render`), turned into
    log-mels (:func:`~mvtutorial.features.logmel`: one batched float32 ``torch.fft.rfft`` per 32
    clips) and written into its rows of one preallocated array; the whole set's audio (2 GB for
    the full set) never exists at once. ``threads`` chunks run at once in worker threads with one
    torch thread each (default ``torch.get_num_threads()``; torch's thread count is restored
    afterwards). On a busy machine this degrades gracefully, where torch's own threads on each
    small operation wait on each other (measured 6x slower under a load of 9 on 2 cores). The
    features do not depend on ``threads`` (tested bit for bit) and each clip's equal those of
    featurising it alone (to float32 rounding).
    """
    if tone_config.sample_rate != feature_config.sample_rate:
        raise ValueError(
            f"tone sample_rate {tone_config.sample_rate} != feature sample_rate {feature_config.sample_rate}"
        )
    threads = torch.get_num_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    factors = sample_factors(tone_config, seed)
    features = torch.empty(len(factors), *feature_config.shape(tone_config.n_samples))
    # Chunks of one waveform at a time (rows in waveform order): synthesize then renders each
    # chunk as contiguous blocks and hands its array back as it is, with no reordering copy.
    order = np.argsort(factors["waveform"].to_numpy(), kind="stable")

    def featurise(start: int) -> None:
        rows = order[start : start + BUILD_CHUNK]
        audio = render(factors.iloc[rows], tone_config, chunk=BUILD_CHUNK)
        features[torch.from_numpy(rows)] = logmel(torch.from_numpy(audio), feature_config, batch_size=32)

    starts = range(0, len(factors), BUILD_CHUNK)
    if threads == 1 or len(starts) == 1:
        for start in starts:
            featurise(start)
    else:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(featurise, starts))
        finally:
            torch.set_num_threads(previous)
    return _dataset(features, factors, tone_config, feature_config, seed)


def load_tone_dataset(
    mode_or_config: str | ToneConfig = "full",
    feature_config: FeatureConfig | None = None,
    seed: int = 0,
    cache: str | Path | None | bool = None,
) -> FactorDataset:
    """The tone set's features and factors, from the cache when a valid file exists.

    Parameters
    ----------
    mode_or_config : ``"fast"``, ``"full"`` or a :class:`ToneConfig`
    feature_config : defaults to :class:`~mvtutorial.features.FeatureConfig` at the tone sample rate
    seed : int
        Seed of the factor draw (frequencies, amplitudes, phases, split).
    cache : folder for the cache (default :func:`mvtutorial.cache.cache_dir`), or ``False`` for none.

    Returns
    -------
    FactorDataset with ``factor_columns`` :data:`TONE_FACTORS` and ``config`` the :class:`ToneConfig`.
    A cache file that is unreadable, for another config, or fails its checksum is reported with a
    warning and rebuilt.
    """
    config = ToneConfig.preset(mode_or_config) if isinstance(mode_or_config, str) else mode_or_config
    feature_config = feature_config or FeatureConfig(sample_rate=config.sample_rate)
    return load_cached(tone_spec(config, feature_config, seed),
                       lambda: build_tone_dataset(config, feature_config, seed),
                       lambda features, factors: _dataset(features, factors, config, feature_config, seed), cache)


def from_spec(spec: dict) -> FactorDataset:
    """The tone set of a data spec (:func:`tone_spec`), from the cache when it is there."""
    config = ToneConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["tone_config"].items()})
    return load_tone_dataset(config, FeatureConfig(**spec["feature_config"]), seed=spec["seed"])
