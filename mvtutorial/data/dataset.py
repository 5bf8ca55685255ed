"""The one dataset class of every data source, and its checksummed cache file.

A :class:`FactorDataset` holds log-mel ``features`` and the ``factors`` table of the clips (one
row per clip, with a ``split`` column), names its factors (``factor_columns``: factor name ->
column, the first factor being the one the two views of a pair share) and says where it came from
(``spec()``, stored in checkpoints and turned back into the dataset by
:func:`mvtutorial.data.sources.load_from_spec`). The tone set, the sampled-note set and a folder
of audio are data sources that build one (:mod:`~mvtutorial.data.tones`,
:mod:`~mvtutorial.data.instruments`, :mod:`~mvtutorial.data.folder`).

Every source caches its dataset through :func:`load_cached`, in one file format: one ``.npz``
written atomically, holding the features, every factor column and a JSON header with the spec,
the column names and a SHA-256 checksum of all of them. A cache file that is unreadable, written
for another spec (or an older file format) or fails its checksum is reported with a warning and
rebuilt, never used.

Reference: Wilkins et al., ISMIR 2024 LBD (pairs share one factor and differ in another).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from .._version import __version__
from ..cache import atomic_write, cache_dir, config_hash
from ..features import FeatureConfig
from .pairs import factor_pairs
from .splits import SPLITS, check_split

__all__ = ["CACHE_FORMAT", "FactorDataset", "spec_difference", "cache_path", "load_cached"]

#: Layout of the cache file (3: one layout for every source; 1 and 2 were per-source files).
CACHE_FORMAT = 3


@dataclass(eq=False)
class FactorDataset:
    """Log-mels ``features`` ``(N, n_mels, n_frames)`` float32 in [0, 1] with their ``factors`` table.

    Attributes
    ----------
    features : float32 tensor ``(N, n_mels, n_frames)``.
    factors : one row per clip; a categorical ``split`` column (``"train" | "val" | "test"``).
    factor_columns : factor name -> column of ``factors`` holding its integer label; the first
        factor is shared by the two views of a pair, the second is the one they differ in.
    feature_config : the log-mel settings of ``features``.
    source_spec : JSON-ready dict that identifies the data (``{"source": name, ...}``).
    config : the source's own settings (e.g. :class:`~mvtutorial.data.tones.ToneConfig`).
    seed : seed of the source's random draw.
    renderer : ``renderer(rows, config) -> audio (n, n_samples)``, the source's audio of factor
        rows (:meth:`audio`); ``None`` when the source cannot give audio back.
    pair_draw : order of the random numbers of :meth:`pairs` (see :mod:`mvtutorial.data.pairs`).
    """

    features: torch.Tensor
    factors: pd.DataFrame
    factor_columns: dict
    feature_config: FeatureConfig
    source_spec: dict = field(default_factory=dict)
    config: Any = None
    seed: int = 0
    renderer: Callable[[pd.DataFrame, Any], np.ndarray] | None = field(default=None, repr=False)
    pair_draw: str = "by_shared"

    def spec(self) -> dict:
        """What identifies this data (a copy of ``source_spec``)."""
        return json.loads(json.dumps(self.source_spec))

    def __len__(self) -> int:
        return len(self.factors)

    @property
    def input_shape(self) -> tuple[int, int]:
        """``(n_mels, n_frames)`` of one clip."""
        return tuple(self.features.shape[1:])

    @property
    def shared_factor(self) -> str:
        """Name of the factor the two views of a pair share (the first of ``factor_columns``)."""
        return next(iter(self.factor_columns))

    @property
    def private_factors(self) -> tuple[str, ...]:
        """Names of the other factors (private to each view), in ``factor_columns`` order."""
        return tuple(self.factor_columns)[1:]

    def split_indices(self, split: str) -> np.ndarray:
        """Row positions of the clips of ``split``, ascending."""
        check_split(split)
        return np.flatnonzero((self.factors["split"] == split).to_numpy())

    def pairs(self, split: str = "train", rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Index pairs ``(n_split, 2)``: same value of the first factor, another value of the
        second (:func:`~mvtutorial.data.pairs.factor_pairs`)."""
        cols = list(self.factor_columns.values())
        return factor_pairs(self.factors, cols[0], cols[1] if len(cols) > 1 else None, split, rng, self.pair_draw)

    def audio(self, index) -> np.ndarray:
        """Audio of clips ``index`` (re-rendered or re-read from their factor rows), float32 ``(n, n_samples)``."""
        if self.renderer is None:
            raise ValueError(f"data source {self.source_spec.get('source')!r} gives no audio back (no renderer)")
        return self.renderer(self.factors.iloc[np.atleast_1d(index)], self.config)


