"""Figures of chapters 1-2: the model's architecture, product-of-experts fusion, the minibatch estimators."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.ticker import NullLocator


__all__ = ["draw_architecture", "fusion_figure", "minibatch_tc_figure", "narrow_posterior_figure", "weight_matrices_figure"]


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


def weight_matrices_figure(matrices: Mapping[str, np.ndarray], vmax: float = 0.3) -> Figure:
    """Heat maps of minibatch importance-weight matrices ``W`` (rows: sample ``z_i``, columns: batch
    example ``j``), annotated, diagonal outlined, row sums in each title (chapter 2).

    ``matrices``: name -> ``(B, B)`` weights (not logs), e.g. from
    :func:`mvtutorial.studies.estimators.weight_matrices`.
    """

    fig, axes = plt.subplots(1, len(matrices), figsize=(3.75 * len(matrices), 3.6), squeeze=False)
    axes = axes[0]
    for ax, (name, w) in zip(axes, matrices.items()):
        b = len(w)
        sns.heatmap(w, annot=True, fmt=".3f", cbar=False, cmap="Blues", vmin=0, vmax=vmax, ax=ax,
                    annot_kws={"fontsize": 8}, xticklabels=range(b), yticklabels=range(b))
        for i in range(b):
            ax.add_patch(Rectangle((i, i), 1, 1, fill=False, ec="C3", lw=2))
        ax.set_title(f"{name}\nrow sums: " + ", ".join(f"{s:.2f}" for s in np.asarray(w).sum(1)), fontsize=9.5)
        ax.set(xlabel="j (batch example)", ylabel="i (sample $z_i$)" if ax is axes[0] else "")
    fig.tight_layout()
    return fig
