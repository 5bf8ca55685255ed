r"""The beta-TCVAE decomposition of the KL term, per latent subspace, and the multi-view loss.

For a latent subspace with posterior :math:`q(z|x)` and prior :math:`p(z) = N(0, I)`,
the aggregate KL splits into (Chen et al., 2018)

.. math::

    \underbrace{\log q(z|x) - \log q(z)}_{\text{MI}}
    + \underbrace{\log q(z) - \textstyle\sum_d \log q(z_d)}_{\text{TC}}
    + \underbrace{\textstyle\sum_d \log q(z_d) - \log p(z)}_{\text{DWKL}},

with :math:`q(z)` and :math:`q(z_d)` estimated from a minibatch of ``B`` out of ``N``
training examples through importance log-weights ``log W[i, j]``. The three terms
add up to :math:`\log q(z|x) - \log p(z)` exactly, whatever the weights.

The multi-view loss of Wilkins et al. (2024), summed over views ``j = 1, 2``:
``rec_j + alpha (MI(z_s) + MI(z_pj)) + beta (TC(z_s) + TC(z_pj)) + gamma (DWKL(z_s) + DWKL(z_pj))``.

Reference: R. T. Q. Chen et al., "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LossWeights",
    "RECONSTRUCTIONS",
    "reconstruction_error",
    "gaussian_log_density",
    "gaussian_kl",
    "log_importance_weights",
    "decompose_kl",
    "KLTerms",
    "multiview_loss",
    "LossTerms",
    "aggregate_decomposition",
    "full_dataset_decomposition",
]

_LOG_2PI = math.log(2 * math.pi)
WEIGHTINGS = ("loo", "mss", "mws", "mss_strided")


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Elementwise ``log N(z; mu, exp(logvar))`` (broadcasting)."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar))


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """Elementwise ``KL(N(mu, exp(logvar)) || N(0, 1)) = (mu^2 + sigma^2 - 1 - logvar) / 2``."""
    return 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar)


def log_importance_weights(batch_size: int, dataset_size: int, weighting: str = "loo", device=None,
                           dtype: torch.dtype = torch.float32) -> Tensor:
    """Log-weights ``(B, B)`` for estimating ``q(z_i) = sum_j W[i, j] q(z_i | x_j)`` from a minibatch.

    Parameters
    ----------
    batch_size : int
        ``B``, at least 2.
    dataset_size : int
        ``N``, at least ``B``.
    weighting : {"loo", "mss", "mws"}
        * ``loo`` (leave-one-out / importance weighted): ``W_ii = 1/N`` and
          ``W_ij = (N-1) / (N (B-1))``.
        * ``mss`` (minibatch stratified sampling, Chen et al. 2018, appendix): with ``M = B - 1``,
          ``W_ii = 1/N``, ``W_i,i+1 = (N-M) / (N M)`` and every other ``W_ij = 1/M``. The 1/N entry
          sits on the diagonal; the widely copied reference code writes it into column 0 instead.
        * ``mws`` (minibatch weighted sampling): ``W_ij = 1/(N B)``. Rows sum to ``1/N``, not 1, so
          its log q(z) is offset by ``-log N`` and TC by ``(D-1) log N``: fine for gradients, not nats.
        * ``mss_strided``: a faithful replica of the widely copied reference implementation of
          ``mss`` (github.com/rtqichen/beta-tcvae), kept to study its effect (chapter 6). Its
          strided fill ``W.view(-1)[::M+1] = 1/N`` walks column 0, not the diagonal: ``W[:, 0] = 1/N``,
          ``W[:, 1] = (N-M)/(N M)``, ``W[B-2, 0] = (N-M)/(N M)``, every other entry ``1/M``. A sample's
          own posterior then gets weight ``1/M`` instead of ``1/N``, so with sharp posteriors
          ``log q(z_i) ~ log q(z_i|x_i) - log M``: MI and TC go flat and DWKL acts as a per-sample rate.

    device : torch device of the result (default: the CPU).
    dtype : floating dtype of the result (default float32). The weights are computed in float64
        on the CPU (not every accelerator has float64) and rounded once to ``dtype``;
        :func:`decompose_kl` asks for the dtype of its inputs, so a float64 batch gets float64 weights.

    Returns
    -------
    tensor ``(B, B)`` of ``log W`` on ``device`` in ``dtype``; every row of ``loo`` and ``mss`` sums to 1 in ``W``.
    """
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; choose from {WEIGHTINGS}")
    B, N = int(batch_size), int(dataset_size)
    if B < 2:
        raise ValueError(f"batch_size must be >= 2 for the minibatch estimators, got {batch_size!r}")
    if N < B:
        raise ValueError(f"dataset_size ({dataset_size}) must be >= batch_size ({batch_size})")
    if weighting == "mws":
        return torch.full((B, B), -math.log(N * B), device=device, dtype=dtype)
    if weighting == "loo":
        W = torch.full((B, B), (N - 1) / (N * (B - 1)), dtype=torch.float64)
    elif weighting == "mss_strided":
        M = B - 1
        W = torch.full((B, B), 1.0 / M, dtype=torch.float64)
        W.view(-1)[:: M + 1] = 1.0 / N  # stride B over the flat matrix: column 0, as in the copied code
        W.view(-1)[1 :: M + 1] = (N - M) / (N * M)
        W[M - 1, 0] = (N - M) / (N * M)
        return W.log().to(device=device, dtype=dtype)
    else:
        M = B - 1
        W = torch.full((B, B), 1.0 / M, dtype=torch.float64)
        idx = torch.arange(B)
        W[idx, (idx + 1) % B] = (N - M) / (N * M)
    W.fill_diagonal_(1.0 / N)
    return W.log().to(device=device, dtype=dtype)


@dataclass
class KLTerms:
    """Per-sample terms ``(B,)`` of one subspace; ``mi + tc + dwkl == log_qz_x - log_pz``."""

    mi: Tensor
    tc: Tensor
    dwkl: Tensor
    log_qz_x: Tensor
    log_pz: Tensor

    @property
    def kl(self) -> Tensor:
        return self.mi + self.tc + self.dwkl


def _check_posterior(z: Tensor, mu: Tensor, logvar: Tensor) -> None:
    if z.ndim != 2 or z.shape != mu.shape or z.shape != logvar.shape:
        raise ValueError(f"z, mu, logvar must all be (batch, dim); got {tuple(z.shape)}, {tuple(mu.shape)}, {tuple(logvar.shape)}")


def decompose_kl(z: Tensor, mu: Tensor, logvar: Tensor, dataset_size: int, weighting: str = "loo") -> KLTerms:
    """Minibatch MI / TC / DWKL of one latent subspace.

    Parameters
    ----------
    z : tensor ``(B, D)``
        Samples, ``z_i ~ q(z | x_i)``.
    mu, logvar : tensors ``(B, D)``
        Posterior parameters of the same batch.
    dataset_size : int
        ``N``, the number of training examples the batch is drawn from.
    weighting : {"loo", "mss", "mws"}
        See :func:`log_importance_weights`.

    Notes
    -----
    With ``L[i, j, d] = log N(z_id; mu_jd, sigma_jd^2)``, the aggregate densities are
    ``log q(z_i) = logsumexp_j (log W_ij + sum_d L[i, j, d])`` and
    ``log q(z_id) = logsumexp_j (log W_ij + L[i, j, d])``: the weight enters once per joint density.
    """
    _check_posterior(z, mu, logvar)
    log_w = log_importance_weights(z.shape[0], dataset_size, weighting, device=z.device, dtype=z.dtype)
    L = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])  # (B, B, D)
    log_qz = torch.logsumexp(log_w + L.sum(-1), dim=1)
    log_prod_qzd = torch.logsumexp(log_w[:, :, None] + L, dim=1).sum(-1)
    log_qz_x = gaussian_log_density(z, mu, logvar).sum(-1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1)
    return KLTerms(log_qz_x - log_qz, log_qz - log_prod_qzd, log_prod_qzd - log_pz, log_qz_x, log_pz)


@dataclass(frozen=True)
class LossWeights:
    """alpha (MI), beta (TC), gamma (DWKL); all ones is the plain multi-view ELBO."""

    alpha: float = 0.0
    beta: float = 0.0
    gamma: float = 0.1

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass
class LossTerms:
    """Batch means of every term (scalars); ``total`` is what is minimised."""

    total: Tensor
    reconstruction: Tensor
    terms: dict[str, Tensor]  # e.g. "shared_mi", "private_tc" (private summed over both views)

    def as_floats(self) -> dict[str, float]:
        out = {"total": self.total.item(), "reconstruction": self.reconstruction.item()}
        out.update({k: v.item() for k, v in self.terms.items()})
        return out


#: Reconstruction errors :func:`reconstruction_error` knows (``TrainConfig.reconstruction``).
RECONSTRUCTIONS = ("mse", "bce", "gaussian")
#: Floor of the calibrated decoder's variance: ``log sigma >= -6``, the clip of Rybkin et al.'s code.
MIN_VARIANCE = math.exp(-12)


def reconstruction_error(recon: Tensor, x: Tensor, kind: str = "mse") -> Tensor:
    r"""Per-example reconstruction error ``(B,)``, summed over the ``D`` bins of each example.

    Parameters
    ----------
    recon, x : tensors ``(B, ...)`` of one shape: the decoder's output and its target.
    kind : {"mse", "bce", "gaussian"}
        * ``mse``: squared error :math:`\sum_b (x_b - \hat x_b)^2`, the Gaussian NLL with a fixed
          variance of 1/2 up to a constant: an arbitrary price of distortion against the rates.
        * ``bce``: binary cross-entropy (for targets in [0, 1]).
        * ``gaussian``: a calibrated decoder, the "optimal sigma-VAE" of Rybkin et al. (2021): the
          Gaussian NLL in nats, :math:`\tfrac D2 \log(2\pi\sigma^2) + \sum_b (x_b - \hat x_b)^2 / (2\sigma^2)`,
          with one variance :math:`\sigma^2` set to its maximum-likelihood value, the mean squared
          error of the whole batch (every example, every bin; floored at :data:`MIN_VARIANCE`).
          It is detached: at that value the batch mean of the NLL is flat in :math:`\sigma^2`, so the
          gradient is the one of the NLL with :math:`\sigma^2` left in the graph (the envelope
          theorem); the batch mean is :math:`\tfrac D2 (\log(2\pi\,\mathrm{MSE}) + 1)`. An example's
          value depends on the rest of its batch (through :math:`\sigma^2`), so each call is one
          batch: each view's reconstruction and each cross-view reconstruction gets the variance
          of its own residuals.

    Notes
    -----
    Why one variance and not one per bin: Rybkin et al. find that a shared variance, independent of
    the latent, often works better than a per-pixel one, and compute the shared one analytically.
    On log-mels a per-bin maximum-likelihood variance also prices bins by how well they are
    already predicted: the -80 dB floor away from a tone's partials is decoded almost exactly,
    its variance goes to zero and its weight :math:`1/(2\sigma_b^2)` to infinity (the unbounded
    likelihood of learned per-dimension variances, Mattei & Frellsen 2018), while the partials
    where pitch lives would weigh least.

    Reference: O. Rybkin, K. Daniilidis, S. Levine, "Simple and Effective VAE Training with
    Calibrated Decoders", ICML 2021.
    """
    if kind == "mse":
        return ((recon - x) ** 2).flatten(1).sum(1)
    if kind == "bce":
        return F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="none").flatten(1).sum(1)
    if kind == "gaussian":
        sse = ((recon - x) ** 2).flatten(1).sum(1)
        dim = sse.new_tensor(float(x[0].numel()))
        var = (sse.detach().mean() / dim).clamp_min(MIN_VARIANCE)
        return 0.5 * dim * torch.log(2 * math.pi * var) + sse / (2 * var)
    raise ValueError(f"unknown reconstruction {kind!r}; choose from {RECONSTRUCTIONS}")


def multiview_loss(
    out,
    x1: Tensor,
    x2: Tensor,
    weights: LossWeights,
    dataset_size: int,
    weighting: str = "loo",
    reconstruction: str = "mse",
) -> LossTerms:
    """The paper's objective for one batch of pairs (``out`` is a :class:`~mvtutorial.model.MultiViewOutput`).

    Shared-subspace terms use the fused posterior and enter once per view (the paper sums the
    per-view objective over ``j``); private terms use each view's own posterior.
    """
    if x1.shape != x2.shape:
        raise ValueError(f"views must have the same shape, got {tuple(x1.shape)} and {tuple(x2.shape)}")
    rec = sum(reconstruction_error(r, x, reconstruction).mean() for r, x in zip(out.recon, (x1, x2)))
    shared = decompose_kl(out.z_shared, out.shared.mu, out.shared.logvar, dataset_size, weighting)
    privates = [decompose_kl(z, p.mu, p.logvar, dataset_size, weighting) for z, p in zip(out.z_private, out.private)]
    terms: dict[str, Tensor] = {}
    for name in ("mi", "tc", "dwkl"):
        terms[f"shared_{name}"] = getattr(shared, name).mean()
        terms[f"private_{name}"] = sum(getattr(p, name).mean() for p in privates)
    total = rec
    for name, w in (("mi", weights.alpha), ("tc", weights.beta), ("dwkl", weights.gamma)):
        total = total + w * (2 * terms[f"shared_{name}"] + terms[f"private_{name}"])
    return LossTerms(total, rec, terms)


@torch.no_grad()
def aggregate_decomposition(
    z: Tensor, mu_z: Tensor, logvar_z: Tensor, mu_all: Tensor, logvar_all: Tensor, chunk: int = 256
) -> dict[str, float]:
    """MI, TC, DWKL in nats of samples ``z`` ``(n, D)`` (drawn from the posteriors ``mu_z``, ``logvar_z``)
    against the aggregate posterior of ALL ``N`` examples ``mu_all``, ``logvar_all`` ``(N, D)``:
    ``q(z_i) = (1/N) sum_j q(z_i | x_j)`` with the logsumexp over all N (no minibatch weights), in
    chunks of rows. Returns the averages over the ``n`` samples plus their sum ``kl``.
    """
    for name, a, b in (("z/mu_z", z, mu_z), ("z/logvar_z", z, logvar_z), ("mu_all/logvar_all", mu_all, logvar_all)):
        if a.ndim != 2 or a.shape != b.shape:
            raise ValueError(f"{name} must be (n, D) of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if z.shape[1] != mu_all.shape[1]:
        raise ValueError(f"z has {z.shape[1]} dimensions, mu_all {mu_all.shape[1]}")
    N = mu_all.shape[0]
    log_qz = torch.empty(len(z), dtype=z.dtype, device=z.device)
    log_prod = torch.empty(len(z), dtype=z.dtype, device=z.device)
    for s in range(0, len(z), chunk):
        L = gaussian_log_density(z[s : s + chunk, None, :], mu_all[None], logvar_all[None])  # (c, N, D)
        log_qz[s : s + chunk] = torch.logsumexp(L.sum(-1), 1) - math.log(N)
        log_prod[s : s + chunk] = (torch.logsumexp(L, 1) - math.log(N)).sum(-1)
    log_qz_x = gaussian_log_density(z, mu_z, logvar_z).sum(-1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1)
    mi, tc, dwkl = (log_qz_x - log_qz).mean(), (log_qz - log_prod).mean(), (log_prod - log_pz).mean()
    return {"mi": float(mi), "tc": float(tc), "dwkl": float(dwkl), "kl": float(mi + tc + dwkl)}


@torch.no_grad()
def full_dataset_decomposition(
    mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None, chunk: int = 256
) -> dict[str, float]:
    """MI, TC, DWKL in nats of one subspace over a whole dataset (no minibatch approximation).

    ``mu``, ``logvar`` ``(N, D)`` are the posteriors of all N examples. One sample ``z_i`` per
    example, then :func:`aggregate_decomposition` against all N posteriors, in float64 on the
    inputs' device (every buffer is made there). ``generator`` may live on the CPU or on that
    device; the noise is drawn on the generator's device, so the same generator seed gives the
    same numbers wherever the posteriors are. Returns the averages over examples plus their sum ``kl``.
    """
    if mu.ndim != 2 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must both be (N, D), got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if mu.device != logvar.device:
        raise ValueError(f"mu and logvar must be on one device, got {mu.device} and {logvar.device}")
    mu, logvar = mu.double(), logvar.double()
    noise_device = generator.device if generator is not None else mu.device
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=noise_device).to(mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps
    return aggregate_decomposition(z, mu, logvar, mu, logvar, chunk)
