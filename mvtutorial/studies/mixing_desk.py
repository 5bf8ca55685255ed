"""The mixing desk's data: what a page needs to decode and sound latent codes in the reader's browser.

The mixing desk (``book/mixing_desk.md``) lets a reader set every latent dimension of a shipped model
with a slider and hear the result, with no Python behind the page. Everything it needs is exported
here into one script file, ``window.MIXING_DESK_DATA = {...};`` (:func:`write_desk_data`), written by
the book build (``python -m tools.book``) into the website's ``_static`` folder:

* the **decoder** of each shipped model (:data:`DATA_SETS` x :data:`MODELS`, training seed 0): the
  pooled architecture decodes ``sigmoid(MLP(concat(z_private, z_shared)))`` to one frame of
  ``n_mels`` values repeated over time (:meth:`mvtutorial.model.MultiViewVAE.decode`), so its Linear
  layers' float32 weights are all the page needs (:func:`decoder_layers`); the page's JavaScript forward
  pass is the same arithmetic as :func:`decode_numpy` (float64 sums over the float32 weights);
* **donor clips** of each data set (:func:`tone_donors`, :func:`instrument_donors`): real test-split
  clips, their audio (the players; the page computes their log-mels) and each model's codes of them
  (:func:`mvtutorial.listening.encode_means`: the private mean and the single-view shared mean); the
  sliders start at the donors' codes and span the codes of :data:`RANGE_CLIPS` other test clips;
* the **MI labels** of each dimension (:func:`dimension_labels`): the k-NN MI of the shipped result
  with each factor, and the factor the dimension is tied to (:data:`MI_THRESHOLD`, :data:`MI_DOMINANCE`);
* the **mel filterbank** the page inverts (:func:`mel_to_linear_power`, the minimum-norm least-squares
  solution that ``torchaudio.transforms.InverseMelScale`` computes) before its Griffin-Lim.

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

import json
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .._version import __version__
from ..cache import atomic_write, read_json
from ..checkpoint import load_checkpoint, load_model
from ..data import render, sample_factors, ToneConfig
from ..dataset import ToneDataset
from ..features import FeatureConfig, logmel
from ..instruments import InstrumentConfig, render_notes, sample_note_factors
from ..listening import encode_means
from ..results import mi_frame
from .store import asset_path, ASSETS
from .transfer import instrument_spec, note_name, transfer_results

__all__ = ["FORMAT", "DATA_VARIABLE", "DATA_SETS", "MODELS", "MI_THRESHOLD", "MI_DOMINANCE", "GRIFFIN_LIM", "RANGE_CLIPS",
           "FACTOR_LABELS", "Z85", "z85_encode", "z85_decode", "pack", "unpack", "checkpoint_path", "load_desk_model", "model_result", "decoder_layers",
           "decode_numpy", "dimension_labels", "Donors", "tone_donors", "instrument_donors", "mel_filterbank_matrix",
           "mel_to_linear_power", "code_ranges", "desk_data", "write_desk_data", "read_desk_data"]

#: Layout version of the data file; the page refuses another.
FORMAT = 1
#: The global the data file defines (``window.MIXING_DESK_DATA``).
DATA_VARIABLE = "MIXING_DESK_DATA"
#: Data set key -> title shown on the page.
DATA_SETS = {"tones": "Synthetic tones", "instruments": "Sampled instruments"}
#: Model key -> title shown on the page (the two configurations every chapter compares).
MODELS = {"headline": "Paper (headline)", "recommended": "Recommended"}
#: A dimension is labelled with a factor when its MI with it is at least this many nats ...
MI_THRESHOLD = 0.3
#: ... and at least this many times its MI with the other factor.
MI_DOMINANCE = 2.0
#: Factor name in the results -> label on the page.
FACTOR_LABELS = {"timbre": "timbre", "frequency": "pitch"}
#: The page's Griffin-Lim: the iterations and momentum of :func:`mvtutorial.listening.to_audio`'s default.
GRIFFIN_LIM = {"n_iter": 64, "momentum": 0.99}
#: Test clips (besides the donors) whose codes set each slider's range, per data set.
RANGE_CLIPS = 64
_DTYPES = ("float32", "int16", "uint8", "int32")


# --------------------------------------------------------------------------- #
# Arrays as text
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# Models, decoders and MI labels
# --------------------------------------------------------------------------- #
def _check_names(data_set: str, model: str) -> None:
    if data_set not in DATA_SETS:
        raise ValueError(f"unknown data set {data_set!r}; choose from {list(DATA_SETS)}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {list(MODELS)}")


def checkpoint_path(data_set: str, model: str, seed: int = 0) -> Path:
    """The shipped checkpoint of ``model`` trained on ``data_set``: ``assets/{headline,recommended}/seed{S}.pt``
    (tones) or ``assets/instruments/{headline,recommended}-seed{S}.pt`` (sampled instruments)."""
    _check_names(data_set, model)
    return asset_path(model, f"seed{seed}.pt") if data_set == "tones" else asset_path("instruments", f"{model}-seed{seed}.pt")


def load_desk_model(data_set: str, model: str, seed: int = 0):
    """The shipped model (:func:`checkpoint_path`, checked by :func:`mvtutorial.checkpoint.load_checkpoint`),
    refused when its checkpoint records training data other than the full preset the donors come from."""
    path = checkpoint_path(data_set, model, seed)
    recorded = load_checkpoint(path).get("data")
    expected = _data_spec(data_set)
    if recorded is not None and recorded != expected:
        raise ValueError(f"checkpoint {path} was trained on other data than the full {data_set} preset")
    return load_model(path)


def model_result(data_set: str, model: str, seed: int = 0) -> dict:
    """The shipped evaluation result of the model :func:`checkpoint_path` names (it holds the MI matrix)."""
    _check_names(data_set, model)
    if data_set == "tones":
        return read_json(asset_path(model, f"seed{seed}.json"))

    found = [r for r in transfer_results((seed,)) if r["name"] == model]
    if not found:
        raise ValueError(f"no shipped instrument result of {model!r} seed {seed}")
    return found[0]


def decoder_layers(model) -> list[dict]:
    """The decoder of a pooled model as ``[{"weight": (out, in), "bias": (out,), "activation"}]`` (float32
    arrays; ``activation`` is ``"silu"`` between layers and ``"sigmoid"`` after the last, as
    :meth:`~mvtutorial.model.MultiViewVAE.decode` applies it). Raises ``ValueError`` for an architecture
    whose decoder is not such an MLP (``"mlp"`` and ``"conv"`` decode whole spectrograms)."""
    from torch import nn

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


def dimension_labels(result: dict, threshold: float = MI_THRESHOLD, dominance: float = MI_DOMINANCE) -> list[dict]:
    """One entry per latent dimension, private first then shared (the decoder's input order):
    ``{"subspace", "dim" (1-based), "mi" {factor label: nats}, "label"}``.

    ``label`` is the factor (``"timbre"`` or ``"pitch"``, :data:`FACTOR_LABELS`) whose k-NN MI with the
    dimension (``result["mi_matrix"]``, read by name through :func:`mvtutorial.results.mi_frame`) is at
    least ``threshold`` nats and at least ``dominance`` times the other factor's; ``""`` when no factor is."""
    frame = mi_frame([result])
    out = []
    for subspace in ("private", "shared"):
        block = frame[frame["subspace"] == subspace]
        for dim in sorted(block["dim"].unique()):
            rows = block[block["dim"] == dim]
            mi = {FACTOR_LABELS.get(f, f): float(v) for f, v in zip(rows["factor"], rows["mi"])}
            label = ""
            for name, value in mi.items():
                others = [v for k, v in mi.items() if k != name]
                if value >= threshold and all(value >= dominance * o for o in others):
                    label = name
            out.append({"subspace": subspace, "dim": int(dim), "mi": mi, "label": label})
    return out


# --------------------------------------------------------------------------- #
# Donor clips
# --------------------------------------------------------------------------- #
class Donors:
    """Real clips of one data set: ``audio`` ``(N, n_samples)`` float32, ``features`` ``(N, n_mels, n_frames)``
    log-mels, and one dict per clip in ``info`` (``label``, ``timbre``, ``pitch`` as shown on the page).
    The first ``n_donors`` are the page's donors; the rest only set the sliders' ranges."""
    def __init__(self, audio: np.ndarray, features: np.ndarray, info: list[dict], n_donors: int):
        self.audio, self.features, self.info, self.n_donors = audio, features, info, n_donors


def _data_spec(data_set: str) -> dict:
    """The data spec (as checkpoints store it) of the full preset of ``data_set``, computed without rendering."""
    if data_set == "tones":

        config = ToneConfig.preset("full")
        return ToneDataset(torch.empty(0), None, config, FeatureConfig(sample_rate=config.sample_rate), 0).spec()

    return instrument_spec("full")


def _first_row(table, **where) -> int:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= table[column].to_numpy() == value
    rows = np.flatnonzero(mask)
    if not len(rows):
        raise ValueError(f"no test clip with {where}")
    return int(rows[0])


def _featurise(audio: np.ndarray) -> np.ndarray:

    return logmel(torch.from_numpy(audio), FeatureConfig()).numpy()


def tone_donors(n_range: int = RANGE_CLIPS, seed: int = 0) -> Donors:
    """Eight test clips of the full tone preset (each waveform at two of its 21 frequency classes,
    eight classes in all, low to high) and ``n_range`` other test clips (drawn with ``seed``).

    The clips are re-rendered from their factor rows (:func:`mvtutorial.data.render`): the same audio
    and log-mels as in the cached tone set, without building it."""
    config = ToneConfig.preset("full")
    factors = sample_factors(config, 0)
    test = factors[factors["split"] == "test"].reset_index(drop=True)
    picks = [_first_row(test, waveform=w, freq_class=c) for w in range(len(config.waveforms))
             for c in (3 * w, 3 * w + 10)]
    others = np.setdiff1d(np.arange(len(test)), picks)
    rows = picks + sorted(np.random.default_rng(seed).choice(others, n_range, replace=False).tolist())
    table = test.iloc[rows]
    audio = render(table, config)
    info = [{"label": f"{r.waveform_name}, {r.freq_hz:.0f} Hz", "timbre": str(r.waveform_name),
             "pitch": f"{r.freq_hz:.0f} Hz", "pitch_class": int(r.freq_class)} for r in table.itertuples()]
    return Donors(audio, _featurise(audio), info, len(picks))



def instrument_donors(n_range: int = RANGE_CLIPS, seed: int = 0) -> Donors:
    """Eight test notes of the full instrument preset (each instrument once, at eight pitches from C4
    to G#5) and ``n_range`` other test notes (drawn with ``seed``), rendered with FluidSynth
    (:func:`mvtutorial.instruments.render_notes`; it needs ``libfluidsynth3`` and ``timgm6mb-soundfont``)."""
    config = InstrumentConfig.preset("full")
    factors = sample_note_factors(config, 0)
    test = factors[factors["split"] == "test"].reset_index(drop=True)
    n = len(config.programs)
    classes = np.round(np.linspace(0, config.n_pitches - 1, n)).astype(int)
    picks = [_first_row(test, instrument=i, pitch=int(c)) for i, c in enumerate(classes)]
    others = np.setdiff1d(np.arange(len(test)), picks)
    rows = picks + sorted(np.random.default_rng(seed).choice(others, n_range, replace=False).tolist())
    table = test.iloc[rows]
    audio = render_notes(table, config, progress=False)
    info = [{"label": f"{r.instrument_name}, {note_name(int(r.midi_note))}", "timbre": str(r.instrument_name),
             "pitch": note_name(int(r.midi_note)), "pitch_class": int(r.pitch)} for r in table.itertuples()]
    return Donors(audio, _featurise(audio), info, len(picks))


# --------------------------------------------------------------------------- #
# Mel inversion (what the page does before its Griffin-Lim)
# --------------------------------------------------------------------------- #
def mel_filterbank_matrix(config=None) -> np.ndarray:
    """The Slaney mel filterbank ``(n_fft // 2 + 1, n_mels)`` float32 that :func:`mvtutorial.features.griffin_lim`
    inverts (``torchaudio.functional.melscale_fbanks``, Slaney scale and area normalisation)."""
    import torchaudio


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


# --------------------------------------------------------------------------- #
# The data file
# --------------------------------------------------------------------------- #
def code_ranges(private: np.ndarray, shared: np.ndarray, pad: float = 0.25) -> dict:
    """Each slider's range: the smallest and largest code of the clips given (donors and the range
    clips), widened by ``pad`` times that span on both sides (private dims first, then shared)."""
    codes = np.concatenate([private, shared], axis=1).astype(np.float64)
    low, high = codes.min(axis=0), codes.max(axis=0)
    span = np.maximum(high - low, 1e-3)
    return {"low": [float(v) for v in low - pad * span], "high": [float(v) for v in high + pad * span]}


def _model_entry(data_set: str, model_key: str, donors: Donors, seed: int) -> dict:

    model = load_desk_model(data_set, model_key, seed)
    codes = encode_means(model, donors.features)
    private, shared = codes.private.numpy().astype(np.float32), codes.shared.numpy().astype(np.float32)
    path = checkpoint_path(data_set, model_key, seed)
    return {
        "key": model_key, "title": MODELS[model_key], "seed": seed,
        "checkpoint": f"mvtutorial/assets/{path.relative_to(ASSETS).as_posix()}",
        "private_dim": int(model.config.private_dim), "shared_dim": int(model.config.shared_dim),
        "layers": [{"weight": pack(l["weight"]), "bias": pack(l["bias"]), "activation": l["activation"]}
                   for l in decoder_layers(model)],
        "codes": {"private": pack(private[: donors.n_donors]), "shared": pack(shared[: donors.n_donors])},
        "range": code_ranges(private, shared),
        "dims": dimension_labels(model_result(data_set, model_key, seed)),
    }


def desk_data(seed: int = 0, data_sets: Sequence[str] = tuple(DATA_SETS), n_range: int = RANGE_CLIPS) -> dict:
    """Everything the page loads, as a JSON-ready dict (see the module docstring): per data set its donors
    (labels, peak-normalised int16 audio) and per model its decoder, the donors' codes, the sliders' ranges
    and the MI labels; the mel filterbank; the feature and Griffin-Lim settings."""
    fc = FeatureConfig()
    out = {
        "format": FORMAT, "version": __version__, "generated_by": "mvtutorial.studies.mixing_desk.write_desk_data",
        "features": {**asdict(fc), "n_frames": fc.shape(fc.sample_rate)[1]},
        "griffin_lim": dict(GRIFFIN_LIM), "mi": {"threshold": MI_THRESHOLD, "dominance": MI_DOMINANCE},
        "mel_filterbank": pack(mel_filterbank_matrix(fc)), "data_sets": [],
    }
    for key in data_sets:
        if key not in DATA_SETS:
            raise ValueError(f"unknown data set {key!r}; choose from {list(DATA_SETS)}")
        donors = tone_donors(n_range, seed) if key == "tones" else instrument_donors(n_range, seed)
        n = donors.n_donors
        audio = donors.audio[:n] / np.maximum(np.abs(donors.audio[:n]).max(axis=1, keepdims=True), 1e-8)
        out["data_sets"].append({
            "key": key, "title": DATA_SETS[key], "sample_rate": fc.sample_rate,
            "donors": donors.info[:n], "default": {"timbre": 0, "pitch": n - 1},
            "audio": pack(np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)),
            "models": [_model_entry(key, m, donors, 0) for m in MODELS],
        })
    return out


def write_desk_data(path: str | Path, data: dict | None = None) -> Path:
    """Write the page's data file (``window.MIXING_DESK_DATA = {...};``, :func:`desk_data` unless ``data``
    is given) atomically; returns the path."""
    data = desk_data() if data is None else data
    path = Path(path)
    text = (f"/* Generated by mvtutorial.studies.mixing_desk.write_desk_data (python -m tools.book): the mixing desk's data. */\n"
            f"window.{DATA_VARIABLE} = {json.dumps(data, separators=(',', ':'))};\n")
    with atomic_write(path, "w") as fh:
        fh.write(text)
    path.chmod(0o644)  # a website's file: readable by the web server (atomic_write's temporary file is private)
    return path


def read_desk_data(path: str | Path) -> dict:
    """The dict a data file written by :func:`write_desk_data` holds."""
    text = Path(path).read_text(encoding="utf-8")
    head = f"window.{DATA_VARIABLE} = "
    start = text.find(head)
    if start < 0:
        raise ValueError(f"{path} is not a mixing desk data file (no {head.strip()})")
    body = text[start + len(head):].rstrip().rstrip(";")
    return json.loads(body)
