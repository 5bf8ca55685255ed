"""A model's decoder and its arrays, exported for a page that runs them in the reader's browser.

Arrays travel as little-endian bytes split into byte planes (all first bytes, then all second bytes,
...), deflated (zlib) and written as text in Z85 (ZeroMQ's base 85: 5 characters per 4 bytes, none of
them a quote or a backslash, so the text sits in a JSON string as it is) (:func:`pack`, :func:`unpack`);
the page decodes and inflates them with its own inflater, while it loads. Splitting the planes
lets deflate find the repetition in the exponent bytes of the weights (14 % fewer bytes), and Z85 costs 25 %
on top of the bytes where base64 costs 33 %: the file is about a fifth smaller than plain base64 of the
same values, which keeps the page under 5 MB with the book's theme. Nothing is rounded: the page's
weights and codes are the checkpoint's float32 values, bit for bit (float32 weights rounded even to 16
significant bits move the decoded log-mel by up to 1.3e-4). The donors' log-mels are not stored: the page
computes them from the audio with the same front end (checked against :func:`mvtutorial.features.logmel`).
"""
from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np
import torchaudio
from torch import nn

from .features import FeatureConfig

__all__ = ["Z85", "z85_encode", "z85_decode", "pack", "unpack", "decoder_layers", "decode_numpy", "mel_filterbank_matrix",
           "mel_to_linear_power"]

_DTYPES = ("float32", "int16", "uint8", "int32")
#: Z85's 85 characters (ZeroMQ RFC 32): digit ``i`` of a base-85 number is ``Z85[i]``.
Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_VALUE = np.full(256, 255, dtype=np.uint8)
_Z85_VALUE[np.frombuffer(Z85.encode("ascii"), dtype=np.uint8)] = np.arange(85, dtype=np.uint8)


def z85_encode(data: bytes) -> str:
    """``data`` as Z85 text: each group of 4 bytes (big-endian, the last one padded with zeros) as 5
    characters; :func:`z85_decode` needs the byte count to drop the padding."""
    padded = np.frombuffer(bytes(data) + b"\0" * (-len(data) % 4), dtype=">u4").astype(np.int64)
    digits = np.empty((len(padded), 5), dtype=np.uint8)
    for i in range(4, -1, -1):
        digits[:, i] = padded % 85
        padded //= 85
    return np.frombuffer(Z85.encode("ascii"), dtype=np.uint8)[digits.ravel()].tobytes().decode("ascii")


