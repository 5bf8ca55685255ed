"""Sampled-instrument notes: single General MIDI notes rendered from a real SoundFont.

The first step beyond synthetic tones (the paper's stated future work is real music audio): each
clip is one note of a General MIDI instrument, rendered offline at 16 kHz from a SoundFont that
Debian (and Ubuntu, hence Colab) package, and featurised with the tone set's log-mel front end
(:func:`mvtutorial.features.logmel`), so a model sees inputs of the same shape. Factors:

* **instrument** (the timbre, shared by both views of a pair): 8 GM programs from 8 families
  (piano, guitar, violin, flute, trumpet, clarinet, organ, marimba);
* **pitch** (private to each view): 21 MIDI notes, C4 (60) to G#5 (80), a range all eight
  instruments play;
* **velocity** (a nuisance factor, drawn per clip from ``n_velocities`` levels) and a small random
  detune (+-``detune_cents``, by pitch bend), so that the clips of one (instrument, pitch) cell differ.

The factor names in :attr:`ClipDataset.factor_columns` are the tone set's, ``timbre`` (the
instrument) and ``frequency`` (the pitch class, ``midi_note - pitch_low``), so every evaluation,
plot and score of the book applies unchanged and the two data sets can be compared side by side.

Renderer: FluidSynth, the reference SoundFont 2 synthesiser, through ``pyfluidsynth`` (PyPI, a
ctypes binding whose only dependency is numpy) and Debian's ``libfluidsynth3``. We chose it over
``tinysoundfont``, which renders the same files but requires ``pyaudio``; that has no wheels and
fails to build without the PortAudio headers, so ``pip install -r requirements.txt`` would break
on a plain machine. Reverb and chorus are off, so a clip is the dry note.

Install on a fresh Debian/Ubuntu machine (and in Colab, prefixed with ``!``)::

    sudo apt-get install -y libfluidsynth3 timgm6mb-soundfont   # + fluid-soundfont-gm for a 2nd bank
    pip install pyfluidsynth

SoundFonts are looked up in ``$MVTUTORIAL_SOUNDFONTS`` (a folder) and the Debian folders
``/usr/share/sounds/sf2`` and ``/usr/share/soundfonts``; nothing is downloaded at run time. A
missing SoundFont or library (absent or unloadable) is one ``FileNotFoundError`` / ``ImportError``
naming the package to install, a corrupt or truncated SoundFont one ``ValueError`` naming the file,
both before any note is rendered. The default bank is TimGM6mb (6 MB, ``timgm6mb-soundfont``);
FluidR3_GM (148 MB, ``fluid-soundfont-gm``) can be a second bank, or the held-out bank of the test
split (``test_soundfont``): train on one bank's instruments, test on the other's.

Rendering: notes are rendered in fixed chunks of :data:`CHUNK` clips (a fresh synthesiser per
chunk, warmed up by one throw-away note), in parallel over chunks with joblib, so the set is
identical for any number of jobs. FluidSynth's modulators run on the synthesiser's clock, so a
note re-rendered on its own (:meth:`InstrumentDataset.audio`) matches the cached rendering to about
1e-3 of full scale, not bit for bit.

Reference: Wilkins et al., ISMIR 2024 LBD (future work: real audio); FluidSynth,
https://www.fluidsynth.org; General MIDI Level 1 (MIDI Manufacturers Association, 1991).
"""
from __future__ import annotations

import dataclasses
import json
import numbers
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ._progress import tqdm  # tqdm.auto warns with a local path on every page without ipywidgets
from .cache import cache_dir, config_hash
from .clips import ClipDataset, assign_splits, load_clips, save_clips
from .data import SPLITS
from .dataset import register_data_source
from .features import FeatureConfig, logmel

__all__ = ["GM_PROGRAMS", "SOUNDFONT_PACKAGES", "InstrumentConfig", "InstrumentDataset", "find_soundfont",
           "sample_note_factors", "render_notes", "build_instrument_dataset", "load_instrument_dataset", "instrument_spec",
           "INSTRUMENT_FACTORS", "CHUNK"]

