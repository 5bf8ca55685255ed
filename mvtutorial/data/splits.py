"""Train / val / test labels of a set of clips: one stratified assigner for every data source.

:func:`assign_splits` is the split of the tone set, the sampled-note set and a folder of audio
whose cells are large enough: inside every cell (a combination of factor values) a random share
goes to each split. :func:`assign_pair_splits` is its fallback for a folder whose cells hold a
clip or two, where stratifying leaves a split that cannot be paired; it moves whole clips instead.

Reference: Wilkins et al., ISMIR 2024 LBD (pairs share one factor and differ in another, so every
split must hold two clips of each shared value with different values of the other factor).
"""
from __future__ import annotations

import numpy as np

__all__ = ["SPLITS", "check_split", "split_counts", "assign_splits", "assign_pair_splits"]

SPLITS: tuple[str, ...] = ("train", "val", "test")


def check_split(split: str) -> None:
    """Raise ``ValueError`` unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")


def check_fractions(fractions) -> tuple[float, float, float]:
    """``fractions`` as 3 floats; ``ValueError`` unless they are non-negative and sum to 1."""
    out = tuple(float(s) for s in fractions)
    if len(out) != 3 or any(s < 0 for s in out) or abs(sum(out) - 1) > 1e-6:
        raise ValueError(f"split must be 3 non-negative fractions summing to 1, got {tuple(fractions)!r}")
    return out


def split_counts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Train/val/test counts of a cell of ``n`` clips: val and test get ``round(n * fraction)``
    (Python's rounding, half to even), train the rest."""
    n_val, n_test = int(round(n * fractions[1])), int(round(n * fractions[2]))
    return n - n_val - n_test, n_val, n_test


def assign_splits(cell: np.ndarray, fractions: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """Stratified train/val/test labels.

    Parameters
    ----------
    cell : int array ``(N,)``
        Each clip's cell, e.g. a factor-combination id.
    fractions : train/val/test shares; each cell is split by :func:`split_counts`.
    rng : the generator; one ``permutation(N)`` is drawn (each clip's random place in its cell).

    Returns
    -------
    object array ``(N,)`` of split names.
    """
    split = np.empty(len(cell), dtype=object)
    order = rng.permutation(len(cell))
    for c in np.unique(cell):
        members = order[cell[order] == c]
        n_train, n_val, _ = split_counts(len(members), fractions)
        split[members[:n_train]] = "train"
        split[members[n_train : n_train + n_val]] = "val"
        split[members[n_train + n_val :]] = "test"
    return split


def assign_pair_splits(
    shared: np.ndarray, differ: np.ndarray | None, fractions: tuple[float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """Train/val/test labels for sets too small for :func:`assign_splits` (a few clips per cell).

    Whole clips move from train to val, then to test, round-robin over the ``shared`` values
    (in random order): two clips of two different ``differ`` values the first time a value enters
    the split (so the split can be paired), one at a time after that, and never so many that the
    value is left in train with fewer than 2 ``differ`` values. Among equally common ``differ``
    values, ones the split already holds are taken first, so that even with one clip per cell the
    split has 2+ clips of some ``differ`` value (k-NN MI estimates need repeats). Each of val and
    test is filled up to ``max(4, round(N * fraction))`` clips (at least 2 ``shared`` values x 2),
    or as far as that rule allows (possibly not at all: the caller checks the result).
    ``differ=None``: each clip is its own ``differ`` value (a pair is any two clips of one
    ``shared`` value). Returns an object array ``(N,)`` of split names.
    """
    shared = np.asarray(shared)
    n = len(shared)
    differ = np.arange(n) if differ is None else np.asarray(differ)
    split = np.full(n, "train", dtype=object)
    values = rng.permutation(np.unique(shared))
    for name, fraction in (("val", fractions[1]), ("test", fractions[2])):
        if fraction <= 0:
            continue
        target, count, moved = max(4, int(round(n * fraction))), 0, True
        while count < target and moved:
            moved = False
            for v in values:
                if count >= target:
                    break
                take = _movable(np.flatnonzero((shared == v) & (split == "train")), differ,
                                set(differ[(shared == v) & (split == name)]), set(differ[split == name]), rng)
                if take is not None:
                    split[take] = name
                    count, moved = count + len(take), True
    return split


def _movable(members: np.ndarray, differ: np.ndarray, mine: set, in_split: set, rng: np.random.Generator) -> np.ndarray | None:
    """Clips of one shared value (``members``, its train clips) to move into a split that holds
    ``differ`` values ``in_split``, ``mine`` of them with this shared value: 2 of different values if
    ``mine`` is empty, else 1; the values with most clips left first (so train keeps its variety),
    then values the split holds, then random. ``None`` if train would keep < 2 values."""
    k = 1 if mine else 2
    members = members[rng.permutation(len(members))]
    values, first, counts = np.unique(differ[members], return_index=True, return_counts=True)
    if len(values) < k:
        return None
    order = sorted(range(len(values)), key=lambda i: (-counts[i], values[i] not in in_split, first[i]))[:k]
    if len(values) - np.sum(counts[order] == 1) < 2:  # a value with 1 clip left leaves train
        return None
    return members[first[order]]
