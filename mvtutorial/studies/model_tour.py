"""Chapter 2's tour of the model: what a forward pass returns, and what the loss of an untrained
model says (chapter 2.5). Nothing trains here."""
from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import pandas as pd
import torch

from ..losses import LossTerms
from ..model import MultiViewOutput, Posterior

__all__ = ["OUTPUT_MEANINGS", "output_table", "untrained_readings"]

#: What each field of :class:`~mvtutorial.model.MultiViewOutput` holds (``{j}``: the view, 1-based).
OUTPUT_MEANINGS = {
    "recon": "reconstruction of view {j}, in [0, 1]",
    "private": "private posterior of view {j}",
    "shared_experts": "shared expert of view {j}",
    "shared": "fused shared posterior (PoE of the prior and both experts)",
    "z_private": "sample of the private code of view {j}",
    "z_shared": "sample of the shared code, used by both views",
}
_PARTS = {"mu": "mean", "logvar": "log-variance"}


def _rows(name: str, value, text: str) -> Iterator[dict]:
    """One row per tensor inside a field (tuples per view, a Posterior's mean and log-variance)."""
    if isinstance(value, torch.Tensor):
        yield {"tensor": name, "shape": tuple(value.shape), "meaning": text}
    elif isinstance(value, Posterior):
        for part, word in _PARTS.items():
            yield from _rows(f"{name}.{part}", getattr(value, part), f"{text}: {word}")
    elif isinstance(value, (tuple, list)):
        for j, v in enumerate(value):
            yield from _rows(f"{name}[{j}]", v, text.format(j=j + 1))
    elif isinstance(value, dict):
        for key, v in value.items():
            yield from _rows(f"{name}[{key!r}]", v, text)


def output_table(out: MultiViewOutput) -> pd.DataFrame:
    """Every tensor of a forward pass's output with its shape and meaning, indexed ``out.field[...]``."""
    rows = [r for f in dataclasses.fields(out)
            for r in _rows(f"out.{f.name}", getattr(out, f.name), OUTPUT_MEANINGS.get(f.name, ""))]
    return pd.DataFrame(rows).set_index("tensor")


def untrained_readings(out: MultiViewOutput, loss: LossTerms, x: torch.Tensor, dataset_size: int) -> dict[str, float]:
    """What the loss of one batch says about a model (chapter 2.5 reads an untrained one).

    ``out``: the forward pass of views ``x`` (view 1, ``(B, bands, frames)``) and its partner;
    ``loss``: :func:`~mvtutorial.losses.multiview_loss` of it; ``dataset_size``: the ``N`` of the
    estimates. Returns the reconstruction and total (batch means), the bins per view, the range of the
    view-1 reconstruction and the mean input value, MI and TC per subspace with ``log N`` (MI's
    ceiling), DWKL per shared dimension and per private dimension and view (nats), and the view-1
    private posteriors' mean sigma and the spread (sd over the batch) of their means.
    """
    t = loss.as_floats()
    recon, private = out.recon[0].detach(), out.private[0]
    shared_dim, private_dim = out.shared.mu.shape[1], out.private[0].mu.shape[1]
    return {
        "reconstruction": t["reconstruction"], "total": t["total"], "bins": int(x[0].numel()),
        "recon_min": float(recon.min()), "recon_max": float(recon.max()), "input_mean": float(x.mean()),
        "shared_mi": t["shared_mi"], "private_mi": t["private_mi"], "log_n": math.log(dataset_size),
        "shared_tc": t["shared_tc"], "private_tc": t["private_tc"],
        "dwkl_per_shared_dim": t["shared_dwkl"] / shared_dim, "dwkl_per_private_dim": t["private_dwkl"] / (2 * private_dim),
        "sigma": float(private.logvar.detach().mul(0.5).exp().mean()), "spread": float(private.mu.detach().std(0).mean()),
    }
