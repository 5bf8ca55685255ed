"""Known-answer tests of the KL decomposition and the multi-view loss (known answers).

The toy problem used throughout: posterior means ``mu ~ N(0, C)`` with ``C`` a D = 3
equicorrelation matrix (ones on the diagonal, ``rho`` elsewhere) and every posterior
``N(mu, 0.25 I)``. The aggregate posterior is then exactly ``q(z) = N(0, S)``,
``S = C + 0.25 I``, so

* ``TC = 0.5 * (sum_d log S_dd - log det S)``,
* ``MI = I(x; z) = 0.5 * log det S - 0.5 * log det(0.25 I)`` (linear-Gaussian channel),
* ``DWKL = sum_d KL(N(0, S_dd) || N(0, 1))``.

At rho = 0.9 the equicorrelated TC is 0.827 nats; the often quoted 0.365 is the TC when only
ONE pair of the three dimensions is correlated (``C_01 = C_10 = 0.9``): both are tested.
"""
from __future__ import annotations

import math
import re

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from mvtutorial.losses import (
    LossWeights,
    decompose_kl,
    full_dataset_decomposition,
    gaussian_kl,
    gaussian_log_density,
    log_importance_weights,
    MIN_VARIANCE,
    multiview_loss,
    reconstruction_error,
)
from mvtutorial.model import MultiViewOutput, Posterior

SIGMA2 = 0.25  # posterior variance of the toy problem
D = 3
N_TOY = 20_000
B_TOY = 1024
N_BATCHES = 6  # minibatches averaged per estimate (per-batch std of TC ~0.03 nats at rho = 0.9)


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def equicorrelation(rho: float, dim: int = D) -> torch.Tensor:
    return (1 - rho) * torch.eye(dim, dtype=torch.float64) + rho * torch.ones(dim, dim, dtype=torch.float64)


def one_pair(rho: float, dim: int = D) -> torch.Tensor:
    c = torch.eye(dim, dtype=torch.float64)
    c[0, 1] = c[1, 0] = rho
    return c


def aggregate_cov(c: torch.Tensor) -> torch.Tensor:
    return c + SIGMA2 * torch.eye(c.shape[0], dtype=torch.float64)


def tc_truth(c: torch.Tensor) -> float:
    s = aggregate_cov(c)
    return 0.5 * (torch.log(torch.diagonal(s)).sum() - torch.logdet(s)).item()


def mi_truth(c: torch.Tensor) -> float:
    s = aggregate_cov(c)
    return 0.5 * torch.logdet(s).item() - 0.5 * c.shape[0] * math.log(SIGMA2)


def dwkl_truth(c: torch.Tensor) -> float:
    v = torch.diagonal(aggregate_cov(c))
    return 0.5 * (v - 1 - torch.log(v)).sum().item()


