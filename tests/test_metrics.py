"""Known-answer tests for mvtutorial.metrics (the known answers listed in each test)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from sklearn.preprocessing import KBinsDiscretizer

from mvtutorial import metrics as M


# --------------------------------------------------------------------------- #
# Fixtures: synthetic codes with known structure
# --------------------------------------------------------------------------- #
def _factors(n: int, seed: int, n_classes=(4, 4)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, c, n) for c in n_classes], axis=1)


def _identity_codes(f: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    """One code dimension per factor: z_k = v_k + small noise."""
    rng = np.random.default_rng(seed)
    return f.astype(float) + noise * rng.standard_normal(f.shape)


def _duplicated_codes(f: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    """Each factor encoded twice, identically: [z_0, z_0, z_1, z_1].

    Both copies of a factor carry exactly the same information, so for every
    factor the best and second-best dimension tie: MIG = SAP = 0 (exactly, for
    estimators that see the columns separately), D = 1, C = 1 - log 2 / log 4 = 0.5.
    """
    z = _identity_codes(f, seed, noise)
    return np.repeat(z, 2, axis=1)


@pytest.fixture(scope="module")
def split_identity():
    f_tr, f_te = _factors(3000, 1), _factors(1000, 2)
    return _identity_codes(f_tr, 3), f_tr, _identity_codes(f_te, 4), f_te


@pytest.fixture(scope="module")
def split_duplicated():
    f_tr, f_te = _factors(3000, 1), _factors(1000, 2)
    return _duplicated_codes(f_tr, 3), f_tr, _duplicated_codes(f_te, 4), f_te


# --------------------------------------------------------------------------- #
# k-NN mutual information
# --------------------------------------------------------------------------- #
def _gaussian_ladder_mi(n_classes: int = 8, spacing: float = 2.0, sigma: float = 1.0) -> float:
    """Exact I(z; y) for y ~ Uniform{0..C-1}, z = spacing * y + N(0, sigma^2).

    I(z; y) = h(z) - h(z | y), with h(z | y) = 0.5 log(2 pi e sigma^2) and h(z) the
    differential entropy of the equal-weight Gaussian mixture, computed by adaptive
    quadrature of -p log p over a range covering +-12 sigma of every component.
    For C = 8, spacing 2, sigma 1 this gives 1.445989 nats (a 400,001-point
    trapezoid rule agrees to 1e-12); the ceiling is H(y) = log 8 = 2.079.
    """
    centres = spacing * np.arange(n_classes)

    def neg_p_log_p(z: float) -> float:
        p = np.mean(stats.norm.pdf(z, centres, sigma))
        return -p * np.log(p) if p > 0 else 0.0

    h_z, _ = integrate.quad(
        neg_p_log_p,
        centres[0] - 12 * sigma,
        centres[-1] + 12 * sigma,
        points=list(centres),
        limit=500,
    )
    return h_z - 0.5 * np.log(2 * np.pi * np.e * sigma**2)


def test_reference_value_of_gaussian_ladder():
    assert _gaussian_ladder_mi() == pytest.approx(1.446, abs=5e-4)


def test_mi_knn_independent_is_zero():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5000, 3))
    y = rng.integers(0, 4, 5000)
    mi = M.mi_knn(x, y)
    assert mi.shape == (3, 1)
    assert np.all(mi >= 0)
    assert np.all(np.abs(mi) < 0.02)


def test_mi_knn_gaussian_ladder_matches_quadrature():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 20_000)
    z = 2.0 * y + rng.standard_normal(20_000)
    mi = M.mi_knn(z[:, None], y)
    assert mi.shape == (1, 1)
    assert mi[0, 0] == pytest.approx(_gaussian_ladder_mi(), abs=0.03)


def test_mi_knn_is_deterministic_and_multi_factor():
    f = _factors(1000, 0, (4, 21))
    z = _identity_codes(f, 1, noise=0.3)
    a = M.mi_knn(z, f, random_state=5)
    b = M.mi_knn(z, f, random_state=5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 2)
    # Each factor is carried by its own dimension.
    assert a[0, 0] > 5 * a[1, 0] and a[1, 1] > 5 * a[0, 1]


# --------------------------------------------------------------------------- #
# Histogram mutual information
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def ladder():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 8, 20_000)
    z = 2.0 * y + rng.standard_normal(20_000)
    return z[:, None], y


def test_mi_histogram_close_to_knn(ladder):
    z, y = ladder
    ref = M.mi_knn(z, y)[0, 0]
    for strategy in M.HISTOGRAM_STRATEGIES:
        mi = M.mi_histogram(z, y, bins=20, strategy=strategy)[0, 0]
        assert mi > 0
        assert mi == pytest.approx(ref, abs=0.1), strategy


def test_mi_histogram_outlier_collapses_uniform_not_quantile(ladder):
    z, y = ladder
    before = M.mi_histogram(z, y, strategy="quantile")[0, 0]
    z_out = z.copy()
    z_out[0, 0] = 1e6  # one sample out of 20,000
    uniform = M.mi_histogram(z_out, y, strategy="uniform")[0, 0]
    quantile = M.mi_histogram(z_out, y, strategy="quantile")[0, 0]
    assert uniform < 0.05  # 19,999 samples share the first of 20 bins
    assert quantile > 1.2
    assert quantile == pytest.approx(before, abs=0.01)
    # The rank-based k-NN estimator does not care either.
    assert M.mi_knn(z_out, y)[0, 0] > 1.2


def test_discretize_uniform_matches_sklearn():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 3)) * [1.0, 10.0, 0.1]
    ours = M.discretize(x, bins=7, strategy="uniform")
    theirs = KBinsDiscretizer(n_bins=7, encode="ordinal", strategy="uniform").fit_transform(x)
    np.testing.assert_array_equal(ours, theirs.astype(np.int64))
    assert ours.min() == 0 and ours.max() == 6


def test_discretize_quantile_is_balanced_and_handles_constants():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.standard_normal(1000), np.full(1000, 3.0)])
    b = M.discretize(x, bins=10, strategy="quantile")
    counts = np.bincount(b[:, 0])
    assert counts.size == 10 and np.all(np.abs(counts - 100) <= 1)
    assert np.all(b[:, 1] == 0)
    assert np.all(M.discretize(x, bins=10, strategy="uniform")[:, 1] == 0)
    assert np.all(M.mi_histogram(x, rng.integers(0, 3, 1000), strategy="quantile")[1] == 0)


# --------------------------------------------------------------------------- #
# Entropy and MIG
# --------------------------------------------------------------------------- #
def test_factor_entropy_uniform():
    f = np.tile(np.arange(4), 250)
    assert M.factor_entropy(f) == pytest.approx([np.log(4)], abs=1e-12)
    two = np.column_stack([f, np.repeat([0, 1], 500)])
    np.testing.assert_allclose(M.factor_entropy(two), [np.log(4), np.log(2)], atol=1e-12)


def test_mig_identity_codes_high(split_identity):
    z, f, _, _ = split_identity
    h = M.factor_entropy(f)
    assert M.mig(M.mi_knn(z, f), h) > 0.8
    assert M.mig(M.mi_histogram(z, f, strategy="quantile"), h) > 0.8


def test_mig_duplicated_codes_zero(split_duplicated):
    z, f, _, _ = split_duplicated
    h = M.factor_entropy(f)
    per = M.mig_per_factor(M.mi_knn(z, f), h)
    assert per.shape == (2,)
    assert np.all(np.abs(per) < 0.05)
    assert M.mig(M.mi_histogram(z, f), h) == pytest.approx(0.0, abs=1e-12)


def test_mig_hand_matrix():
    mi = np.array([[1.0, 0.0], [0.25, 0.5], [0.0, 0.5]])
    h = np.array([2.0, 1.0])
    np.testing.assert_allclose(M.mig_per_factor(mi, h), [0.375, 0.0])
    assert M.mig(mi, h) == pytest.approx(0.1875)


# --------------------------------------------------------------------------- #
# DCI
# --------------------------------------------------------------------------- #
def test_dci_from_importance_known_answers():
    assert M.dci_from_importance(np.eye(3)) == (1.0, 1.0)
    # Extra, unused codes do not hurt either score.
    r = np.zeros((16, 2))
    r[3, 0], r[9, 1] = 0.7, 0.2
    assert M.dci_from_importance(r) == (1.0, 1.0)
    d, c = M.dci_from_importance(np.ones((4, 3)))
    assert d == pytest.approx(0.0, abs=1e-12) and c == pytest.approx(0.0, abs=1e-12)
    # Each factor spread evenly over two codes: D = 1, C = 1 - log 2 / log 4.
    dup = np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 0.5], [0.0, 0.5]])
    d, c = M.dci_from_importance(dup)
    assert d == pytest.approx(1.0) and c == pytest.approx(0.5)
    # One code for both factors: C = 1, D = 1 - log 2 / log 2 = 0.
    d, c = M.dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert d == pytest.approx(0.0) and c == pytest.approx(1.0)
    assert M.dci_from_importance(np.zeros((3, 2))) == (0.0, 0.0)


def test_dci_identity_codes(split_identity):
    out = M.dci(*split_identity, random_state=0, n_jobs=1)
    assert set(out) >= {"disentanglement", "completeness", "informativeness", "importance"}
    assert out["importance"].shape == (2, 2)
    assert out["disentanglement"] > 0.8
    assert out["completeness"] > 0.8
    assert out["informativeness"] > 0.95


def test_dci_with_gradient_boosted_trees_as_disentanglement_lib(split_identity, split_duplicated):
    """The estimator option scores with disentanglement_lib's classifier (gradient-boosted trees)."""
    from sklearn.ensemble import GradientBoostingClassifier

    gbt = GradientBoostingClassifier(n_estimators=20, random_state=0)  # disentanglement_lib: 100 stages
    ident = M.dci(*split_identity, estimator=gbt)
    assert ident["disentanglement"] > 0.99 and ident["completeness"] > 0.99 and ident["informativeness"] > 0.95
    # the two classifiers spread importance differently: the forest gives the noise dims some (0.87 here)
    assert M.dci(*split_identity, random_state=0, n_jobs=1)["disentanglement"] < ident["disentanglement"] - 0.05
    dup = M.dci(*split_duplicated, estimator=gbt)
    assert dup["disentanglement"] > 0.95 and 0.35 < dup["completeness"] < 0.65  # ideal 0.5
    assert not hasattr(gbt, "estimators_")  # cloned per factor, the argument is left unfitted


