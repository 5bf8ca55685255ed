"""Disentanglement scores from MI matrices and codes: MIG (Chen et al. 2018), DCI (Eastwood &
Williams 2018) and SAP (Kumar et al. 2018), as in ``disentanglement_lib`` (Locatello et al. 2019).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.tree import DecisionTreeClassifier

from ._checks import _check_train_test, _normalized_entropy


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
    """DCI scores from tree-ensemble feature importances (a random forest by default).

    For each factor ``j`` a classifier predicts ``v_j`` from all D code dimensions;
    its impurity-based ``feature_importances_`` (summing to 1) form column ``j`` of
    the importance matrix ``R`` (D, K), scored by :func:`dci_from_importance`.
    Informativeness is the classifiers' mean test accuracy (Eastwood & Williams
    report a prediction error; accuracy = 1 - error for 0/1 loss).

    The default classifier is a **random forest**, whereas ``disentanglement_lib``
    (Locatello et al., ICML 2019), whose DCI numbers papers usually quote, uses
    **gradient-boosted trees** (``GradientBoostingClassifier()`` with default settings).
    The two spread importance differently over correlated or noise dimensions, so DCI
    values are comparable only between runs scored with the same classifier; every
    number this package ships uses the default forest. Pass
    ``estimator=GradientBoostingClassifier()`` to score as ``disentanglement_lib`` does
    (minutes per factor on the full tone set, see ``_default_dci_estimator``).

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
