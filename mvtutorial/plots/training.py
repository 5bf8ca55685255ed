"""Figures of chapter 3: every loss term over the epochs, and inputs beside their reconstructions."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["LOSS_TERMS", "loss_terms_figure", "reconstruction_figure"]

#: The terms of a training history (``train_<term>``, ``val_<term>``) and their panel titles.
LOSS_TERMS = {
    "total": "total (minimised)", "reconstruction": "reconstruction (both views)",
    "shared_mi": "MI, shared", "private_mi": "MI, private",
    "shared_tc": "TC, shared", "private_tc": "TC, private",
    "shared_dwkl": "DWKL, shared", "private_dwkl": "DWKL, private",
}


def loss_terms_figure(history: pd.DataFrame, n: Mapping[str, int], best: int | None = None, title: str = "") -> Figure:
    """One panel per loss term of :data:`LOSS_TERMS`, training and validation over the epochs (chapter 3).

    ``history``: one row per epoch (index: epoch) with the columns ``train_<term>`` and ``val_<term>``
    (:func:`mvtutorial.training.train`'s history); ``n``: ``{"train": N, "val": N}``, the number of
    clips each estimate is drawn from: MI panels get a dashed line at the estimator's ceiling ``log N``
    (``2 log N`` for the private code, summed over two views). ``best``: epoch marked with a dotted line.
    A total or reconstruction that falls by more than half is drawn on a log scale.
    """
    fig, axes = plt.subplots(2, 4, figsize=(14, 5.6), sharex=True)
    for ax, (term, label) in zip(axes.flat, LOSS_TERMS.items()):
        for split, marker, colour in (("train", "o-", "C0"), ("val", "s-", "C1")):
            ax.plot(history.index, history[f"{split}_{term}"], marker, ms=3, color=colour,
                    label="train" if split == "train" else "validation")
            if term.endswith("_mi"):
                ax.axhline((2 if term.startswith("private") else 1) * np.log(n[split]), color=colour, ls="--", lw=0.8)
        if best is not None:
            ax.axvline(best, color="0.6", ls=":", lw=1)
        if term in ("total", "reconstruction") and history[f"train_{term}"].max() > 2 * history[f"val_{term}"].min():
            ax.set_yscale("log")
        if term.endswith(("mi", "tc", "dwkl")):
            ax.axhline(0, color="0.8", lw=0.8)
        ax.set_title(label, fontsize=10)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes[0, 0].legend(frameon=False)
    if title:
        fig.suptitle(title, y=1.0)
    fig.tight_layout()
    return fig


def reconstruction_figure(inputs: Sequence[np.ndarray], recons: Sequence[np.ndarray], titles: Sequence[str],
                          errors: Sequence[float]) -> Figure:
    """Per example (one row each): the input log-mel ``(bands, frames)``, its reconstruction, and both
    mel profiles (the input averaged over time, the reconstruction's first frame), titled with
    ``titles[i]`` and the squared error ``errors[i]`` (chapter 3)."""
    fig, axes = plt.subplots(len(inputs), 3, figsize=(12, 2.6 * len(inputs)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1.1]})
    for i, (x, r) in enumerate(zip(inputs, recons)):
        x, r = np.asarray(x), np.asarray(r)
        for j, (img, label) in enumerate(((x, "input"), (r, "reconstruction"))):
            ax = axes[i, j]
            ax.imshow(img, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="magma")
            ax.set_title(f"{titles[i]}: {label}", fontsize=10)
            ax.set_ylabel("mel band" if j == 0 else "")
        ax = axes[i, 2]
        ax.plot(x.mean(-1), lw=1.2, label="input (time average)")
        ax.plot(r[:, 0], lw=1.2, label="reconstruction")
        ax.set(ylim=(-0.02, 1.02), title=f"mel profile, squared error {errors[i]:.0f}")
        ax.title.set_fontsize(10)
    for ax in axes[-1, :2]:
        ax.set_xlabel("frame")
    axes[-1, 2].set_xlabel("mel band")
    axes[0, 2].legend(frameon=False, fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