def toy_means(c: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` draws from N(0, c). Sample the posterior noise from ANOTHER seed: the same
    stream would make the noise a linear function of the means."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c.shape[0], generator=g, dtype=torch.float64) @ torch.linalg.cholesky(c).T


def minibatch_tc(c: torch.Tensor, weighting: str, seed: int = 0, n_batches: int = N_BATCHES) -> float:
    """Average over minibatches of the batch-mean TC estimate (B_TOY out of N_TOY)."""
    g = torch.Generator().manual_seed(seed + 1000)  # not the stream the means came from
    mu_all = toy_means(c, N_TOY, seed).float()
    logvar = torch.full((B_TOY, c.shape[0]), math.log(SIGMA2))
    values = []
    for _ in range(n_batches):
        mu = mu_all[torch.randperm(N_TOY, generator=g)[:B_TOY]]
        z = mu + math.sqrt(SIGMA2) * torch.randn(mu.shape, generator=g)
        values.append(decompose_kl(z, mu, logvar, N_TOY, weighting).tc.mean().item())
    return sum(values) / len(values)


def rtqichen_mss_matrix(batch_size: int, dataset_size: int) -> torch.Tensor:
    """The widely copied MSS matrix of rtqichen/beta-tcvae (``log_importance_weight_matrix``).

    Reproduced here only to show that our checks reject it: with ``M = B - 1`` the stride
    ``M + 1 = B`` walks down a COLUMN of the ``B x B`` matrix, so 1/N lands in column 0 and
    the stratum weight in column 1, not on the diagonal and its neighbour.
    """
    N, M = dataset_size, batch_size - 1
    strat_weight = (N - M) / (N * M)
    W = torch.full((batch_size, batch_size), 1 / M, dtype=torch.float64)
    W.view(-1)[:: M + 1] = 1 / N
    W.view(-1)[1 :: M + 1] = strat_weight
    W[M - 1, 0] = strat_weight
    return W.log()


def weights_are_valid(log_w: torch.Tensor, dataset_size: int) -> bool:
    """The checks a correct (loo / mss) weight matrix passes: rows sum to 1, diagonal 1/N."""
    w = log_w.double().exp()
    n = w.shape[0]
    rows = torch.allclose(w.sum(1), torch.ones(n, dtype=torch.float64), atol=1e-5)
    diag = torch.allclose(torch.diagonal(w), torch.full((n,), 1 / dataset_size, dtype=torch.float64), rtol=1e-5, atol=0)
    return rows and diag


def random_posterior(batch: int, dim: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mu = 2 * torch.randn(batch, dim, generator=g)
    logvar = torch.empty(batch, dim).uniform_(-4, 1, generator=g)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(batch, dim, generator=g)
    return z, mu, logvar


# --------------------------------------------------------------------------- #
# Densities
# --------------------------------------------------------------------------- #
def test_gaussian_log_density_matches_torch():
    g = torch.Generator().manual_seed(0)
    z, mu = torch.randn(50, 7, generator=g, dtype=torch.float64) * 3, torch.randn(50, 7, generator=g, dtype=torch.float64)
    logvar = torch.empty(50, 7, dtype=torch.float64).uniform_(-5, 3, generator=g)
    expected = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z)
    torch.testing.assert_close(gaussian_log_density(z, mu, logvar), expected, rtol=1e-12, atol=1e-12)
    # broadcasting: (B, 1, D) against (1, B, D) -> (B, B, D)
    pair = gaussian_log_density(z[:, None], mu[None], logvar[None])
    assert pair.shape == (50, 50, 7)
    torch.testing.assert_close(pair[3, 11], Normal(mu[11], torch.exp(0.5 * logvar[11])).log_prob(z[3]))


def test_gaussian_kl_matches_torch():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(40, 5, generator=g, dtype=torch.float64) * 2
    logvar = torch.empty(40, 5, dtype=torch.float64).uniform_(-6, 3, generator=g)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, rtol=1e-12, atol=1e-12)
    assert gaussian_kl(torch.zeros(3), torch.zeros(3)).abs().max() == 0


# --------------------------------------------------------------------------- #
# Importance weights
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("weighting", ["loo", "mss"])
@pytest.mark.parametrize("B, N", [(2, 2), (2, 10), (3, 7), (16, 16), (64, 1000), (256, 60_000)])
def test_weights_rows_sum_to_one_and_diagonal_is_one_over_n(weighting, B, N):
    log_w = log_importance_weights(B, N, weighting)
    assert log_w.shape == (B, B)
    assert weights_are_valid(log_w, N)
    if B > 2:  # the off-diagonal mass is spread over the other examples
        w = log_w.double().exp()
        assert (w - torch.diag(torch.diagonal(w)) > 0).sum(1).eq(B - 1).all()


@pytest.mark.parametrize("B, N", [(2, 10), (3, 7), (16, 16), (64, 1000), (256, 60_000)])
def test_rtqichen_mss_matrix_fails_the_diagonal_check(B, N):
    """Documents the bug: the column-0 MSS matrix puts 1/N off the diagonal, which our check rejects."""
    bad = rtqichen_mss_matrix(B, N)
    assert not weights_are_valid(bad, N)
    w = bad.exp()
    rows_with_1_over_n_in_col0 = [i for i in range(B) if i != B - 2]  # row M - 1 = B - 2 is overwritten
    assert torch.allclose(w[rows_with_1_over_n_in_col0, 0], torch.tensor(1 / N, dtype=torch.float64))
    assert not torch.allclose(torch.diagonal(w)[1:], torch.full((B - 1,), 1 / N, dtype=torch.float64))
    # ... while the package's mss matrix of the same size passes
    assert weights_are_valid(log_importance_weights(B, N, "mss"), N)


@pytest.mark.parametrize("B, N", [(2, 2), (5, 9), (128, 20_000)])
def test_mws_rows_sum_to_one_over_n(B, N):
    w = log_importance_weights(B, N, "mws").double().exp()
    torch.testing.assert_close(w.sum(1), torch.full((B,), 1 / N, dtype=torch.float64), rtol=1e-5, atol=0)


def test_weights_bad_input():
    with pytest.raises(ValueError, match="'stratified'"):
        log_importance_weights(8, 100, "stratified")
    with pytest.raises(ValueError, match="batch_size.*1"):
        log_importance_weights(1, 100, "loo")
    with pytest.raises(ValueError, match=re.escape("dataset_size (5)") + ".*" + re.escape("batch_size (10)")):
        log_importance_weights(10, 5, "mss")


# --------------------------------------------------------------------------- #
# Decomposition: exact identity and known answers
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("weighting", ["loo", "mss", "mws"])
@pytest.mark.parametrize("B, Dz, N", [(2, 1, 2), (17, 4, 100), (128, 8, 30_000)])
def test_decomposition_adds_up_to_the_kl(weighting, B, Dz, N):
    z, mu, logvar = random_posterior(B, Dz, seed=B + Dz)
    t = decompose_kl(z, mu, logvar, N, weighting)
    for term in (t.mi, t.tc, t.dwkl, t.log_qz_x, t.log_pz):
        assert term.shape == (B,) and torch.isfinite(term).all()
    torch.testing.assert_close(t.mi + t.tc + t.dwkl, t.log_qz_x - t.log_pz, rtol=0, atol=1e-4)
    torch.testing.assert_close(t.kl, t.log_qz_x - t.log_pz, rtol=0, atol=1e-4)
    torch.testing.assert_close(t.log_qz_x, gaussian_log_density(z, mu, logvar).sum(-1))


def test_decompose_kl_rejects_mismatched_shapes():
    z, mu, logvar = random_posterior(8, 3)
    with pytest.raises(ValueError, match=re.escape("(8, 2)")):
        decompose_kl(z, mu[:, :2], logvar, 100)


def test_toy_closed_forms():
    """The formulas the known-answer tests rely on, against hand values."""
    assert tc_truth(equicorrelation(0.0)) == pytest.approx(0.0, abs=1e-12)
    assert tc_truth(equicorrelation(0.9)) == pytest.approx(0.8270, abs=1e-4)
    assert tc_truth(one_pair(0.9)) == pytest.approx(0.3653, abs=1e-4)  # the often quoted 0.365
    assert mi_truth(equicorrelation(0.0)) == pytest.approx(1.5 * math.log(1.25 / 0.25), abs=1e-12)


@pytest.fixture(scope="module")
def minibatch_tcs() -> dict:
    """Average minibatch TC at each rho and weighting (the expensive part, computed once)."""
    out = {}
    for rho in (0.0, 0.3, 0.6, 0.9):
        out[("loo", rho)] = minibatch_tc(equicorrelation(rho), "loo", seed=10)
    for rho in (0.0, 0.9):
        out[("mss", rho)] = minibatch_tc(equicorrelation(rho), "mss", seed=11)
    return out


@pytest.mark.parametrize("weighting", ["loo", "mss"])
@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_minibatch_tc_matches_closed_form(minibatch_tcs, weighting, rho):
    estimate, truth = minibatch_tcs[(weighting, rho)], tc_truth(equicorrelation(rho))
    assert abs(estimate - truth) < 0.05, f"{weighting} rho={rho}: TC {estimate:.4f} vs truth {truth:.4f}"


def test_minibatch_tc_rises_with_correlation(minibatch_tcs):
    values = [minibatch_tcs[("loo", rho)] for rho in (0.0, 0.3, 0.6, 0.9)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    truths = [tc_truth(equicorrelation(rho)) for rho in (0.0, 0.3, 0.6, 0.9)]
    assert max(abs(v - t) for v, t in zip(values, truths)) < 0.05, (values, truths)


def test_minibatch_tc_one_correlated_pair():
    """The often quoted 0.365 nats at rho = 0.9: one correlated pair out of three dimensions."""
    estimate = minibatch_tc(one_pair(0.9), "loo", seed=12)
    assert abs(estimate - 0.3653) < 0.05, estimate


def test_mws_tc_is_offset_by_d_minus_one_log_n():
    """Plain MWS rows sum to 1/N: its TC sits about (D - 1) log N above the real value."""
    g = torch.Generator().manual_seed(1003)
    mu = toy_means(equicorrelation(0.3), B_TOY, seed=3).float()
    logvar = torch.full_like(mu, math.log(SIGMA2))
    z = mu + math.sqrt(SIGMA2) * torch.randn(mu.shape, generator=g)
    loo = decompose_kl(z, mu, logvar, N_TOY, "loo")
    mws = decompose_kl(z, mu, logvar, N_TOY, "mws")
    offset = (mws.tc.mean() - loo.tc.mean()).item()
    assert offset == pytest.approx((D - 1) * math.log(N_TOY), abs=0.5)
    # the KL itself does not depend on the weights
    torch.testing.assert_close(mws.kl, loo.kl, rtol=0, atol=1e-4)


def test_full_dataset_decomposition_known_answer():
    c = equicorrelation(0.9)
    mu = toy_means(c, 5000, seed=4)
    logvar = torch.full_like(mu, math.log(SIGMA2))
    r = full_dataset_decomposition(mu, logvar, generator=torch.Generator().manual_seed(1004), chunk=500)
    assert set(r) == {"mi", "tc", "dwkl", "kl"}
    assert r["tc"] == pytest.approx(tc_truth(c), abs=0.05)
    assert r["mi"] == pytest.approx(mi_truth(c), abs=0.05)
    assert r["dwkl"] == pytest.approx(dwkl_truth(c), abs=0.05)
    assert r["kl"] == pytest.approx(r["mi"] + r["tc"] + r["dwkl"], abs=1e-9)


@pytest.mark.parametrize("weighting", ["loo", "mss", "mss_strided", "mws"])
def test_weights_follow_the_requested_dtype(weighting):
    """float64 weights are the exact logs, not float32 values widened afterwards."""
    B, N = 5, 20
    w64 = log_importance_weights(B, N, weighting, dtype=torch.float64)
    w32 = log_importance_weights(B, N, weighting)
    assert w64.dtype == torch.float64 and w32.dtype == torch.float32
    exact = {"loo": (1 / N, (N - 1) / (N * (B - 1))), "mss": (1 / N, 1 / (B - 1)),
             "mss_strided": (1 / (B - 1), 1 / (B - 1)), "mws": (1 / (N * B), 1 / (N * B))}[weighting]
    # (2, 2): off the strided copy's columns 0 and 1; (2, 4): a plain off-diagonal entry in every scheme
    assert w64[2, 2].item() == pytest.approx(math.log(exact[0]), rel=1e-15)  # float32 is off by ~1e-8
    assert w64[2, 4].item() == pytest.approx(math.log(exact[1]), rel=1e-15)
    torch.testing.assert_close(w64.float(), w32, rtol=0, atol=0)
    with pytest.raises(ValueError, match="floating torch dtype"):
        log_importance_weights(B, N, weighting, dtype=torch.int64)


def test_decompose_kl_in_float64_uses_float64_weights():
    """With float64 inputs every term is float64 and log q(z) matches a float64 reference to 1e-12
    (float32 weights widened afterwards are off by ~1e-7)."""
    g = torch.Generator().manual_seed(3)
    B, D, N = 16, 3, 1000
    mu, logvar = torch.randn(B, D, generator=g, dtype=torch.float64), torch.randn(B, D, generator=g, dtype=torch.float64) - 1
    z = mu + torch.exp(0.5 * logvar) * torch.randn(B, D, generator=g, dtype=torch.float64)
    terms = decompose_kl(z, mu, logvar, N, "loo")
    assert all(getattr(terms, k).dtype == torch.float64 for k in ("mi", "tc", "dwkl", "log_qz_x", "log_pz"))
    W = torch.full((B, B), (N - 1) / (N * (B - 1)), dtype=torch.float64).fill_diagonal_(1 / N)
    L = gaussian_log_density(z[:, None, :], mu[None], logvar[None]).sum(-1)
    log_qz = torch.logsumexp(W.log() + L, dim=1)
    torch.testing.assert_close(terms.log_qz_x - terms.mi, log_qz, rtol=0, atol=1e-12)


def test_full_dataset_decomposition_same_numbers_for_float32_and_float64_inputs():
    mu = toy_means(equicorrelation(0.5), 600, seed=5)
    logvar = torch.full_like(mu, math.log(SIGMA2))
    r64 = full_dataset_decomposition(mu.double(), logvar.double(), generator=torch.Generator().manual_seed(0))
    r32 = full_dataset_decomposition(mu.float(), logvar.float(), generator=torch.Generator().manual_seed(0))
    exact32 = full_dataset_decomposition(mu.float().double(), logvar.float().double(), generator=torch.Generator().manual_seed(0))
    assert r32 == exact32  # float32 inputs are computed in float64, like float64 inputs
    assert r32 == pytest.approx(r64, abs=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_decompositions_follow_the_inputs_device():
    mu = toy_means(equicorrelation(0.5), 600, seed=5)
    logvar = torch.full_like(mu, math.log(SIGMA2))
    cpu = full_dataset_decomposition(mu, logvar, generator=torch.Generator().manual_seed(0))
    gpu = full_dataset_decomposition(mu.cuda(), logvar.cuda(), generator=torch.Generator().manual_seed(0))
    assert gpu == pytest.approx(cpu, abs=1e-9)  # same CPU noise, moved to the GPU
    z = mu.cuda().float()
    terms = decompose_kl(z, z, torch.zeros_like(z), 600, "mss")
    assert terms.mi.device == z.device and terms.mi.dtype == torch.float32
    assert log_importance_weights(4, 10, device="cuda", dtype=torch.float64).device.type == "cuda"


def test_full_dataset_decomposition_rejects_bad_shapes():
    with pytest.raises(ValueError, match=re.escape("(10, 3)")):
        full_dataset_decomposition(torch.zeros(10, 3), torch.zeros(10, 2))


# --------------------------------------------------------------------------- #
# Loss weights and the multi-view loss
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["alpha", "beta", "gamma"])
@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), float("-inf")])
def test_loss_weights_reject_bad_values(name, value):
    with pytest.raises(ValueError, match=name):
        LossWeights(**{name: value})


def test_loss_weights_accept_zero_and_ints():
    w = LossWeights(alpha=0, beta=1, gamma=0.5)
    assert (w.alpha, w.beta, w.gamma) == (0, 1, 0.5)


def fake_output(batch: int = 32, shape=(6, 5), dp: int = 3, ds: int = 4, seed: int = 0):
    """A MultiViewOutput with random posteriors and reconstructions (no model involved)."""
    g = torch.Generator().manual_seed(seed)

    def post(d):
        return Posterior(torch.randn(batch, d, generator=g), torch.empty(batch, d).uniform_(-3, 1, generator=g))

    def sample(p):
        return p.mu + torch.exp(0.5 * p.logvar) * torch.randn(p.mu.shape, generator=g)

    private, experts, shared = (post(dp), post(dp)), (post(ds), post(ds)), post(ds)
    recon = (torch.rand(batch, *shape, generator=g), torch.rand(batch, *shape, generator=g))
    out = MultiViewOutput(recon, private, experts, shared, (sample(private[0]), sample(private[1])), sample(shared))
    x1, x2 = torch.rand(batch, *shape, generator=g), torch.rand(batch, *shape, generator=g)
    return out, x1, x2


TERM_NAMES = {f"{s}_{t}" for s in ("shared", "private") for t in ("mi", "tc", "dwkl")}


def test_multiview_loss_elbo_identity():
    """alpha = beta = gamma = 1: total = reconstruction + 2 * shared KL + private KL (batch means)."""
    out, x1, x2 = fake_output()
    N = 500
    lt = multiview_loss(out, x1, x2, LossWeights(alpha=1, beta=1, gamma=1), dataset_size=N, weighting="loo")
    assert set(lt.terms) == TERM_NAMES
    assert set(lt.as_floats()) == TERM_NAMES | {"total", "reconstruction"}
    rec = sum(((r - x) ** 2).flatten(1).sum(1).mean() for r, x in zip(out.recon, (x1, x2)))
    torch.testing.assert_close(lt.reconstruction, rec)
    shared = decompose_kl(out.z_shared, out.shared.mu, out.shared.logvar, N, "loo")
    privates = [decompose_kl(z, p.mu, p.logvar, N, "loo") for z, p in zip(out.z_private, out.private)]
    shared_kl = (shared.log_qz_x - shared.log_pz).mean()
    private_kl = sum((p.log_qz_x - p.log_pz).mean() for p in privates)
    torch.testing.assert_close(lt.total, rec + 2 * shared_kl + private_kl, rtol=1e-5, atol=1e-3)
    # each term is the batch mean of its per-sample decomposition
    torch.testing.assert_close(lt.terms["shared_tc"], shared.tc.mean())
    torch.testing.assert_close(lt.terms["private_dwkl"], privates[0].dwkl.mean() + privates[1].dwkl.mean())


def test_multiview_loss_weights_are_linear():
    out, x1, x2 = fake_output(seed=1)
    zero = multiview_loss(out, x1, x2, LossWeights(0, 0, 0), dataset_size=100)
    torch.testing.assert_close(zero.total, zero.reconstruction)
    lt = multiview_loss(out, x1, x2, LossWeights(alpha=0.5, beta=2.0, gamma=0.1), dataset_size=100)
    t = lt.terms
    expected = lt.reconstruction + sum(
        w * (2 * t[f"shared_{n}"] + t[f"private_{n}"]) for n, w in (("mi", 0.5), ("tc", 2.0), ("dwkl", 0.1))
    )
    torch.testing.assert_close(lt.total, expected)


def test_multiview_loss_bce_and_bad_inputs():
    out, x1, x2 = fake_output(seed=2)
    bce = multiview_loss(out, x1, x2, LossWeights(), dataset_size=100, reconstruction="bce")
    assert torch.isfinite(bce.total) and bce.reconstruction > 0
    with pytest.raises(ValueError, match=re.escape("(32, 6, 5)") + ".*" + re.escape("(32, 5, 6)")):
        multiview_loss(out, x1, x2.transpose(1, 2), LossWeights(), dataset_size=100)
    with pytest.raises(ValueError, match="'l1'"):
        multiview_loss(out, x1, x2, LossWeights(), dataset_size=100, reconstruction="l1")
    with pytest.raises(ValueError, match="'bogus'"):
        multiview_loss(out, x1, x2, LossWeights(), dataset_size=100, weighting="bogus")


# --------------------------------------------------------------------------- #
# The calibrated decoder (optimal sigma-VAE)
# --------------------------------------------------------------------------- #
def test_gaussian_reconstruction_is_the_normal_nll_at_the_batch_mse():
    """Known answer: -log N(x; recon, MSE) summed over bins, MSE the batch's; the gradient of the batch
    mean is the one with sigma^2 = MSE(recon) left in the graph (flat in sigma^2 at its optimum)."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 3, 4, generator=g, dtype=torch.float64)
    recon = torch.rand(5, 3, 4, generator=g, dtype=torch.float64).requires_grad_()
    ours = reconstruction_error(recon, x, "gaussian")
    mse = ((recon - x) ** 2).mean()
    expected = -Normal(recon, mse.sqrt()).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.mean(), 0.5 * 12 * (torch.log(2 * math.pi * mse) + 1), rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(ours.mean(), recon)
    (grad_expected,) = torch.autograd.grad(expected.mean(), recon)
    torch.testing.assert_close(grad, grad_expected, rtol=1e-10, atol=1e-12)
    # = the squared error's gradient scaled by 1/(2 sigma^2): distortion priced by the data
    (grad_mse,) = torch.autograd.grad(reconstruction_error(recon, x, "mse").mean(), recon)
    torch.testing.assert_close(grad, grad_mse / (2 * mse.detach()), rtol=1e-10, atol=1e-12)


def test_gaussian_reconstruction_floor_and_its_use_in_the_loss():
    x = torch.rand(4, 6, 5, generator=torch.Generator().manual_seed(0))
    perfect = reconstruction_error(x.clone(), x, "gaussian")  # MSE 0: the variance floor, not -inf
    assert torch.isfinite(perfect).all()
    torch.testing.assert_close(perfect, torch.full((4,), 15 * math.log(2 * math.pi * MIN_VARIANCE)))
    out, x1, x2 = fake_output(seed=3)
    lt = multiview_loss(out, x1, x2, LossWeights(0, 0, 0), dataset_size=100, reconstruction="gaussian")
    by_hand = sum(-Normal(r, ((r - x) ** 2).mean().sqrt()).log_prob(x).flatten(1).sum(1).mean() for r, x in zip(out.recon, (x1, x2)))
    torch.testing.assert_close(lt.reconstruction, by_hand)
    with pytest.raises(ValueError, match="'l2'.*'gaussian'"):
        reconstruction_error(out.recon[0], x1, "l2")
