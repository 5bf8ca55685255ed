r"""The private adversary of the ``"multiview"`` objective (``TrainConfig.private_adversary``, chapter 6.8).

A small head (``model.adversary``, built by :class:`~mvtutorial.model.MultiViewVAE` when the config
asks for one) predicts each view's single-view shared mean from that view's private sample. Its
squared error trains the head as usual and reaches the encoder through a gradient-reversal layer,
so the encoder is pushed to leave in the private code nothing the head can read the shared code
from: the job the private rate does in the configuration ``+ cross-view + rate`` (keeping timbre out of the
private code), done without blurring pitch.

References: Y. Ganin & V. Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015
(the gradient-reversal layer); K. Bousmalis et al., "Domain Separation Networks", NeurIPS 2016
(private and shared subspaces kept apart by a loss on both).
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["GradientReversal", "reverse_gradient", "private_adversary_loss"]


class GradientReversal(torch.autograd.Function):
    """Identity in the forward pass, gradient times ``-1`` in the backward pass (Ganin & Lempitsky 2015).

    Reference: Ganin & Lempitsky, ICML 2015, section 3.2 (the "gradient reversal layer").
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        """``x`` itself (a view, so autograd records this function)."""
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        """The incoming gradient, negated."""
        return -grad


def reverse_gradient(x: Tensor) -> Tensor:
    """``x`` unchanged, but the gradient that flows back through it is negated.

    Parameters
    ----------
    x : Tensor
        Any tensor.

    Returns
    -------
    Tensor
        Equal to ``x``; ``d loss / d x`` computed through it is ``-(d loss / d output)``.

    References
    ----------
    Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015.
    """
    return GradientReversal.apply(x)


def private_adversary_loss(model, out) -> Tensor:
    r"""The adversary's squared error, summed over the two views: a scalar >= 0.

    For each view *j*, the head predicts the single-view shared mean
    :math:`\mu_{s,j}` (the prior times view *j*'s expert, what
    :meth:`~mvtutorial.model.MultiViewVAE.shared_code` returns; detached, so this term never moves
    the shared code) from the private sample :math:`z_{p_j}` passed through
    :func:`reverse_gradient`; the loss is
    :math:`\sum_j \mathrm{mean}_{i,d}\,(\mathrm{head}(z_{p_j})_{id} - \mu_{s,j,id})^2`.
    Minimising ``weight x loss`` trains the head to predict; the encoder receives ``-weight`` times
    the same gradient, so it moves its private codes to make the prediction worse.

    Parameters
    ----------
    model : MultiViewVAE
        A model with an ``adversary`` head (``ModelConfig.adversary_hidden`` non-empty).
    out : MultiViewOutput
        ``model``'s forward pass on the batch.

    Returns
    -------
    Tensor
        The loss (a 0-d tensor); about the shared means' variance per dimension, times 2, when the
        private code says nothing about the shared one.

    Raises
    ------
    ValueError
        When ``model`` has no adversary head.

    References
    ----------
    Ganin & Lempitsky, ICML 2015; Bousmalis et al., "Domain Separation Networks", NeurIPS 2016.
    """
    head = getattr(model, "adversary", None)
    if head is None:
        raise ValueError("private_adversary > 0 needs a model with an adversary head: build it from "
                         "TrainConfig.model_config(...) (ModelConfig.adversary_hidden non-empty)")
    loss = 0.0
    for z_private, expert in zip(out.z_private, out.shared_experts):
        target = model.fuse([expert]).mu.detach()
        loss = loss + ((head(reverse_gradient(z_private)) - target) ** 2).mean()
    return loss
