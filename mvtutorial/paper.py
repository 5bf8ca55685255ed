"""The numbers Wilkins et al. (2024) report, in one place, with where each comes from.

Wilkins, Ding, Fuentes, Bello, "Self-Supervised Multi-View Learning for Disentangled Music Audio
Representations", ISMIR 2024 Late-Breaking Demo, arXiv:2411.02711. The paper prints one table
(the probe accuracies); everything else was read from its figures and is marked as such.
Chapters 4-6 and the README compare against these values; nothing else hard-codes them.
"""
from __future__ import annotations

__all__ = ["PROBES", "MI_SUMS", "MI_RANGES", "ABLATION", "ABLATION_VALUES", "SOURCES", "mi_ratio", "ablation_cell"]

#: Probe accuracy (light MLP on frozen latents, test split), the paper's table. (latent, factor) -> accuracy.
#: Chance: timbre 1/4, frequency 1/21.
PROBES: dict[tuple[str, str], float] = {
    ("private", "timbre"): 0.7431, ("private", "frequency"): 0.7663,
    ("shared", "timbre"): 0.9741, ("shared", "frequency"): 0.2978,
    ("both", "timbre"): 0.9809, ("both", "frequency"): 0.8772,
}

#: MI (nats, the unit is not stated; values fit nats) summed over the 8 dimensions of a subspace,
#: read from the paper's MI-matrix figure. (subspace, factor) -> sum.
MI_SUMS: dict[tuple[str, str], float] = {
    ("private", "timbre"): 0.71, ("shared", "timbre"): 7.5,
    ("private", "frequency"): 2.47, ("shared", "frequency"): 0.86,
}

#: Range of the per-dimension MI over a subspace's 8 dimensions, read from the same figure.
MI_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("private", "timbre"): (0.05, 0.16), ("shared", "timbre"): (0.69, 1.2),
    ("private", "frequency"): (0.22, 0.43), ("shared", "frequency"): (0.08, 0.16),
}

#: The weights of the paper's one-term-at-a-time ablation.
ABLATION_VALUES: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)

#: The ablation, read from the paper's bar chart (about +-0.01): factor -> term -> weight ->
#: (private accuracy, shared accuracy), with the other two weights at 0.
ABLATION: dict[str, dict[str, dict[float, tuple[float, float]]]] = {
    "timbre": {
        "alpha": {0.0: (0.86, 0.78), 0.1: (0.85, 0.75), 0.5: (0.87, 0.75), 1.0: (0.83, 0.28)},
        "beta": {0.0: (0.86, 0.78), 0.1: (0.86, 0.79), 0.5: (0.85, 0.27), 1.0: (0.83, 0.33)},
        "gamma": {0.0: (0.85, 0.78), 0.1: (0.70, 0.97), 0.5: (0.75, 0.97), 1.0: (0.75, 0.89)},
    },
    "frequency": {
        "alpha": {0.0: (0.71, 0.05), 0.1: (0.73, 0.05), 0.5: (0.72, 0.05), 1.0: (0.65, 0.06)},
        "beta": {0.0: (0.71, 0.05), 0.1: (0.68, 0.20), 0.5: (0.62, 0.05), 1.0: (0.44, 0.05)},
        "gamma": {0.0: (0.71, 0.05), 0.1: (0.80, 0.16), 0.5: (0.83, 0.16), 1.0: (0.78, 0.15)},
    },
}

#: Where each group of numbers comes from.
SOURCES: dict[str, str] = {
    "PROBES": "the paper's probe table (printed values)",
    "MI_SUMS": "read from the paper's MI-matrix figure (sums of the per-dimension values)",
    "MI_RANGES": "read from the paper's MI-matrix figure",
    "ABLATION": "read from the paper's ablation bar chart, +-0.01",
}


def mi_ratio(factor: str) -> float:
    """The paper's summed-MI ratio: shared/private for timbre (10.6), private/shared for frequency (2.9)."""
    if factor == "timbre":
        return MI_SUMS[("shared", "timbre")] / MI_SUMS[("private", "timbre")]
    if factor == "frequency":
        return MI_SUMS[("private", "frequency")] / MI_SUMS[("shared", "frequency")]
    raise ValueError(f"unknown factor {factor!r}; choose 'timbre' or 'frequency'")


def ablation_cell(term: str, value: float, latent: str, factor: str) -> float | None:
    """The paper's ablation accuracy for ``latent`` (``"private"`` / ``"shared"``) and ``factor``
    with ``term`` at ``value`` (others 0), or None when the paper has no such cell."""
    if latent not in ("private", "shared"):
        return None
    cell = ABLATION.get(factor, {}).get(term, {}).get(float(value))
    return None if cell is None else cell[0 if latent == "private" else 1]
