"""Sampled-instrument notes as a data source: single General MIDI notes rendered from a real SoundFont.

The first step beyond synthetic tones (the paper's stated future work is real music audio): each
clip is one note of a General MIDI instrument, rendered offline at 16 kHz from a SoundFont that
Debian (and Ubuntu, hence Colab) package (:mod:`mvtutorial.data.soundfont`, FluidSynth), and
featurised with the tone set's log-mel front end (:func:`mvtutorial.features.logmel`), so a model
sees inputs of the same shape. Factors:

* **instrument** (the timbre, shared by both views of a pair): 8 GM programs from 8 families
  (piano, guitar, violin, flute, trumpet, clarinet, organ, marimba);
* **pitch** (private to each view): 21 MIDI notes, C4 (60) to G#5 (80), a range all eight
  instruments play;
* **velocity** (a nuisance factor, drawn per clip from ``n_velocities`` levels) and a small random
  detune (+-``detune_cents``, by pitch bend), so that the clips of one (instrument, pitch) cell differ.

The factor names in ``factor_columns`` are the tone set's, ``timbre`` (the instrument) and
``frequency`` (the pitch class, ``midi_note - pitch_low``), so every evaluation, plot and score of
the book applies unchanged and the two data sets can be compared side by side.

The default bank is TimGM6mb (6 MB, ``timgm6mb-soundfont``); FluidR3_GM (148 MB,
``fluid-soundfont-gm``) can be a second bank, or the held-out bank of the test split
(``test_soundfont``): train on one bank's instruments, test on the other's. The set is rendered in
fixed chunks, so it is identical for any number of jobs; a note re-rendered on its own
(:meth:`~mvtutorial.data.dataset.FactorDataset.audio`) matches the cached rendering to about 1e-3
of full scale, not bit for bit.

Reference: Wilkins et al., ISMIR 2024 LBD (future work: real audio); General MIDI Level 1 (MIDI
Manufacturers Association, 1991).
"""
from __future__ import annotations

import dataclasses
import json
import numbers
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..features import FeatureConfig, logmel
from .dataset import FactorDataset, load_cached
from .soundfont import find_soundfont, render_notes
from .splits import SPLITS, assign_splits, check_fractions, split_counts

__all__ = ["GM_PROGRAMS", "INSTRUMENT_FACTORS", "INSTRUMENT_FORMAT", "InstrumentConfig", "find_soundfont",
           "sample_note_factors", "render_notes", "instrument_spec", "build_instrument_dataset", "load_instrument_dataset",
           "from_spec"]

#: General MIDI program number (0-based) -> name, for the default instruments (one per GM family).
GM_PROGRAMS: dict[int, str] = {
    0: "piano", 24: "nylon guitar", 40: "violin", 73: "flute", 56: "trumpet", 71: "clarinet", 19: "church organ", 12: "marimba",
}
#: Factor name -> column: the tone set's names, timbre = the instrument, frequency = the pitch class.
INSTRUMENT_FACTORS = {"timbre": "instrument", "frequency": "pitch"}
#: Version of the sampled-note set's draw, stored in its spec (a new draw would be a new version).
INSTRUMENT_FORMAT = 1


