"""Multi-view VAE with private and shared latent subspaces (Wilkins et al., 2024).

One encoder (weights shared by both views) maps a log-mel to Gaussian posteriors
over a private code ``z_p`` and a shared code ``z_s``. The two views' shared
Gaussians are fused by a product of experts with the N(0, I) prior, and one
decoder reconstructs view ``j`` from ``concat(z_pj, z_s)``.

Reference: Wilkins, Ding, Fuentes, Bello, ISMIR 2024 LBD (arXiv:2411.02711);
PoE fusion as in Wu & Goodman (2018) and DMVAE (Lee & Pavlovic, 2021).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "ModelConfig",
    "MultiViewVAE",
    "MultiViewOutput",
    "Posterior",
    "fuse_product_of_experts",
    "fuse_mean",
    "reparameterize",
    "pitch_fourier_features",
]


def fuse_product_of_experts(mus: Sequence[Tensor], logvars: Sequence[Tensor], prior: bool = True) -> tuple[Tensor, Tensor]:
    """Product of Gaussian experts (optionally times the N(0, I) prior expert).

    ``precision = [1 +] sum_v 1/sigma_v^2``, ``mu = sigma^2 sum_v mu_v / sigma_v^2``.
    Inputs are lists of tensors of equal shape ``(B, D)``; returns ``(mu, logvar)``.
    """
    precisions = [torch.exp(-lv) for lv in logvars]
    total = sum(precisions) + (1.0 if prior else 0.0)
    mu = sum(m * p for m, p in zip(mus, precisions)) / total
    return mu, -torch.log(total)


def fuse_mean(mus: Sequence[Tensor], logvars: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Average the experts' means and variances (the simple alternative to PoE)."""
    mu = torch.stack(list(mus)).mean(0)
    var = torch.stack([lv.exp() for lv in logvars]).mean(0)
    return mu, var.log()


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``z = mu + sigma * eps``, ``eps ~ N(0, I)`` (drawn from ``generator`` when given)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


ARCHS = ("pooled", "mlp", "conv", "freqconv")
#: ``freqconv``: channels and kernel (mel bands) of its two convolutions along frequency.
FREQCONV_CHANNELS, FREQCONV_KERNEL = 16, 9
#: Hidden layers of the private adversary's head when a training config asks for one (chapter 6.8).
ADVERSARY_HIDDEN = (64, 64)
#: Highest frequency (cycles per octave) of the decoder's Fourier features of the pitch coordinate.
PITCH_FEATURE_MAX_CYCLES = 64.0


