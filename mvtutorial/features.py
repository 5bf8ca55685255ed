"""Normalised log-mel front end (torchaudio), with a librosa reference.

``audio -> |STFT|^2 -> mel (128 bands) -> dB (floor at max - top_db) -> min-max to [0, 1]``,
the "normalized log-mel" input of Wilkins et al. (2024). Works on batches, CPU or GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import torch
import torchaudio

__all__ = ["FeatureConfig", "logmel", "logmel_librosa", "mel_power", "mel_power_frames", "stft_frames", "mel_filterbank", "griffin_lim"]


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel parameters (chapter 1 of the book).

    Mel filters use the Slaney scale and area normalisation, librosa's defaults, so
    :func:`logmel` and :func:`logmel_librosa` compute the same thing.
    """

    sample_rate: int = 16_000
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float = 8000.0
    top_db: float = 80.0

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            if not int(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= Nyquist ({self.sample_rate / 2}), got f_min={self.f_min!r}, f_max={self.f_max!r}"
            )
        if not self.top_db > 0:
            raise ValueError(f"top_db must be positive, got {self.top_db!r}")

    def shape(self, n_samples: int) -> tuple[int, int]:
        """``(n_mels, n_frames)`` of a clip of ``n_samples`` (centred frames)."""
        return self.n_mels, 1 + n_samples // self.hop_length


_FILTERBANKS: dict = {}


def mel_filterbank(config: FeatureConfig, device: torch.device | str = "cpu") -> list[tuple[int, int, int, torch.Tensor]]:
    """torchaudio's Slaney mel filterbank ``(n_fft//2 + 1, n_mels)``, cut into blocks of 16 bands.

    Each block keeps only the FFT bins where its filters are non-zero, so the mel projection
    costs ~8x fewer multiply-adds than the dense ``power @ fb`` of ``torchaudio.transforms.MelScale``
    (same result to float rounding). Returns ``[(first_band, lo_bin, hi_bin, fb_block), ...]``.
    """
    key = (config, str(device))
    if key not in _FILTERBANKS:
        fb = torchaudio.functional.melscale_fbanks(
            config.n_fft // 2 + 1, config.f_min, config.f_max, config.n_mels, config.sample_rate,
            norm="slaney", mel_scale="slaney",
        )
        blocks = []
        for band in range(0, config.n_mels, 16):
            rows = (fb[:, band : band + 16] > 0).any(dim=1).nonzero()[:, 0]
            lo, hi = (int(rows.min()), int(rows.max()) + 1) if len(rows) else (0, 1)
            blocks.append((band, lo, hi, fb[lo:hi, band : band + 16].contiguous().to(device)))
        _FILTERBANKS[key] = blocks
    return _FILTERBANKS[key]


def _interleaved_blocks(config: FeatureConfig, device: torch.device | str) -> list[tuple[int, int, int, torch.Tensor]]:
    """:func:`mel_filterbank`'s blocks with every FFT-bin row repeated twice, for the squared real
    and imaginary parts that ``torch.view_as_real`` lays side by side: ``[re^2, im^2] @ [fb; fb]``
    is ``|X|^2 @ fb`` without a separate pass to add them."""
    key = (config, str(device))
    if key not in _INTERLEAVED:
        _INTERLEAVED[key] = [(band, 2 * lo, 2 * hi, fb.repeat_interleave(2, dim=0).contiguous())
                             for band, lo, hi, fb in mel_filterbank(config, device)]
    return _INTERLEAVED[key]


_INTERLEAVED: dict = {}