#: General MIDI program number (0-based) -> name, for the default instruments (one per GM family).
GM_PROGRAMS: dict[int, str] = {
    0: "piano", 24: "nylon guitar", 40: "violin", 73: "flute", 56: "trumpet", 71: "clarinet", 19: "church organ", 12: "marimba",
}
#: SoundFont file stem -> the Debian/Ubuntu package that installs it into /usr/share/sounds/sf2.
SOUNDFONT_PACKAGES: dict[str, str] = {"TimGM6mb": "timgm6mb-soundfont", "FluidR3_GM": "fluid-soundfont-gm"}
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/local/share/soundfonts")
#: Factor name -> column: the tone set's names, timbre = the instrument, frequency = the pitch class.
INSTRUMENT_FACTORS = {"timbre": "instrument", "frequency": "pitch"}
#: Clips per rendering chunk (one synthesiser each): fixed, so the set does not depend on ``n_jobs``.
CHUNK = 256
CACHE_FORMAT = 1
_FLUSH = 1024  # samples rendered after each note's sounds-off, so the next note starts from silence


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
        if len(self.split) != 3 or any(s < 0 for s in self.split) or abs(sum(self.split) - 1) > 1e-6:
            raise ValueError(f"split must be 3 non-negative fractions summing to 1, got {self.split!r}")
        per_cell = self.n_clips // self.n_cells
        counts = (per_cell - round(per_cell * self.split[1]) - round(per_cell * self.split[2]),
                  round(per_cell * self.split[1]), round(per_cell * self.split[2]))
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


def find_soundfont(name: str) -> Path:
    """Path of a SoundFont given as a path or a file stem (``"TimGM6mb"``, ``"FluidR3_GM"``).

    Searched in ``$MVTUTORIAL_SOUNDFONTS`` and the Debian folders; raises ``FileNotFoundError``
    naming the Debian package to install when it is not there.
    """
    path = Path(name).expanduser()
    if path.suffix.lower() in (".sf2", ".sf3") and path.exists():
        return _checked_soundfont(path)
    dirs = [d for d in (os.environ.get("MVTUTORIAL_SOUNDFONTS"), *SOUNDFONT_DIRS) if d]
    for d in dirs:
        for suffix in (".sf2", ".sf3"):
            candidate = Path(d) / f"{path.stem}{suffix}"
            if candidate.exists():
                return _checked_soundfont(candidate)
    package = SOUNDFONT_PACKAGES.get(path.stem)
    how = (f"install it with `sudo apt-get install {package}` (Debian/Ubuntu; in Colab `!apt-get install -y {package}`)"
           if package else "put the .sf2 file in one of these folders or pass its path")
    raise FileNotFoundError(f"SoundFont {name!r} not found in {dirs}; {how}")