def pitch_fourier_features(pitch: Tensor, n: int, max_cycles: float = PITCH_FEATURE_MAX_CYCLES) -> Tensor:
    r"""Sines and cosines of a pitch coordinate (octaves) at ``n`` frequencies, shape ``(B, 2n)``.

    The frequencies run geometrically from 1 to ``max_cycles`` cycles per octave:
    :math:`[\sin 2\pi b_j p, \cos 2\pi b_j p]`, :math:`b_j = \mathrm{max}^{j/(n-1)}`. An MLP learns
    slowly varying functions of its input first (spectral bias, Rahaman et al. 2019); these features
    hand it fast variations along the pitch axis directly (Fourier features, Tancik et al. 2020).
    ``pitch`` is ``(B,)`` or ``(B, 1)``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 Fourier frequencies, got {n!r}")
    cycles = max_cycles ** (torch.arange(n, dtype=pitch.dtype, device=pitch.device) / max(n - 1, 1))
    angle = 2 * math.pi * pitch.reshape(-1, 1) * cycles
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. ``input_shape`` comes from the features (``(n_mels, n_frames)``).

    ``arch``:

    * ``"pooled"`` (default): the tones are stationary, so the encoder reads the
      time-averaged log-mel (``n_mels`` values) and the decoder predicts one frame that is
      repeated over time; an MLP on both sides. What changes from frame to frame is
      leakage around the -80 dB floor, which no latent could predict anyway. ~20x faster
      to train on 2 CPU cores than the flat MLP (``benchmarks/bench_train.py``).
    * ``"mlp"``: MLP on the flattened ``n_mels x n_frames`` input and output.
    * ``"conv"``: SynTone-like conv encoder / transposed-conv decoder (``channels``).
    * ``"freqconv"``: ``"pooled"`` with two convolutions along frequency before the encoder's MLP
      (:data:`FREQCONV_CHANNELS` channels, kernels of :data:`FREQCONV_KERNEL` mel bands): a partial
      moved up the spectrum is the same pattern shifted, which a convolution sees as such and an MLP
      must learn band by band (chapter 6's pitch study). Same decoder as ``"pooled"``.

    ``pitch_features``: when > 0, the decoder also reads :func:`pitch_fourier_features` (that many
    frequencies) of the first private coordinate, the axis the transposition term makes pitch in octaves.

    ``adversary_hidden``: hidden layer sizes of the private adversary (``()``, the default: none), an
    MLP ``private_dim -> ... -> shared_dim`` that :mod:`mvtutorial.objectives.adversary` trains to
    predict the shared code from the private one. It owns parameters (saved in checkpoints, trained by
    the same optimiser) but takes no part in encoding or decoding.
    """

    input_shape: tuple[int, int] = (128, 32)
    private_dim: int = 8
    shared_dim: int = 8
    hidden: tuple[int, ...] = (256, 256)
    arch: str = "pooled"
    channels: tuple[int, ...] = (16, 32, 64)
    fusion: str = "poe"
    init_logvar: float = -5.0
    adversary_hidden: tuple[int, ...] = ()
    pitch_features: int = 0

    def __post_init__(self) -> None:
        for name in ("input_shape", "hidden", "channels", "adversary_hidden"):
            object.__setattr__(self, name, tuple(int(s) for s in getattr(self, name)))
        if len(self.input_shape) != 2 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (n_mels, n_frames), got {self.input_shape!r}")
        for name in ("private_dim", "shared_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be positive layer sizes, got {self.hidden!r}")
        if isinstance(self.pitch_features, bool) or not isinstance(self.pitch_features, int) or self.pitch_features < 0:
            raise ValueError(f"pitch_features must be an integer >= 0 (0: none), got {self.pitch_features!r}")
        if self.adversary_hidden and min(self.adversary_hidden) < 1:
            raise ValueError(f"adversary_hidden must be positive layer sizes (or empty: no adversary), got {self.adversary_hidden!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; choose from {ARCHS}")
        if self.arch == "conv":
            down = 2 ** len(self.channels)
            if any(s % down for s in self.input_shape):
                raise ValueError(f"conv arch needs input_shape divisible by {down}, got {self.input_shape!r}")
        if not math.isfinite(self.init_logvar):
            raise ValueError(f"init_logvar must be finite, got {self.init_logvar!r}")
        if self.fusion not in ("poe", "mean"):
            raise ValueError(f"unknown fusion {self.fusion!r}; choose 'poe' or 'mean'")


@dataclass
class Posterior:
    """Diagonal Gaussian ``N(mu, exp(logvar))``, tensors ``(B, D)``."""

    mu: Tensor
    logvar: Tensor


@dataclass
class MultiViewOutput:
    """Everything a forward pass produces, per view ``j = 0, 1``.

    ``private[j]``, ``shared_experts[j]``: encoder posteriors; ``shared``: the fused
    posterior; ``z_private[j]``, ``z_shared``: samples; ``recon[j]``: decoder outputs
    shaped like the inputs.
    """

    recon: tuple[Tensor, Tensor]
    private: tuple[Posterior, Posterior]
    shared_experts: tuple[Posterior, Posterior]
    shared: Posterior
    z_private: tuple[Tensor, Tensor]
    z_shared: Tensor
    extras: dict = field(default_factory=dict)


