r"""The ``"multiview"`` objective: the paper's loss (Wilkins et al. 2024) plus the separation
study's mechanisms (chapter 6), each off by default so the paper's objective stays reproducible:

``cross_reconstruction`` (:math:`\lambda_x`)
    DMVAE-style cross-view reconstruction (Lee & Pavlovic 2021): view *j* is also decoded from
    its own private sample and the *other* view's single-view shared sample,
    :math:`\lambda_x \sum_j \mathrm{rec}(x_j, \mathrm{dec}(z_{p_j}, z_{s,\bar j}))`. What the
    views share is then the only thing the shared code can usefully carry.
``rate_shared``, ``rate_private`` (:math:`\beta_s, \beta_p`)
    Analytic per-sample KL to N(0, I), the rate that prices where information sits.
    The fused shared posterior is charged once per pair (as in ML-VAE, Bouchacourt et al. 2018),
    each private posterior once per view: timbre then costs one ``ln 4`` in the shared code but
    two in the private codes, which breaks the tie of the per-view sum.
``contrastive``, ``temperature``
    InfoNCE between the two views' single-view shared means (chapter 8, :func:`mvtutorial.objectives.baselines.info_nce`).
``private_cycle`` (:math:`\lambda_c`)
    Reverse cycle (cycle-consistent VAE, Jha et al. 2018): decode one private sample with two
    different shared codes (its own pair's and another pair's in the batch), re-encode both, and
    penalise the difference of their private means, in units of the batch variance of the
    private means. A private code that carries timbre changes when the timbre does.
``private_adversary`` (:math:`\lambda_a`)
    A head predicts each view's single-view shared mean from its private sample; its squared
    error trains the head and, through a gradient-reversal layer, pushes the encoder to leave in
    the private code nothing the shared code carries (Ganin & Lempitsky 2015; Bousmalis et al.
    2016): :func:`mvtutorial.objectives.adversary.private_adversary_loss`. The model must own the
    head (``TrainConfig.model_config`` builds it when the weight is > 0).
``transposition`` (:math:`\lambda_t`)
    Transposition equivariance (SPICE, Gfeller et al. 2020; PESTO, Riou et al. 2023): the first
    private coordinate of the pair's two samples must differ by the known interval between the
    views, in octaves: :func:`mvtutorial.objectives.transposition.transposition_error`. The
    trainer passes each pair's ``interval`` (:func:`~mvtutorial.objectives.transposition.clip_octaves`).
``swap_consistency`` (:math:`\lambda_w`, decoder stage only)
    Latent reconstruction of swaps (InfoGAN's bound, Chen et al. 2016; MUNIT, Huang et al. 2018): each view's
    private sample is decoded with another pair's shared sample and the frozen encoder must read that shared
    sample back, :func:`swap_consistency_error`. The decoder learns to render what the shared code says,
    whatever private code it gets.
``swap_pitch_consistency`` (:math:`\lambda_q`, decoder stage only, with ``transposition``)
    The same swaps must also be read back with their private donor's pitch coordinate (:func:`swap_read_back`).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..losses import LossTerms, gaussian_kl, gaussian_log_density, multiview_loss, reconstruction_error
from .adversary import private_adversary_loss
from .baselines import shared_contrast
from .transposition import transposition_error
from .registry import register_objective

__all__ = ["multiview_objective", "cross_reconstruction_error", "private_cycle_penalty", "swap_consistency_error", "swap_read_back"]


def single_view_samples(model, out, generator=None) -> list[Tensor]:
    """One draw ``(B, dim)`` per view from its single-view shared posterior (the prior times that view's expert)."""
    singles = [model.fuse([e]) for e in out.shared_experts]
    return [model.draw(s.mu, s.logvar, generator) for s in singles]


def cross_reconstruction_error(model, out, x1: Tensor, x2: Tensor, kind: str = "mse", generator=None) -> Tensor:
    """Batch mean of ``sum_j rec(x_j, dec(z_pj, z_s of the other view alone))``.

    The single-view shared posterior is the prior times that view's expert (what
    :meth:`~mvtutorial.model.MultiViewVAE.shared_code` returns the mean of). When both views'
    experts coincide, the single-view posteriors coincide and the term equals the usual
    reconstruction from a single-view shared sample.
    """
    z_single = single_view_samples(model, out, generator)
    recon = (model.decode(out.z_private[0], z_single[1]), model.decode(out.z_private[1], z_single[0]))
    return sum(reconstruction_error(r, x, kind).mean() for r, x in zip(recon, (x1, x2)))


def private_cycle_penalty(model, z_private: Tensor, z_shared: Tensor, eps: float = 1e-6) -> Tensor:
    """Reverse-cycle invariance of the private code, a scalar >= 0.

    ``z_private``, ``z_shared``: ``(B, dim)`` samples of the same batch. Each private sample is
    decoded with its own shared code and with the next row's (``roll`` by one: another pair, so
    another timbre 3 times in 4); both decodings are re-encoded. Returns
    ``sum_d mean_i (a_id - b_id)^2 / (var_d + eps)`` with ``a``, ``b`` the two re-encoded
    private means and ``var_d`` the variance of ``a`` and ``b`` over the batch: 0 when the
    private code ignores the shared code's content, about ``2 x dim`` when the two are unrelated.
    The decodings are detached, so this trains the encoder only (the decoder is not taught to
    hide timbre from it).
    """
    if z_private.ndim != 2 or z_shared.ndim != 2 or z_private.shape[0] != z_shared.shape[0]:
        raise ValueError(f"z_private and z_shared must be (batch, dim) with one batch size, got {tuple(z_private.shape)} and {tuple(z_shared.shape)}")
    with torch.no_grad():
        own = model.decode(z_private, z_shared)
        other = model.decode(z_private, z_shared.roll(1, dims=0))
    a, b = model.encode(own)[0].mu, model.encode(other)[0].mu
    var = torch.cat([a, b]).var(dim=0) + eps
    return (((a - b) ** 2) / var).mean(0).sum()


def swap_consistency_error(model, z_private: Tensor, z_shared: Tensor) -> Tensor:
    r"""Batch mean of :math:`-\log q(z_{s,i-1} \mid \mathrm{dec}(z_{p,i}, z_{s,i-1}))` in nats, a scalar.

    ``z_private``, ``z_shared``: ``(B, dim)`` samples of one view's codes (the shared one single-view). Row
    ``i``'s private sample is decoded with row ``i - 1``'s shared sample (``roll`` by one: another pair, so
    another timbre 3 times in 4), the swap is re-encoded and scored by the log-density of the shared sample it was
    made from under its single-view shared posterior (:meth:`~mvtutorial.model.MultiViewVAE.fuse` of the expert
    with the prior), summed over dimensions. Dimensions the code leaves at the prior (sd near 1) cost the
    same whatever is decoded; a precise dimension (small sd) costs its squared error in units of its variance.

    The targets are detached; gradients reach the decoder through the encoder, which a decoder stage
    freezes (:func:`mvtutorial.training.freeze_encoder`), so the encoder cannot move its codes to agree.
    Minus the term, plus the entropy of the shared samples, is a lower bound on the mutual information between
    the shared code and the swap: InfoGAN's latent term (X. Chen et al., "InfoGAN", NeurIPS 2016; the latent
    reconstruction of MUNIT, Huang et al., ECCV 2018).
    """
    return swap_read_back(model, z_private, z_shared)["shared"]


def swap_read_back(model, z_private: Tensor, z_shared: Tensor) -> dict[str, Tensor]:
    r"""The swaps of :func:`swap_consistency_error`, decoded and re-encoded once, scored twice (batch means, nats):
    ``"shared"``, that function's value, and ``"pitch"``, :math:`-\log q(z_{p,i0} \mid \mathrm{swap}_i)` for the
    first private coordinate alone (the pitch axis of the transposition term, :mod:`mvtutorial.objectives.transposition`),
    under the re-encoded swap's private posterior: the swap must keep its private donor's pitch as the encoder reads it.
    Only that coordinate: the other private dimensions may hold some of the private donor's timbre, which a
    swap should not keep."""
    if z_private.ndim != 2 or z_shared.ndim != 2 or z_private.shape[0] != z_shared.shape[0]:
        raise ValueError(f"z_private and z_shared must be (batch, dim) with one batch size, got {tuple(z_private.shape)} and {tuple(z_shared.shape)}")
    donor, own = z_shared.detach().roll(1, dims=0), z_private.detach()
    private, expert = model.encode(model.decode(own, donor))
    read = model.fuse([expert])
    return {"shared": -gaussian_log_density(donor, read.mu, read.logvar).sum(1).mean(),
            "pitch": -gaussian_log_density(own[:, :1], private.mu[:, :1], private.logvar[:, :1]).sum(1).mean()}


@register_objective("multiview")
def multiview_objective(model, x1: Tensor, x2: Tensor, config, dataset_size: int, generator=None,
                        interval: Tensor | None = None) -> LossTerms:
    """The paper's loss (:func:`~mvtutorial.losses.multiview_loss`) plus the study's enabled terms.

    ``interval`` ``(B,)``: each pair's interval from view 1 to view 2 in octaves, needed (only) when
    ``config.transposition > 0``.
    """
    if config.transposition > 0 and interval is None:
        raise ValueError(f"transposition={config.transposition:g} needs each pair's interval: the trainer passes it "
                         "from the factor table (mvtutorial.objectives.transposition.clip_octaves)")
    out = model(x1, x2, generator=generator)
    terms = multiview_loss(out, x1, x2, config.weights, dataset_size, config.weighting, config.reconstruction)
    total, extra = terms.total, dict(terms.terms)
    if config.cross_reconstruction > 0:
        extra["cross_reconstruction"] = cross_reconstruction_error(model, out, x1, x2, config.reconstruction, generator)
        total = total + config.cross_reconstruction * extra["cross_reconstruction"]
    if config.rate_shared > 0 or config.rate_private > 0:
        extra["rate_shared"] = gaussian_kl(out.shared.mu, out.shared.logvar).sum(1).mean()  # once per pair
        extra["rate_private"] = sum(gaussian_kl(p.mu, p.logvar).sum(1).mean() for p in out.private)
        total = total + config.rate_shared * extra["rate_shared"] + config.rate_private * extra["rate_private"]
    if config.private_cycle > 0:
        extra["private_cycle"] = sum(private_cycle_penalty(model, z, out.z_shared) for z in out.z_private)
        total = total + config.private_cycle * extra["private_cycle"]
    if config.private_adversary > 0:
        extra["private_adversary"] = private_adversary_loss(model, out)
        total = total + config.private_adversary * extra["private_adversary"]
    if config.transposition > 0:
        extra["transposition"] = transposition_error(*out.z_private, interval.to(out.z_private[0].dtype))
        total = total + config.transposition * extra["transposition"]
    if config.swap_consistency > 0 or config.swap_pitch_consistency > 0:
        singles = single_view_samples(model, out, generator)
        reads = [swap_read_back(model, zp, zs) for zp, zs in zip(out.z_private, singles)]
        for term, part in (("swap_consistency", "shared"), ("swap_pitch_consistency", "pitch")):
            if getattr(config, term) > 0:
                extra[term] = sum(r[part] for r in reads)
                total = total + getattr(config, term) * extra[term]
    if config.contrastive > 0:
        extra["contrastive"] = shared_contrast(model, x1, x2, config.temperature)
        total = total + config.contrastive * extra["contrastive"]
    return LossTerms(total, terms.reconstruction, extra)