def stft_frames(x: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """Hann-windowed STFT frames ``(N, n_frames, n_fft)`` of audio ``(N, n_samples)``: centred
    (reflect-padded by ``n_fft // 2``), hop ``hop_length``; frame ``j`` covers samples
    ``j * hop - n_fft/2 ... j * hop + n_fft/2 - 1`` (as ``torch.stft(center=True, pad_mode="reflect")``)."""
    window = torch.hann_window(config.n_fft, device=x.device, dtype=x.dtype)
    pad = config.n_fft // 2
    frames = torch.nn.functional.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
    return frames.unfold(-1, config.n_fft, config.hop_length) * window


def mel_power_frames(x: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """Mel power ``(N, n_frames, n_mels)`` (frame-major) of audio ``(N, n_samples)``, in ``x``'s dtype.

    ``mel[n, t, m] = sum_k fb[k, m] |X[n, t, k]|^2`` with ``X = rfft(window * frame)`` and ``fb``
    the Slaney mel filterbank. One batched ``torch.fft.rfft`` over all frames of all clips, then the
    squares of the real and imaginary parts in place and a block-sparse projection on them
    (:func:`mel_filterbank`): no separate ``|X|^2`` array, about 8x fewer multiply-adds than a dense
    projection. Reference: Wilkins et al. (2024), "normalized log-mel" input.
    """
    spec = torch.fft.rfft(stft_frames(x, config))  # (N, frames, bins), complex
    squares = torch.view_as_real(spec).square_().view(-1, 2 * spec.shape[-1])  # (N frames, 2 bins): re^2, im^2
    out = squares.new_empty(len(squares), config.n_mels)
    for band, lo, hi, fb in _interleaved_blocks(config, x.device):
        torch.mm(squares[:, lo:hi], fb.to(squares.dtype), out=out[:, band : band + fb.shape[1]])
    return out.view(*spec.shape[:-1], config.n_mels)


def mel_power(x: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """Mel power spectrogram ``(N, n_mels, n_frames)`` of float32 audio ``(N, n_samples)``.

    Equals ``torchaudio.transforms.MelSpectrogram(..., center=True, pad_mode="reflect",
    norm="slaney", mel_scale="slaney")`` (tested), computed by :func:`mel_power_frames`
    (reflect-pad, Hann-windowed frames, ``torch.fft.rfft``, squared real and imaginary parts,
    block-sparse mel projection): several times faster on CPU here.
    """
    return mel_power_frames(x, config).transpose(-1, -2)


def _normalise_db(power: torch.Tensor, top_db: float) -> torch.Tensor:
    # Per example: dB, floor at (max - top_db), then min-max to [0, 1]. torchaudio's
    # AmplitudeToDB would take the max over the whole batch for 3-D input, so do it here.
    # In place on one fresh array (the same operations, in the same order, as the textbook form).
    db = power.clamp_min(1e-10).log10_().mul_(10.0)
    peak = db.amax(dim=(-2, -1), keepdim=True)
    db = torch.maximum(db, peak - top_db, out=db)
    low = db.amin(dim=(-2, -1), keepdim=True)
    return db.sub_(low).div_((peak - low).clamp_min(1e-6))


@torch.no_grad()
def logmel(
    audio: torch.Tensor | np.ndarray,
    config: FeatureConfig = FeatureConfig(),
    batch_size: int = 64,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Normalised log-mel spectrograms of a batch of clips.

    Parameters
    ----------
    audio : array or tensor, shape ``(N, n_samples)`` or ``(n_samples,)``
    config : FeatureConfig
    batch_size : int
        Clips per STFT call (small batches stay in cache; bounds memory).
    device : computed on ``audio``'s device unless given; the result is returned there.
    dtype : precision of the computation and the result. float32 (default) agrees with float64 to
        ~1e-4 at worst (0.01 dB, in the quietest bins near the floor, where the FFT's rounding
        relative to a frame's loudest bin shows; ``benchmarks/bench_data.py`` prints the gap).

    Returns
    -------
    tensor ``(N, n_mels, n_frames)`` in [0, 1] (``(n_mels, n_frames)`` for 1-D input):
    ``(dB - min) / (max - min)`` per clip, with ``dB = max(10 log10 mel, max_dB - top_db)``.
    """
    x = torch.as_tensor(audio)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"audio must have shape (N, n_samples) or (n_samples,), got {tuple(x.shape)}")
    if x.shape[-1] <= config.n_fft // 2:
        raise ValueError(f"clips of {x.shape[-1]} samples are too short for n_fft={config.n_fft} (reflect padding)")
    # A sum is one cheap pass and is finite whenever every sample is (barring overflow, which the
    # exact test then clears); ``isfinite(x).all()`` alone would cost ~10% of the whole front end.
    if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
        raise ValueError("audio contains NaN or inf")
    out_device = x.device
    device = torch.device(device) if device is not None else x.device
    out = torch.empty(len(x), *config.shape(x.shape[-1]), device=out_device, dtype=dtype)
    for i in range(0, len(x), batch_size):
        chunk = x[i : i + batch_size].to(device, dtype)
        out[i : i + batch_size] = _normalise_db(mel_power_frames(chunk, config), config.top_db).transpose(-1, -2).to(out_device)
    return out[0] if squeeze else out


def logmel_librosa(audio: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Reference implementation with librosa, one clip at a time: ``(N, n_mels, n_frames)`` float64."""

    audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    out = []
    for clip in audio:
        power = librosa.feature.melspectrogram(
            y=clip,
            sr=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            fmin=config.f_min,
            fmax=config.f_max,
            power=2.0,
            center=True,
            pad_mode="reflect",
        )
        db = librosa.power_to_db(power, ref=np.max, amin=1e-10, top_db=config.top_db)
        out.append((db - db.min()) / max(db.max() - db.min(), 1e-6))
    return np.stack(out)


def griffin_lim(
    features: torch.Tensor,
    config: FeatureConfig = FeatureConfig(),
    n_iter: int = 64,
    db_range: float | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Audio from normalised log-mels: undo the [0, 1] scaling (peak at 0 dB), invert the
    mel filterbank (torchaudio ``InverseMelScale``) and run Griffin-Lim.

    The per-example min-max loses the absolute level, so the result is peak-normalised.
    ``features`` ``(N, n_mels, n_frames)`` or ``(n_mels, n_frames)`` -> audio ``(N, samples)``.
    """
    x = torch.as_tensor(features, dtype=torch.float32)
    squeeze = x.ndim == 2
    x = x[None] if squeeze else x
    db = (x - 1.0) * (db_range or config.top_db)
    power = 10.0 ** (db / 10.0)
    inv_mel = torchaudio.transforms.InverseMelScale(
        n_stft=config.n_fft // 2 + 1,
        n_mels=config.n_mels,
        sample_rate=config.sample_rate,
        f_min=config.f_min,
        f_max=config.f_max,
        norm="slaney",
        mel_scale="slaney",
    )
    gl = torchaudio.transforms.GriffinLim(n_fft=config.n_fft, hop_length=config.hop_length, power=2.0, n_iter=n_iter)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # Griffin-Lim starts from random phases
        audio = gl(inv_mel(power))
    audio = audio / audio.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
    return audio[0] if squeeze else audio
