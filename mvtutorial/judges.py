"""Judge a latent swap against the sound a perfect swap would make: its counterfactual.

A swap decodes clip *a*'s private code with clip *b*'s shared code. When the split works, the result
is *b*'s shared factor (timbre, instrument) at everything *a*'s private side carries (frequency,
amplitude, phase; pitch, velocity, detune). Our generators can render exactly that clip, so each swap
is compared with its **counterfactual** instead of only being classified (chapter 7):

1. **Spectral distance** (dB): :func:`log_spectral_distance` between the decoded swap and the
   counterfactual's log-mel, beside three do-nothing bounds: copying the private donor *a*, copying
   the shared donor *b*, and the model's own reconstruction of the counterfactual (the floor a swap
   through this decoder can reach).
2. **Pitch error** (cents) of the swap against the counterfactual's true f0, from
   :func:`f0_from_logmel`, an estimator with no training (peak picking on the mel spectrum,
   interpolated through the triangular filters, with a sub-harmonic check).
3. The classifier score of :func:`mvtutorial.listening.swap_score`, unchanged, lives beside these.
4. A second pitch judge, a pretrained tracker (PESTO) on Griffin-Lim audio within its range, is
   :mod:`mvtutorial.trackers`.

Sources that can render a counterfactual: the tones (exact: same synthesiser, factor rows) and the
sampled instruments (the note re-rendered). Your own folder of audio cannot: :func:`counterfactuals`
says so, and such a dataset gets the classifier score alone.

References: Cifka et al., "Self-supervised VQ-VAE for one-shot music style transfer", ICASSP 2021
(log-spectral distance to a rendered target); Hermes, "Measurement of pitch by subharmonic
summation", JASA 1988.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import librosa
import numpy as np
import pandas as pd
import torch

from .data import render, render_notes
from .listening import reconstruct, swap, swap_pairs
from .features import FeatureConfig, logmel

__all__ = ["CounterfactualSource", "COUNTERFACTUAL_SOURCES", "counterfactual_source", "counterfactual_rows", "counterfactuals",
           "log_spectral_distance", "mel_centres", "f0_from_logmel", "cents", "judge_swaps", "judge_summary",
           "validate_f0", "CENTS_TOLERANCE"]

#: A swap "keeps the pitch" when its f0 is within this many cents of the counterfactual's (a quarter tone).
CENTS_TOLERANCE = 50.0


@dataclass(frozen=True)
class CounterfactualSource:
    """How one data source renders the counterfactual of a swap.

    ``shared_columns``: factor-table columns that follow the shared donor (every other column follows
    the private donor); ``render(ds, rows) -> audio (N, n_samples)``; ``f0(rows) -> Hz (N,)``, the true
    fundamental of each row; ``pitch_class``: the column that names a clip's pitch class.
    """

    shared_columns: tuple[str, ...]
    render: Callable[[object, pd.DataFrame], np.ndarray]
    f0: Callable[[pd.DataFrame], np.ndarray]
    pitch_class: str


def _render_tones(ds, rows: pd.DataFrame) -> np.ndarray:
    return render(rows, ds.config)


def _render_notes(ds, rows: pd.DataFrame) -> np.ndarray:
    return render_notes(rows, ds.config, progress=False)


def _note_f0(rows: pd.DataFrame) -> np.ndarray:
    """Equal-tempered MIDI note plus the note's detune (A4 = 440 Hz)."""
    note = rows["midi_note"].to_numpy(dtype=float) + rows["detune_cents"].to_numpy(dtype=float) / 100.0
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


#: Data source (``ds.spec()["source"]``) -> how to render its counterfactuals. The instrument's bank
#: (``soundfont``) follows the shared donor: a bank's sample is part of the instrument's sound.
COUNTERFACTUAL_SOURCES: dict[str, CounterfactualSource] = {
    "tones": CounterfactualSource(("waveform", "waveform_name"), _render_tones,
                                  lambda rows: rows["freq_hz"].to_numpy(dtype=float), "freq_class"),
    "instruments": CounterfactualSource(("instrument", "instrument_name", "program", "soundfont"), _render_notes,
                                        _note_f0, "pitch"),
}


