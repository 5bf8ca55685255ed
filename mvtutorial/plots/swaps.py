"""Figures of the swaps and the pitch study (chapters 6-9): swap scores, the pitch judge, per-class accuracy."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .evaluation import FACTORS

__all__ = ["swap_bars", "pitch_judge_figure", "per_class_figure", "swap_timbre_figure", "alias_comb_figure"]


def swap_bars(table: pd.DataFrame, factors: Sequence[str] = FACTORS,
              title: str = "Swap score (mean +- sd over training seeds)") -> Figure:
    """Swap score bars (chapter 7): for each configuration (rows of :func:`mvtutorial.listening.swap_table`)
    the share of swaps whose timbre follows the shared donor, whose pitch follows the private donor,
    and both; chance as a dashed line, the classifier's accuracy on the same model's reconstructions
    (a ceiling for a swap) as a dotted one. ``factors``: the shared factor, then the private one."""
    shared, private = factors[:2]
    panels = [(f"swap_{shared}", f"{shared} follows\nthe shared donor", f"chance_{shared}", f"recon_{shared}"),
              (f"swap_{private}", f"{private} follows\nthe private donor", f"chance_{private}", f"recon_{private}"),
              ("swap_both", "both at once", "chance_both", None)]
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.6 + 0.55 * len(table) + 1.6), sharex=True, constrained_layout=True)
    y = np.arange(len(table))
    for ax, (key, label, chance, ceiling) in zip(axes, panels):
        ax.barh(y, table[(key, "mean")].to_numpy(), xerr=table[(key, "sd")].to_numpy(), capsize=3,
                color=[f"C{i}" for i in range(len(table))])
        for i, c in enumerate(table[(chance, "mean")].to_numpy()):
            ax.plot([c, c], [i - 0.4, i + 0.4], "k--", lw=1.2, label="chance" if i == 0 else None)
        if ceiling:
            for i, c in enumerate(table[(ceiling, "mean")].to_numpy()):
                ax.plot([c, c], [i - 0.4, i + 0.4], color="0.35", ls=":", lw=1.6, label="reconstructions" if i == 0 else None)
        ax.set_yticks(y, table.index if ax is axes[0] else [""] * len(y))
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(label, fontsize=10)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return fig


def pitch_judge_figure(per_class: pd.DataFrame, ceiling: str = "real clips (judge ceiling)", tolerance: float = 50.0,
                       class_labels: Sequence[str] | None = None, title: str = "") -> Figure:
    """Share of swaps whose pitch is within ``tolerance`` cents of the counterfactual's, per pitch
    class of the private donor (chapter 7): one line per configuration (rows of
    :func:`mvtutorial.studies.swaps.judges_per_class`, columns the classes), the judge on the real
    clips (row ``ceiling``) dashed. ``class_labels``: tick labels of the classes (e.g. Hz)."""
    return per_class_figure(per_class, ceiling, f"within {tolerance:g} cents", class_labels,
                            title or f"Swaps whose pitch is within {tolerance:g} cents of the counterfactual's",
                            xlabel="pitch class of the private (pitch) donor")


def per_class_figure(per_class: pd.DataFrame, ceiling: str | None = None, ylabel: str = "accuracy",
                     class_labels: Sequence[str] | None = None, title: str = "", xlabel: str = "pitch class") -> Figure:
    """One line per row of ``per_class`` (columns: the classes, in order) over the classes; the row
    named ``ceiling`` (e.g. the raw input's accuracy) dashed black, rows whose name starts with it
    (the ceiling on a variant of the data) dashed grey (chapters 6 and 7). The legend sits below the
    axes in two columns and the figure grows with the rows, so two dozen long family names still fit;
    past ten lines the colours come from ``tab20``, and past twenty the marker changes too, so that no
    two lines look alike."""
    legend_rows = -(-len(per_class) // 2)
    fig, ax = plt.subplots(figsize=(11, 3.4 + 0.22 * legend_rows), constrained_layout=True)
    x = np.asarray(per_class.columns)
    is_ceiling = [ceiling is not None and str(name).startswith(ceiling) for name in per_class.index]
    palette = plt.get_cmap("tab20").colors if len(is_ceiling) - sum(is_ceiling) > 10 else [f"C{i}" for i in range(10)]
    drawn = 0  # lines drawn solid so far
    for (name, row), dashed in zip(per_class.iterrows(), is_ceiling):
        if dashed:  # a ceiling (or one of a data variant)
            ax.plot(x, row.to_numpy(), "--", color="k" if name == ceiling else "0.55", lw=1.2, label=name)
        else:
            marker = "os^D"[drawn // len(palette) % 4]
            ax.plot(x, row.to_numpy(), f"{marker}-", color=palette[drawn % len(palette)], lw=1.8, ms=4, label=name)
            drawn += 1
    ax.set_ylim(0, 1.05)
    ax.set_xticks(x, class_labels if class_labels is not None else [str(c) for c in x],
                  rotation=45 if class_labels is not None else 0, fontsize=9)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.legend(fontsize=8, loc="outside lower center", ncols=2)
    ax.grid(alpha=0.3)
    return fig


def swap_timbre_figure(swaps: pd.DataFrame, reconstructions: pd.DataFrame, real: pd.Series,
                       class_labels: Sequence[str] | None = None, target: float | None = None,
                       title: str = "Where swaps lose timbre, per frequency class of the private (pitch) donor") -> Figure:
    """Swap timbre per frequency class beside its ceilings (chapter 7). ``swaps`` and ``reconstructions``:
    one row per configuration, columns the classes (the share of swaps keeping the shared donor's timbre,
    solid, and the classifier on the same model's reconstructions, dotted in the same colour: rows of
    :func:`mvtutorial.studies.swap_classes.swap_class_table`); ``real``: the classifier on the real clips
    per class, dashed black; ``target``: a grey horizontal line."""
    fig, ax = plt.subplots(figsize=(11, 3.8), constrained_layout=True)
    x = np.asarray(swaps.columns)
    for i, (config, row) in enumerate(swaps.iterrows()):
        ax.plot(x, row.to_numpy(), "o-", color=f"C{i}", lw=1.8, ms=4, label=f"{config}: swaps")
        ax.plot(x, reconstructions.loc[config, x].to_numpy(), ":", color=f"C{i}", lw=1.6, label=f"{config}: reconstructions")
    ax.plot(x, real.loc[x].to_numpy(), "--", color="k", lw=1.2, label="real clips (classifier)")
    if target is not None:
        ax.axhline(target, color="0.6", lw=1, label=f"target {target:g}")
    ax.set_xticks(x, class_labels if class_labels is not None else [str(c) for c in x],
                  rotation=45 if class_labels is not None else 0, fontsize=9)
    ax.set(xlabel="frequency class of the private (pitch) donor", ylabel="timbre read as intended", title=title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    return fig


def alias_comb_figure(real: np.ndarray, decoded: np.ndarray, clip_title: str, ceiling: pd.DataFrame,
                      reconstructions: pd.Series, noise: float) -> Figure:
    """Why the aliased classes lose timbre (chapter 7.6). Left: one clip's time-averaged log-mel ``(n_mels,)``,
    ``real`` against the model's ``decoded`` reconstruction. Right: the timbre an ideal decoder could keep
    against the pitch noise it is trained under (rows of :func:`mvtutorial.studies.alias_comb.blur_ceiling`,
    one line per band; noise 0 drawn at the left edge of a log axis), the model's ``reconstructions`` per band
    (same index as ``ceiling``) as dotted lines, and its pitch axis's ``noise`` (octave) as a vertical line."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), constrained_layout=True, gridspec_kw={"width_ratios": [1.3, 1]})
    left.plot(real, lw=1.2, color="k", label="real clip")
    left.plot(decoded, lw=1.6, color="C1", label="reconstruction")
    left.set(xlabel="mel band", ylabel="time-averaged log-mel", title=clip_title)
    left.legend(fontsize=8)
    sigmas = np.asarray(ceiling.columns, dtype=float)
    floor = sigmas[sigmas > 0].min() / 2  # where noise 0 sits on the log axis
    shown = np.where(sigmas > 0, sigmas, floor)
    for i, (band, row) in enumerate(ceiling.iterrows()):
        right.plot(shown, row.to_numpy(), "o-", color=f"C{i}", label=f"{band}: real clips averaged over the noise")
        right.axhline(float(reconstructions.loc[band]), ls=":", color=f"C{i}", label=f"{band}: the model's reconstructions")
    right.axvline(noise, color="0.5", lw=1, label=f"the model's pitch noise ({noise:.3f} octave)")
    right.set_xscale("log")
    right.set_xticks(shown, ["0"] + [f"{s:g}" for s in sigmas[sigmas > 0]] if sigmas.min() == 0 else [f"{s:g}" for s in sigmas])
    right.set(xlabel="pitch noise (octave, log scale)", ylabel="timbre read as the clip's own",
              title="The most a decoder can keep, by pitch noise")
    right.legend(fontsize=7, loc="lower left")
    right.grid(alpha=0.3)
    return fig
