"""A labelled set of clips from any source: log-mel features, a factor table, pairs and a checksummed cache.

The tone set (:mod:`mvtutorial.dataset`) is one data source; :mod:`mvtutorial.instruments`
(sampled notes) and :mod:`mvtutorial.folder` (your own audio files) are others. They share
this module's :class:`ClipDataset`, which provides the members the trainer and the evaluation
use (``features``, ``factors`` with a ``split`` column, ``factor_columns``, ``input_shape``,
``split_indices``, ``pairs``, ``spec``), and its cache file format (:func:`save_clips`,
:func:`load_clips`): one ``.npz`` written atomically, carrying a SHA-256 checksum of its
features and factor table, so a truncated or corrupt file is reported and rebuilt, never used.

Reference: Wilkins et al., "Self-Supervised Multi-View Learning for Disentangled Music Audio
Representations", ISMIR 2024 LBD (pairs share one factor and differ in another).
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ._version import __version__
from .cache import atomic_write
from .data import SPLITS
from .features import FeatureConfig

__all__ = ["ClipDataset", "factor_pairs", "save_clips", "load_clips", "assign_splits", "assign_pair_splits"]


def assign_splits(cell: np.ndarray, fractions: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """Stratified train/val/test labels: inside every value of ``cell`` (``(N,)`` ints, e.g. a
    factor-combination id), a random ``fractions[1]`` (rounded) goes to val, ``fractions[2]`` to
    test and the rest to train. Returns an object array ``(N,)`` of split names."""
    split = np.empty(len(cell), dtype=object)
    order = rng.permutation(len(cell))
    for c in np.unique(cell):
        members = order[cell[order] == c]
        n = len(members)
        n_val, n_test = int(round(n * fractions[1])), int(round(n * fractions[2]))
        n_train = n - n_val - n_test
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


def factor_pairs(
    factors: pd.DataFrame, shared: str, differ: str | None, split: str = "train", rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """Pair every clip of ``split`` with a partner of the same ``shared`` value and another ``differ`` value.

    The generic form of :func:`mvtutorial.data.sample_pairs` (same distribution on the tone set,
    with ``shared="waveform"``, ``differ="freq_class"``): each clip of the split is the first view
    exactly once (shuffled); the partner's ``differ`` value is drawn uniformly among the *other*
    values that clips with the anchor's ``shared`` value take in this split (so incomplete grids,
    e.g. an instrument that lacks a pitch, are fine), then the partner uniformly among that cell's
    clips. With ``differ=None`` the partner is any other clip of the split with the same ``shared``
    value. Raises ``ValueError`` naming a ``shared`` value that cannot be paired in the split.

    Returns
    -------
    int64 array ``(n_split, 2)`` of row positions into ``factors``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    idx = np.flatnonzero((factors["split"] == split).to_numpy())
    if len(idx) == 0:
        raise ValueError(f"split {split!r} is empty")
    shared_values, shared_codes = np.unique(factors[shared].to_numpy(), return_inverse=True)
    sh = shared_codes.reshape(-1)[idx]
    # each clip its own "differ" value when none is named: the partner is then any other clip
    df = np.unique(factors[differ].to_numpy(), return_inverse=True)[1].reshape(-1)[idx] if differ is not None else np.arange(len(idx))
    anchors = rng.permutation(len(idx))
    partner = np.empty(len(idx), dtype=np.int64)
    for value in np.unique(sh):
        members = np.flatnonzero(sh == value)  # positions into idx
        values, cells = np.unique(df[members], return_inverse=True)
        if len(values) < 2:
            what = f"a single value of {differ!r}" if differ is not None else "a single clip"
            raise ValueError(f"split {split!r} has {what} for {shared}={np.asarray(shared_values[value]).item()!r}, so it cannot be paired; "
                             "add clips or move some between splits")
        order = members[np.argsort(cells, kind="stable")]
        counts = np.bincount(cells, minlength=len(values))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        cell_of = np.empty(len(idx), dtype=np.int64)
        cell_of[members] = cells
        a = anchors[sh[anchors] == value]
        target = (cell_of[a] + rng.integers(1, len(values), len(a))) % len(values)
        partner[np.flatnonzero(sh[anchors] == value)] = order[starts[target] + (rng.random(len(a)) * counts[target]).astype(np.int64)]
    return np.stack([idx[anchors], idx[partner]], axis=1).astype(np.int64)


