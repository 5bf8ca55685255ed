"""Figures of the evaluation (chapters 4-6, 8, 9): MI matrices, probe bars, the ablation, heatmaps, study bars, maps of codes."""
from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import paper
from ..data.tones import TONE_FACTORS
from ..results import MI_COLUMNS, SUBSPACES, mi_sums

__all__ = ["mi_matrix_figure", "probe_bars", "ablation_bars", "score_heatmap", "study_bars", "code_maps", "FACTORS"]

FACTORS = tuple(TONE_FACTORS)  # the tone set's factor names, the shared one first


def _mean_sd(values: np.ndarray, axis: int = 0):
    values = np.asarray(values, dtype=float)
    sd = values.std(axis=axis, ddof=1) if values.shape[axis] > 1 else None
    return values.mean(axis=axis), sd


def mi_matrix_figure(mi: pd.DataFrame, title: str = "", paper_sums: Mapping | None = paper.MI_SUMS) -> Figure:
    """MI heat maps (one row per factor: private and shared dimensions) with the per-subspace sums
    as bars beside the paper's (chapter 4).

    ``mi``: the tidy k-NN MI table of :func:`mvtutorial.results.mi_frame` (columns ``run``,
    ``subspace``, ``dim``, ``factor``, ``column``, ``belongs_in``, ``mi`` in nats). Each panel is
    selected and titled by its factor's name, the factor that belongs in the shared code first; the
    maps show the mean over runs, the bars the mean and sd of the sums. ``paper_sums``:
    ``(subspace, factor) -> nats`` or None; a factor the paper has no value for gets no paper bar.
    """
    if not isinstance(mi, pd.DataFrame):
        raise TypeError(f"mi must be the labelled table of mvtutorial.results.mi_frame, got {type(mi).__name__}; "
                        "a bare array has no factor names")
    missing = sorted(set(MI_COLUMNS) - set(mi.columns))
    if missing:
        raise ValueError(f"mi has no column(s) {missing}; build it with mvtutorial.results.mi_frame")
    info = mi.groupby("factor", sort=False)[["column", "belongs_in"]].first()
    factors = sorted(info.index, key=lambda f: (info.loc[f, "belongs_in"] != "shared", f))
    mean = mi.groupby(["factor", "subspace", "dim"])["mi"].mean()
    sums = mi_sums(mi)
    n_runs = mi["run"].nunique()
    vmax = max(float(mean.max()), 1e-9)
    fig, axes = plt.subplots(len(factors), 2, figsize=(12, 2.6 * len(factors)), squeeze=False,
                             gridspec_kw={"width_ratios": [4, 1.3]}, constrained_layout=True)
    for k, factor in enumerate(factors):
        grid = mean.loc[factor].unstack("dim").reindex(list(SUBSPACES))  # rows private, shared by name
        ax = axes[k, 0]
        im = ax.imshow(grid.to_numpy(), cmap="magma", vmin=0, vmax=vmax, aspect="auto")
        for (i, j), v in np.ndenumerate(grid.to_numpy()):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9, color="w" if v < 0.6 * vmax else "k")
        ax.set_xticks(range(grid.shape[1]), [f"$Z_{{{d}}}$" for d in grid.columns])
        ax.set_yticks(range(len(SUBSPACES)), SUBSPACES)
        column = info.loc[factor, "column"]
        named = factor if column == factor else f"{factor} ({column})"
        ax.set_title(f"MI with {named}: belongs in the {info.loc[factor, 'belongs_in']} code")
        ax = axes[k, 1]
        x = np.arange(len(SUBSPACES))
        per_run = sums[sums.factor == factor].pivot(index="run", columns="subspace", values="mi")[list(SUBSPACES)]
        m, sd = _mean_sd(per_run.to_numpy())
        ax.bar(x - 0.2, m, 0.4, yerr=sd, label="ours", color="C0")
        theirs = [None if paper_sums is None else paper_sums.get((s, factor)) for s in SUBSPACES]
        if all(t is not None for t in theirs):
            ax.bar(x + 0.2, theirs, 0.4, label="paper", color="0.6")
        ax.set_xticks(x, SUBSPACES)
        ax.set_title(f"sum over dims: {factor}")
        if k == 0:
            ax.legend(frameon=False, fontsize=9)
    fig.colorbar(im, ax=axes[:, 0], shrink=0.8, label=f"MI (nats), mean over {n_runs} training seed(s)")
    if title:
        fig.suptitle(title)
    return fig