def z85_decode(text: str, n_bytes: int) -> bytes:
    """The first ``n_bytes`` bytes :func:`z85_encode` encoded."""
    values = _Z85_VALUE[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    if len(text) % 5 or (values == 255).any():
        raise ValueError("not Z85 text (length not a multiple of 5, or a character outside the alphabet)")
    words = np.zeros(len(text) // 5, dtype=np.int64)
    for i in range(5):
        words = words * 85 + values[i::5]
    if (words >= 2 ** 32).any():
        raise ValueError("not Z85 text (a group of 5 characters above 2**32 - 1)")
    out = words.astype(">u4").tobytes()
    if not len(out) - 3 <= n_bytes <= len(out):
        raise ValueError(f"Z85 text of {len(out)} bytes cannot hold {n_bytes}")
    return out[:n_bytes]


def pack(array) -> dict:
    """``{"dtype", "shape", "bytes", "z85"}``: the array's little-endian bytes in byte planes, deflated
    (``bytes`` of them), in Z85 (:func:`z85_encode`).

    Lossless for the dtypes the page reads (float32, int16, uint8, int32); :func:`unpack` inverts it."""
    a = np.asarray(array)
    if a.dtype.name not in _DTYPES:
        raise ValueError(f"cannot pack dtype {a.dtype}; convert to one of {_DTYPES}")
    raw = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    planes = np.frombuffer(raw.tobytes(), dtype=np.uint8).reshape(-1, a.dtype.itemsize).T
    deflated = zlib.compress(np.ascontiguousarray(planes).tobytes(), 9)
    return {"dtype": a.dtype.name, "shape": [int(s) for s in a.shape], "bytes": len(deflated), "z85": z85_encode(deflated)}


def unpack(entry: dict) -> np.ndarray:
    """The array :func:`pack` packed (same dtype, shape and values)."""
    dtype = np.dtype(entry["dtype"]).newbyteorder("<")
    planes = np.frombuffer(zlib.decompress(z85_decode(entry["z85"], entry["bytes"])), dtype=np.uint8)
    n = int(np.prod(entry["shape"], dtype=np.int64))
    if planes.size != n * dtype.itemsize:
        raise ValueError(f"packed array holds {planes.size} bytes, its shape {entry['shape']} needs {n * dtype.itemsize}")
    raw = np.ascontiguousarray(planes.reshape(dtype.itemsize, n).T).tobytes()
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(entry["shape"])


def decoder_layers(model) -> list[dict]:
    """The decoder of a pooled model as ``[{"weight": (out, in), "bias": (out,), "activation"}]`` (float32
    arrays; ``activation`` is ``"silu"`` between layers and ``"sigmoid"`` after the last, as
    :meth:`~mvtutorial.model.MultiViewVAE.decode` applies it). Raises ``ValueError`` for an architecture
    whose decoder is not such an MLP (``"mlp"`` and ``"conv"`` decode whole spectrograms)."""
    arch = model.config.arch
    if arch not in ("pooled", "freqconv"):
        raise ValueError(f"the mixing desk decodes the pooled decoder (one frame, an MLP); this model's arch is {arch!r}")
    layers: list[dict] = []
    for module in model.decoder_body:
        if isinstance(module, nn.Linear):
            layers.append({"weight": module.weight.detach().cpu().numpy().astype(np.float32),
                           "bias": module.bias.detach().cpu().numpy().astype(np.float32), "activation": None})
        elif isinstance(module, nn.SiLU) and layers and layers[-1]["activation"] is None:
            layers[-1]["activation"] = "silu"
        else:
            raise ValueError(f"unexpected decoder layer {module!r}: expected Linear layers with SiLU between them")
    if not layers or layers[-1]["activation"] is not None:
        raise ValueError("the decoder must end with a Linear layer")
    layers[-1]["activation"] = "sigmoid"
    return layers


def decode_numpy(layers: Sequence[dict], z) -> np.ndarray:
    """The page's forward pass in numpy: ``z`` ``(N, private_dim + shared_dim)`` -> one log-mel frame per
    row ``(N, n_mels)`` in [0, 1], float64, summing the float32 weights in float64 as the page does.
    ``layers``: :func:`decoder_layers`, or the same read back from a data file (:func:`unpack`)."""
    h = np.atleast_2d(np.asarray(z, dtype=np.float64))
    for layer in layers:
        h = h @ np.asarray(layer["weight"], dtype=np.float64).T + np.asarray(layer["bias"], dtype=np.float64)
        if layer["activation"] == "silu":
            h = h / (1.0 + np.exp(-h))
        elif layer["activation"] == "sigmoid":
            h = 1.0 / (1.0 + np.exp(-h))
        elif layer["activation"] is not None:
            raise ValueError(f"unknown activation {layer['activation']!r}")
    return h


def mel_filterbank_matrix(config=None) -> np.ndarray:
    """The Slaney mel filterbank ``(n_fft // 2 + 1, n_mels)`` float32 that :func:`mvtutorial.features.griffin_lim`
    inverts (``torchaudio.functional.melscale_fbanks``, Slaney scale and area normalisation)."""
    c = config or FeatureConfig()
    return torchaudio.functional.melscale_fbanks(c.n_fft // 2 + 1, c.f_min, c.f_max, c.n_mels, c.sample_rate,
                                                 norm="slaney", mel_scale="slaney").numpy().astype(np.float32)


def mel_to_linear_power(mel_power, filterbank: np.ndarray) -> np.ndarray:
    """Linear power ``(n_freq, T)`` from mel power ``(n_mels, T)``, as the page computes it (float64):
    the minimum-norm solution ``S`` of ``filterbank.T @ S = mel_power``, ``S = F (F^T F)^{-1} M`` with
    ``F = filterbank``, clipped at 0.

    This is what ``torchaudio.transforms.InverseMelScale`` computes (``torch.linalg.lstsq`` with the
    ``gels`` driver returns the minimum-norm solution of this underdetermined system, then a ReLU), there in
    float32 through a QR factorisation, here through a Cholesky factorisation of the 128 x 128 Gram matrix."""
    f = np.asarray(filterbank, dtype=np.float64)
    m = np.asarray(mel_power, dtype=np.float64)
    gram = f.T @ f
    chol = np.linalg.cholesky(gram)
    y = np.linalg.solve(chol.T, np.linalg.solve(chol, m))
    return np.maximum(f @ y, 0.0)
