"""The book's figures, one function each: data in, a matplotlib Figure out.

Chapters call these so that a figure cell reads as one line beside its prose (as ``librosa.display``
does for spectrograms). Every function takes plain arrays or the package's tidy tables, draws the
paper's values from :mod:`mvtutorial.paper` where a figure compares with them, returns the figure
(it does not call ``plt.show``), and is tested for what it draws.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import NullLocator

from . import paper
from .data.tones import TONE_FACTORS
from .results import MI_COLUMNS, SUBSPACES, mi_sums

__all__ = ["draw_architecture", "fusion_figure", "minibatch_tc_figure", "narrow_posterior_figure", "mi_matrix_figure",
           "probe_bars", "ablation_bars", "score_heatmap", "study_bars", "swap_bars", "pitch_judge_figure",
           "per_class_figure"]

FACTORS = tuple(TONE_FACTORS)  # the tone set's factor names, the shared one first


def draw_architecture() -> Figure:
    """Diagram of the multi-view VAE: two views, one encoder, private and shared heads, PoE with
    the prior, one decoder (chapter 2)."""
    fig, ax = plt.subplots(figsize=(12.5, 5.4))
    ax.set_xlim(-0.1, 13.5)
    ax.set_ylim(-4.3, 4.3)
    ax.axis("off")
    boxes = {}
    colours = {"data": "#cfe2f3", "net": "#d9ead3", "private": "#fce5cd", "shared": "#d9d2e9", "prior": "#eeeeee"}

    def box(key, x, y, text, kind, w=1.6, h=0.85):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.12",
                                    fc=colours[kind], ec="0.3", lw=1.2, gid=key))
        ax.text(x, y, text, ha="center", va="center", fontsize=10.5)
        boxes[key] = (x, y, w, h)

    def anchor(key, side):
        x, y, w, h = boxes[key]
        return {"r": (x + w / 2, y), "l": (x - w / 2, y), "t": (x, y + h / 2), "b": (x, y - h / 2)}[side]

    def arrow(a, b, text=None):
        p, q = anchor(a, "r"), anchor(b, "l")
        ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.3, shrinkA=2, shrinkB=2))
        if text:
            ax.text((p[0] + q[0]) / 2, (p[1] + q[1]) / 2 + 0.18, text, ha="center", va="bottom", fontsize=9, color="0.3")

    for j, s in ((1, 1), (2, -1)):
        box(f"x{j}", 0.8, 2.6 * s, f"view {j}\n$x_{j}$ (128 x 32)", "data", w=1.5, h=1.0)
        box(f"enc{j}", 3.0, 2.6 * s, r"encoder $q_\phi$", "net")
        box(f"p{j}", 5.5, 3.55 * s, rf"$\mu_{{p{j}}},\ \sigma_{{p{j}}}$", "private", w=1.45)
        box(f"s{j}", 5.5, 1.6 * s, rf"$\mu_{{s{j}}},\ \sigma_{{s{j}}}$", "shared", w=1.45)
        box(f"zp{j}", 7.9, 3.55 * s, rf"$z_{{p{j}}}$", "private", w=0.9)
        box(f"dec{j}", 10.5, 2.6 * s, r"decoder $p_\theta$", "net")
        box(f"r{j}", 12.6, 2.6 * s, rf"$\hat x_{j}$", "data", w=1.2, h=1.0)
    box("prior", 5.5, 0.0, r"prior $\mathcal{N}(0, I)$", "prior", w=1.7)
    box("poe", 7.7, 0.0, "PoE\n(product)", "shared", w=1.3, h=1.0)
    box("zs", 9.0, 0.0, r"$z_s$", "shared", w=0.8)
    for j in (1, 2):
        for a, b, text in ((f"x{j}", f"enc{j}", None), (f"enc{j}", f"p{j}", None), (f"enc{j}", f"s{j}", None),
                           (f"p{j}", f"zp{j}", "sample"), (f"s{j}", "poe", None), (f"zp{j}", f"dec{j}", None),
                           ("zs", f"dec{j}", None), (f"dec{j}", f"r{j}", None)):
            arrow(a, b, text)
    arrow("prior", "poe")
    arrow("poe", "zs")
    ax.text(4.6, 3.55, "private head", fontsize=9, color="0.3", ha="right", va="center")
    ax.text(4.55, 1.75, "shared head", fontsize=9, color="0.3", ha="right", va="top")
    for x, ha, dx in ((3.0, "right", -0.15), (10.5, "left", 0.15)):  # weight sharing between the views
        ax.plot([x, x], [-2.6 + 0.5, 2.6 - 0.5], ls=":", color="0.45", lw=1.5)
        ax.text(x + dx, 0.0, "same\nweights", ha=ha, va="center", fontsize=9, color="0.35")
    ax.text(10.5, 3.35, r"input $[z_{p1}, z_s]$", ha="center", fontsize=9, color="0.3")
    ax.text(10.5, -3.55, r"input $[z_{p2}, z_s]$", ha="center", fontsize=9, color="0.3")
    ax.set_title("Multi-view VAE with private and shared latent codes", fontsize=12)
    return fig


def _normal_pdf(z: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((z - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))


def fusion_figure(experts: Sequence[tuple[float, float]], fused: Mapping[str, tuple[float, float]],
                  z: np.ndarray | None = None) -> Figure:
    """Fusing two Gaussian experts of one shared dimension (chapter 2).

    Left: the prior N(0, 1), both experts and their product with the prior (``fused``'s first
    entry), with the normalised pointwise product ``N(0,1) N(mu1,s1) N(mu2,s2)`` as dots, which the
    product must pass through. Right: every fusion rule of ``fused`` for the same experts.

    Parameters
    ----------
    experts : ``[(mean, sd), (mean, sd)]`` of the two views' experts.
    fused : rule name -> ``(mean, sd)`` of its fused posterior; the first is the model's
        (product of experts with the prior).
    z : grid of the x axis (default 1,001 points on [-4, 6]).
    """
    z = np.linspace(-4, 6, 1001) if z is None else np.asarray(z, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    ax = axes[0]
    ax.plot(z, _normal_pdf(z, 0, 1), color="0.5", ls="--", label=r"prior $\mathcal{N}(0, 1)$")
    for j, (m, s) in enumerate(experts, 1):
        ax.plot(z, _normal_pdf(z, m, s), lw=1.8, label=rf"expert {j}: $\mu$={m}, $\sigma$={s}")
    m, sd = next(iter(fused.values()))
    ax.plot(z, _normal_pdf(z, m, sd), color="k", lw=2.5, label=rf"product: $\mu$={m:.2f}, $\sigma$={sd:.2f}")
    numeric = _normal_pdf(z, 0, 1) * np.prod([_normal_pdf(z, m_, s_) for m_, s_ in experts], axis=0)
    numeric /= numeric.sum() * (z[1] - z[0])
    ax.plot(z[::40], numeric[::40], "o", color="k", ms=4, label="pointwise product, normalised")
    ax.set(xlabel="$z_s$ (one dimension)", ylabel="density", title="Two experts and the prior")
    ax.legend(fontsize=8.5, loc="upper left")
    ax = axes[1]
    for j, (m, s) in enumerate(experts, 1):
        ax.plot(z, _normal_pdf(z, m, s), lw=1, alpha=0.5, color=f"C{j - 1}")
    for (name, (m, sd)), colour in zip(fused.items(), ["k", "C3", "C2", "C4", "C5"]):
        ax.plot(z, _normal_pdf(z, m, sd), lw=2.2, color=colour, label=rf"{name}: $\mu$={m:.2f}, $\sigma$={sd:.2f}")
    ax.set(xlabel="$z_s$ (one dimension)", title="Fusion rules for the same two experts")
    ax.legend(fontsize=8.5, loc="upper left")
    fig.tight_layout()
    return fig


_WEIGHTING_STYLES = {"loo": ("o", "C0"), "mss": ("x", "C1"), "column-0 mss": ("s", "C3"), "mws": ("^", "C2")}


def minibatch_tc_figure(results: pd.DataFrame, offset: float) -> Figure:
    """Minibatch TC estimates against the closed form on correlated Gaussian toys (chapter 2).

    ``results``: one row per (``rho``, ``weighting``) with the estimate ``tc`` and the closed form
    ``tc_true``; ``offset``: ``(D - 1) log N``, by which MWS is shifted. Left: the weightings whose
    rows sum to one (``loo``, ``mss``, ``column-0 mss`` when present); right: ``mws`` against the
    closed form plus the offset.
    """
    truth = results.drop_duplicates("rho")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    ax = axes[0]
    ax.plot(truth.rho, truth.tc_true, color="k", lw=2, label="closed form")
    for w in [w for w in ("loo", "mss", "column-0 mss") if w in set(results.weighting)]:
        sub = results[results.weighting == w]
        marker, colour = _WEIGHTING_STYLES[w]
        ax.plot(sub.rho, sub.tc, marker, color=colour, ms=8, mfc="none" if w != "mss" else colour, label=w)
    ax.set(xlabel=r"correlation $\rho$", ylabel="TC (nats)", title="Minibatch TC, weights that sum to one")
    ax.legend()
    ax = axes[1]
    sub = results[results.weighting == "mws"]
    ax.plot(truth.rho, truth.tc_true + offset, color="k", lw=2, label=r"closed form + $(D-1)\log N$")
    ax.plot(truth.rho, truth.tc_true, color="k", lw=1, ls="--", label="closed form")
    ax.plot(sub.rho, sub.tc, "^", color="C2", ms=8, label="mws")
    ax.set(xlabel=r"correlation $\rho$", ylabel="TC (nats)", title=f"MWS is offset by $(D-1)\\log N$ = {offset:.1f} nats")
    ax.legend()
    fig.tight_layout()
    return fig


def narrow_posterior_figure(narrow: pd.DataFrame, closed: np.ndarray, sigmas: Sequence[float], n: int, batch: int,
                            rho: float) -> Figure:
    """TC and MI estimates as the posteriors narrow (chapter 2).

    ``narrow``: rows (``sigma``, ``estimate``, ``tc``, ``mi``), estimates ``"exact (all N)"``,
    ``"loo"`` and ``"column-0 mss"``; ``closed``: ``(len(sigmas), 2)`` closed forms (tc, mi) for
    infinite N; ``n``, ``batch``: data set and minibatch sizes, whose ``log N`` and ``log (B - 1)``
    (the ceilings of the MI estimates) are drawn as dashed lines. The x axis runs from wide to narrow.
    """
    sig = np.asarray(sigmas, dtype=float)
    closed = np.asarray(closed, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, key, col, label in ((axes[0], "tc", 0, "TC (nats)"), (axes[1], "mi", 1, "MI (nats)")):
        ax.plot(sig, closed[:, col], ":", color="0.4", label="closed form (infinite N)")
        for est, (marker, colour) in (("exact (all N)", ("D", "k")), ("loo", ("o", "C0")), ("column-0 mss", ("s", "C3"))):
            sub = narrow[narrow.estimate == est]
            ax.plot(sub.sigma, sub[key], marker + "-", color=colour, label=est, mfc="none" if est != "exact (all N)" else colour)
        ax.set(xscale="log", xlabel=r"posterior standard deviation $\sigma$", ylabel=label)
        ax.set_xticks(sig, [f"{s:.2g}" for s in sig])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.invert_xaxis()
    for value, colour, text in ((np.log(n), "C0", r" $\log N$"), (np.log(batch - 1), "C3", r" $\log (B-1)$")):
        axes[1].axhline(value, color=colour, lw=0.8, ls="--")
        axes[1].text(sig[0], value, text, va="bottom", color=colour)
    axes[0].legend(fontsize=9)
    axes[0].set_title(rf"TC at $\rho$ = {rho}, B = {batch}")
    axes[1].set_title("MI")
    fig.tight_layout()
    return fig


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
    None (see :func:`mvtutorial.experiments.ablation_cell`); the paper's bars come from
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
    sd over seeds, from :func:`mvtutorial.separation.study_table`), the target as a dashed line
    (``targets``: key -> (comparison, threshold)) (chapter 6)."""
    missing = [k for k in keys if (k, "mean") not in table.columns]
    if missing:
        raise ValueError(f"the study table has no column(s) {missing}")
    # Two panels a row in a figure about as wide as the book's page (7.5 in, 750 px inline), so that
    # the page shows its text at about its size: four panels a row made a 14 in figure whose labels
    # a page drew at half size.
    ncols = min(2, len(keys))
    nrows = int(np.ceil(len(keys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.5, (0.8 + 0.23 * len(table)) * nrows + (0.4 if title else 0)),
                             squeeze=False, constrained_layout=True)
    y = np.arange(len(table))
    for ax, key in zip(axes.flat, keys):
        sd = table[(key, "sd")].fillna(0.0).to_numpy()
        ax.barh(y, table[(key, "mean")].to_numpy(), xerr=sd, color=[f"C{i}" for i in range(len(table))], capsize=2)
        if targets and key in targets:
            op, threshold = targets[key]
            ax.axvline(threshold, color="k", ls="--", lw=1.2)
            ax.text(threshold, len(table) - 0.4, f" target {op} {threshold:g}", fontsize=9, va="bottom")
        ax.set_yticks(y, table.index if ax in axes[:, 0] else [""] * len(y))
        ax.tick_params(labelsize=10)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.invert_yaxis()
        ax.set_title(key, fontsize=11)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


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
    (the ceiling on a variant of the data) dashed grey (chapters 6 and 7)."""
    fig, ax = plt.subplots(figsize=(11, 3.8), constrained_layout=True)
    x = np.asarray(per_class.columns)
    for i, (name, row) in enumerate(per_class.iterrows()):
        if ceiling is not None and str(name).startswith(ceiling):  # a ceiling (or one of a data variant): dashed
            ax.plot(x, row.to_numpy(), "--", color="k" if name == ceiling else "0.55", lw=1.2, label=name)
        else:
            ax.plot(x, row.to_numpy(), "o-", color=f"C{i}", lw=1.8, ms=4, label=name)
    ax.set_ylim(0, 1.05)
    ax.set_xticks(x, class_labels if class_labels is not None else [str(c) for c in x],
                  rotation=45 if class_labels is not None else 0, fontsize=9)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=9, loc="lower left")
    ax.grid(alpha=0.3)
    return fig
