"""Disentanglement and probe metrics on frozen codes (pure NumPy / scikit-learn).

Every function takes plain arrays, in the style of ``disentanglement_lib``:

* ``codes`` -- float array of shape ``(N, D)``: one row per clip, one column per
  latent dimension (for us, posterior means).
* ``factors`` -- integer array of shape ``(N, K)`` (or ``(N,)`` for ``K = 1``):
  the ground-truth class label of each clip for each factor (timbre, pitch class).

Nothing here keeps state between calls and everything random takes an explicit
``random_state`` / ``seed``, so the same inputs always give the same numbers.
All information quantities are in **nats** (natural logarithm).

Contents
--------
Mutual information: :func:`mi_knn` (k-NN, Ross 2014), :func:`mi_histogram`
(binned, with :func:`discretize`), :func:`factor_entropy`.
Scores: :func:`mig` / :func:`mig_per_factor` (Chen et al. 2018),
:func:`dci` / :func:`dci_from_importance` (Eastwood & Williams 2018),
:func:`sap` / :func:`sap_scores` (Kumar et al. 2018).
Probes: :func:`make_probe`, :func:`probe_accuracy`, :func:`chance_level`,
:func:`probe_table`.

Reference: Wilkins et al., "Self-Supervised Multi-View Learning for Disentangled
Music Audio Representations", ISMIR 2024 LBD (MI matrix and MLP probes);
Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
Disentangled Representations", ICML 2019 (``disentanglement_lib``).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy.special import entr
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, mutual_info_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

__all__ = [
    "HISTOGRAM_STRATEGIES",
    "PROBE_KINDS",
    "mi_knn",
    "discretize",
    "mi_histogram",
    "factor_entropy",
    "mig_per_factor",
    "mig",
    "dci_from_importance",
    "dci",
    "sap_scores",
    "sap",
    "make_probe",
    "probe_accuracy",
    "chance_level",
    "probe_table",
]

HISTOGRAM_STRATEGIES: Tuple[str, ...] = ("uniform", "quantile")
PROBE_KINDS: Tuple[str, ...] = ("mlp", "logistic")


# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# Mutual information
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# MIG
# --------------------------------------------------------------------------- #
def mig_per_factor(mi: np.ndarray, entropy: np.ndarray) -> np.ndarray:
    """Normalised gap between the two most informative dimensions, per factor.

    ``gap_k = ( I(z_(1); v_k) - I(z_(2); v_k) ) / H(v_k)``, where ``z_(1)`` and
    ``z_(2)`` are the dimensions with the largest and second-largest MI with
    factor ``k``. 1: one dimension alone carries the factor; 0: at least two
    dimensions carry it equally (or none carries it).

    Parameters
    ----------
    mi : ndarray, shape (D, K)
        MI matrix in nats (e.g. :func:`mi_knn` or :func:`mi_histogram`), ``D >= 2``.
    entropy : ndarray, shape (K,)
        Factor entropies in nats (:func:`factor_entropy`), all ``> 0``.

    Returns
    -------
    ndarray, shape (K,)

    References
    ----------
    R. T. Q. Chen et al., "Isolating Sources of Disentanglement in Variational
    Autoencoders", NeurIPS 2018, eq. (7).
    """
    m = np.asarray(mi, dtype=np.float64)
    h = np.asarray(entropy, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"mi must be 2-D with shape (D, K); got ndim={m.ndim}")
    if m.shape[0] < 2:
        raise ValueError(f"mi needs at least 2 code dimensions (rows); got shape {m.shape}")
    if h.ndim != 1 or h.shape[0] != m.shape[1]:
        raise ValueError(
            f"entropy must have shape (K,) = ({m.shape[1]},) to match mi {m.shape}; "
            f"got shape {h.shape}"
        )
    if not np.all(np.isfinite(m)):
        raise ValueError("mi contains NaN or infinite values")
    if not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(f"entropy must be finite and > 0 for every factor; got {h}")
    top = np.sort(m, axis=0)[::-1]
    return (top[0] - top[1]) / h


def mig(mi: np.ndarray, entropy: np.ndarray) -> float:
    """Mutual Information Gap: mean over factors of :func:`mig_per_factor`.

    ``MIG = (1/K) sum_k ( I(z_(1); v_k) - I(z_(2); v_k) ) / H(v_k)``, in [0, 1]
    up to estimation error.

    Parameters
    ----------
    mi : ndarray, shape (D, K)
        MI matrix in nats, ``D >= 2``.
    entropy : ndarray, shape (K,)
        Factor entropies in nats, all ``> 0``.

    Returns
    -------
    float

    References
    ----------
    R. T. Q. Chen et al., NeurIPS 2018.
    """
    return float(np.mean(mig_per_factor(mi, entropy)))


# --------------------------------------------------------------------------- #
# DCI
# --------------------------------------------------------------------------- #
def dci_from_importance(importance: np.ndarray) -> Tuple[float, float]:
    """Disentanglement and completeness of an importance matrix.

    With ``R`` of shape (D codes, K factors), ``R_ij >= 0`` the importance of code
    ``i`` for predicting factor ``j``:

    * disentanglement per code: ``P_ij = R_ij / sum_k R_ik``,
      ``D_i = 1 - H_K(P_i.)`` (entropy with log base K); overall
      ``D = sum_i rho_i D_i`` with ``rho_i = sum_j R_ij / sum_ij R_ij``.
    * completeness per factor: ``P~_ij = R_ij / sum_k R_kj``,
      ``C_j = 1 - H_D(P~_.j)`` (log base D); overall ``C = sum_j w_j C_j`` with
      ``w_j = sum_i R_ij / sum_ij R_ij`` (as ``disentanglement_lib``; equal to the
      plain mean when each column sums to 1, as tree importances do).

    A code with zero total importance gets weight 0. An all-zero matrix (nothing
    predicts anything) gives ``(0.0, 0.0)``, as ``disentanglement_lib`` which
    replaces it by a uniform matrix. With ``K = 1`` (or ``D = 1``) the normalised
    entropy of a one-outcome distribution is taken as 0, so ``D_i = 1`` (``C_j = 1``).
    A diagonal (one code per factor, rest zero) matrix gives exactly ``(1.0, 1.0)``;
    a constant matrix gives ``(0.0, 0.0)``.

    Parameters
    ----------
    importance : ndarray, shape (D, K)
        Non-negative, finite.

    Returns
    -------
    (disentanglement, completeness) : tuple of float, each in [0, 1].

    References
    ----------
    C. Eastwood and C. K. I. Williams, "A Framework for the Quantitative Evaluation
    of Disentangled Representations", ICLR 2018, section 3.
    """
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(
            f"importance must be 2-D with shape (D codes, K factors); got ndim={r.ndim}"
        )
    if r.size == 0:
        raise ValueError(f"importance must be non-empty; got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("importance contains NaN or infinite values")
    if np.any(r < 0):
        raise ValueError(f"importance must be non-negative; min is {r.min()}")
    total = r.sum()
    if total == 0:
        return 0.0, 0.0

    code_mass = r.sum(axis=1)  # (D,)
    live = code_mass > 0
    p_code = np.zeros_like(r)
    p_code[live] = r[live] / code_mass[live, None]
    d_per_code = np.where(live, 1.0 - _normalized_entropy(p_code, axis=1), 0.0)
    disentanglement = float(np.sum(code_mass / total * d_per_code))

    factor_mass = r.sum(axis=0)  # (K,)
    live_f = factor_mass > 0
    p_factor = np.zeros_like(r)
    p_factor[:, live_f] = r[:, live_f] / factor_mass[None, live_f]
    c_per_factor = np.where(live_f, 1.0 - _normalized_entropy(p_factor, axis=0), 0.0)
    completeness = float(np.sum(factor_mass / total * c_per_factor))
    return disentanglement, completeness


def _default_dci_estimator(random_state: int, n_jobs: Optional[int]) -> RandomForestClassifier:
    # Why a random forest, and why these settings (measured on 2 cores, 20k train
    # x 16 dims, 4 and 21 classes):
    # * disentanglement_lib's GradientBoostingClassifier grows n_classes depth-3
    #   trees per stage, serially: 10 stages on the 21-class factor took 32 s,
    #   so its default 100 stages would take ~5 minutes per factor.
    # * HistGradientBoosting is fast but has no feature_importances_.
    # * A random forest is parallel over trees. Fully grown trees (3-5 s per factor)
    #   keep splitting on pure-noise dimensions and hand each of them ~5 % of the
    #   impurity importance, which drags D and C down for reasons that have nothing
    #   to do with the code. min_samples_leaf=20 stops that (noise dims ~1-3 %) and
    #   max_samples=0.5 halves the cost at no loss of test accuracy: ~1.3-1.8 s
    #   per factor.
    return RandomForestClassifier(
        n_estimators=50,
        min_samples_leaf=20,
        max_samples=0.5,
        random_state=random_state,
        n_jobs=n_jobs,
    )


def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: int = 0,
    n_jobs: Optional[int] = None,
    estimator: Optional[ClassifierMixin] = None,
) -> dict:
    """DCI scores from tree-ensemble feature importances.

    For each factor ``j`` a classifier predicts ``v_j`` from all D code dimensions;
    its impurity-based ``feature_importances_`` (summing to 1) form column ``j`` of
    the importance matrix ``R`` (D, K), scored by :func:`dci_from_importance`.
    Informativeness is the classifiers' mean test accuracy (Eastwood & Williams
    report a prediction error; accuracy = 1 - error for 0/1 loss).

    Parameters
    ----------
    codes_train, codes_test : ndarray, shape (N_train, D), (N_test, D)
    factors_train, factors_test : ndarray, shape (N_train, K), (N_test, K) or 1-D
        Integer class labels.
    random_state : int
        Seed of the default random forest.
    n_jobs : int or None
        Parallel jobs of the default random forest.
    estimator : sklearn classifier with ``feature_importances_``, optional
        Cloned once per factor; default ``RandomForestClassifier(n_estimators=50,
        min_samples_leaf=20, max_samples=0.5)`` (fast on 2 cores; see source).
        Pass ``GradientBoostingClassifier()`` to match ``disentanglement_lib``
        (much slower).

    Returns
    -------
    dict
        ``disentanglement`` (float), ``completeness`` (float),
        ``informativeness`` (float, mean test accuracy over factors),
        ``informativeness_per_factor`` (ndarray (K,)), ``importance`` (ndarray (D, K)).

    References
    ----------
    C. Eastwood and C. K. I. Williams, ICLR 2018.
    """
    ctr, ftr, cte, fte = _check_train_test(codes_train, factors_train, codes_test, factors_test)
    n_dims, n_factors = ctr.shape[1], ftr.shape[1]
    importance = np.zeros((n_dims, n_factors), dtype=np.float64)
    acc = np.zeros(n_factors, dtype=np.float64)
    for k in range(n_factors):
        model = (
            _default_dci_estimator(random_state, n_jobs)
            if estimator is None
            else clone(estimator)
        )
        model.fit(ctr, ftr[:, k])
        imp = np.asarray(getattr(model, "feature_importances_", None), dtype=np.float64)
        if imp.shape != (n_dims,):
            raise ValueError(
                f"estimator {type(model).__name__} must expose feature_importances_ of "
                f"shape ({n_dims},)"
            )
        importance[:, k] = np.abs(imp)
        acc[k] = accuracy_score(fte[:, k], model.predict(cte))
    d, c = dci_from_importance(importance)
    return {
        "disentanglement": d,
        "completeness": c,
        "informativeness": float(acc.mean()),
        "informativeness_per_factor": acc,
        "importance": importance,
    }


# --------------------------------------------------------------------------- #
# SAP
# --------------------------------------------------------------------------- #
def sap_scores(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: int = 0,
) -> np.ndarray:
    """Test accuracy of a 1-D threshold classifier for every (dimension, factor).

    ``S_ij`` = accuracy of predicting factor ``j`` from code dimension ``i`` alone
    with a :class:`~sklearn.tree.DecisionTreeClassifier` limited to ``C_j`` leaves
    (``C_j`` = number of training classes): a set of at most ``C_j - 1`` thresholds
    on the line, i.e. a multi-class version of Kumar et al.'s threshold classifier
    (a single stump, ``max_depth=1``, could name only 2 of the classes).
    ``disentanglement_lib`` uses a one-vs-rest ``LinearSVC`` instead, which cannot
    carve out middle intervals of an ordered 1-D code well.

    Parameters
    ----------
    codes_train, codes_test : ndarray, shape (N_train, D), (N_test, D)
    factors_train, factors_test : ndarray, shape (N_train, K), (N_test, K) or 1-D
    random_state : int
        Seed of the trees (only breaks ties between equal splits).

    Returns
    -------
    ndarray, shape (D, K)
        Accuracies in [0, 1].
    """
    ctr, ftr, cte, fte = _check_train_test(codes_train, factors_train, codes_test, factors_test)
    out = np.empty((ctr.shape[1], ftr.shape[1]), dtype=np.float64)
    for k in range(ftr.shape[1]):
        n_classes = np.unique(ftr[:, k]).size
        for d in range(ctr.shape[1]):
            tree = DecisionTreeClassifier(max_leaf_nodes=n_classes, random_state=random_state)
            tree.fit(ctr[:, [d]], ftr[:, k])
            out[d, k] = accuracy_score(fte[:, k], tree.predict(cte[:, [d]]))
    return out


def sap(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: int = 0,
) -> float:
    """Separated Attribute Predictability (classification version).

    ``SAP = (1/K) sum_k ( S_(1)k - S_(2)k )``: for each factor, the gap between the
    best and second-best single-dimension accuracy of :func:`sap_scores`. High when
    exactly one dimension predicts each factor; 0 when two dimensions predict it
    equally well. Not normalised by chance: the best possible value for a balanced
    factor with C classes whose other dimensions are uninformative is ``1 - 1/C``.

    Parameters
    ----------
    codes_train, codes_test : ndarray, shape (N_train, D), (N_test, D); ``D >= 2``
    factors_train, factors_test : ndarray, shape (N_train, K), (N_test, K) or 1-D
    random_state : int

    Returns
    -------
    float

    References
    ----------
    A. Kumar, P. Sattigeri and A. Balakrishnan, "Variational Inference of
    Disentangled Latent Concepts from Unlabeled Observations", ICLR 2018, section 3.
    """
    scores = sap_scores(codes_train, factors_train, codes_test, factors_test, random_state)
    if scores.shape[0] < 2:
        raise ValueError(
            f"SAP needs at least 2 code dimensions; got codes with D={scores.shape[0]}"
        )
    top = np.sort(scores, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


# --------------------------------------------------------------------------- #
# Probes
# --------------------------------------------------------------------------- #
def make_probe(kind: str = "mlp", seed: int = 0) -> Pipeline:
    """Unfitted probe: ``StandardScaler`` then a classifier.

    * ``"mlp"``: ``MLPClassifier(hidden_layer_sizes=(128,), max_iter=300,
      early_stopping=True, random_state=seed)`` (10 % of the training codes held out
      for early stopping).
    * ``"logistic"``: multinomial ``LogisticRegression(max_iter=1000)``.

    Parameters
    ----------
    kind : {"mlp", "logistic"}
    seed : int
        Initialisation / validation-split seed.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    if kind == "mlp":
        clf = MLPClassifier(
            hidden_layer_sizes=(128,), max_iter=300, early_stopping=True, random_state=seed
        )
    elif kind == "logistic":
        clf = LogisticRegression(max_iter=1000, random_state=seed)
    else:
        raise ValueError(f"unknown probe kind {kind!r}; expected one of {PROBE_KINDS}")
    return make_pipeline(StandardScaler(), clf)