def test_dci_duplicated_codes_lose_completeness(split_duplicated):
    out = M.dci(*split_duplicated, random_state=0, n_jobs=1)
    assert out["disentanglement"] > 0.8
    assert 0.35 < out["completeness"] < 0.65  # ideal 0.5


# --------------------------------------------------------------------------- #
# SAP
# --------------------------------------------------------------------------- #
def test_sap_identity_high(split_identity):
    scores = M.sap_scores(*split_identity)
    assert scores.shape == (2, 2)
    assert np.all(np.diag(scores) > 0.95)
    # Best possible for 4 balanced classes: 1 - 1/4 = 0.75.
    assert M.sap(*split_identity) > 0.6


def test_sap_duplicated_zero(split_duplicated):
    assert M.sap(*split_duplicated) == pytest.approx(0.0, abs=0.05)


# --------------------------------------------------------------------------- #
# Probes
# --------------------------------------------------------------------------- #
def _class_codes(y: np.ndarray, seed: int, noise: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).standard_normal((int(y.max()) + 1, 6)) * 3.0
    return centres[y] + noise * rng.standard_normal((y.size, 6))


@pytest.fixture(scope="module")
def probe_data():
    rng = np.random.default_rng(7)
    y_tr, y_te = rng.integers(0, 4, 2000), rng.integers(0, 4, 1000)
    sep = (_class_codes(y_tr, 1, 0.3), _class_codes(y_te, 2, 0.3))
    noise = (rng.standard_normal((2000, 6)), rng.standard_normal((1000, 6)))
    return y_tr, y_te, sep, noise


