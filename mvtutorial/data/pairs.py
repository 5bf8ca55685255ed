"""Pairs of clips that share one factor and differ in another: the one pair sampler of every source.

Each clip of a split is the first view exactly once (in a random order); its partner has the same
value of the ``shared`` factor and another value of the ``differ`` factor, drawn uniformly among
the other values that clips with that shared value take in the split (so incomplete grids, e.g.
an instrument that lacks a pitch, are fine), then uniformly among that cell's clips.

Two sources drew these pairs with the same distribution but in a different order of random
numbers, and shipped runs depend on each order, so the order is an argument (``draw``):

* ``"joint"`` (the tone set): the partners' offsets of all anchors at once, then all their
  uniform picks;
* ``"by_shared"`` (sampled instruments, folders): offsets then picks for the anchors of each
  shared value in turn (values in sorted order).

Reference: Wilkins et al., ISMIR 2024 LBD (pairs share the timbre and differ in the pitch).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .splits import check_split

__all__ = ["PAIR_DRAWS", "factor_pairs"]

PAIR_DRAWS: tuple[str, ...] = ("joint", "by_shared")


def factor_pairs(
    factors: pd.DataFrame,
    shared: str,
    differ: str | None,
    split: str = "train",
    rng: np.random.Generator | int | None = None,
    draw: str = "by_shared",
) -> np.ndarray:
    """Pair every clip of ``split`` with a partner of the same ``shared`` value and another ``differ`` value.

    Parameters
    ----------
    factors : factor table with a ``split`` column and the columns ``shared`` and ``differ``.
    shared, differ : column names; ``differ=None`` pairs any two different clips of one ``shared`` value.
    split : one of ``"train"``, ``"val"``, ``"test"``.
    rng : generator (advanced in place: call again to re-draw pairs each epoch) or seed.
    draw : ``"joint"`` or ``"by_shared"``, the order of the random numbers (module docstring).

    Returns
    -------
    int64 array ``(n_split, 2)`` of row positions into ``factors``.

    Raises
    ------
    ValueError
        Unknown split or draw, an empty split, or a ``shared`` value that cannot be paired there (named).
    """
    check_split(split)
    if draw not in PAIR_DRAWS:
        raise ValueError(f"unknown pair draw {draw!r}; choose from {PAIR_DRAWS}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    idx = np.flatnonzero((factors["split"] == split).to_numpy())
    if len(idx) == 0:
        raise ValueError(f"split {split!r} is empty")
    names, codes = np.unique(factors[shared].to_numpy(), return_inverse=True)
    sh = codes.reshape(-1)[idx]
    # each clip its own "differ" value when none is named: the partner is then any other clip
    df = np.unique(factors[differ].to_numpy(), return_inverse=True)[1].reshape(-1)[idx] if differ is not None else np.arange(len(idx))
    cell, base, n_values = _cells(sh, df)
    bad = np.flatnonzero(n_values[np.unique(sh)] < 2)
    if len(bad):
        value = np.asarray(names[np.unique(sh)[bad[0]]]).item()
        what = f"a single value of {differ!r}" if differ is not None else "a single clip"
        raise ValueError(f"split {split!r} has {what} for {shared}={value!r}, so it cannot be paired; "
                         "add clips or move some between splits")
    anchors = rng.permutation(len(idx))
    offset, pick = _draw(sh[anchors], n_values[sh[anchors]], rng, draw)
    local = cell[anchors] - base[sh[anchors]]
    target = base[sh[anchors]] + (local + offset) % n_values[sh[anchors]]
    order = np.argsort(cell, kind="stable")  # clips by cell, each cell's clips in row order
    counts = np.bincount(cell)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    partner = order[starts[target] + (pick * counts[target]).astype(np.int64)]
    return np.stack([idx[anchors], idx[partner]], axis=1).astype(np.int64)


def _cells(sh: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of a split: ``cell`` ``(n,)``, each clip's (shared, differ) combination numbered in
    sorted order; ``base`` ``(n_shared,)``, the first cell of each shared value; ``n_values``
    ``(n_shared,)``, its number of differ values (0 where it has no clip in the split)."""
    width = int(df.max()) + 1
    keys, cell = np.unique(sh.astype(np.int64) * width + df, return_inverse=True)
    n_values = np.bincount(keys // width, minlength=int(sh.max()) + 1)
    base = np.concatenate([[0], np.cumsum(n_values)[:-1]])
    return cell.reshape(-1), base, n_values


def _draw(sh: np.ndarray, n_values: np.ndarray, rng: np.random.Generator, draw: str) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor (in anchor order): the offset ``1 .. n_values - 1`` from its own differ value to
    its partner's, and the uniform ``[0, 1)`` that picks the partner inside that cell."""
    if draw == "joint":
        same = bool(np.all(n_values == n_values[0]))
        offset = rng.integers(1, int(n_values[0]) if same else n_values, len(sh))
        return offset, rng.random(len(sh))
    offset, pick = np.empty(len(sh), dtype=np.int64), np.empty(len(sh))
    for value in np.unique(sh):
        at = np.flatnonzero(sh == value)
        offset[at] = rng.integers(1, int(n_values[at[0]]), len(at))
        pick[at] = rng.random(len(at))
    return offset, pick