@dataclass(frozen=True)
class InstrumentConfig:
    """How the sampled-note set is drawn.

    Attributes
    ----------
    sample_rate : int
        Hz (16 kHz, as the tone set).
    duration, hold : float
        Seconds per clip, and seconds the key is held before note-off (the rest is the release).
    programs : tuple of int
        GM program numbers (0-based); label ``i`` is ``programs[i]``.
    pitch_low, n_pitches : int
        MIDI notes ``pitch_low .. pitch_low + n_pitches - 1``; pitch class = note - pitch_low.
    n_velocities, velocity_min, velocity_max : int
        Velocity levels ``round(linspace(velocity_min, velocity_max, n_velocities))``, one drawn per clip.
    detune_cents : float
        Each note is bent by ``u`` cents, ``u ~ U(-detune_cents, detune_cents)`` (pitch-bend range 2 semitones).
    n_clips : int
        Total clips, spread evenly over instrument x pitch (``n_clips // n_cells`` or one more each).
    soundfonts : tuple of str
        SoundFont stems or paths (see :func:`find_soundfont`); each clip draws one uniformly.
    test_soundfont : str or None
        If given, every test-split clip is rendered from this bank instead (held-out-bank test).
    split : tuple of 3 floats
        Train/val/test fractions, applied inside every (instrument, pitch) cell.
    gain : float
        FluidSynth master gain.
    """

    sample_rate: int = 16_000
    duration: float = 1.0
    hold: float = 0.8
    programs: tuple[int, ...] = tuple(GM_PROGRAMS)
    pitch_low: int = 60
    n_pitches: int = 21
    n_velocities: int = 8
    velocity_min: int = 40
    velocity_max: int = 120
    detune_cents: float = 25.0
    n_clips: int = 6720
    soundfonts: tuple[str, ...] = ("TimGM6mb",)
    test_soundfont: str | None = None
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    gain: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.programs, (str, bytes)) or not hasattr(self.programs, "__iter__"):
            raise ValueError(f"programs must be a sequence of GM program numbers, e.g. (0, 40), got {self.programs!r}")
        for p in self.programs:  # int("piano") and int(40.7) would fail obscurely or truncate silently
            if isinstance(p, bool) or not isinstance(p, numbers.Integral):
                hint = {name: num for num, name in GM_PROGRAMS.items()}.get(str(p).lower())
                raise ValueError(f"programs must be GM program numbers (integers 0..127), got {p!r} in {tuple(self.programs)!r}; "
                                 + (f"use {hint} for {p!r}" if hint is not None else
                                    "e.g. " + ", ".join(f"{num} = {name}" for num, name in GM_PROGRAMS.items())))
        object.__setattr__(self, "programs", tuple(int(p) for p in self.programs))
        object.__setattr__(self, "soundfonts", tuple(str(s) for s in self.soundfonts))
        object.__setattr__(self, "split", tuple(float(s) for s in self.split))
        if not self.sample_rate > 0 or not 0 < self.hold <= self.duration:
            raise ValueError(f"need sample_rate > 0 and 0 < hold <= duration, got {self.sample_rate!r}, {self.hold!r}, {self.duration!r}")
        if len(self.programs) < 2 or len(set(self.programs)) != len(self.programs) or not all(0 <= p < 128 for p in self.programs):
            raise ValueError(f"programs must be >= 2 distinct GM program numbers in 0..127, got {self.programs!r}")
        if self.n_pitches < 2 or not 0 <= self.pitch_low <= 127 - (self.n_pitches - 1):
            raise ValueError(f"MIDI notes {self.pitch_low}..{self.pitch_low + self.n_pitches - 1} must lie in 0..127 "
                             f"with n_pitches >= 2 (pitch must vary inside a pair)")
        if self.n_velocities < 1 or not 1 <= self.velocity_min <= self.velocity_max <= 127:
            raise ValueError(f"need n_velocities >= 1 and 1 <= velocity_min <= velocity_max <= 127, got "
                             f"{self.n_velocities!r}, {self.velocity_min!r}, {self.velocity_max!r}")
        if not 0 <= self.detune_cents <= 50:
            raise ValueError(f"detune_cents must be in [0, 50] (pitch classes are 100 cents apart), got {self.detune_cents!r}")
        if not self.soundfonts:
            raise ValueError("soundfonts is empty; name at least one (e.g. 'TimGM6mb')")
        check_fractions(self.split)
        per_cell = self.n_clips // self.n_cells
        counts = split_counts(per_cell, self.split)
        if min(counts) == 0:
            raise ValueError(f"split {self.split!r} leaves a partition empty: each of the {self.n_cells} (instrument, pitch) "
                             f"cells has {per_cell} clip(s) -> train/val/test {counts}; raise n_clips")

    @property
    def n_cells(self) -> int:
        return len(self.programs) * self.n_pitches

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration))

    @property
    def midi_notes(self) -> np.ndarray:
        return np.arange(self.pitch_low, self.pitch_low + self.n_pitches)

    @property
    def instrument_names(self) -> list[str]:
        return [GM_PROGRAMS.get(p, f"program {p}") for p in self.programs]

    @classmethod
    def preset(cls, mode: str, **overrides) -> "InstrumentConfig":
        """``"full"``: 8 instruments x 21 pitches x 40 clips (6,720 notes); ``"fast"``: 4 instruments
        (piano, violin, flute, trumpet) x 21 pitches x 10 clips (840 notes, rendered in about a second)."""
        presets = {"full": {}, "fast": {"programs": (0, 40, 73, 56), "n_clips": 840}}
        if mode not in presets:
            raise ValueError(f"unknown mode {mode!r}; choose from {sorted(presets)}")
        return dataclasses.replace(cls(), **{**presets[mode], **overrides})


