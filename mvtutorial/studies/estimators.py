"""Chapter 2's toy experiments: the minibatch estimators of MI, TC and DWKL (Chen et al. 2018,
"Isolating Sources of Disentanglement in VAEs", NeurIPS) against closed forms on correlated Gaussians.

The posterior means of ``N`` examples are drawn from ``N(0, C)`` with ``C`` an equicorrelation
matrix and every posterior is ``N(mu_n, sigma^2 I)``, so the aggregate posterior is (up to the
finite sample) ``N(0, C + sigma^2 I)`` and TC and MI have closed forms. :func:`tc_experiment`
varies the correlation, :func:`narrow_experiment` the posterior width; each weighting of
:func:`mvtutorial.losses.log_importance_weights` is one estimator.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..losses import aggregate_decomposition, decompose_kl, log_importance_weights

__all__ = ["DIM", "SIGMA2", "RHO_NARROW", "WEIGHTINGS", "TOY_SIZES", "equicorrelation", "gaussian_tc_mi", "draw_means",
           "batch_estimates", "tc_experiment", "tc_summary", "narrow_experiment", "narrow_summary", "weight_matrices",
           "matrix_facts"]

DIM = 3  #: dimensions of the toy code
SIGMA2 = 0.25  #: posterior variance of the correlation experiment
RHO_NARROW = 0.6  #: correlation of the narrowing experiment
#: The chapter's name of each estimator -> the package's ``weighting`` (``mss_strided``: the widely
#: copied column-0 matrix, a replica kept to study it).
WEIGHTINGS = {"loo": "loo", "mss": "mss", "column-0 mss": "mss_strided", "mws": "mws"}
#: Sizes per mode: ``tc`` (:func:`tc_experiment`) and ``narrow`` (:func:`narrow_experiment`); full
#: mode uses the N and B of the package's known-answer tests (tests/test_losses.py).
TOY_SIZES = {
    "full": {"tc": {"n": 20_000, "batch": 1024, "n_batches": 4, "rhos": (0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9)},
             "narrow": {"n": 20_000, "batch": 256, "n_batches": 4, "sigma2s": (0.25, 0.1, 0.05, 0.02, 0.01)}},
    "fast": {"tc": {"n": 4_000, "batch": 256, "n_batches": 2, "rhos": (0.0, 0.3, 0.6, 0.9)},
             "narrow": {"n": 4_000, "batch": 128, "n_batches": 2, "sigma2s": (0.25, 0.05, 0.01)}},
}


def equicorrelation(rho: float, dim: int = DIM) -> torch.Tensor:
    """``(dim, dim)`` float64 correlation matrix: ones on the diagonal, ``rho`` elsewhere."""
    return (1 - rho) * torch.eye(dim, dtype=torch.float64) + rho * torch.ones(dim, dim, dtype=torch.float64)


def gaussian_tc_mi(c: torch.Tensor, sigma2: float) -> tuple[float, float]:
    """Closed-form ``(TC, MI)`` in nats when the means are ``N(0, c)`` and every posterior is
    ``N(mu, sigma2 I)``: with ``S = c + sigma2 I`` the aggregate covariance,
    ``TC = (sum_d log S_dd - log det S) / 2`` and ``MI = (log det S - D log sigma2) / 2``
    (Gaussian entropies, e.g. Cover & Thomas, *Elements of Information Theory*, ch. 8)."""
    s = c + sigma2 * torch.eye(len(c), dtype=torch.float64)
    tc = 0.5 * (torch.log(torch.diagonal(s)).sum() - torch.logdet(s)).item()
    mi = 0.5 * torch.logdet(s).item() - 0.5 * len(c) * math.log(sigma2)
    return tc, mi


def draw_means(c: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``(n, D)`` float32 posterior means drawn from ``N(0, c)`` with a generator seeded ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, len(c), generator=g, dtype=torch.float64) @ torch.linalg.cholesky(c).T).float()


def batch_estimates(means: torch.Tensor, sigma2: float, batch: int, n_batches: int, weightings: Sequence[str],
                    seed: int, exact: bool = False) -> pd.DataFrame:
    """Batch-mean MI, TC and DWKL (nats) of each estimator in ``weightings`` (names of
    :data:`WEIGHTINGS`), averaged over ``n_batches`` random minibatches of ``batch`` out of the
    ``N = len(means)`` examples; posterior noise from a generator seeded ``seed + 1000`` (another
    stream than the means). ``exact`` adds ``"exact (all N)"``: the same samples decomposed against
    all N posteriors (:func:`mvtutorial.losses.aggregate_decomposition`). Index: estimator."""
    n = len(means)
    g = torch.Generator().manual_seed(seed + 1000)
    rows = []
    for _ in range(n_batches):
        mu = means[torch.randperm(n, generator=g)[:batch]]
        logvar = torch.full_like(mu, math.log(sigma2))
        z = mu + math.sqrt(sigma2) * torch.randn(mu.shape, generator=g)
        for w in weightings:
            t = decompose_kl(z, mu, logvar, n, WEIGHTINGS[w])
            rows.append({"estimate": w, "mi": t.mi.mean().item(), "tc": t.tc.mean().item(), "dwkl": t.dwkl.mean().item()})
        if exact:
            full = aggregate_decomposition(z, mu, logvar, means, torch.full_like(means, math.log(sigma2)))
            rows.append({"estimate": "exact (all N)", **{k: full[k] for k in ("mi", "tc", "dwkl")}})
    return pd.DataFrame(rows).groupby("estimate", sort=False)[["mi", "tc", "dwkl"]].mean()


def tc_experiment(mode: str = "full") -> tuple[pd.DataFrame, dict]:
    """Minibatch TC and MI of every estimator against the closed form as the correlation ``rho``
    of the means grows (``sigma^2 =`` :data:`SIGMA2`, :data:`TOY_SIZES` of ``mode``).

    Returns ``(results, sizes)``: one row per (``rho``, ``weighting``) with ``tc``, ``mi`` and the
    closed forms ``tc_true``, ``mi_true``; the means of each ``rho`` are seeded ``int(100 rho)``.
    """
    sizes = TOY_SIZES[mode]["tc"]
    rows = []
    for rho in sizes["rhos"]:
        c = equicorrelation(rho)
        means = draw_means(c, sizes["n"], seed=int(100 * rho))
        est = batch_estimates(means, SIGMA2, sizes["batch"], sizes["n_batches"], list(WEIGHTINGS), seed=int(100 * rho))
        tc_true, mi_true = gaussian_tc_mi(c, SIGMA2)
        rows += [{"rho": rho, "weighting": w, "tc": r.tc, "mi": r.mi, "tc_true": tc_true, "mi_true": mi_true}
                 for w, r in est.iterrows()]
    return pd.DataFrame(rows), sizes


def tc_summary(results: pd.DataFrame, n: int, dim: int = DIM) -> pd.DataFrame:
    """How far each estimator of :func:`tc_experiment` lands from the closed form (nats): the
    largest and the mean signed ``TC - closed form`` over ``rho``, MWS shifted by its offset
    ``(D - 1) log N``, and each one's largest distance to the column-0 estimate."""
    offset = (dim - 1) * math.log(n)
    tc = results.pivot(index="rho", columns="weighting", values="tc")
    tc = tc[[w for w in WEIGHTINGS if w in tc.columns]]
    tc["mws"] -= offset
    error = tc.sub(results.drop_duplicates("rho").set_index("rho").tc_true, axis=0)
    return pd.DataFrame({"largest |TC - closed form|": error.abs().max(), "mean TC - closed form": error.mean(),
                         "largest |TC - column-0 TC|": tc.sub(tc["column-0 mss"], axis=0).abs().max()}
                        ).rename(index={"mws": "mws - (D-1) log N"}).rename_axis("estimator")


