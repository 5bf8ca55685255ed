"""The mixing desk's data: what a page needs to decode and sound latent codes in the reader's browser.

The mixing desk (``book/mixing_desk.md``) lets a reader set every latent dimension of a shipped model
with a slider and hear the result, with no Python behind the page. Everything it needs is exported
here into one script file, ``window.MIXING_DESK_DATA = {...};`` (:func:`write_desk_data`), written by
the book build (``python -m tools.book``) into the website's ``_static`` folder:

* the **decoder** of each shipped model (:data:`DATA_SETS` x :data:`MODELS`, training seed 0): the
  pooled architecture decodes ``sigmoid(MLP(concat(z_private, z_shared)))`` to one frame of
  ``n_mels`` values repeated over time (:meth:`mvtutorial.model.MultiViewVAE.decode`), so its Linear
  layers' float32 weights are all the page needs (:func:`~mvtutorial.export.decoder_layers`); the page's JavaScript forward
  pass is the same arithmetic as :func:`~mvtutorial.export.decode_numpy` (float64 sums over the float32 weights);
* **donor clips** of each data set (:func:`tone_donors`, :func:`instrument_donors`): real test-split
  clips, their audio (the players; the page computes their log-mels) and each model's codes of them
  (:func:`mvtutorial.listening.encode_means`: the private mean and the single-view shared mean); the
  sliders start at the donors' codes and span the codes of :data:`RANGE_CLIPS` other test clips;
* the **MI labels** of each dimension (:func:`dimension_labels`): the k-NN MI of the shipped result
  with each factor, and the factor the dimension is tied to (:data:`MI_THRESHOLD`, :data:`MI_DOMINANCE`);
* the **mel filterbank** the page inverts (:func:`~mvtutorial.export.mel_to_linear_power`, the minimum-norm least-squares
  solution that ``torchaudio.transforms.InverseMelScale`` computes) before its Griffin-Lim.

Arrays travel packed as text (:func:`mvtutorial.export.pack`), bit for bit.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .._version import __version__
from ..cache import atomic_write, read_json
from ..checkpoint import load_checkpoint, load_model
from ..export import decoder_layers, mel_filterbank_matrix, pack
from ..data import InstrumentConfig, render, render_notes, sample_factors, sample_note_factors, tone_spec, ToneConfig
from ..features import FeatureConfig, logmel
from ..listening import encode_means
from ..results import mi_frame
from .store import asset_path, ASSETS
from .transfer import instrument_spec, note_name, transfer_results

__all__ = ["FORMAT", "DATA_VARIABLE", "DATA_SETS", "MODELS", "MI_THRESHOLD", "MI_DOMINANCE", "GRIFFIN_LIM", "RANGE_CLIPS",
           "FACTOR_LABELS", "checkpoint_path", "load_desk_model", "model_result", "dimension_labels", "Donors", "tone_donors",
           "instrument_donors", "code_ranges", "desk_data", "write_desk_data", "read_desk_data"]

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
        return tone_spec(ToneConfig.preset("full"))
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
    (:func:`mvtutorial.data.render_notes`; it needs ``libfluidsynth3`` and ``timgm6mb-soundfont``)."""
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