def probe_accuracy(
    codes_train: np.ndarray,
    y_train: np.ndarray,
    codes_test: np.ndarray,
    y_test: np.ndarray,
    kind: str = "mlp",
    seed: int = 0,
) -> float:
    """Test accuracy of a probe trained on frozen codes.

    Parameters
    ----------
    codes_train, codes_test : ndarray, shape (N_train, D), (N_test, D)
    y_train, y_test : ndarray of int, shape (N_train,), (N_test,)
    kind : {"mlp", "logistic"}
        See :func:`make_probe`.
    seed : int

    Returns
    -------
    float
        Fraction of test clips classified correctly; compare with
        :func:`chance_level`.
    """
    if kind not in PROBE_KINDS:
        raise ValueError(f"unknown probe kind {kind!r}; expected one of {PROBE_KINDS}")
    ctr, ytr, cte, yte = _check_train_test(codes_train, y_train, codes_test, y_test)
    if ytr.shape[1] != 1:
        raise ValueError(f"y_train must be 1-D (N,); got shape {np.shape(y_train)}")
    model = make_probe(kind, seed)
    model.fit(ctr, ytr[:, 0])
    return float(accuracy_score(yte[:, 0], model.predict(cte)))


def chance_level(y: np.ndarray, y_train: Optional[np.ndarray] = None) -> float:
    """Accuracy of always predicting the majority class.

    Parameters
    ----------
    y : ndarray of int, shape (N,)
        Labels the accuracy is measured on (the test split).
    y_train : ndarray of int, shape (N_train,), optional
        If given, the majority class is taken from it (what a constant classifier
        fitted on the training split scores on ``y``); otherwise from ``y``.

    Returns
    -------
    float
        ``1 / C`` for a balanced factor with C classes.
    """
    yy = np.asarray(y)
    if yy.ndim != 1 or yy.size == 0:
        raise ValueError(f"y must be a non-empty 1-D label array; got shape {yy.shape}")
    if y_train is None:
        _, counts = np.unique(yy, return_counts=True)
        return float(counts.max() / yy.size)
    yt = np.asarray(y_train)
    if yt.ndim != 1 or yt.size == 0:
        raise ValueError(f"y_train must be a non-empty 1-D label array; got shape {yt.shape}")
    values, counts = np.unique(yt, return_counts=True)
    majority = values[np.argmax(counts)]  # ties -> smallest label, like DummyClassifier
    return float(np.mean(yy == majority))