def spec_difference(a: dict, b: dict) -> list[str]:
    """The settings in which two data specs differ, as ``"key: a != b"`` (one level into nested
    configs, e.g. ``"tone_config.n_clips: 840 != 1680"``), for error messages."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += [f"{key}.{k}: {va.get(k)!r} != {vb.get(k)!r}" for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
        elif va != vb:
            out.append(f"{key}: {va!r} != {vb!r}")
    return out


def _stored_columns(factors: pd.DataFrame) -> dict[str, np.ndarray]:
    """The factor columns as the cache stores them: numbers as they are, text and categories
    (``split``) as unicode arrays."""
    out = {}
    for col in factors.columns:
        values = factors[col]
        text = values.dtype.kind not in "iufb"
        out[col] = values.astype(str).to_numpy().astype(str) if text else values.to_numpy()
    return out


def _checksum(features: np.ndarray, columns: dict[str, np.ndarray]) -> str:
    """SHA-256 of the features and every stored column (name, dtype, values), hashed in place."""
    h = hashlib.sha256(memoryview(np.ascontiguousarray(features)).cast("B"))
    for name, values in columns.items():
        h.update(f"\x00{name}\x00{values.dtype.str}\x00".encode())
        h.update(memoryview(np.ascontiguousarray(values).view(np.uint8)).cast("B"))
    return h.hexdigest()


def _save(path: Path, ds: FactorDataset, key: dict) -> None:
    features, columns = ds.features.numpy(), _stored_columns(ds.factors)
    meta = {**key, "columns": list(columns), "checksum": _checksum(features, columns), "version": __version__}
    with atomic_write(path) as fh:  # written once, straight into the file (no in-memory copy first)
        np.savez(fh, features=features, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                 **{f"col_{c}": v for c, v in columns.items()})


def _read(path: Path, key: dict) -> tuple[torch.Tensor, pd.DataFrame]:
    """Features and factors of a cache file; ``ValueError`` saying what is wrong with it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        columns = {c: arrays[f"col_{c}"] for c in meta["columns"]}
    except Exception as err:  # truncated zip, bad JSON, missing member...
        raise ValueError(f"unreadable cache file {path}: {err}") from err
    if meta.get("format") != key["format"]:
        raise ValueError(f"cache file {path} has format {meta.get('format')!r}, not {key['format']}")
    if {k: meta.get(k) for k in key} != key:
        differ = "; ".join(spec_difference(meta.get("spec") or {}, key["spec"])) or "its file stamp"
        raise ValueError(f"cache file {path} was written for another config/seed ({differ})")
    if _checksum(arrays["features"], columns) != meta.get("checksum"):
        raise ValueError(f"cache file {path} is corrupt (checksum mismatch)")
    factors = pd.DataFrame(columns)
    factors["split"] = pd.Categorical(factors["split"], categories=list(SPLITS))
    return torch.from_numpy(arrays["features"]), factors


def cache_path(spec: dict, cache: str | Path | None | bool = None, stamp: str = "") -> Path:
    """Cache file of the data ``spec``: ``<cache folder>/<source>-<hash of spec, stamp, format>.npz``."""
    folder = cache_dir(None if cache in (None, True) else cache)
    return folder / f"{spec['source']}-{config_hash(spec, stamp, CACHE_FORMAT)}.npz"


def load_cached(
    spec: dict,
    build: Callable[[], FactorDataset],
    restore: Callable[[torch.Tensor, pd.DataFrame], FactorDataset],
    cache: str | Path | None | bool = None,
    stamp: str = "",
) -> FactorDataset:
    """The dataset of ``spec``, from its cache file when a valid one exists, else ``build()`` (then cached).

    Parameters
    ----------
    spec : the data spec (what the dataset's ``spec()`` returns); it keys the file.
    build : builds the dataset from scratch.
    restore : turns cached ``(features, factors)`` back into the dataset.
    cache : folder for the cache (default :func:`mvtutorial.cache.cache_dir`), or ``False`` for none.
    stamp : anything else the data depends on (e.g. the input files' sizes and times).

    A file that is unreadable, for another spec or format, or fails its checksum is reported with
    a ``UserWarning`` and rebuilt.
    """
    if cache is False:
        return build()
    path, key = cache_path(spec, cache, stamp), {"format": CACHE_FORMAT, "spec": spec, "stamp": stamp}
    key = json.loads(json.dumps(key))
    if path.exists():
        try:
            return restore(*_read(path, key))
        except ValueError as err:
            warnings.warn(f"{err}; rebuilding it", stacklevel=3)
    ds = build()
    _save(path, ds, key)
    return ds
