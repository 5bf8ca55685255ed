"""Input validation shared by the metric functions: one clear error naming the bad array.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy.special import entr



def _as_codes(codes: np.ndarray, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as a finite float64 array of shape (N, D) or raise ValueError."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (N, D); got ndim={arr.ndim} "
            f"(shape {arr.shape})"
        )
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 rows and 1 column; got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_factors(
    factors: np.ndarray, name: str = "factors", allow_2d: bool = True
) -> np.ndarray:
    """Return integer class labels of shape (N, K) (1-D input -> K = 1) or raise.

    Each column must hold at least two distinct classes. Float arrays are accepted
    only if every value is a whole number.
    """
    arr = np.asarray(factors)
    allowed = (1, 2) if allow_2d else (1,)
    if arr.ndim not in allowed:
        want = "1-D (N,) or 2-D (N, K)" if allow_2d else "1-D (N,)"
        raise ValueError(f"{name} must be {want}; got ndim={arr.ndim} (shape {arr.shape})")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.int64, copy=False)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name} must hold integer class labels; got non-integer values "
                f"(dtype {arr.dtype})"
            )
        arr = arr.astype(np.int64)
    else:
        raise ValueError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 rows and 1 column; got shape {arr.shape}")
    for k in range(arr.shape[1]):
        n_classes = np.unique(arr[:, k]).size
        if n_classes < 2:
            col = f"{name}[:, {k}]" if allow_2d else name
            raise ValueError(
                f"{col} has {n_classes} class; at least 2 classes are needed"
            )
    return arr


def _check_same_n(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of rows N; "
            f"got {a.shape[0]} and {b.shape[0]}"
        )


def _check_train_test(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ctr = _as_codes(codes_train, "codes_train")
    cte = _as_codes(codes_test, "codes_test")
    ftr = _as_factors(factors_train, "factors_train")
    # The test split may legitimately be tiny or miss classes: only check labels.
    fte = np.asarray(factors_test)
    if fte.ndim == 1:
        fte = fte[:, None]
    if fte.ndim != 2:
        raise ValueError(
            f"factors_test must be 1-D (N,) or 2-D (N, K); got ndim={np.ndim(factors_test)}"
        )
    if not (np.issubdtype(fte.dtype, np.integer) or fte.dtype == bool):
        if not (np.issubdtype(fte.dtype, np.floating) and np.all(fte == np.round(fte))):
            raise ValueError(
                f"factors_test must hold integer class labels; got dtype {fte.dtype}"
            )
    fte = fte.astype(np.int64)
    _check_same_n(ctr, ftr, "codes_train", "factors_train")
    _check_same_n(cte, fte, "codes_test", "factors_test")
    if ctr.shape[1] != cte.shape[1]:
        raise ValueError(
            f"codes_train and codes_test must have the same number of dimensions D; "
            f"got {ctr.shape[1]} and {cte.shape[1]}"
        )
    if ftr.shape[1] != fte.shape[1]:
        raise ValueError(
            f"factors_train and factors_test must have the same number of factors K; "
            f"got {ftr.shape[1]} and {fte.shape[1]}"
        )
    return ctr, ftr, cte, fte


def _normalized_entropy(p: np.ndarray, axis: int) -> np.ndarray:
    """Entropy of distributions along ``axis`` divided by log(number of outcomes).

    ``p`` must already be normalised along ``axis``. With a single outcome the
    normalised entropy is defined as 0 (a one-point distribution is certain).
    """
    n = p.shape[axis]
    h = entr(p).sum(axis=axis)  # entr(x) = -x log x, with entr(0) = 0 exactly
    if n == 1:
        return np.zeros_like(h)
    return h / np.log(n)
