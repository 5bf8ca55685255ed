"""Training configuration: one frozen dataclass per run, its presets and its dict form.

A run is identified by its :class:`TrainConfig` (seed included) and the package version:
:func:`config_to_dict` is what checkpoints store and what sweep run keys hash.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass

import torch

from ._version import __version__
from .cache import config_hash
from .losses import RECONSTRUCTIONS, WEIGHTINGS, LossWeights
from .model import ADVERSARY_HIDDEN, ModelConfig
from .objectives import OBJECTIVES

__all__ = ["TrainConfig", "config_to_dict", "config_from_dict", "run_key"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Presets: :meth:`preset` ``("fast" | "full")``.

    Every field is part of a run's identity (its run key and checkpoint, see :func:`config_to_dict`).
    The objective (``objective``, a name in :data:`mvtutorial.objectives.OBJECTIVES`) gets the
    whole config, so its options live here too.

    The defaults are the headline configuration of chapters 3-4: reconstruction + 0.1 * DWKL
    (alpha = beta = 0), the setting the paper reports as separating best (and better than
    gamma = 1 in our runs). The configuration that does separate in our runs is
    :func:`mvtutorial.studies.separation.recommended_config` (chapter 6).
    Batch 64 at lr 2e-3: more, larger steps leave the "predict the mean spectrum" plateau
    within 2 epochs, where batch 128-256 at 1e-3 took 5-10 (measured on the full set, seed 0).

    ``decoder_epochs`` (default 0: none): a second stage of that many epochs after ``epochs`` that
    trains the decoder alone on the same objective, the encoder frozen, so the codes (and every probe
    on them) stay those of the first stage (:func:`mvtutorial.training.train`). ``decoder_codes``
    (``"sample"``, default, or ``"mean"``): what that stage decodes, posterior samples as in training or the
    posterior means that swaps and reconstructions decode (:attr:`mvtutorial.model.MultiViewVAE.decode_means`).
    ``swap_consistency`` (default 0): the weight of a term of that stage alone, the swaps re-encoded to the shared
    code they were decoded from (:func:`mvtutorial.objectives.multiview.swap_consistency_error`);
    ``swap_pitch_consistency`` (default 0): the same, for the private donor's pitch coordinate
    (:func:`mvtutorial.objectives.multiview.swap_read_back`; needs ``transposition``, which makes that coordinate pitch).
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
    private_adversary: float = 0.0
    transposition: float = 0.0
    pitch_features: int = 0
    decoder_epochs: int = 0
    decoder_codes: str = "sample"
    swap_consistency: float = 0.0
    swap_pitch_consistency: float = 0.0
    # -- baselines of chapter 8; see mvtutorial.objectives.baselines-----------------------------
    contrastive: float = 0.0
    temperature: float = 0.1

    def __post_init__(self) -> None:
        for name, minimum in _INT_FIELDS.items():
            _check_int(name, getattr(self, name), minimum)
            object.__setattr__(self, name, int(getattr(self, name)))
        if isinstance(self.hidden, (str, bytes)) or not hasattr(self.hidden, "__iter__"):
            raise ValueError(f"hidden must be a sequence of layer sizes, got {self.hidden!r}")
        for h in self.hidden:
            _check_int("hidden", h, 1, what=f"hidden layer sizes must be integers >= 1, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name in ("lr", "grad_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} must be a number, got {value!r}")
        for name in ("alpha", "beta", "gamma", "lr", "grad_clip", "temperature", *_STUDY_WEIGHTS):  # gamma=1 and gamma=1.0: one config, one run key
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        LossWeights(self.alpha, self.beta, self.gamma)  # validates the weights
        for name in _STUDY_WEIGHTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) or not (
                math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature!r}")
        if self.decoder_codes not in DECODER_CODES:
            raise ValueError(f"unknown decoder_codes {self.decoder_codes!r}; choose from {DECODER_CODES}")
        if self.decoder_codes != "sample" and self.decoder_epochs == 0:
            raise ValueError(f"decoder_codes={self.decoder_codes!r} sets what a decoder stage decodes: set decoder_epochs > 0")
        for name in ("swap_consistency", "swap_pitch_consistency"):
            if getattr(self, name) > 0 and self.decoder_epochs == 0:
                raise ValueError(f"{name}={getattr(self, name):g} is a term of the decoder stage (it trains the decoder "
                                 "through the frozen encoder): set decoder_epochs > 0")
        if self.swap_pitch_consistency > 0 and self.transposition <= 0:
            raise ValueError(f"swap_pitch_consistency={self.swap_pitch_consistency:g} reads the first private coordinate as pitch, "
                             "which only the transposition term makes it: set transposition > 0")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose from {sorted(OBJECTIVES)}")
        for name in ("transposition", "swap_consistency", "swap_pitch_consistency"):
            if getattr(self, name) > 0 and self.objective != "multiview":
                raise ValueError(f"{name}={getattr(self, name):g} is a term of the 'multiview' objective, not of {self.objective!r}")
        if self.pitch_features > 0 and self.transposition <= 0:
            raise ValueError(f"pitch_features={self.pitch_features} reads the first private coordinate as pitch in octaves, "
                             "which only the transposition term makes it: set transposition > 0")
        self.model_config((128, 32))  # validates the architecture fields
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {self.weighting!r}; choose from {WEIGHTINGS}")
        if self.reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"unknown reconstruction {self.reconstruction!r}; choose from {RECONSTRUCTIONS}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive, got {self.grad_clip!r}")
        if self.data_mode not in ("fast", "full"):
            raise ValueError(f"unknown data_mode {self.data_mode!r}; choose 'fast' or 'full'")
        if not isinstance(self.device, str) or not _DEVICE.fullmatch(self.device):
            raise ValueError(f"unknown device {self.device!r}; choose 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")

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
            adversary_hidden=ADVERSARY_HIDDEN if self.private_adversary > 0 else (), pitch_features=self.pitch_features,
        )

    def resolved_device(self) -> torch.device:
        """The device to train on: ``"auto"`` is CUDA when available, else the CPU.

        Raises ``ValueError`` when the device asked for is not on this machine (``"cuda"`` without
        a GPU or a CUDA build of torch, ``"cuda:N"`` past the last GPU, ``"mps"`` off Apple silicon).
        :func:`mvtutorial.training.train` calls it before loading any data, so such a config fails
        at once. (The config itself stays valid anywhere, so a run trained on a GPU can be loaded
        and evaluated on a machine without one.)
        """
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                raise ValueError(f"device {self.device!r} asked for, but torch sees no CUDA GPU on this machine "
                                 f"(torch {torch.__version__}); use device='cpu' or 'auto'")
            if device.index is not None and device.index >= count:
                raise ValueError(f"device {self.device!r} asked for, but this machine has {count} CUDA GPU(s) "
                                 f"(cuda:0 to cuda:{count - 1})")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {self.device!r} asked for, but MPS (Apple silicon) is not available here; "
                             "use device='cpu' or 'auto'")
        return device


_STUDY_WEIGHTS = ("cross_reconstruction", "rate_shared", "rate_private", "private_cycle", "private_adversary", "contrastive",
                  "transposition", "swap_consistency", "swap_pitch_consistency")
#: Integer fields and their smallest allowed value (batch size 2: the minibatch estimators need two).
_INT_FIELDS = {"private_dim": 1, "shared_dim": 1, "batch_size": 2, "epochs": 1, "patience": 0, "seed": 0, "data_seed": 0, "pitch_features": 0,
               "decoder_epochs": 0}
#: What a decoder stage decodes (``TrainConfig.decoder_codes``).
DECODER_CODES = ("sample", "mean")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _check_int(name: str, value, minimum: int, what: str | None = None) -> None:
    """``ValueError`` naming the field unless ``value`` is an integer (not a bool, not 2.0) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(what or f"{name} must be an integer >= {minimum}, got {value!r}")


#: Fields added after the first shipped runs, left out of a config's dict (and so of its run key
#: and checkpoint) while at their default: every result written before them keeps its key.
_OMITTED_AT_DEFAULT = {"objective": "multiview", "temperature": 0.1, "pitch_features": 0, "decoder_epochs": 0,
                       "decoder_codes": "sample", **{name: 0.0 for name in _STUDY_WEIGHTS}}


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


def run_key(config: TrainConfig) -> str:
    """File stem of a run: a hash of its full config (seed included) and the package version."""
    return config_hash(config_to_dict(config), __version__)