@pytest.mark.parametrize("kind", M.PROBE_KINDS)
def test_probe_separable_and_noise(probe_data, kind):
    y_tr, y_te, sep, noise = probe_data
    assert M.probe_accuracy(sep[0], y_tr, sep[1], y_te, kind=kind) > 0.95
    chance = M.chance_level(y_te, y_tr)
    acc = M.probe_accuracy(noise[0], y_tr, noise[1], y_te, kind=kind)
    assert abs(acc - chance) < 0.1


def test_chance_level():
    assert M.chance_level(np.array([0, 0, 0, 1])) == 0.75
    assert M.chance_level(np.array([0, 1, 1, 1]), y_train=np.array([0, 0, 1])) == 0.25
    assert M.chance_level(np.tile(np.arange(21), 10)) == pytest.approx(1 / 21)


def test_probe_table_long_format(probe_data):
    y_tr, y_te, sep, noise = probe_data
    table = M.probe_table(
        {"sep": sep, "noise": noise},
        {"a": (y_tr, y_te), "parity": (y_tr % 2, y_te % 2)},
        kind="logistic",
        seeds=(0, 1),
    )
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["latent", "factor", "seed", "accuracy", "chance"]
    assert len(table) == 2 * 2 * 2
    row = table.query("latent == 'sep' and factor == 'a'")
    assert np.all(row["accuracy"] > 0.95)
    assert np.all(np.abs(table.query("factor == 'parity'")["chance"] - 0.5) < 0.05)


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
def test_bad_inputs_raise():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 3))
    f = rng.integers(0, 3, (50, 2))
    with pytest.raises(ValueError, match="codes must be 2-D"):
        M.mi_knn(z[:, 0], f)
    with pytest.raises(ValueError, match="factors must be"):
        M.mi_knn(z, f[None])
    with pytest.raises(ValueError, match="same number of rows"):
        M.mi_knn(z, f[:40])
    with pytest.raises(ValueError, match="integer class labels"):
        M.mi_histogram(z, f + 0.5)
    with pytest.raises(ValueError, match=r"factors\[:, 1\] has 1 class"):
        M.factor_entropy(np.column_stack([f[:, 0], np.zeros(50, int)]))
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        M.mi_histogram(z, f, bins=1)
    with pytest.raises(ValueError, match="unknown strategy 'kmeans'"):
        M.mi_histogram(z, f, strategy="kmeans")
    with pytest.raises(ValueError, match="n_neighbors"):
        M.mi_knn(z, f, n_neighbors=0)
    with pytest.raises(ValueError, match="NaN"):
        M.mi_knn(np.where(z > 1, np.nan, z), f)
    with pytest.raises(ValueError, match="entropy must have shape"):
        M.mig(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="entropy must be finite and > 0"):
        M.mig(np.ones((3, 2)), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="at least 2 code dimensions"):
        M.mig(np.ones((1, 2)), np.ones(2))
    with pytest.raises(ValueError, match="importance must be non-negative"):
        M.dci_from_importance(-np.eye(2))
    with pytest.raises(ValueError, match="importance must be 2-D"):
        M.dci_from_importance(np.ones(3))
    with pytest.raises(ValueError, match="same number of dimensions D"):
        M.sap(z, f, z[:, :2], f)
    with pytest.raises(ValueError, match="same number of factors K"):
        M.dci(z, f, z, f[:, 0])
    with pytest.raises(ValueError, match="unknown probe kind 'svm'"):
        M.probe_accuracy(z, f[:, 0], z, f[:, 0], kind="svm")
    with pytest.raises(ValueError, match="unknown probe kind 'svm'"):
        M.make_probe("svm")
    with pytest.raises(ValueError, match="y must be a non-empty 1-D"):
        M.chance_level(f)
    with pytest.raises(ValueError, match=r"codes\['x'\] must be a \(train, test\) pair"):
        M.probe_table({"x": z}, {"a": (f[:, 0], f[:, 0])})
