"""Figures of chapter 1 (and chapter 3's inputs): spectra of the tones, the harmonics left below
Nyquist, and log-mel panels with time and frequency axes."""
from __future__ import annotations

from typing import Mapping, Sequence

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

from ..features import FeatureConfig

__all__ = ["alias_spectra_figure", "harmonics_figure", "logmel_panel", "logmel_steps_figure", "logmel_grid"]

_METHODS = ("naive", "bandlimited")


def alias_spectra_figure(spectra: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]], fundamental: float,
                         nyquist: float, ylim: tuple[float, float] = (-100, 10)) -> Figure:
    """Magnitude spectra of each waveform, naive synthesis on top, band-limited underneath (chapter 1).

    ``spectra``: ``(waveform, method) -> (frequencies in Hz, dB)``, ``method`` in ``naive`` /
    ``bandlimited`` (e.g. from :func:`mvtutorial.studies.tones_tour.spectrum_db`); one column per
    waveform, in the order of the keys. ``fundamental`` (Hz) is marked with a dotted line.
    """
    waveforms = list(dict.fromkeys(name for name, _ in spectra))
    fig, axes = plt.subplots(2, len(waveforms), figsize=(2.5 * len(waveforms), 4.4), sharex=True, sharey=True,
                             squeeze=False)
    for col, name in enumerate(waveforms):
        for row, method in enumerate(_METHODS):
            freq, db = spectra[(name, method)]
            ax = axes[row, col]
            ax.plot(np.asarray(freq) / 1000, db, lw=0.8, color=f"C{row}")
            ax.axvline(fundamental / 1000, color="k", ls=":", lw=1)
            ax.set(ylim=ylim, title=f"{name}, {method}" if row == 0 else "band-limited")
            if row == 1:
                ax.set_xlabel("frequency (kHz)")
    for row in range(2):
        axes[row, 0].set_ylabel("dB")
    fig.suptitle(f"{fundamental / 1000:g} kHz tones: aliases fold back below Nyquist ({nyquist / 1000:g} kHz)", y=1.0)
    fig.tight_layout()
    return fig


def harmonics_figure(counts: pd.DataFrame, centres: Sequence[float], nyquist: float) -> Figure:
    """Harmonics below Nyquist at each class centre, one line per waveform, log scale (chapter 1).

    ``counts``: index the frequency classes, one column per waveform (e.g. from
    :func:`mvtutorial.studies.tones_tour.harmonics_below_nyquist`); ``centres``: the class centres (Hz).
    """
    fig, ax = plt.subplots(figsize=(10, 2.8))
    classes = np.arange(len(counts))
    for name, style in zip(counts.columns, ("o-", "s-", "^-", "x--", "d-", "v-")):
        ax.plot(classes, counts[name].to_numpy(), style, ms=4, label=name)
    ticks = classes[::2]
    ax.set(yscale="log", xlabel="frequency class (centre frequency)", ylabel=f"harmonics < {nyquist / 1000:g} kHz",
           xticks=ticks)
    ax.set_xticklabels([f"{c}\n{centres[c]:.0f}" for c in ticks], fontsize=8)
    ax.legend(ncol=len(counts.columns), fontsize=8)
    fig.tight_layout()
    return fig


def logmel_panel(ax: plt.Axes, img: np.ndarray, fc: FeatureConfig, title: str = "", y_axis: str = "mel") -> QuadMesh:
    """Draw one ``(bands, frames)`` array on ``ax`` with a time axis (s) and a mel (or ``"linear"``)
    frequency axis, as ``librosa.display.specshow`` does; returns the mesh (for a colour bar)."""

    mesh = librosa.display.specshow(np.asarray(img), ax=ax, sr=fc.sample_rate, hop_length=fc.hop_length, x_axis="time",
                                    y_axis=y_axis, fmax=fc.f_max, cmap="magma")
    ax.set_xticks([0, 0.5, 1.0])
    ax.set_title(title, fontsize=9)
    return mesh


def logmel_steps_figure(power: np.ndarray, mel: np.ndarray, db_floor: np.ndarray, norm: np.ndarray,
                        fc: FeatureConfig) -> Figure:
    """The steps from audio to the normalised log-mel of one clip, one panel each (chapter 1):
    STFT power ``(bins, frames)`` (shown in dB), mel power ``(bands, frames)`` (linear), dB floored
    ``top_db`` below the peak, and min-max scaled to [0, 1]."""

    panels = [
        (librosa.power_to_db(np.asarray(power), ref=np.max, top_db=None),
         "power (shown in dB)\n{} × {}".format(*np.shape(power)), "linear", "%.0f"),
        (np.asarray(mel), "mel power (linear)\n{} × {}".format(*np.shape(mel)), "mel", "%.0e"),
        (np.asarray(db_floor), f"dB, floored at peak - {fc.top_db:g}", "mel", "%.0f"),
        (np.asarray(norm), "min-max to [0, 1]", "mel", "%.1f"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(11, 3))
    for ax, (img, title, y_axis, fmt) in zip(axes, panels):
        fig.colorbar(logmel_panel(ax, img, fc, title, y_axis), ax=ax, format=fmt, pad=0.02)
        ax.set_ylabel("Hz" if ax is axes[0] else "")
    fig.tight_layout()
    return fig


def logmel_grid(images: Sequence[Sequence[np.ndarray]], titles: Sequence[Sequence[str]], fc: FeatureConfig,
                suptitle: str = "", title_size: float = 9) -> Figure:
    """A grid of normalised log-mels (``images[row][col]``, each ``(bands, frames)``) with shared
    axes, titled ``titles[row][col]`` (chapter 1's waveforms by pitch, and its training pairs)."""
    nrows, ncols = len(images), len(images[0])
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.5 * ncols, 2.3 * nrows), sharex=True, sharey=True, squeeze=False)
    for r in range(nrows):
        for c in range(ncols):
            logmel_panel(axes[r, c], images[r][c], fc, titles[r][c])
            axes[r, c].title.set_fontsize(title_size)
            axes[r, c].label_outer()
    if suptitle:
        fig.suptitle(suptitle, y=1.0)
    fig.tight_layout()
    return fig
