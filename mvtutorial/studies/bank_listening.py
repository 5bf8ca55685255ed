"""Listening across sample banks (chapter 10): one note rendered from several banks, and swaps across banks.

Nothing here needs a data set: the notes are rendered on the spot from factor rows (FluidSynth, as the
sampled-note set renders them, no detune) and featurised with the book's log-mel front end. So the
chapter plays them from the small banks alone (:data:`LISTEN`), also in full mode, where the models are
the shipped seed-0 checkpoints of the fold that holds out FluidR3_GM (trained on TimGM6mb and OPL-3):
for those models every FluidR3-family bank (FluidR3Mono_GM, MuseScore_General_Lite) is unheard.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..checkpoint import load_model
from ..data.instruments import GM_PROGRAMS, InstrumentConfig
from ..data.soundfont import render_notes
from ..experiments import run_dir
from ..features import FeatureConfig, logmel
from ..listening import swap, to_audio
from .banks import HELD_OUT, LISTEN_BANK, bank_config, bank_model

__all__ = ["LISTEN", "note_rows", "render_rows", "bank_notes", "listening_models", "cross_bank_swaps"]

#: Per mode: the held-out bank of the listening models, a bank they trained on, and banks they never heard.
LISTEN = {
    "full": {"held_out": LISTEN_BANK, "heard": "TimGM6mb", "unheard": ("FluidR3Mono_GM", "MuseScore_General_Lite")},
    "fast": {"held_out": HELD_OUT["fast"][0], "heard": "FluidR3Mono_GM", "unheard": ("TimGM6mb",)},
}
NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def note_name(midi_note: int) -> str:
    return f"{NOTE_NAMES[midi_note % 12]}{midi_note // 12 - 1}"


def note_rows(notes: Sequence[tuple[str, int, int]], velocity: int = 100) -> pd.DataFrame:
    """Factor rows of ``notes``, each ``(bank, GM program, MIDI note)``, at ``velocity`` and no detune."""
    banks, programs, keys = zip(*notes)
    return pd.DataFrame({"soundfont": list(banks), "program": np.asarray(programs, dtype=np.int64),
                         "midi_note": np.asarray(keys, dtype=np.int64), "velocity": velocity, "detune_cents": 0.0})


def render_rows(rows: pd.DataFrame, mode: str = "full") -> tuple[torch.Tensor, np.ndarray]:
    """Log-mels ``(n, n_mels, n_frames)`` and audio ``(n, n_samples)`` of factor rows, rendered as the set renders notes."""
    config = InstrumentConfig.preset(mode)
    audio = render_notes(rows, config, progress=False)
    return logmel(torch.from_numpy(audio), FeatureConfig(sample_rate=config.sample_rate)), audio


def bank_notes(programs: Sequence[int], midi_note: int, banks: Sequence[str], mode: str = "full"):
    """Grid ``(programs, banks)`` of one note: log-mels ``(P, B, n_mels, n_frames)``, audio ``(P, B, n)``,
    row and column labels for :func:`mvtutorial.listening.audio_grid_html`."""
    rows = note_rows([(b, p, midi_note) for p in programs for b in banks])
    features, audio = render_rows(rows, mode)
    shape = (len(programs), len(banks))
    return (features.numpy().reshape(*shape, *features.shape[1:]), audio.reshape(*shape, -1),
            [GM_PROGRAMS.get(p, f"program {p}") for p in programs], list(banks))


def listening_models(names: Sequence[str], mode: str = "full") -> dict:
    """Name -> seed-0 model of the listening fold: shipped checkpoints (full), or the runs the chapter
    just trained in its cache (fast, :func:`mvtutorial.studies.banks.run_bank_study`)."""
    held = LISTEN[mode]["held_out"]
    if mode == "full":
        return {name: bank_model(name, held) for name in names}
    return {name: load_model(run_dir(bank_config(name, 0, mode), f"banks-{held}-{name}")) for name in names}


def cross_bank_swaps(models: dict, pairs: Sequence[tuple[int, int, int, int]], mode: str = "full", n_iter: int = 64):
    """Swaps across banks: each pair ``(program a, note a, program b, note b)`` takes its pitch donor *a*
    from the heard bank and its instrument donor *b* from an unheard one (:data:`LISTEN`); columns are
    *a*, *b*, the counterfactual (*a*'s note played by *b*'s program in *b*'s bank, rendered) and
    ``dec(mu_p(a), mu_s(b))`` of each model (Griffin-Lim audio). Returns features, audio, row and column labels."""
    heard, unheard = LISTEN[mode]["heard"], LISTEN[mode]["unheard"][0]
    a = note_rows([(heard, pa, na) for pa, na, _, _ in pairs])
    b = note_rows([(unheard, pb, nb) for _, _, pb, nb in pairs])
    target = note_rows([(unheard, pb, na) for pa, na, pb, _ in pairs])
    (fa, xa), (fb, xb), (ft, xt) = (render_rows(rows, mode) for rows in (a, b, target))
    swaps = [swap(m, private_from=fa, shared_from=fb) for m in models.values()]
    decoded = torch.cat(swaps).numpy()
    gl = to_audio(decoded, n_iter=n_iter).reshape(len(models), len(pairs), -1).transpose(1, 0, 2)
    real = np.stack([xa, xb, xt], axis=1)[..., : gl.shape[-1]]
    features = torch.stack([fa, fb, ft, *swaps], dim=1).numpy()
    name = lambda p: GM_PROGRAMS.get(p, f"program {p}")
    row_labels = [f"a: {name(pa)} {note_name(na)}; b: {name(pb)}" for pa, na, pb, _ in pairs]
    col_labels = [f"pitch donor a ({heard})", f"instrument donor b ({unheard})", "counterfactual",
                  *[f"swap: {n}" for n in models]]
    return features, np.concatenate([real, gl], axis=1), row_labels, col_labels