@dataclass
class ClipDataset:
    """Log-mels ``features`` ``(N, n_mels, n_frames)`` float32 in [0, 1] and their ``factors`` table.

    The data-source interface of :class:`mvtutorial.dataset.ToneDataset` for clips of any origin.
    ``factor_columns`` maps factor names to columns of ``factors``; the first factor is the one
    the two views of a pair share, the second the one they differ in (pairs: :func:`factor_pairs`).
    ``source_spec`` is the JSON-ready dict that identifies the data (``{"source": name, ...}``),
    stored in checkpoints and turned back into the dataset by :func:`mvtutorial.dataset.load_from_spec`.
    """

    features: torch.Tensor
    factors: pd.DataFrame
    factor_columns: dict
    feature_config: FeatureConfig
    source_spec: dict = field(default_factory=dict)

    def spec(self) -> dict:
        """What identifies this data (a copy of ``source_spec``)."""
        return json.loads(json.dumps(self.source_spec))

    def __len__(self) -> int:
        return len(self.factors)

    @property
    def input_shape(self) -> tuple[int, int]:
        return tuple(self.features.shape[1:])

    @property
    def shared_factor(self) -> str:
        """Name of the factor the two views of a pair share (the first of ``factor_columns``)."""
        return next(iter(self.factor_columns))

    def split_indices(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
        return np.flatnonzero((self.factors["split"] == split).to_numpy())

    def pairs(self, split: str = "train", rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Index pairs ``(n_split, 2)``: same value of the first factor, another value of the second."""
        cols = list(self.factor_columns.values())
        return factor_pairs(self.factors, cols[0], cols[1] if len(cols) > 1 else None, split, rng)


def _checksum(features: np.ndarray, factors: pd.DataFrame) -> str:
    h = hashlib.sha256(np.ascontiguousarray(features).tobytes())
    for col in factors.columns:
        values = factors[col].astype(str).to_numpy() if factors[col].dtype.kind in "OU" or col == "split" else factors[col].to_numpy()
        h.update(col.encode())
        h.update(np.ascontiguousarray(values).tobytes() if values.dtype.kind != "O" else "\x00".join(values).encode())
    return h.hexdigest()


def save_clips(path: str | Path, features: torch.Tensor, factors: pd.DataFrame, meta: dict) -> None:
    """Write features, factor table (numeric and string columns; ``split`` as a category) and
    ``meta`` (plus a checksum and the package version) to one ``.npz``, atomically."""
    feats = features.numpy()
    columns = {}
    for col in factors.columns:
        values = factors[col]
        columns[f"col_{col}"] = values.astype(str).to_numpy().astype(str) if values.dtype.kind in "OU" or col == "split" else values.to_numpy()
    full_meta = {**meta, "columns": list(factors.columns), "checksum": _checksum(feats, factors), "version": __version__}
    buf = io.BytesIO()
    np.savez(buf, features=feats, meta=np.frombuffer(json.dumps(full_meta).encode(), dtype=np.uint8), **columns)
    with atomic_write(path) as fh:
        fh.write(buf.getbuffer())


def load_clips(path: str | Path, expected_meta: dict) -> tuple[torch.Tensor, pd.DataFrame]:
    """Read a file of :func:`save_clips`; raise ``ValueError`` saying what is wrong with it
    (unreadable, written for other settings than ``expected_meta``, or failing its checksum)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        factors = pd.DataFrame({c: arrays[f"col_{c}"] for c in meta["columns"]})
    except Exception as err:  # truncated zip, bad JSON, missing member...
        raise ValueError(f"unreadable cache file {path}: {err}") from err
    expected = json.loads(json.dumps(expected_meta))
    if {k: meta.get(k) for k in expected} != expected:
        raise ValueError(f"cache file {path} was written for other settings")
    factors["split"] = pd.Categorical(factors["split"], categories=list(SPLITS))
    if _checksum(arrays["features"], factors) != meta.get("checksum"):
        raise ValueError(f"cache file {path} is corrupt (checksum mismatch)")
    return torch.from_numpy(arrays["features"]), factors