def probe_bars(accuracy: Mapping[str, Sequence[float]], latents: Sequence[str], chance: Mapping[str, float],
               paper_probes: Mapping | None = paper.PROBES, title: str = "", factors: Sequence[str] = FACTORS) -> Figure:
    """Probe accuracy per latent, one panel per factor, ours (mean +- sd over seeds) beside the
    paper's where it has the latent (chapter 4). ``accuracy``: ``"latent/factor" -> per-seed values``;
    ``factors``: the panels, by name (default the tone set's; another source passes its own)."""
    missing = sorted({f"{lat}/{f}" for lat in latents for f in factors} - set(accuracy)) + \
        sorted(f for f in factors if f not in chance)
    if missing:
        raise ValueError(f"no accuracy or chance for {missing}; pass factors= with this data's factor names")
    fig, axes = plt.subplots(1, len(factors), figsize=(6 * len(factors), 3.8), sharey=True, squeeze=False,
                             constrained_layout=True)
    axes = axes[0]
    x = np.arange(len(latents))
    for ax, f in zip(axes, factors):
        stats = [_mean_sd(np.atleast_1d(accuracy[f"{lat}/{f}"])) for lat in latents]
        sds = [sd if sd is not None else 0.0 for _, sd in stats]
        ax.bar(x - 0.2, [m for m, _ in stats], 0.4, yerr=sds if any(sds) else None, capsize=3, label="ours", color="C0")
        if paper_probes is not None:
            ax.bar(x + 0.2, [paper_probes.get((lat, f), np.nan) for lat in latents], 0.4, label="paper", color="0.6")
        ax.axhline(chance[f], color="C3", ls="--", lw=1.2, label="chance")
        ax.set_xticks(x, [lat.replace("_", "\n") for lat in latents])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"probe accuracy: {f}")
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(frameon=False, loc="upper left", ncols=3, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def ablation_bars(cell, values: Sequence[float] = paper.ABLATION_VALUES, shared: str = "shared",
                  chance: Mapping[str, float] | None = None, title: str = "") -> Figure:
    """The paper's ablation figure with ours beside it: rows timbre / frequency, columns alpha /
    beta / gamma; grouped bars ours private, paper private, ours shared, paper shared (chapter 5).

    ``cell(term, value, latent, factor)`` returns ``(mean, sd, n_seeds)`` of our probe accuracy or
    None (see :func:`mvtutorial.studies.ablation.ablation_cell`); the paper's bars come from
    :data:`mvtutorial.paper.ABLATION`. ``shared``: the shared code drawn (``"shared"`` or ``"shared_fused"``).
    """
    chance = chance or {"timbre": 1 / 4, "frequency": 1 / 21}
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4), sharey=True, constrained_layout=True)
    x = np.arange(len(values))
    w = 0.2
    for i, factor in enumerate(FACTORS):
        for j, term in enumerate(("alpha", "beta", "gamma")):
            ax = axes[i, j]
            for k, (latent, color) in enumerate((("private", "C0"), (shared, "C1"))):
                ours = [cell(term, v, latent, factor) for v in values]
                theirs = [paper.ablation_cell(term, v, "private" if latent == "private" else "shared", factor) for v in values]
                off = (-1.5 + 2 * k) * w  # ours private, paper private, ours shared, paper shared
                ax.bar(x + off, [c[0] if c else np.nan for c in ours], w, color=color, label=f"ours: {latent.replace('_', ' ')}")
                spread = [(xi + off, c[0], c[1]) for xi, c in zip(x, ours) if c and c[2] > 1]
                if spread:  # sd over training seeds, where there are several
                    ax.errorbar(*zip(*spread), fmt="none", ecolor="k", capsize=2, lw=1)
                ax.bar(x + off + w, [np.nan if t is None else t for t in theirs], w, facecolor="white", edgecolor=color,
                       hatch="///", label=f"paper: {'private' if latent == 'private' else 'shared'}")
            ax.axhline(chance[factor], color="0.3", ls="--", lw=1)
            ax.set_xticks(x, [f"{v:g}" for v in values])
            ax.set_ylim(0, 1.05)
            if i == 0:
                ax.set_title(f"{term} (others 0)")
            if i == 1:
                ax.set_xlabel(f"weight {term}")
            if j == 0:
                ax.set_ylabel(f"{factor} probe accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="0.3", ls="--", lw=1))
    labels.append("chance")
    fig.legend(handles, labels, loc="outside lower center", ncols=5, frameon=False)
    fig.suptitle(title or "Ablation: probe accuracy of the private and shared codes")
    return fig


def score_heatmap(mean: pd.DataFrame, sd: pd.DataFrame | None = None, count: pd.DataFrame | None = None,
                  xlabel: str = "", ylabel: str = "", title: str = "", label: str = "S") -> Figure:
    """A diverging heat map of a score over a 2-D grid (rows: ``mean.index``, columns:
    ``mean.columns``), each cell annotated with mean +- sd and the number of seeds; NaN cells
    read "not run" (chapter 5's gamma x beta grid)."""
    values = mean.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(4.8 + 0.6 * values.shape[1], 3.2 + 0.5 * values.shape[0]), constrained_layout=True)
    lim = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    im = ax.imshow(values, cmap="RdBu", vmin=-lim, vmax=lim, origin="lower")
    for (i, j), v in np.ndenumerate(values):
        n = None if count is None else count.to_numpy()[i, j]
        text = "not run" if np.isnan(v) else f"{v:.2f}"
        if np.isfinite(v) and sd is not None and n is not None and n > 1:
            text += f" ± {sd.to_numpy()[i, j]:.2f}"
        if np.isfinite(v) and n is not None:
            text += f"\n(n={int(n)})"
        ax.text(j, i, text, ha="center", va="center", fontsize=9, color="w" if np.isfinite(v) and abs(v) > 0.6 * lim else "k")
    ax.set_xticks(range(values.shape[1]), [f"{c:g}" if isinstance(c, float) else str(c) for c in mean.columns])
    ax.set_yticks(range(values.shape[0]), [f"{r:g}" if isinstance(r, float) else str(r) for r in mean.index])
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.colorbar(im, ax=ax, label=label)
    return fig


