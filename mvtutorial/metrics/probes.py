"""Probes: a small classifier trained on frozen codes, scored on held-out codes (the paper's
downstream evaluation, Wilkins et al. 2024).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ._checks import _check_train_test

PROBE_KINDS: Tuple[str, ...] = ("mlp", "logistic")


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