def probe_table(
    codes: Mapping[str, Tuple[np.ndarray, np.ndarray]],
    factors: Mapping[str, Tuple[np.ndarray, np.ndarray]],
    kind: str = "mlp",
    seeds: Sequence[int] = (0, 1, 2),
) -> pd.DataFrame:
    """Probe every latent subspace for every factor with several seeds.

    Parameters
    ----------
    codes : mapping name -> (codes_train (N_train, D), codes_test (N_test, D))
        E.g. ``{"private": ..., "shared": ..., "both": ...}``.
    factors : mapping name -> (y_train (N_train,), y_test (N_test,))
        E.g. ``{"timbre": ..., "frequency": ...}``; same rows as the codes.
    kind : {"mlp", "logistic"}
    seeds : sequence of int
        One probe fit per seed.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per (latent, factor, seed), columns ``latent``,
        ``factor``, ``seed``, ``accuracy``, ``chance`` (majority-class rate of the
        training split's majority class on the test split, :func:`chance_level`).
    """
    if kind not in PROBE_KINDS:
        raise ValueError(f"unknown probe kind {kind!r}; expected one of {PROBE_KINDS}")
    if len(codes) == 0 or len(factors) == 0:
        raise ValueError("codes and factors must each hold at least one entry")
    seeds = list(seeds)
    if len(seeds) == 0:
        raise ValueError("seeds must hold at least one seed")
    for label, mapping in (("codes", codes), ("factors", factors)):
        for name, pair in mapping.items():
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"{label}[{name!r}] must be a (train, test) pair")
    rows = []
    for latent, (c_train, c_test) in codes.items():
        for factor, (y_tr, y_te) in factors.items():
            chance = chance_level(np.asarray(y_te).ravel(), np.asarray(y_tr).ravel())
            for seed in seeds:
                acc = probe_accuracy(c_train, y_tr, c_test, y_te, kind=kind, seed=int(seed))
                rows.append(
                    {
                        "latent": latent,
                        "factor": factor,
                        "seed": int(seed),
                        "accuracy": acc,
                        "chance": chance,
                    }
                )
    return pd.DataFrame(rows, columns=["latent", "factor", "seed", "accuracy", "chance"])