def study_bars(table: pd.DataFrame, keys: Sequence[str], targets: Mapping[str, tuple[str, float]] | None = None,
               title: str = "") -> Figure:
    """One panel per quantity (``keys``, e.g. ``"shared/timbre"``), one bar per study family (mean +-
    sd over seeds, from :func:`mvtutorial.studies.separation.study_table`), the target as a dashed line
    (``targets``: key -> (comparison, threshold)) (chapter 6)."""
    missing = [k for k in keys if (k, "mean") not in table.columns]
    if missing:
        raise ValueError(f"the study table has no column(s) {missing}")
    # Two panels a row in a figure about as wide as the book's page (7.5 in, 750 px inline), so that
    # the page shows its text at about its size: four panels a row made a 14 in figure whose labels
    # a page drew at half size.
    # Family labels are wrapped at 32 characters: one long label (chapter 6.8's 70-character recommendation)
    # otherwise takes the left column's width and constrained layout collapses its axes.
    ncols = min(2, len(keys))
    nrows = int(np.ceil(len(keys) / ncols))
    rows = [textwrap.fill(str(name), 32) for name in table.index]
    row_height = 0.23 * (1 + 0.6 * (max(r.count("\n") for r in rows) if rows else 0))
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.5, (0.8 + row_height * len(table)) * nrows + (0.4 if title else 0)),
                             squeeze=False, constrained_layout=True)
    y = np.arange(len(table))
    for ax, key in zip(axes.flat, keys):
        sd = table[(key, "sd")].fillna(0.0).to_numpy()
        ax.barh(y, table[(key, "mean")].to_numpy(), xerr=sd, color=[f"C{i}" for i in range(len(table))], capsize=2)
        if targets and key in targets:
            op, threshold = targets[key]
            ax.axvline(threshold, color="k", ls="--", lw=1.2)
            ax.text(threshold, len(table) - 0.4, f" target {op} {threshold:g}", fontsize=9, va="bottom")
        ax.set_yticks(y, rows if ax in axes[:, 0] else [""] * len(y))
        ax.tick_params(labelsize=10)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.invert_yaxis()
        ax.set_title(key, fontsize=11)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def code_maps(maps: Mapping[str, np.ndarray], classes: Sequence[int], class_names: Sequence[str], grades: Sequence[float],
              grade_label: str, factors: Sequence[str] = FACTORS, n_grades: int | None = None, title: str = "") -> Figure:
    """2-D maps of codes (e.g. UMAP, chapters 4 and 9), one column per code.

    Parameters
    ----------
    maps : code name -> ``(n, 2)`` points, the same clips in every code.
    classes, class_names : the shared factor's class of each clip (coloured in the top row) and the
        name of each class (the legend).
    grades, grade_label : the private factor's graded value of each clip (bottom row) and the colour
        bar's label.
    factors : the two factors' names, for the panel titles.
    n_grades : the colour scale runs from 0 to ``n_grades - 1`` (default: to the largest grade).
    title : the figure's title.

    Returns
    -------
    Figure with a 2 x len(maps) grid of panels and a colour bar.
    """
    classes, grades = np.asarray(classes), np.asarray(grades)
    vmax = (n_grades - 1) if n_grades is not None else grades.max()
    fig, axes = plt.subplots(2, len(maps), figsize=(5 * len(maps), 7.6), squeeze=False, constrained_layout=True)
    for j, (code, points) in enumerate(maps.items()):
        for i, name in enumerate(class_names):
            m = classes == i
            axes[0, j].scatter(points[m, 0], points[m, 1], s=6, alpha=0.7, color=f"C{i}", label=name)
        sc = axes[1, j].scatter(points[:, 0], points[:, 1], c=grades, s=6, alpha=0.8, cmap="viridis", vmin=0, vmax=vmax)
        axes[0, j].set_title(f"{code} code: {factors[0]}")
        axes[1, j].set_title(f"{code} code: {factors[1]}")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].legend(frameon=False, markerscale=3, fontsize=8, ncols=2 if len(class_names) > 4 else 1)
    fig.colorbar(sc, ax=axes[1, :], shrink=0.9, label=grade_label)
    if title:
        fig.suptitle(title)
    return fig