def counterfactual_source(ds) -> CounterfactualSource:
    """The :class:`CounterfactualSource` of ``ds``; ``ValueError`` for a source that cannot render one."""
    source = ds.spec().get("source")
    if source not in COUNTERFACTUAL_SOURCES:
        raise ValueError(f"data source {source!r} cannot render the counterfactual of a swap (only "
                         f"{sorted(COUNTERFACTUAL_SOURCES)} can); judge its swaps with the classifier score "
                         "(mvtutorial.listening.swap_score) alone")
    return COUNTERFACTUAL_SOURCES[source]


def counterfactual_rows(ds, private_rows: np.ndarray, shared_rows: np.ndarray) -> pd.DataFrame:
    """Factor rows of the sounds perfect swaps would make, not rendered: row *i* is the private donor
    ``ds.factors.iloc[private_rows[i]]`` with the shared columns of ``ds.factors.iloc[shared_rows[i]]``."""
    source = counterfactual_source(ds)
    private_rows, shared_rows = np.asarray(private_rows), np.asarray(shared_rows)
    if private_rows.shape != shared_rows.shape or private_rows.ndim != 1:
        raise ValueError(f"private_rows and shared_rows must be 1-D and equally long, got {private_rows.shape} "
                         f"and {shared_rows.shape}")
    rows = ds.factors.iloc[private_rows].reset_index(drop=True).copy()
    donors = ds.factors.iloc[shared_rows].reset_index(drop=True)
    for col in source.shared_columns:
        rows[col] = donors[col].to_numpy()
    return rows


def counterfactuals(ds, private_rows: np.ndarray, shared_rows: np.ndarray) -> tuple[pd.DataFrame, torch.Tensor]:
    """Factor rows (:func:`counterfactual_rows`) and log-mels ``(N, n_mels, n_frames)`` of the sounds
    perfect swaps would make, rendered and featurised exactly as the dataset's clips (``ds.feature_config``).
    ``private_rows``, ``shared_rows``: positions into ``ds.factors`` of each swap's private donor *a*
    and shared donor *b*."""
    rows = counterfactual_rows(ds, private_rows, shared_rows)
    audio = counterfactual_source(ds).render(ds, rows)
    return rows, logmel(torch.from_numpy(np.ascontiguousarray(audio)), ds.feature_config)


