"""Rendering of single notes from a SoundFont with FluidSynth (the sampled-note set's audio).

Renderer: FluidSynth, the reference SoundFont 2 synthesiser, through ``pyfluidsynth`` (PyPI, a
ctypes binding whose only dependency is numpy) and Debian's ``libfluidsynth3``. We chose it over
``tinysoundfont``, which renders the same files but requires ``pyaudio``; that has no wheels and
fails to build without the PortAudio headers, so ``pip install -r requirements.txt`` would break
on a plain machine. Reverb and chorus are off, so a clip is the dry note.

Install on a fresh Debian/Ubuntu machine (and in Colab, prefixed with ``!``)::

    sudo apt-get install -y libfluidsynth3 timgm6mb-soundfont   # + fluid-soundfont-gm for a 2nd bank
    pip install pyfluidsynth

SoundFonts are looked up in ``$MVTUTORIAL_SOUNDFONTS`` (a folder) and the Debian folders
``/usr/share/sounds/sf2``, ``/usr/share/sounds/sf3`` (Ogg-compressed ``.sf3`` banks, which FluidSynth
reads) and ``/usr/share/soundfonts``; nothing is downloaded at run time. A
missing SoundFont or library (absent or unloadable) is one ``FileNotFoundError`` / ``ImportError``
naming the package to install, a corrupt or truncated SoundFont one ``ValueError`` naming the file,
both before any note is rendered.

Rendering: notes are rendered in fixed chunks of :data:`CHUNK` clips (a fresh synthesiser per
chunk, warmed up by one throw-away note), in parallel over chunks with joblib, so the set is
identical for any number of jobs. FluidSynth's modulators run on the synthesiser's clock, so a
note re-rendered on its own matches the cached rendering to about 1e-3 of full scale, not bit for bit.

Reference: FluidSynth, https://www.fluidsynth.org; General MIDI Level 1 (MIDI Manufacturers
Association, 1991).
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Protocol, Sequence

import joblib
import numpy as np
import pandas as pd

from .._progress import tqdm  # tqdm.auto warns with a local path on every page without ipywidgets

__all__ = ["SOUNDFONT_PACKAGES", "SOUNDFONT_DIRS", "CHUNK", "find_soundfont", "render_notes"]

#: SoundFont file stem -> the Debian/Ubuntu package that installs it into /usr/share/sounds/sf2.
SOUNDFONT_PACKAGES: dict[str, str] = {"TimGM6mb": "timgm6mb-soundfont", "FluidR3_GM": "fluid-soundfont-gm",
                                      "OPL-3_FM_128M": "opl3-soundfont", "FluidR3Mono_GM": "fluidr3mono-gm-soundfont",
                                      "MuseScore_General_Lite": "musescore-general-soundfont-small"}
#: Folders searched after ``$MVTUTORIAL_SOUNDFONTS``; Debian installs Ogg-compressed ``.sf3`` banks into ``sf3``.
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts", "/usr/local/share/soundfonts")
#: Clips per rendering chunk (one synthesiser each): fixed, so the set does not depend on ``n_jobs``.
CHUNK = 256
_FLUSH = 1024  # samples rendered after each note's sounds-off, so the next note starts from silence


class NoteSettings(Protocol):
    """What rendering needs of a config (e.g. :class:`~mvtutorial.data.instruments.InstrumentConfig`)."""

    @property
    def sample_rate(self) -> int: ...  # Hz

    @property
    def gain(self) -> float: ...  # FluidSynth master gain

    @property
    def hold(self) -> float: ...  # seconds the key is held before note-off

    @property
    def n_samples(self) -> int: ...  # samples per clip


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


def _render_chunk(rows: pd.DataFrame, config: NoteSettings) -> np.ndarray:
    renderer = _Renderer(tuple(dict.fromkeys(rows["soundfont"])), config.sample_rate, config.gain)  # the banks this chunk uses
    n_hold, n = int(round(config.hold * config.sample_rate)), config.n_samples
    out = np.empty((len(rows), n), dtype=np.float32)
    for i, r in enumerate(rows.itertuples(index=False)):
        out[i] = renderer.note(r.soundfont, r.program, r.midi_note, r.velocity, r.detune_cents, n_hold, n)
    return out


def render_notes(factors: pd.DataFrame, config: NoteSettings, n_jobs: int = 1, progress: bool = True) -> np.ndarray:
    """Audio of the notes in ``factors`` (rows of :func:`~mvtutorial.data.instruments.sample_note_factors`), float32 ``(N, n_samples)``.

    Rendered in chunks of :data:`CHUNK` rows, each by a fresh synthesiser, in parallel with
    ``joblib`` (``n_jobs`` workers; the result does not depend on it). Raises ``ValueError``
    naming the first note that renders as silence (an instrument that does not play that note).
    """
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
