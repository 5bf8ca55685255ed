"""Mutual information between code dimensions and factors, in nats: :func:`mi_knn` (k-NN,
Ross 2014, through scikit-learn), :func:`mi_histogram` (binned, with :func:`discretize`) and
:func:`factor_entropy`.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy.special import entr
from sklearn.feature_selection import mutual_info_classif
from sklearn.metrics import mutual_info_score
from threadpoolctl import threadpool_limits

from ._checks import _as_codes, _as_factors, _check_same_n

HISTOGRAM_STRATEGIES: Tuple[str, ...] = ("uniform", "quantile")


def mi_knn(
    codes: np.ndarray,
    factors: np.ndarray,
    n_neighbors: int = 3,
    random_state: int = 0,
    n_jobs: Optional[int] = None,
) -> np.ndarray:
    """k-nearest-neighbour MI between every code dimension and every factor.

    For a continuous code dimension ``z_d`` and a discrete factor ``v_k``,

    ``I(z_d; v_k) = psi(N) - <psi(N_v)> + psi(k) - <psi(m)>``

    (Ross 2014): for each sample, ``m`` counts all samples within the distance to
    its k-th neighbour *of the same class*, ``N_v`` is its class size and ``psi``
    the digamma function. Computed by
    :func:`sklearn.feature_selection.mutual_info_classif` (one call per factor,
    which first scales each dimension to unit variance and adds 1e-10 jitter drawn
    from ``random_state``; negative estimates are clipped to 0). The estimate is
    invariant to monotone rescaling of a dimension, so it is robust to outliers.

    Parameters
    ----------
    codes : ndarray, shape (N, D)
        Continuous codes.
    factors : ndarray, shape (N, K) or (N,)
        Integer class labels; each column needs at least 2 classes.
    n_neighbors : int
        ``k`` of the estimator (>= 1). Larger k: lower variance, more bias.
    random_state : int
        Seed of the jitter.
    n_jobs : int or None
        Parallel jobs over code dimensions (joblib convention).

    Returns
    -------
    ndarray, shape (D, K)
        MI in nats, ``>= 0``; bounded above (up to estimation error) by the
        factor entropy :func:`factor_entropy`.

    References
    ----------
    B. C. Ross, "Mutual Information between Discrete and Continuous Data Sets",
    PLoS ONE 9(2), 2014; Kraskov et al., Phys. Rev. E 69, 2004.
    """
    x = _as_codes(codes)
    f = _as_factors(factors)
    _check_same_n(x, f, "codes", "factors")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be an integer >= 1; got {n_neighbors!r}")
    out = np.empty((x.shape[1], f.shape[1]), dtype=np.float64)
    # sklearn runs hundreds of tiny OpenMP neighbour searches here; on a busy 2-core machine each
    # pays ~40 ms of thread start-up, while one thread costs nothing on the 6,400-clip benchmark.
    with threadpool_limits(limits=1, user_api="openmp"):
        for k in range(f.shape[1]):
            out[:, k] = mutual_info_classif(
                x, f[:, k], discrete_features=False, n_neighbors=int(n_neighbors),
                copy=True, random_state=random_state, n_jobs=n_jobs,
            )
    return out


def discretize(codes: np.ndarray, bins: int = 20, strategy: str = "uniform") -> np.ndarray:
    """Bin every code dimension independently into integer bin indices.

    * ``"uniform"``: ``bins`` equal-width bins spanning ``[min, max]`` of each
      dimension (what ``disentanglement_lib`` does with ``np.histogram`` edges).
      A single outlier stretches the range and squeezes all other samples into one
      bin.
    * ``"quantile"``: edges at the ``j / bins`` empirical quantiles, so every bin
      holds about ``N / bins`` samples whatever the scale; repeated edges (from tied
      values) are merged, so a dimension may end up with fewer than ``bins`` bins.

    Bin ``i`` is ``edges[i] <= x < edges[i+1]``; the maximum falls in the last bin.
    Identical to :class:`sklearn.preprocessing.KBinsDiscretizer` with
    ``encode="ordinal", strategy="uniform"`` for the uniform case; written out here
    because ``KBinsDiscretizer`` warns on constant or degenerate dimensions,
    subsamples for quantiles, and uses a different quantile interpolation.

    Parameters
    ----------
    codes : ndarray, shape (N, D)
    bins : int
        Number of bins, ``>= 2``.
    strategy : {"uniform", "quantile"}

    Returns
    -------
    ndarray of int64, shape (N, D)
        Bin index in ``[0, bins - 1]``. A constant dimension maps to bin 0.
    """
    x = _as_codes(codes)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2; got {bins!r}")
    if strategy not in HISTOGRAM_STRATEGIES:
        raise ValueError(
            f"unknown strategy {strategy!r}; expected one of {HISTOGRAM_STRATEGIES}"
        )
    out = np.empty(x.shape, dtype=np.int64)
    for d in range(x.shape[1]):
        col = x[:, d]
        if col.min() == col.max():  # constant: one bin (edges would all coincide)
            out[:, d] = 0
            continue
        if strategy == "uniform":
            inner = np.linspace(col.min(), col.max(), int(bins) + 1)[1:-1]
        else:
            inner = np.unique(np.quantile(col, np.linspace(0.0, 1.0, int(bins) + 1)[1:-1]))
        out[:, d] = np.searchsorted(inner, col, side="right")
    return out


def mi_histogram(
    codes: np.ndarray,
    factors: np.ndarray,
    bins: int = 20,
    strategy: str = "uniform",
) -> np.ndarray:
    """Plug-in (binned) MI between every code dimension and every factor.

    Each dimension is discretised by :func:`discretize`; then, with empirical
    frequencies ``p``,

    ``I(b_d; v_k) = sum_{b, v} p(b, v) log[ p(b, v) / (p(b) p(v)) ]``

    computed by :func:`sklearn.metrics.mutual_info_score`. ``bins=20`` with
    ``strategy="uniform"`` is the ``disentanglement_lib`` MIG estimator.

    The plug-in estimate is biased upward by about ``(B - 1)(C - 1) / (2N)`` nats
    for B occupied bins and C classes (Miller-Madow), and with equal-width bins it
    collapses towards 0 when one outlier stretches a dimension's range; quantile
    bins are immune to that (see :func:`discretize`).

    Parameters
    ----------
    codes : ndarray, shape (N, D)
    factors : ndarray, shape (N, K) or (N,)
        Integer class labels, at least 2 classes per column.
    bins : int
        Bins per dimension, ``>= 2``.
    strategy : {"uniform", "quantile"}

    Returns
    -------
    ndarray, shape (D, K)
        MI in nats, ``0 <= I <= min(H(b_d), H(v_k))``.

    References
    ----------
    Locatello et al., ICML 2019 (``disentanglement_lib``, ``_histogram_discretize``).
    """
    f = _as_factors(factors)
    binned = discretize(codes, bins=bins, strategy=strategy)
    _check_same_n(binned, f, "codes", "factors")
    out = np.empty((binned.shape[1], f.shape[1]), dtype=np.float64)
    for d in range(binned.shape[1]):
        for k in range(f.shape[1]):
            out[d, k] = mutual_info_score(f[:, k], binned[:, d])
    return out


def factor_entropy(factors: np.ndarray) -> np.ndarray:
    """Empirical entropy of each factor, ``H(v_k) = -sum_c p_c log p_c``.

    Parameters
    ----------
    factors : ndarray, shape (N, K) or (N,)
        Integer class labels, at least 2 classes per column.

    Returns
    -------
    ndarray, shape (K,)
        Entropy in nats; ``log C`` for a balanced factor with C classes.
    """
    f = _as_factors(factors)
    out = np.empty(f.shape[1], dtype=np.float64)
    for k in range(f.shape[1]):
        _, counts = np.unique(f[:, k], return_counts=True)
        p = counts / counts.sum()
        out[k] = entr(p).sum()
    return out