def log_spectral_distance(x, y, top_db: float = 80.0) -> np.ndarray:
    """Log-spectral distance (dB) between normalised log-mels, one value per clip.

    ``x``, ``y``: ``(N, n_mels, n_frames)`` in [0, 1] (:func:`mvtutorial.features.logmel`, where 1 is
    the clip's peak and 0 its floor ``top_db`` below). Per frame, the root mean square over mel bands
    of the dB difference; then the mean over frames:
    ``LSD = mean_t sqrt(mean_m (top_db * (x - y))^2)``. 0 for identical inputs.
    """
    x, y = (torch.as_tensor(v, dtype=torch.float32) for v in (x, y))
    if x.shape != y.shape or x.ndim != 3:
        raise ValueError(f"need two batches of log-mels of one shape (N, n_mels, n_frames), got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    diff = top_db * (x - y)
    return diff.pow(2).mean(dim=1).sqrt().mean(dim=1).numpy().astype(np.float64)


def mel_centres(config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Centre frequencies (Hz) of the ``n_mels`` Slaney mel filters of ``config``, and their edges:
    ``(centres (n_mels,), edges (n_mels + 2,))`` (librosa's mel scale, as the features use)."""

    edges = librosa.mel_frequencies(config.n_mels + 2, fmin=config.f_min, fmax=config.f_max, htk=False)
    return edges[1:-1], edges


def _peak_hz(power: np.ndarray, centres: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Frequency of the strongest partial of each mel power spectrum ``(N, n_mels)``, between two filters.

    A pure tone between centres c_k < c_k+1 excites the falling edge of filter k and the rising edge
    of filter k+1 in proportion to its distance from each centre, once each filter's area
    normalisation 2 / (e_k+2 - e_k) is divided out: f = c_k + (c_k+1 - c_k) r_k+1 / (r_k + r_k+1).
    """
    r = power * (edges[2:] - edges[:-2]) / 2.0  # undo the Slaney area normalisation
    n, m = r.shape
    k = r.argmax(axis=1)
    left = np.where(k > 0, r[np.arange(n), np.maximum(k - 1, 0)], -np.inf)
    right = np.where(k < m - 1, r[np.arange(n), np.minimum(k + 1, m - 1)], -np.inf)
    lo = np.where(right >= left, k, k - 1)  # the pair of filters the tone sits between
    lo = np.clip(lo, 0, m - 2)
    r_lo, r_hi = r[np.arange(n), lo], r[np.arange(n), lo + 1]
    share = r_hi / np.maximum(r_lo + r_hi, 1e-30)
    return centres[lo] + (centres[lo + 1] - centres[lo]) * share


def _harmonic_sum(level: np.ndarray, centres: np.ndarray, f_lo: float, f_hi: float, f_max: float,
                  n_harmonics: int = 8, decay: float = 0.84, floor_db: float = 40.0, step_cents: float = 5.0) -> np.ndarray:
    """Sub-harmonic summation (Hermes 1988) on mel levels ``(N, n_mels)`` in dB: for each candidate f0
    on a ``step_cents`` grid in ``[f_lo, f_hi]``, the sum over harmonics h of ``decay^(h-1)`` times the
    level at h f0 above a floor ``floor_db`` below the clip's peak (linear interpolation between
    mel centres; harmonics above ``f_max`` count as silent). Returns the best candidate (Hz) per clip."""
    grid = f_lo * 2.0 ** (np.arange(0, 1200 * np.log2(f_hi / f_lo) + step_cents, step_cents) / 1200)
    above = np.maximum(level - (level.max(axis=1, keepdims=True) - floor_db), 0.0)
    score = np.zeros((len(level), len(grid)))
    for h in range(1, n_harmonics + 1):
        f = h * grid
        inside = f <= f_max
        if not inside.any():
            break
        lo = np.clip(np.searchsorted(centres, f[inside]) - 1, 0, len(centres) - 2)
        t = np.clip((f[inside] - centres[lo]) / (centres[lo + 1] - centres[lo]), 0.0, 1.0)
        score[:, inside] += decay ** (h - 1) * ((1 - t) * above[:, lo] + t * above[:, lo + 1])
    return grid[score.argmax(axis=1)]


def f0_from_logmel(features, config: FeatureConfig = FeatureConfig(), method: str = "peak",
                   f_range: tuple[float, float] = (60.0, 8000.0)) -> np.ndarray:
    """Fundamental frequency (Hz) of each normalised log-mel, with no training.

    The frames are averaged in power (dB back to power with ``config.top_db``) and the strongest
    partial is located between two mel filters (:func:`_peak_hz`). Then, by ``method``:

    * ``"peak"``: f0 is that partial. Right for the tones: their fundamental is always their loudest
      partial (a naive sawtooth's aliases are its weaker harmonics folded back), and a sub-harmonic
      search would be fooled by an alias that lands near f0 / 2.
    * ``"harmonic"``: sub-harmonic summation (:func:`_harmonic_sum`) over ``f_range`` picks the
      harmonic series the spectrum fits best; f0 is then the interpolated loudest partial divided by
      its harmonic number ``round(peak / candidate)``. Right for instruments whose second or third
      harmonic can be their loudest (organ, trumpet, clarinet).

    Parameters
    ----------
    features : ``(N, n_mels, n_frames)`` or ``(n_mels, n_frames)`` in [0, 1].
    config : the features' :class:`~mvtutorial.features.FeatureConfig`.
    method : ``"peak"`` or ``"harmonic"``.
    f_range : ``(low, high)`` Hz of the candidates of ``"harmonic"``.

    Returns
    -------
    ndarray ``(N,)`` of Hz (a float for 2-D input). Validated on real clips by :func:`validate_f0`.
    """
    if method not in ("peak", "harmonic"):
        raise ValueError(f"unknown method {method!r}; choose 'peak' or 'harmonic'")
    x = torch.as_tensor(features, dtype=torch.float64)
    squeeze = x.ndim == 2
    x = x[None] if squeeze else x
    if x.ndim != 3 or x.shape[1] != config.n_mels:
        raise ValueError(f"features must be log-mels (N, {config.n_mels}, n_frames), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    power = (10.0 ** (config.top_db * (x - 1.0) / 10.0)).mean(dim=-1).numpy()  # peak at 1, floor at -top_db
    centres, edges = mel_centres(config)
    f0 = _peak_hz(power, centres, edges)
    if method == "harmonic":
        low, high = f_range
        if not 0 < low < high:
            raise ValueError(f"f_range must be (low, high) with 0 < low < high, got {f_range!r}")
        candidate = _harmonic_sum(10.0 * np.log10(np.maximum(power, 1e-30)), centres, low, high, config.f_max)
        f0 = f0 / np.maximum(np.round(f0 / candidate), 1.0)
    return float(f0[0]) if squeeze else f0


def cents(estimate, truth) -> np.ndarray:
    """``1200 log2(estimate / truth)``: signed pitch error in cents (100 cents = one semitone)."""
    estimate, truth = np.asarray(estimate, dtype=float), np.asarray(truth, dtype=float)
    for name, values in (("estimate", estimate), ("truth", truth)):
        bad = values[~(values > 0)]
        if bad.size:
            raise ValueError(f"cents needs positive frequencies (Hz); {name} holds {bad.size} value(s) that are not, "
                             f"e.g. {bad.flat[0]!r}")
    return 1200.0 * np.log2(estimate / truth)


def _f0_options(ds) -> dict:
    """Estimator settings per source: the tones' fundamental is their loudest partial (``"peak"``);
    instruments use sub-harmonic summation over their MIDI range, one semitone either side."""
    if ds.spec().get("source") == "instruments":
        notes = ds.config.midi_notes
        low, high = (440.0 * 2.0 ** ((n - 69.0) / 12.0) for n in (notes.min() - 1, notes.max() + 1))
        return {"method": "harmonic", "f_range": (float(low), float(high))}
    return {"method": "peak"}


def validate_f0(ds, split: str = "test") -> pd.DataFrame:
    """The pitch estimator on the real clips of ``split``: per pitch class, the share within
    :data:`CENTS_TOLERANCE` of the true f0 and the median absolute error (cents). This is the
    ceiling of the pitch judge: a perfect swap scores what its counterfactual scores here."""
    source = counterfactual_source(ds)
    idx = ds.split_indices(split)
    rows = ds.factors.iloc[idx]
    error = cents(f0_from_logmel(ds.features[idx], ds.feature_config, **_f0_options(ds)), source.f0(rows))
    frame = pd.DataFrame({"pitch_class": rows[source.pitch_class].to_numpy(), "abs_cents": np.abs(error)})
    out = frame.groupby("pitch_class").agg(within=("abs_cents", lambda v: float(np.mean(v <= CENTS_TOLERANCE))),
                                           median_abs_cents=("abs_cents", "median"), n=("abs_cents", "size"))
    return out.rename(columns={"within": f"within_{CENTS_TOLERANCE:g}_cents"})


def judge_swaps(swapped, counterfactual, private_donor, shared_donor, reconstruction, f0_true,
                config: FeatureConfig = FeatureConfig(), **f0_options) -> pd.DataFrame:
    """The judges of a batch of swaps, one row per swap (pure function of arrays).

    Parameters
    ----------
    swapped : decoded swaps ``(N, n_mels, n_frames)``.
    counterfactual : log-mels of what perfect swaps would sound like (:func:`counterfactuals`).
    private_donor, shared_donor : the real donors' log-mels (the two do-nothing bounds: copying one).
    reconstruction : the model's reconstruction of each counterfactual (the floor).
    f0_true : the counterfactuals' true f0 (Hz), ``(N,)``.
    config : the features' config (``top_db`` scales the distance; the mel centres locate pitch).
    f0_options : passed to :func:`f0_from_logmel`.

    Returns
    -------
    DataFrame: ``lsd_swap``, ``lsd_copy_private_donor``, ``lsd_copy_shared_donor``,
    ``lsd_reconstruction`` (dB, :func:`log_spectral_distance` to the counterfactual), and
    ``cents_swap``, ``cents_reconstruction``, ``cents_counterfactual`` (signed error of the estimated
    f0 against ``f0_true``; the last is the estimator's own error on the real counterfactual).
    """
    out = {f"lsd_{name}": log_spectral_distance(x, counterfactual, config.top_db)
           for name, x in (("swap", swapped), ("copy_private_donor", private_donor),
                           ("copy_shared_donor", shared_donor), ("reconstruction", reconstruction))}
    for name, x in (("swap", swapped), ("reconstruction", reconstruction), ("counterfactual", counterfactual)):
        out[f"cents_{name}"] = cents(f0_from_logmel(x, config, **f0_options), f0_true)
    return pd.DataFrame(out)


@torch.no_grad()
def judge_model(model, ds, n_pairs: int = 2000, seed: int = 0, split: str = "test", batch_size: int = 500) -> pd.DataFrame:
    """Judge ``n_pairs`` swaps of ``model`` against their counterfactuals (:func:`judge_swaps`).

    The pairs are :func:`mvtutorial.listening.swap_score`'s (same ``split``, ``n_pairs`` and ``seed``),
    so the judges and the classifier score describe the same swaps. Each row also names the private
    donor's pitch class (``pitch_class``) and the shared donor's class of the shared factor
    (``shared_class``).
    """
    source = counterfactual_source(ds)
    options = _f0_options(ds)
    idx = ds.split_indices(split)
    pairs = swap_pairs(ds.factors.iloc[idx].reset_index(drop=True), ds.factor_columns, n_pairs, seed)
    shared_col = next(iter(ds.factor_columns.values()))
    parts = []
    for i in range(0, len(pairs), batch_size):
        a, b = idx[pairs[i : i + batch_size, 0]], idx[pairs[i : i + batch_size, 1]]
        rows, target = counterfactuals(ds, a, b)
        part = judge_swaps(swap(model, private_from=ds.features[a], shared_from=ds.features[b]), target,
                           ds.features[a], ds.features[b], reconstruct(model, target), source.f0(rows),
                           ds.feature_config, **options)
        part.insert(0, "pitch_class", rows[source.pitch_class].to_numpy())
        part.insert(1, "shared_class", rows[shared_col].to_numpy())
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def judge_summary(judged: pd.DataFrame) -> dict:
    """JSON-ready summary of :func:`judge_model`'s rows: overall and per pitch class, the median
    spectral distances (dB) and, for the swap, its reconstruction and the counterfactual itself, the
    share within :data:`CENTS_TOLERANCE` and the median absolute error in cents."""
    def summary(frame: pd.DataFrame) -> dict:
        out = {k: float(frame[k].median()) for k in frame.columns if k.startswith("lsd_")}
        for k in (c for c in frame.columns if c.startswith("cents_")):
            name = k[len("cents_"):]
            out[f"within_{CENTS_TOLERANCE:g}_cents_{name}"] = float(np.mean(np.abs(frame[k]) <= CENTS_TOLERANCE))
            out[f"median_abs_cents_{name}"] = float(np.median(np.abs(frame[k])))
        out["n"] = int(len(frame))
        return out

    return {"tolerance_cents": CENTS_TOLERANCE, "overall": summary(judged),
            "per_pitch_class": {str(c): summary(g) for c, g in judged.groupby("pitch_class")}}