def narrow_experiment(mode: str = "full") -> tuple[pd.DataFrame, np.ndarray, dict]:
    """TC and MI of the ``loo`` and column-0 estimators and of the exact all-N decomposition as the
    posteriors narrow (``rho =`` :data:`RHO_NARROW`, :data:`TOY_SIZES` of ``mode``, means seeded 7).

    Returns ``(narrow, closed, sizes)``: ``narrow`` has one row per (``sigma``, ``estimate``) with
    ``mi`` and ``tc``; ``closed`` is ``(len(sigma2s), 2)``, the closed forms (tc, mi) for infinite N.
    """
    sizes = TOY_SIZES[mode]["narrow"]
    c = equicorrelation(RHO_NARROW)
    means = draw_means(c, sizes["n"], seed=7)
    parts = []
    for sigma2 in sizes["sigma2s"]:
        est = batch_estimates(means, sigma2, sizes["batch"], sizes["n_batches"], ["loo", "column-0 mss"], seed=7, exact=True)
        parts.append(est[["mi", "tc"]].reset_index().assign(sigma=math.sqrt(sigma2)))
    narrow = pd.concat(parts, ignore_index=True)[["sigma", "estimate", "mi", "tc"]]
    closed = np.array([gaussian_tc_mi(c, s) for s in sizes["sigma2s"]])
    return narrow, closed, sizes


def narrow_summary(narrow: pd.DataFrame) -> pd.DataFrame:
    """At the narrowest posterior of :func:`narrow_experiment`: each estimate's TC and MI and its
    distance to the exact all-N value (nats). Index: estimate."""
    last = narrow[narrow.sigma == narrow.sigma.min()].set_index("estimate")[["tc", "mi"]]
    diff = (last - last.loc["exact (all N)"]).add_suffix(" - exact")
    return pd.concat([last, diff], axis=1).drop(index="exact (all N)").assign(sigma=narrow.sigma.min())


def weight_matrices(batch: int, n: int) -> dict[str, np.ndarray]:
    """The ``(batch, batch)`` importance-weight matrix ``W`` of every estimator (rows: sample ``z_i``,
    columns: batch example ``j``), from :func:`mvtutorial.losses.log_importance_weights`."""
    return {name: log_importance_weights(batch, n, w).double().exp().numpy() for name, w in WEIGHTINGS.items()}


def matrix_facts(matrices: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    """Per weight matrix of :func:`weight_matrices`: the rows whose own weight ``W_ii`` is ``1/N``
    and the rows that do not sum to one (the two properties of a correct estimator)."""
    rows = {}
    for name, w in matrices.items():
        own = np.flatnonzero(np.isclose(np.diagonal(w), 1 / n, rtol=1e-5, atol=0))
        off = np.flatnonzero(~np.isclose(w.sum(1), 1.0, atol=1e-5))
        rows[name] = {"rows with W_ii = 1/N": "all" if len(own) == len(w) else own.tolist(),
                      "rows not summing to 1": "all" if len(off) == len(w) else off.tolist()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("weighting")