def sample_note_factors(config: InstrumentConfig, seed: int) -> pd.DataFrame:
    """Draw the factor table of every note.

    Returns
    -------
    DataFrame with one row per clip: ``instrument`` (int label), ``instrument_name``, ``program``
    (GM number), ``pitch`` (class 0..n_pitches-1), ``midi_note``, ``velocity``, ``detune_cents``,
    ``soundfont`` and ``split`` (stratified per (instrument, pitch) cell; with ``test_soundfont``
    the test clips use that bank).
    """
    rng = np.random.default_rng(seed)
    n = config.n_clips
    cell = np.arange(n) % config.n_cells
    instrument, pitch = cell // config.n_pitches, cell % config.n_pitches
    levels = np.round(np.linspace(config.velocity_min, config.velocity_max, config.n_velocities)).astype(np.int64)
    velocity = levels[rng.integers(0, config.n_velocities, n)]
    detune = rng.uniform(-config.detune_cents, config.detune_cents, n)
    bank = np.asarray(config.soundfonts, dtype=object)[rng.integers(0, len(config.soundfonts), n)]
    split = assign_splits(cell, config.split, rng)
    if config.test_soundfont is not None:
        bank[split == "test"] = config.test_soundfont
    return pd.DataFrame({
        "instrument": instrument.astype(np.int64),
        "instrument_name": np.asarray(config.instrument_names, dtype=object)[instrument],
        "program": np.asarray(config.programs, dtype=np.int64)[instrument],
        "pitch": pitch.astype(np.int64),
        "midi_note": config.midi_notes[pitch].astype(np.int64),
        "velocity": velocity,
        "detune_cents": detune,
        "soundfont": bank.astype(str).astype(object),
        "split": pd.Categorical(split, categories=list(SPLITS)),
    })


def instrument_spec(config: InstrumentConfig, feature_config: FeatureConfig | None = None, seed: int = 0) -> dict:
    """The JSON-ready data spec of a sampled-note set (what checkpoints store), computed without rendering."""
    feature_config = feature_config or FeatureConfig(sample_rate=config.sample_rate)
    return json.loads(json.dumps({"source": "instruments", "format": INSTRUMENT_FORMAT, "config": asdict(config),
                                  "feature_config": asdict(feature_config), "seed": seed}))


def _render(rows: pd.DataFrame, config: InstrumentConfig) -> np.ndarray:
    """The dataset's renderer: the notes of ``rows`` (see the module note on precision)."""
    return render_notes(rows, config, progress=False)


def _dataset(features: torch.Tensor, factors: pd.DataFrame, config: InstrumentConfig, feature_config: FeatureConfig,
             seed: int) -> FactorDataset:
    return FactorDataset(features, factors, dict(INSTRUMENT_FACTORS), feature_config,
                         instrument_spec(config, feature_config, seed), config, seed, _render)


def build_instrument_dataset(config: InstrumentConfig, feature_config: FeatureConfig | None = None, seed: int = 0,
                             n_jobs: int = 1, progress: bool = True) -> FactorDataset:
    """Render and featurise the whole set in memory (no cache)."""
    feature_config = feature_config or FeatureConfig(sample_rate=config.sample_rate)
    if config.sample_rate != feature_config.sample_rate:
        raise ValueError(f"instrument sample_rate {config.sample_rate} != feature sample_rate {feature_config.sample_rate}")
    factors = sample_note_factors(config, seed)
    audio = render_notes(factors, config, n_jobs=n_jobs, progress=progress)
    return _dataset(logmel(torch.from_numpy(audio), feature_config), factors, config, feature_config, seed)


def load_instrument_dataset(
    mode_or_config: str | InstrumentConfig = "full",
    feature_config: FeatureConfig | None = None,
    seed: int = 0,
    cache: str | Path | None | bool = None,
    n_jobs: int = 1,
    progress: bool = True,
) -> FactorDataset:
    """The sampled-note set's features and factors, from the cache when a valid file exists.

    Parameters
    ----------
    mode_or_config : ``"fast"``, ``"full"`` or an :class:`InstrumentConfig`
    feature_config : defaults to :class:`~mvtutorial.features.FeatureConfig` at 16 kHz (the tone set's front end)
    seed : seed of the factor draw (velocities, detunes, banks, split)
    cache : folder for the cache (default :func:`mvtutorial.cache.cache_dir`), or ``False`` for none
    n_jobs : joblib workers rendering chunks of notes (the result does not depend on it)

    Returns
    -------
    FactorDataset with ``factor_columns`` :data:`INSTRUMENT_FACTORS` and ``config`` the :class:`InstrumentConfig`.
    A cache file that is unreadable, for other settings, or fails its checksum is reported with
    a warning and rebuilt.
    """
    config = InstrumentConfig.preset(mode_or_config) if isinstance(mode_or_config, str) else mode_or_config
    feature_config = feature_config or FeatureConfig(sample_rate=config.sample_rate)
    return load_cached(instrument_spec(config, feature_config, seed),
                       lambda: build_instrument_dataset(config, feature_config, seed, n_jobs, progress),
                       lambda features, factors: _dataset(features, factors, config, feature_config, seed), cache)


def from_spec(spec: dict) -> FactorDataset:
    """The sampled-note set of a data spec (:func:`instrument_spec`), from the cache when it is there."""
    config = InstrumentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()})
    return load_instrument_dataset(config, FeatureConfig(**spec["feature_config"]), seed=spec["seed"])
