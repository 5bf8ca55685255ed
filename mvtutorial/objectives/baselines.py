r"""Chapter 8's objectives: other ways to split a representation, on the same model and trainer.

Every baseline is an objective of :data:`~mvtutorial.objectives.OBJECTIVES` on the same
:class:`~mvtutorial.model.MultiViewVAE` (same encoder, same 8 + 8 latent dimensions, same decoder),
so only the loss differs. Baselines without a private/shared split treat the 16 dimensions as one
latent; the evaluation still reads them as "private" (the first 8) and "shared" (the last 8), which is
then only a name: compare them on the ``both`` rows, MIG / DCI / SAP.

For one view, the *single-view posterior* is ``concat(q_private, prior x q_shared-expert)``: the
encoder's private head and its shared head fused with the prior, which is exactly what the
evaluation and :mod:`mvtutorial.listening` read for one clip.

``"single_view"``
    beta-TCVAE (Chen et al. 2018) on each view alone, no pairs:
    :math:`\mathrm{rec} + \alpha\,\mathrm{MI} + \beta\,\mathrm{TC} + \gamma\,\mathrm{DWKL}` of the 16-d
    single-view posterior (config ``alpha``, ``beta``, ``gamma``; the minibatch estimator of chapter 2).
``"all_private"``
    The multi-view VAE with no shared path: each view is encoded and decoded alone (the paper's
    decomposed KL with the config's weights). With pairs that never interact this is a single-view VAE.
``"all_shared"``
    The multi-view VAE with no private path: both heads of both views are fused by a product of
    experts into one 16-d code per pair, from which both views are decoded.
``"ada_gvae"``
    Ada-GVAE (Locatello et al. 2020): per dimension, the KL between the two views' single-view
    posteriors; dimensions below ``(max + min) / 2`` of that pair are taken as shared and both views'
    posteriors are replaced by their average there (:func:`ada_gvae_average`); loss
    :math:`\sum_j \mathrm{rec}_j + \beta_p\,\mathrm{KL}(\tilde q_j \| p)` with :math:`\beta_p` =
    ``rate_private`` (the per-view analytic rate of chapter 6; Locatello et al. use 1).
``"contrastive_only"``
    InfoNCE (van den Oord et al. 2018) between the two views' single-view shared means, no decoder
    term: the shared code is trained to identify the partner, the private code is never trained.

The reconstruction + contrastive variant, in the spirit of the authors' follow-up (Wilkins et al.
2025), is the ``"multiview"`` objective with ``contrastive > 0`` (:func:`info_nce` added to it).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..losses import LossTerms, decompose_kl, gaussian_kl, reconstruction_error
from ..model import Posterior, reparameterize
from .registry import register_objective

__all__ = ["info_nce", "ada_gvae_average", "single_view_posterior", "shared_contrast", "single_view_objective",
           "all_shared_objective", "ada_gvae_objective", "contrastive_only_objective"]


def info_nce(a: Tensor, b: Tensor, temperature: float = 0.1) -> Tensor:
    r"""Symmetric InfoNCE of paired rows: row *i* of ``a`` and row *i* of ``b`` are positives, every
    other row of the batch a negative.

    .. math:: \ell = -\frac{1}{2B}\sum_i \Big[\log \frac{e^{s_{ii}/t}}{\sum_k e^{s_{ik}/t}}
              + \log \frac{e^{s_{ii}/t}}{\sum_k e^{s_{ki}/t}}\Big], \quad s_{ik} = \cos(a_i, b_k)

    ``a``, ``b``: ``(B, dim)``; returns a scalar (nats). With identical positives and orthogonal
    negatives it equals :math:`\log(1 + (B - 1) e^{-1/t})`. Reference: van den Oord et al. (2018),
    "Representation learning with contrastive predictive coding"; Chen et al. (2020), SimCLR.
    """
    if a.ndim != 2 or a.shape != b.shape or len(a) < 2:
        raise ValueError(f"a and b must be (batch >= 2, dim) of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def ada_gvae_average(p1: Posterior, p2: Posterior) -> tuple[Posterior, Posterior, Tensor]:
    r"""Ada-GVAE's adaptive averaging of two views' diagonal Gaussian posteriors ``(B, D)``.

    :math:`\delta_d = \mathrm{KL}(q_1^d \| q_2^d)`; dimensions with :math:`\delta_d < (\max_d \delta_d
    + \min_d \delta_d) / 2` (per pair) are shared, and there both posteriors become
    :math:`\mathcal N(\tfrac{\mu_1 + \mu_2}{2}, \tfrac{\sigma_1^2 + \sigma_2^2}{2})` (the GVAE average).
    Returns the two new posteriors and the boolean ``(B, D)`` mask of shared dimensions.
    Reference: Locatello et al. (2020), "Weakly-supervised disentanglement without compromises", eq. 6.
    """
    if p1.mu.shape != p2.mu.shape or p1.mu.ndim != 2:
        raise ValueError(f"posteriors must be (batch, dim) of one shape, got {tuple(p1.mu.shape)} and {tuple(p2.mu.shape)}")
    v1, v2 = p1.logvar.exp(), p2.logvar.exp()
    delta = 0.5 * (p2.logvar - p1.logvar + (v1 + (p1.mu - p2.mu) ** 2) / v2 - 1)
    threshold = 0.5 * (delta.amax(dim=1, keepdim=True) + delta.amin(dim=1, keepdim=True))
    shared = delta < threshold
    mu = torch.where(shared, 0.5 * (p1.mu + p2.mu), p1.mu), torch.where(shared, 0.5 * (p1.mu + p2.mu), p2.mu)
    var = 0.5 * (v1 + v2)
    logvar = torch.where(shared, var.log(), p1.logvar), torch.where(shared, var.log(), p2.logvar)
    return Posterior(mu[0], logvar[0]), Posterior(mu[1], logvar[1]), shared


def single_view_posterior(model, x: Tensor) -> Posterior:
    """``concat(private, prior x shared expert)`` of one view: ``(B, private_dim + shared_dim)``."""
    private, expert = model.encode(x)
    shared = model.fuse([expert])
    return Posterior(torch.cat([private.mu, shared.mu], 1), torch.cat([private.logvar, shared.logvar], 1))


def _decode(model, z: Tensor) -> Tensor:
    p = model.config.private_dim
    return model.decode(z[:, :p], z[:, p:])


def _decomposed_kl(z, post: Posterior, config, dataset_size: int) -> tuple[Tensor, dict]:
    terms = decompose_kl(z, post.mu, post.logvar, dataset_size, config.weighting)
    named = {"mi": terms.mi.mean(), "tc": terms.tc.mean(), "dwkl": terms.dwkl.mean()}
    w = config.weights
    return w.alpha * named["mi"] + w.beta * named["tc"] + w.gamma * named["dwkl"], named


@register_objective("single_view")
def single_view_objective(model, x1: Tensor, x2: Tensor, config, dataset_size: int, generator=None) -> LossTerms:
    """beta-TCVAE on each view alone (the pair is two independent examples)."""
    total, rec_sum, logged = 0.0, 0.0, {}
    for j, x in enumerate((x1, x2)):
        post = single_view_posterior(model, x)
        z = reparameterize(post.mu, post.logvar, generator)
        rec = reconstruction_error(_decode(model, z), x, config.reconstruction).mean()
        kl, named = _decomposed_kl(z, post, config, dataset_size)
        total, rec_sum = total + rec + kl, rec_sum + rec
        for k, v in named.items():
            logged[k] = logged.get(k, 0.0) + v
    return LossTerms(total, rec_sum, logged)


register_objective("all_private")(single_view_objective)  # no shared path: the same loss, its own name


@register_objective("all_shared")
def all_shared_objective(model, x1: Tensor, x2: Tensor, config, dataset_size: int, generator=None) -> LossTerms:
    """One 16-d code per pair: both heads of both views fused by a product of experts with the prior."""
    heads = [model.encode(x) for x in (x1, x2)]
    fused = model.fuse([Posterior(torch.cat([p.mu, s.mu], 1), torch.cat([p.logvar, s.logvar], 1)) for p, s in heads])
    z = reparameterize(fused.mu, fused.logvar, generator)
    recon = _decode(model, z)
    rec = sum(reconstruction_error(recon, x, config.reconstruction).mean() for x in (x1, x2))
    kl, named = _decomposed_kl(z, fused, config, dataset_size)
    return LossTerms(rec + 2 * kl, rec, named)  # the shared terms enter once per view, as in the paper's loss


@register_objective("ada_gvae")
def ada_gvae_objective(model, x1: Tensor, x2: Tensor, config, dataset_size: int, generator=None) -> LossTerms:
    """Ada-GVAE: adaptively averaged posteriors, reconstruction + ``rate_private`` x analytic KL per view."""
    q1, q2, shared = ada_gvae_average(single_view_posterior(model, x1), single_view_posterior(model, x2))
    rec, rate = 0.0, 0.0
    for q, x in ((q1, x1), (q2, x2)):
        z = reparameterize(q.mu, q.logvar, generator)
        rec = rec + reconstruction_error(_decode(model, z), x, config.reconstruction).mean()
        rate = rate + gaussian_kl(q.mu, q.logvar).sum(1).mean()
    return LossTerms(rec + config.rate_private * rate, rec, {"rate": rate, "shared_fraction": shared.float().mean()})


def shared_contrast(model, x1: Tensor, x2: Tensor, temperature: float) -> Tensor:
    """:func:`info_nce` of the two views' single-view shared means."""
    return info_nce(model.fuse([model.encode(x1)[1]]).mu, model.fuse([model.encode(x2)[1]]).mu, temperature)


@register_objective("contrastive_only")
def contrastive_only_objective(model, x1: Tensor, x2: Tensor, config, dataset_size: int, generator=None) -> LossTerms:
    """InfoNCE on the shared means alone, scaled by ``contrastive`` (no decoder term)."""
    if not config.contrastive > 0:
        raise ValueError(f"objective 'contrastive_only' needs contrastive > 0 (its only term), got {config.contrastive!r}")
    loss = shared_contrast(model, x1, x2, config.temperature)
    return LossTerms(config.contrastive * loss, loss.new_zeros(()), {"contrastive": loss})
