r"""Transposition equivariance for the ``"multiview"`` objective (``TrainConfig.transposition``, chapter 6.8).

The two views of a pair are one timbre at two pitches: the second is the first transposed by a known
interval :math:`t` (in octaves; with a new amplitude and phase on the tones). Self-supervised pitch
estimators learn from exactly that signal: SPICE (Gfeller et al. 2020) and PESTO (Riou et al. 2023)
shift a clip by a known number of bins and ask the model's outputs to move by that number, so pitch
becomes one direction of the representation without any absolute label. Here the first private
coordinate plays that part: its two samples must differ by the interval,

.. math::

    \mathcal{L}_t = \mathrm{mean}_i \,\big(z_{p_2, i0} - z_{p_1, i0} - t_i\big)^2 .

Only differences enter, so the model never sees a clip's absolute pitch. One fixed coordinate is as
good as a learned direction, because the prior N(0, I) and the rates are rotation invariant (the
encoder can turn any direction onto it), and octaves suit the prior's scale: the tone set spans
4.2 octaves, about +-2 prior standard deviations. The samples, not the means, are compared, so noise
along the pitch axis costs squared error: at private rate :math:`\beta_p` (nats) and weight
:math:`\lambda_t`, the cheapest posterior standard deviation along it is
:math:`\sqrt{\beta_p / (2\lambda_t)}` octave (two views, each charged :math:`-\beta_p \log\sigma`,
against :math:`2\lambda_t\sigma^2`).

References: B. Gfeller et al., "SPICE: Self-Supervised Pitch Estimation", IEEE/ACM TASLP 2020;
A. Riou et al., "PESTO: Pitch Estimation with Self-supervised Transposition-equivariant Objective",
ISMIR 2023.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from torch import Tensor

__all__ = ["clip_octaves", "transposition_error"]


def clip_octaves(factors: pd.DataFrame) -> np.ndarray:
    r"""Each clip's pitch in octaves (``log2`` of its frequency, up to a constant), float64 ``(N,)``.

    The tone set's ``freq_hz`` gives :math:`\log_2 f`; sampled instruments' ``midi_note`` and
    ``detune_cents`` give :math:`(\mathrm{note} + \mathrm{cents}/100)/12`. Only differences between
    two clips are used (:func:`transposition_error`), so the offset does not matter.

    Raises
    ------
    ValueError
        When the table has neither a ``freq_hz`` column nor ``midi_note`` and ``detune_cents``
        (a source without known pitches, e.g. an audio folder: transposition needs them).
    """
    if "freq_hz" in factors:
        hz = factors["freq_hz"].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(hz) & (hz > 0)):
            raise ValueError(f"freq_hz must be positive and finite for transposition, got min {hz.min()!r}")
        return np.log2(hz)
    if "midi_note" in factors and "detune_cents" in factors:
        return (factors["midi_note"].to_numpy(dtype=np.float64) + factors["detune_cents"].to_numpy(dtype=np.float64) / 100) / 12
    raise ValueError("transposition needs each clip's pitch: a 'freq_hz' column (tones) or 'midi_note' and "
                     f"'detune_cents' (sampled instruments); this factor table has {list(factors.columns)}. For clips "
                     "without a pitch label train with transposition=0 (and without the pitch read-back that needs it), e.g. "
                     "recommended_config(transposition=0, swap_pitch_consistency=0)")


def transposition_error(z_private_1: Tensor, z_private_2: Tensor, interval: Tensor) -> Tensor:
    r"""Batch mean of :math:`(z_{p_2,0} - z_{p_1,0} - t)^2`: a 0-d tensor >= 0.

    Parameters
    ----------
    z_private_1, z_private_2 : ``(B, private_dim)`` private samples of the pair's two views.
    interval : ``(B,)`` interval from view 1 to view 2 in octaves (:func:`clip_octaves` of view 2
        minus that of view 1).

    Returns
    -------
    Tensor
        0 when the first private coordinate moves exactly by the interval.

    Raises
    ------
    ValueError
        For shapes that do not match.

    References
    ----------
    Gfeller et al., TASLP 2020 (SPICE: the difference of two pitch outputs against the known shift).
    """
    if z_private_1.ndim != 2 or z_private_1.shape != z_private_2.shape or interval.shape != z_private_1.shape[:1]:
        raise ValueError(f"need two (batch, dim) private samples of one shape and a (batch,) interval, got "
                         f"{tuple(z_private_1.shape)}, {tuple(z_private_2.shape)} and {tuple(interval.shape)}")
    return ((z_private_2[:, 0] - z_private_1[:, 0] - interval) ** 2).mean()
