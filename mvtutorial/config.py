"""Training configuration: one frozen dataclass per run, its presets and its dict form.

A run is identified by its :class:`TrainConfig` (seed included) and the package version:
:func:`config_to_dict` is what checkpoints store and what sweep run keys hash.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from .losses import WEIGHTINGS, LossWeights
from .model import ModelConfig
from .objectives import OBJECTIVES

__all__ = ["TrainConfig", "config_to_dict", "config_from_dict"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Presets: :meth:`preset` ``("fast" | "full")``.

    Every field is part of a run's identity (its run key and checkpoint, see :func:`config_to_dict`).
    The objective (``objective``, a name in :data:`mvtutorial.objectives.OBJECTIVES`) gets the
    whole config, so its options live here too.

    The defaults are the headline configuration of chapters 3-4: reconstruction + 0.1 * DWKL
    (alpha = beta = 0), the setting the paper reports as separating best (and better than
    gamma = 1 in our runs). The configuration that does separate in our runs is
    :func:`mvtutorial.separation.recommended_config` (chapter 6).
    Batch 64 at lr 2e-3: more, larger steps leave the "predict the mean spectrum" plateau
    within 2 epochs, where batch 128-256 at 1e-3 took 5-10 (measured on the full set, seed 0).
    """

    alpha: float = 0.0
    beta: float = 0.0
    gamma: float = 0.1
    private_dim: int = 8
    shared_dim: int = 8
    fusion: str = "poe"
    arch: str = "pooled"
    hidden: tuple[int, ...] = (256, 256)
    weighting: str = "loo"
    reconstruction: str = "mse"
    batch_size: int = 64
    lr: float = 2e-3
    epochs: int = 30
    patience: int = 5
    grad_clip: float = 10.0
    seed: int = 0
    data_mode: str = "full"
    data_seed: int = 0
    device: str = "auto"
    # -- the separation study's mechanisms (chapter 6); see mvtutorial.objectives ------------
    objective: str = "multiview"
    cross_reconstruction: float = 0.0
    rate_shared: float = 0.0
    rate_private: float = 0.0
    private_cycle: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name in ("alpha", "beta", "gamma", "lr", "grad_clip", *_STUDY_WEIGHTS):  # gamma=1 and gamma=1.0: one config, one run key
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        LossWeights(self.alpha, self.beta, self.gamma)  # validates the weights
        for name in _STUDY_WEIGHTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose from {sorted(OBJECTIVES)}")
        ModelConfig(private_dim=self.private_dim, shared_dim=self.shared_dim, hidden=self.hidden, arch=self.arch, fusion=self.fusion)
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {self.weighting!r}; choose from {WEIGHTINGS}")
        if self.reconstruction not in ("mse", "bce"):
            raise ValueError(f"unknown reconstruction {self.reconstruction!r}; choose 'mse' or 'bce'")
        for name in ("batch_size", "epochs"):
            if int(getattr(self, name)) < (2 if name == "batch_size" else 1):
                raise ValueError(f"{name} must be >= {2 if name == 'batch_size' else 1}, got {getattr(self, name)!r}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0 (0 disables early stopping), got {self.patience!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive, got {self.grad_clip!r}")
        if self.data_mode not in ("fast", "full"):
            raise ValueError(f"unknown data_mode {self.data_mode!r}; choose 'fast' or 'full'")
        if self.device != "auto" and torch.device(self.device).type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"unknown device {self.device!r}")

    @classmethod
    def preset(cls, mode: str, **overrides) -> "TrainConfig":
        """``"full"``: the real experiment; ``"fast"``: 840 clips, 2 epochs (seconds, for CI)."""
        presets = {
            "full": {},
            "fast": {"data_mode": "fast", "epochs": 2, "batch_size": 32, "patience": 0},
        }
        if mode not in presets:
            raise ValueError(f"unknown preset {mode!r}; choose from {sorted(presets)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}")
        return cls(**{**presets[mode], **overrides})

    @property
    def weights(self) -> LossWeights:
        return LossWeights(self.alpha, self.beta, self.gamma)

    def model_config(self, input_shape: tuple[int, int]) -> ModelConfig:
        return ModelConfig(
            input_shape=input_shape, private_dim=self.private_dim, shared_dim=self.shared_dim,
            hidden=self.hidden, arch=self.arch, fusion=self.fusion,
        )

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


_STUDY_WEIGHTS = ("cross_reconstruction", "rate_shared", "rate_private", "private_cycle")
#: Fields added after the first shipped runs, left out of a config's dict (and so of its run key
#: and checkpoint) while at their default: every result written before them keeps its key.
_OMITTED_AT_DEFAULT = {"objective": "multiview", **{name: 0.0 for name in _STUDY_WEIGHTS}}


def config_to_dict(config: TrainConfig) -> dict:
    """JSON-ready dict of a config: what run keys hash and checkpoints store."""
    d = dataclasses.asdict(config)
    d["hidden"] = list(d["hidden"])
    for name, default in _OMITTED_AT_DEFAULT.items():
        if d[name] == default:
            del d[name]
    return d


def config_from_dict(d: dict) -> TrainConfig:
    """Inverse of :func:`config_to_dict` (fields left out at their defaults come back)."""
    return TrainConfig(**{**d, "hidden": tuple(d["hidden"])})