def _checked_soundfont(path: Path) -> Path:
    """``path`` if its header is a whole SoundFont 2 file (RIFF form ``sfbk``, as long as the header
    says), else ``ValueError``: FluidSynth would only fail later, per note, as 'no GM program'."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    size = path.stat().st_size
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ValueError(f"SoundFont {path} is not a SoundFont 2 file (no RIFF 'sfbk' header); replace it "
                         "(e.g. reinstall its Debian package) or pass another bank")
    if int.from_bytes(head[4:8], "little") + 8 > size:
        raise ValueError(f"SoundFont {path} is truncated ({size:,} of {int.from_bytes(head[4:8], 'little') + 8:,} bytes); "
                         "replace it (e.g. reinstall its Debian package) or pass another bank")
    return path


def _fluidsynth():
    try:
        import fluidsynth  # pyfluidsynth
    except (ImportError, OSError) as err:  # the package, or the C library it loads (OSError: found but unloadable)
        raise ImportError(
            f"rendering sampled notes needs FluidSynth ({str(err).splitlines()[0] if str(err) else type(err).__name__}); install it with "
            "`sudo apt-get install libfluidsynth3` and `pip install pyfluidsynth` (Colab: `!apt-get install -y libfluidsynth3`)"
        ) from None
    return fluidsynth


class _Renderer:
    """One FluidSynth synthesiser with the banks loaded; renders dry mono float32 notes."""

    def __init__(self, soundfonts: Sequence[str], sample_rate: int, gain: float):
        import ctypes

        fs = _fluidsynth()
        self.synth = fs.Synth(gain=float(gain), samplerate=float(sample_rate),
                              **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        self.sfids = {name: self.synth.sfload(str(find_soundfont(name))) for name in soundfonts}
        failed = [name for name, sfid in self.sfids.items() if sfid < 0]
        if failed:
            raise ValueError(f"FluidSynth cannot load SoundFont {str(find_soundfont(failed[0]))!r} (corrupt?); replace it or pass another bank")
        self._write = fs.cfunc("fluid_synth_write_float", ctypes.c_int, ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
                               ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
                               ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1), ("rincr", ctypes.c_int, 1))
        self.note(next(iter(self.sfids)), 0, 60, 64, 0.0, sample_rate // 4, sample_rate // 4)  # warm-up: the first note differs

    def _generate(self, n: int) -> np.ndarray:
        buf = np.zeros(2 * n, dtype=np.float32)
        ptr = buf.ctypes.data
        self._write(self.synth.synth, n, ptr, 0, 2, ptr, 1, 2)
        return buf.reshape(n, 2).mean(axis=1)

    def note(self, soundfont: str, program: int, key: int, velocity: int, cents: float, n_hold: int, n_total: int) -> np.ndarray:
        s = self.synth
        if s.program_select(0, self.sfids[soundfont], 0, int(program)) != 0:
            raise ValueError(f"SoundFont {soundfont!r} has no GM program {program} in bank 0")
        s.pitch_bend(0, int(round(cents / 200 * 8192)))  # +-2 semitones = +-8192
        s.noteon(0, int(key), int(velocity))
        held = self._generate(n_hold)
        s.noteoff(0, int(key))
        released = self._generate(n_total - n_hold)
        s.all_sounds_off(0)
        s.pitch_bend(0, 0)
        self._generate(_FLUSH)
        return np.concatenate([held, released])


def _render_chunk(rows: pd.DataFrame, config: InstrumentConfig) -> np.ndarray:
    renderer = _Renderer(tuple(dict.fromkeys(rows["soundfont"])), config.sample_rate, config.gain)  # the banks this chunk uses
    n_hold, n = int(round(config.hold * config.sample_rate)), config.n_samples
    out = np.empty((len(rows), n), dtype=np.float32)
    for i, r in enumerate(rows.itertuples(index=False)):
        out[i] = renderer.note(r.soundfont, r.program, r.midi_note, r.velocity, r.detune_cents, n_hold, n)
    return out


def render_notes(factors: pd.DataFrame, config: InstrumentConfig, n_jobs: int = 1, progress: bool = True) -> np.ndarray:
    """Audio of the notes in ``factors`` (rows of :func:`sample_note_factors`), float32 ``(N, n_samples)``.

    Rendered in chunks of :data:`CHUNK` rows, each by a fresh synthesiser, in parallel with
    ``joblib`` (``n_jobs`` workers; the result does not depend on it). Raises ``ValueError``
    naming the first note that renders as silence (an instrument that does not play that note).
    """
    import joblib

    banks = tuple(dict.fromkeys(factors["soundfont"]))
    for bank in banks:
        find_soundfont(bank)  # one clear error before any worker starts
    _fluidsynth()
    starts = range(0, len(factors), CHUNK)
    jobs = (joblib.delayed(_render_chunk)(factors.iloc[s : s + CHUNK], config) for s in starts)
    parts = joblib.Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(jobs)  # ctypes calls release the GIL
    audio = np.concatenate(list(tqdm(parts, total=len(starts), desc="rendering notes", unit="chunk", disable=not progress)))
    peak = np.abs(audio).max(axis=1)
    if np.any(peak < 1e-4):
        r = factors.iloc[int(np.flatnonzero(peak < 1e-4)[0])]
        raise ValueError(f"note {r.midi_note} of GM program {r.program} in SoundFont {r.soundfont!r} renders as silence; "
                         "choose notes that instrument plays (pitch_low / n_pitches)")
    return audio


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


@dataclass
class InstrumentDataset(ClipDataset):
    """The sampled-note set: a :class:`~mvtutorial.clips.ClipDataset` plus its config and seed."""

    config: InstrumentConfig | None = None
    seed: int = 0

    def audio(self, index) -> np.ndarray:
        """Re-render the notes ``index`` from their factor rows, ``(n, n_samples)`` (see the module note on precision)."""
        return render_notes(self.factors.iloc[np.atleast_1d(index)], self.config, progress=False)


def instrument_spec(config: InstrumentConfig, feature_config: FeatureConfig | None = None, seed: int = 0) -> dict:
    """The JSON-ready data spec of a sampled-note set (what checkpoints store), computed without rendering."""
    feature_config = feature_config or FeatureConfig(sample_rate=config.sample_rate)
    return json.loads(json.dumps({"source": "instruments", "format": CACHE_FORMAT, "config": asdict(config),
                                  "feature_config": asdict(feature_config), "seed": seed}))


_spec = instrument_spec


def build_instrument_dataset(config: InstrumentConfig, feature_config: FeatureConfig | None = None, seed: int = 0,
                             n_jobs: int = 1, progress: bool = True) -> InstrumentDataset:
    """Render and featurise the whole set in memory (no cache)."""
    feature_config = feature_config or FeatureConfig(sample_rate=config.sample_rate)
    if config.sample_rate != feature_config.sample_rate:
        raise ValueError(f"instrument sample_rate {config.sample_rate} != feature sample_rate {feature_config.sample_rate}")
    factors = sample_note_factors(config, seed)
    audio = render_notes(factors, config, n_jobs=n_jobs, progress=progress)
    features = logmel(torch.from_numpy(audio), feature_config)
    spec = _spec(config, feature_config, seed)
    return InstrumentDataset(features, factors, dict(INSTRUMENT_FACTORS), feature_config, spec, config, seed)


def load_instrument_dataset(
    mode_or_config: str | InstrumentConfig = "full",
    feature_config: FeatureConfig | None = None,
    seed: int = 0,
    cache: str | Path | None | bool = None,
    n_jobs: int = 1,
    progress: bool = True,
) -> InstrumentDataset:
    """The sampled-note set's features and factors, from the cache when a valid file exists.

    Parameters
    ----------
    mode_or_config : ``"fast"``, ``"full"`` or an :class:`InstrumentConfig`
    feature_config : defaults to :class:`~mvtutorial.features.FeatureConfig` at 16 kHz (the tone set's front end)
    seed : seed of the factor draw (velocities, detunes, banks, split)
    cache : folder for the cache (default :func:`mvtutorial.cache.cache_dir`), or ``False`` for none
    n_jobs : joblib workers rendering chunks of notes (the result does not depend on it)

    A cache file that is unreadable, for other settings, or fails its checksum is reported with
    a warning and rebuilt.
    """
    import warnings

    config = InstrumentConfig.preset(mode_or_config) if isinstance(mode_or_config, str) else mode_or_config
    feature_config = feature_config or FeatureConfig(sample_rate=config.sample_rate)
    if cache is False:
        return build_instrument_dataset(config, feature_config, seed, n_jobs, progress)
    spec = _spec(config, feature_config, seed)
    path = cache_dir(None if cache in (None, True) else cache) / f"instruments-{config_hash(spec)}.npz"
    if path.exists():
        try:
            features, factors = load_clips(path, spec)
            return InstrumentDataset(features, factors, dict(INSTRUMENT_FACTORS), feature_config, spec, config, seed)
        except ValueError as err:
            warnings.warn(f"{err}; rebuilding it", stacklevel=2)
    ds = build_instrument_dataset(config, feature_config, seed, n_jobs, progress)
    save_clips(path, ds.features, ds.factors, spec)
    return ds


def _from_spec(spec: dict) -> InstrumentDataset:
    config = InstrumentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()})
    return load_instrument_dataset(config, FeatureConfig(**spec["feature_config"]), seed=spec["seed"])


register_data_source("instruments", _from_spec)