def _mlp(sizes: Sequence[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return layers


class MultiViewVAE(nn.Module):
    """Private/shared multi-view VAE. ``forward(x1, x2)`` with ``x`` of shape ``(B, n_mels, n_frames)``."""

    def __init__(self, config: ModelConfig | None = None, **overrides) -> None:
        super().__init__()
        if config is None:
            config = ModelConfig(**overrides)
        elif overrides:
            raise TypeError("pass either a ModelConfig or keyword overrides, not both")
        self.config = c = config
        n_in = math.prod(c.input_shape)
        n_latent = c.private_dim + c.shared_dim + 2 * c.pitch_features  # what the decoder reads
        if c.arch in ("pooled", "freqconv"):
            n_mels = c.input_shape[0]
            if c.arch == "pooled":
                self.encoder = nn.Sequential(*_mlp([n_mels, *c.hidden]))
            else:  # (B, n_mels) -> (B, 1, n_mels) -> two same-size convolutions along frequency -> MLP
                k, ch = FREQCONV_KERNEL, FREQCONV_CHANNELS
                self.encoder = nn.Sequential(nn.Unflatten(1, (1, n_mels)), nn.Conv1d(1, ch, k, padding=k // 2), nn.SiLU(),
                                             nn.Conv1d(ch, ch, k, padding=k // 2), nn.SiLU(), nn.Flatten(),
                                             *_mlp([ch * n_mels, *c.hidden]))
            self.decoder_body = nn.Sequential(*_mlp([n_latent, *reversed(c.hidden)]), nn.Linear(c.hidden[0], n_mels))
        elif c.arch == "mlp":
            self.encoder = nn.Sequential(nn.Flatten(), *_mlp([n_in, *c.hidden]))
            self.decoder_body = nn.Sequential(*_mlp([n_latent, *reversed(c.hidden)]), nn.Linear(c.hidden[0], n_in))
        else:
            chans = (1, *c.channels)
            conv = []
            for a, b in zip(chans[:-1], chans[1:]):
                conv += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.SiLU()]
            self._bottleneck = (c.channels[-1], c.input_shape[0] // 2 ** len(c.channels), c.input_shape[1] // 2 ** len(c.channels))
            flat = math.prod(self._bottleneck)
            self.encoder = nn.Sequential(nn.Unflatten(1, (1, c.input_shape[0])), *conv, nn.Flatten(), *_mlp([flat, *c.hidden]))
            deconv = []
            for a, b in zip(chans[::-1][:-1], chans[::-1][1:]):
                deconv += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.SiLU()]
            self.decoder_body = nn.Sequential(
                *_mlp([n_latent, *reversed(c.hidden)]), nn.Linear(c.hidden[0], flat), nn.SiLU(),
                nn.Unflatten(1, self._bottleneck), *deconv[:-1], nn.Flatten(),
            )
        # heads: mean and log-variance of the private and the shared subspace
        self.private_head = nn.Linear(c.hidden[-1], 2 * c.private_dim)
        self.shared_head = nn.Linear(c.hidden[-1], 2 * c.shared_dim)
        # Start with narrow posteriors (sigma ~ 0.08): with sigma ~ 1 at init the decoder first
        # sees mostly noise and training sits for epochs on the "predict the mean" plateau.
        for head, dim in ((self.private_head, c.private_dim), (self.shared_head, c.shared_dim)):
            nn.init.constant_(head.bias[dim:], c.init_logvar)
        if c.adversary_hidden:  # built last, so a model without one is initialised exactly as before
            self.adversary = nn.Sequential(*_mlp([c.private_dim, *c.adversary_hidden]), nn.Linear(c.adversary_hidden[-1], c.shared_dim))
        #: Decode posterior means instead of samples in :meth:`forward` and :meth:`draw` (a decoder stage
        #: with ``TrainConfig(decoder_codes="mean")`` sets it: the codes swaps and reconstructions decode).
        self.decode_means = False

    def draw(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The code the decoder gets in training: a posterior sample (:func:`reparameterize`), or ``mu``
        itself while :attr:`decode_means` is set."""
        return mu if self.decode_means else reparameterize(mu, logvar, generator)

    # -- encoding ---------------------------------------------------------------------
    def _check(self, x: Tensor, name: str = "x") -> None:
        if x.ndim != 3 or tuple(x.shape[1:]) != self.config.input_shape:
            raise ValueError(
                f"{name} must have shape (batch, {self.config.input_shape[0]}, {self.config.input_shape[1]}), got {tuple(x.shape)}"
            )

    def encode(self, x: Tensor) -> tuple[Posterior, Posterior]:
        """Private and shared (single-expert) posteriors of one view."""
        self._check(x)
        h = self.encoder(x.mean(dim=-1) if self.config.arch in ("pooled", "freqconv") else x)
        pm, plv = self.private_head(h).chunk(2, dim=-1)
        sm, slv = self.shared_head(h).chunk(2, dim=-1)
        return Posterior(pm, plv), Posterior(sm, slv)

    def fuse(self, experts: Sequence[Posterior], prior: bool = True) -> Posterior:
        """Fuse shared experts with the configured rule (PoE with the prior, or mean)."""
        mus, lvs = [e.mu for e in experts], [e.logvar for e in experts]
        if self.config.fusion == "poe":
            return Posterior(*fuse_product_of_experts(mus, lvs, prior=prior))
        return Posterior(*fuse_mean(mus, lvs))

    def decode(self, z_private: Tensor, z_shared: Tensor) -> Tensor:
        """Reconstruction in [0, 1] from ``concat(z_private, z_shared)``: ``(B, n_mels, n_frames)``."""
        parts = [z_private, z_shared]
        if self.config.pitch_features:
            parts.append(pitch_fourier_features(z_private[:, 0], self.config.pitch_features))
        out = torch.sigmoid(self.decoder_body(torch.cat(parts, dim=-1)))
        if self.config.arch in ("pooled", "freqconv"):  # one frame, repeated over time (a view, no copy)
            return out[:, :, None].expand(-1, *self.config.input_shape)
        return out.view(-1, *self.config.input_shape)

    def forward(self, x1: Tensor, x2: Tensor, generator: torch.Generator | None = None) -> MultiViewOutput:
        self._check(x1, "x1")
        self._check(x2, "x2")
        if x1.shape[0] != x2.shape[0]:
            raise ValueError(f"views must have the same batch size, got x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)}")
        (p1, s1), (p2, s2) = self.encode(x1), self.encode(x2)
        shared = self.fuse([s1, s2])
        z_s = self.draw(shared.mu, shared.logvar, generator)
        z_p = (self.draw(p1.mu, p1.logvar, generator), self.draw(p2.mu, p2.logvar, generator))
        recon = (self.decode(z_p[0], z_s), self.decode(z_p[1], z_s))
        return MultiViewOutput(recon, (p1, p2), (s1, s2), shared, z_p, z_s)

    # -- codes for analysis (posterior means) -------------------------------------------
    @torch.no_grad()
    def private_code(self, x: Tensor) -> Tensor:
        """``mu_p`` of each clip, ``(B, private_dim)``."""
        return self.encode(x)[0].mu

    @torch.no_grad()
    def shared_code(self, x: Tensor) -> Tensor:
        """Single-view shared code: mean of (prior x this clip's expert), ``(B, shared_dim)``."""
        return self.fuse([self.encode(x)[1]]).mu

    @torch.no_grad()
    def fused_shared_code(self, x1: Tensor, x2: Tensor) -> Tensor:
        """Pair-fused shared code ``mu_s`` of (prior x both experts), ``(B, shared_dim)``."""
        return self.fuse([self.encode(x1)[1], self.encode(x2)[1]]).mu
