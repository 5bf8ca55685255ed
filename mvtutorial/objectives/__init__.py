r"""Training objectives: the one place that turns a batch of pairs into a loss.

An objective is a function registered under a name; :class:`~mvtutorial.config.TrainConfig`
names it (``objective="multiview"``) and the trainer calls it once per batch::

    terms = OBJECTIVES[config.objective](model, x1, x2, config, dataset_size, generator)

It returns :class:`~mvtutorial.losses.LossTerms` (``total`` is minimised, every named term is
logged). Importing this package registers every objective, one file per family:

- :mod:`mvtutorial.objectives.multiview`: ``"multiview"``, the paper's objective plus the
  separation study's mechanisms (chapter 6), with :mod:`mvtutorial.objectives.adversary` (the
  private adversary's head loss and its gradient-reversal layer) and
  :mod:`mvtutorial.objectives.transposition` (transposition equivariance of the private code);
- :mod:`mvtutorial.objectives.baselines`: chapter 8's other ways to split a representation
  (``"single_view"``, ``"all_private"``, ``"all_shared"``, ``"ada_gvae"``, ``"contrastive_only"``).

A new objective is one function decorated with :func:`register_objective` in one of these files
(or a new one imported here) plus its test; the trainer, checkpoints and sweeps need no change.
"""
from __future__ import annotations

from .registry import OBJECTIVES, register_objective
from .baselines import ada_gvae_average, info_nce, shared_contrast, single_view_posterior
from .adversary import GradientReversal, private_adversary_loss, reverse_gradient
from .transposition import clip_octaves, transposition_error
from .multiview import cross_reconstruction_error, multiview_objective, private_cycle_penalty, swap_consistency_error, swap_read_back

__all__ = ["OBJECTIVES", "register_objective", "multiview_objective", "cross_reconstruction_error", "private_cycle_penalty", "swap_consistency_error", "swap_read_back",
           "GradientReversal", "reverse_gradient", "private_adversary_loss", "clip_octaves", "transposition_error",
           "info_nce", "ada_gvae_average", "single_view_posterior", "shared_contrast"]
