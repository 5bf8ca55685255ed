r"""Why reconstructions lose timbre at the aliased classes (chapter 7.6): the comb and the pitch it needs.

Above ~3.3 kHz (frequency classes 14-20) a naive square or sawtooth folds its harmonics back below
Nyquist: harmonic :math:`k` lands at :math:`|k f_0 - m f_s|`. The time-averaged log-mel becomes a comb
of folded partials, and the comb is what tells a square (odd harmonics) from a sawtooth (all of them)
up there. Each folded partial moves :math:`k` times faster than the pitch, so the comb is set by the
pitch to a precision far finer than a frequency class.

A decoder trained with squared error on posterior samples renders, at best, the *mean* log-mel over
the pitches its code allows: if the pitch axis carries noise of :math:`\sigma` octave, the best it
can draw is the real clip's log-mel averaged over pitches :math:`f_0 2^{\sigma\varepsilon}`,
:math:`\varepsilon \sim N(0, 1)`. :func:`blur_ceiling` renders exactly that average and asks the
swap score's classifier to read it: the timbre an ideal decoder could keep at that much pitch noise.
:func:`pitch_axis_noise` measures the noise the model's code has; :func:`comb_sensitivity` how much
the decoder's output moves with its pitch coordinate, against how much the real spectrum does;
:func:`reconstruction_confusion` which timbres the reconstructions mistake for which.

Reference: the comb of a naive (aliasing) oscillator, V. Välimäki & A. Huovilainen, "Antialiasing
oscillators in subtractive synthesis", IEEE Signal Processing Magazine 24(2), 2007.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from sklearn.metrics import confusion_matrix

from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..data import load_tone_dataset
from ..features import logmel
from ..listening import FeatureClassifier, fit_feature_classifier, reconstruct
from .per_class import TOP_CLASSES
from .swap_classes import RECONSTRUCTION_TIMBRE, SWAP_TIMBRE
from .store import ASSETS

__all__ = ["SIGMAS", "CEILING_PRESETS", "BANDS", "CEILING_FILE", "pitch_blurred_features", "ceiling_record", "ceiling_from_record",
           "reproduce_ceiling", "shipped_ceiling", "blur_ceiling", "pitch_axis_noise", "comb_sensitivity", "labelled_confusion",
           "COMB_STEP", "COMB_COLUMNS", "comb_record", "comb_summary", "comb_table", "comb_family_reading", "band_rows", "band_accuracy", "reconstruction_confusion", "comb_reading", "sensitivity_reading"]

#: The pitch noise (octave) :func:`blur_ceiling` tries by default: none, then up to a quarter of a class.
SIGMAS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)
#: :func:`blur_ceiling`'s sample per mode: clips per band, pitch quantiles per clip, the noise levels tried.
#: The average over the comb converges slowly (measured at 0.02 octave on 300 test clips of classes 14-20: 16 quantiles
#: read 94 % right, 32-128 read 95-97 %; 16 random pitches read 91 %), hence 128 for the shipped ceiling.
CEILING_PRESETS = {"full": {"n_clips": 400, "n_draws": 128, "sigmas": SIGMAS},
                   "fast": {"n_clips": 40, "n_draws": 4, "sigmas": (0.0, 0.005, 0.02)}}
#: The bands of frequency classes the chapter reads: below the aliased classes, and the aliased ones.
BANDS = {f"classes 0-{TOP_CLASSES[0] - 1}": tuple(range(TOP_CLASSES[0])), f"classes {TOP_CLASSES[0]}-{TOP_CLASSES[-1]}": TOP_CLASSES}
#: Where :func:`reproduce_ceiling` writes the full-mode ceiling (under an output root, as ``reproduce`` does).
CEILING_FILE = ("alias_comb", "ceiling.json")


def _tone_rows(ds, rows) -> pd.DataFrame:
    if ds.renderer is None or "freq_hz" not in ds.factors:
        raise ValueError(f"the pitch-blur ceiling re-renders clips at new pitches: it needs a source with a renderer and a "
                         f"freq_hz column (the tone set), got {ds.source_spec.get('source', 'a source')!r} with columns "
                         f"{list(ds.factors.columns)}")
    return ds.factors.iloc[np.asarray(rows)]


def pitch_blurred_features(ds, rows: Sequence[int], sigma: float, n_draws: int = 128) -> torch.Tensor:
    r"""Log-mels of clips ``rows`` of ``ds`` averaged over pitches :math:`f_0 2^{\sigma\varepsilon}`,
    :math:`\varepsilon \sim N(0, 1)` truncated below Nyquist (``sigma`` in octaves; everything else about each
    clip kept), shape ``(len(rows), n_mels, n_frames)``: what a squared-error decoder that knows each pitch to
    ``sigma`` octave can at best draw.

    The average is a quadrature, not a random draw: :math:`\varepsilon` runs over the ``n_draws`` quantiles
    :math:`(j + 1/2)/n` of the (truncated) normal, which converges much faster than random draws on an
    integrand as jagged as the comb of folded partials. ``sigma = 0`` renders each clip once, which gives back
    its stored features.
    """
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number of octaves >= 0, got {sigma!r}")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws!r}")
    factors = _tone_rows(ds, rows)
    draws = _pitch_quantiles(factors["freq_hz"].to_numpy(), sigma, ds.config.sample_rate / 2, 1 if sigma == 0 else n_draws)
    total = torch.zeros(len(factors), *ds.input_shape)
    for moved_hz in draws:
        total += logmel(torch.from_numpy(ds.renderer(factors.assign(freq_hz=moved_hz), ds.config)), ds.feature_config, batch_size=32)
    return total / len(draws)


def _pitch_quantiles(freq_hz: np.ndarray, sigma: float, nyquist: float, n: int) -> np.ndarray:
    """``(n, len(freq_hz))`` pitches ``freq_hz * 2**(sigma * eps_j)``, ``eps_j`` the quantiles ``(j + 1/2)/n`` of
    N(0, 1) truncated where the pitch would reach Nyquist (a tone cannot leave the band the generator renders)."""
    u = (np.arange(n) + 0.5) / n
    if sigma == 0:
        return np.repeat(freq_hz[None], n, axis=0)
    top = np.log2(nyquist * (1 - 1e-6) / freq_hz) / sigma  # eps below this keeps the pitch under Nyquist
    eps = norm.ppf(u[:, None] * norm.cdf(top)[None, :])
    return freq_hz[None] * 2.0 ** (sigma * eps)


def blur_ceiling(ds, classifier: FeatureClassifier, bands: Mapping[str, Sequence[int]], sigmas: Sequence[float] = SIGMAS,
                 split: str = "test", n_clips: int = 400, n_draws: int = 128, seed: int = 0) -> pd.DataFrame:
    """The classifier's timbre accuracy on :func:`pitch_blurred_features` (``n_draws`` pitch quantiles) of up to
    ``n_clips`` clips of ``split`` per band of frequency classes (``{"classes 14-20": range(14, 21), ...}``), the
    clips drawn with ``seed``.

    Returns
    -------
    DataFrame
        Index: the band names; columns: ``sigmas`` (named ``"pitch noise (octave)"``); values: the share of
        clips whose blurred log-mel is read as their own timbre. Column 0 is the classifier on the real clips.
    """
    rng = np.random.default_rng(seed)
    timbre = ds.factors[ds.factor_columns[ds.shared_factor]].to_numpy()
    table = {}
    for band, members in bands.items():
        rows = band_rows(ds, members, split)
        if len(rows) == 0:
            raise ValueError(f"band {band!r} (classes {list(members)}) has no clip in the {split!r} split")
        rows = np.sort(rng.choice(rows, min(n_clips, len(rows)), replace=False))
        table[band] = {s: float(np.mean(classifier.predict(pitch_blurred_features(ds, rows, s, n_draws))[ds.shared_factor]
                                        == timbre[rows])) for s in sigmas}
    out = pd.DataFrame(table).T
    out.columns.name = "pitch noise (octave)"
    return out


def ceiling_record(table: pd.DataFrame, **settings) -> dict:
    """A JSON-ready record of a :func:`blur_ceiling` table: ``{"ceiling": {band: {sigma: share}}, **settings}``
    (the sample it was drawn with: clips, quantiles, seed, classifier, data)."""
    return {"ceiling": {band: {repr(float(s)): float(v) for s, v in row.items()} for band, row in table.iterrows()}, **settings}


def ceiling_from_record(record: dict) -> pd.DataFrame:
    """The :func:`blur_ceiling` table of a :func:`ceiling_record`, bands and noise levels as they were written."""
    table = pd.DataFrame({band: {float(s): v for s, v in row.items()} for band, row in record["ceiling"].items()}).T
    table.columns.name = "pitch noise (octave)"
    return table


def reproduce_ceiling(out: Path) -> Path:
    """Compute the full-mode ceiling (:data:`BANDS`, ``CEILING_PRESETS["full"]``, the swap score's classifier on the
    full tone set) and write it atomically to ``out/alias_comb/ceiling.json``; returns the path."""
    ds = load_tone_dataset("full")
    preset = CEILING_PRESETS["full"]
    table = blur_ceiling(ds, fit_feature_classifier(ds, seed=0), BANDS, **preset)
    path = Path(out).joinpath(*CEILING_FILE)
    settings = {"n_clips": preset["n_clips"], "n_draws": preset["n_draws"], "seed": 0, "split": "test",
                "bands": {band: list(classes) for band, classes in BANDS.items()}, "classifier": "fit_feature_classifier(ds, seed=0)",
                "data": ds.spec(), "version": __version__, "command": "python -m mvtutorial.reproduce comb"}
    atomic_write_json(ceiling_record(table, **settings), path)
    return path


def shipped_ceiling(root: Path = ASSETS) -> pd.DataFrame:
    """The shipped full-mode ceiling (``assets/alias_comb/ceiling.json``, :func:`ceiling_from_record`)."""
    path = Path(root).joinpath(*CEILING_FILE)
    if not path.exists():
        raise FileNotFoundError(f"no ceiling at {path}: write it with python -m mvtutorial.reproduce comb")
    return ceiling_from_record(read_json(path))


@torch.no_grad()
def pitch_axis_noise(model, ds, rows: Sequence[int]) -> float:
    """Median posterior standard deviation of the first private coordinate (the pitch axis, in octaves when
    the model was trained with the transposition term) over clips ``rows``: the pitch noise its decoder was
    trained under."""
    model.eval()
    private, _ = model.encode(ds.features[np.asarray(rows)])
    return float(private.logvar[:, 0].mul(0.5).exp().median())


@torch.no_grad()
def comb_sensitivity(model, ds, rows: Sequence[int], step: float = 0.01) -> dict[str, float]:
    """Mean absolute change of the time-averaged log-mel (in [0, 1] units per band) when the pitch moves up
    by ``step`` octave: for the real clips ``rows`` re-rendered there (``"real clips"``), and for the decoder
    when its pitch coordinate moves by ``step`` from the clips' posterior means (``"decoder"``)."""
    rows = np.asarray(rows)
    real = ds.features[rows].mean(-1)
    moved = _tone_rows(ds, rows)
    moved = moved.assign(freq_hz=moved["freq_hz"].to_numpy() * 2.0 ** step)
    real_moved = logmel(torch.from_numpy(ds.renderer(moved, ds.config)), ds.feature_config, batch_size=32).mean(-1)
    model.eval()
    private, shared = model.encode(ds.features[rows])
    shifted = private.mu.clone()
    shifted[:, 0] += step
    decoded, decoded_moved = model.decode(private.mu, shared.mu).mean(-1), model.decode(shifted, shared.mu).mean(-1)
    return {"real clips": float((real_moved - real).abs().mean()), "decoder": float((decoded_moved - decoded).abs().mean())}


def labelled_confusion(true: np.ndarray, predicted: np.ndarray, names: Mapping[int, str]) -> pd.DataFrame:
    """Share of each true class (rows, ``names``) read as each class (columns): rows sum to 1
    (:func:`sklearn.metrics.confusion_matrix`, normalised by row)."""
    labels = list(names)
    counts = confusion_matrix(true, predicted, labels=labels, normalize="true")
    index = pd.Index([names[k] for k in labels], name="true timbre")
    return pd.DataFrame(counts, index=index, columns=pd.Index([names[k] for k in labels], name="read as"))


#: The pitch step (octave) of :func:`comb_record`'s sensitivity; its columns.
COMB_STEP = 0.01
COMB_COLUMNS = ("pitch noise", "decoder change", "real change")


def comb_record(model, ds, classes: Sequence[int] = TOP_CLASSES, n_clips: int = 400, **identity) -> dict:
    """A JSON-ready record of a model's comb at ``classes`` (test split): ``identity`` (key, family, seed, ...),
    the pitch axis's noise (:func:`pitch_axis_noise`) and :func:`comb_sensitivity` at :data:`COMB_STEP` on the
    first ``n_clips`` clips, under :data:`COMB_COLUMNS`."""
    rows = band_rows(ds, classes)
    change = comb_sensitivity(model, ds, rows[:n_clips], step=COMB_STEP)
    return {**identity, "classes": [int(c) for c in classes], "step": COMB_STEP, "pitch noise": pitch_axis_noise(model, ds, rows),
            "decoder change": change["decoder"], "real change": change["real clips"]}


def comb_summary(records: Sequence[dict], order: Sequence[str] = ()) -> pd.DataFrame:
    """Mean over seeds of :func:`comb_record` records: one row per family (labels in ``order`` first), columns
    :data:`COMB_COLUMNS` plus ``seeds``; empty when there are none."""
    if not records:
        return pd.DataFrame(columns=[*COMB_COLUMNS, "seeds"])
    frame = pd.DataFrame([{"family": r["family"], **{c: r[c] for c in COMB_COLUMNS}} for r in records])
    out = frame.groupby("family", sort=False).agg(**{c: (c, "mean") for c in COMB_COLUMNS}, seeds=("pitch noise", "size"))
    rank = {name: i for i, name in enumerate(order)}
    return out.iloc[np.argsort([rank.get(f, len(rank)) for f in out.index], kind="stable")]


def comb_table(summary: pd.DataFrame, bands: pd.DataFrame) -> pd.DataFrame:
    """:func:`comb_summary` beside the timbre of reconstructions and swaps at the top band of ``bands``
    (:func:`mvtutorial.studies.pitch_report.swap_timbre_bands`), for the families both have; labelled columns."""
    top = bands.columns.get_level_values(1).unique()[-1]
    rows = [r for r in summary.index if r in bands.index]
    step = f"per {COMB_STEP:g} octave"
    return pd.DataFrame({"pitch noise (octave)": summary.loc[rows, "pitch noise"],
                         f"decoder's change {step}": summary.loc[rows, "decoder change"],
                         f"real comb's change {step}": summary.loc[rows, "real change"],
                         f"reconstructions: timbre ({top})": bands.loc[rows, (RECONSTRUCTION_TIMBRE, top)],
                         f"swaps: timbre ({top})": bands.loc[rows, (SWAP_TIMBRE, top)]}, index=pd.Index(rows, name="family"))


def comb_family_reading(table: pd.DataFrame, row: str, base: str) -> str:
    """One markdown bullet: family ``row`` of a :func:`comb_table` against ``base``: its pitch noise, how far its
    decoder follows the comb, and what its reconstructions and swaps keep at the top classes."""
    noise, decoder, real, rec, swapped = table.columns
    a, b, band = table.loc[row], table.loc[base], rec[rec.index("(") + 1:rec.rindex(")")]
    return (f"* *{row}*: pitch noise {a[noise]:.4f} octave (*{base}*: {b[noise]:.4f}); a {COMB_STEP:g}-octave step of its "
            f"pitch coordinate changes its decoder's output by {a[decoder]:.4f} per band ({b[decoder]:.4f}; the real comb "
            f"changes by {a[real]:.3f}); its reconstructions keep timbre {a[rec]:.1%} ({b[rec]:.1%}) and its swaps "
            f"{a[swapped]:.1%} ({b[swapped]:.1%}) at {band}.")


def band_rows(ds, classes: Sequence[int], split: str = "test") -> np.ndarray:
    """Row positions of ``split``'s clips whose frequency class (the first private factor) is in ``classes``."""
    rows = ds.split_indices(split)
    return rows[np.isin(ds.factors[ds.factor_columns[ds.private_factors[0]]].to_numpy()[rows], list(classes))]


@torch.no_grad()
def band_accuracy(model, ds, classifier: FeatureClassifier, bands: Mapping[str, Sequence[int]], split: str = "test") -> pd.Series:
    """The classifier's timbre accuracy on ``model``'s reconstructions of ``split``'s clips, per band of classes."""
    timbre = ds.factors[ds.factor_columns[ds.shared_factor]].to_numpy()
    out = {}
    for band, classes in bands.items():
        rows = band_rows(ds, classes, split)
        out[band] = float(np.mean(classifier.predict(reconstruct(model, ds.features[rows]))[ds.shared_factor] == timbre[rows]))
    return pd.Series(out, name="reconstructions: timbre")


@torch.no_grad()
def reconstruction_confusion(model, ds, classifier: FeatureClassifier, classes: Sequence[int],
                             split: str = "test") -> pd.DataFrame:
    """:func:`labelled_confusion` of the classifier's timbre on ``model``'s reconstructions of ``split``'s clips
    of frequency classes ``classes``; waveform names from the factor table."""
    rows = band_rows(ds, classes, split)
    column = ds.factor_columns[ds.shared_factor]
    if f"{column}_name" not in ds.factors:
        raise ValueError(f"the factor table has no {column + '_name'!r} column to name the timbres: {list(ds.factors.columns)}")
    names = dict(ds.factors[[column, f"{column}_name"]].drop_duplicates().sort_values(column).to_numpy())
    predicted = classifier.predict(reconstruct(model, ds.features[rows]))[ds.shared_factor]
    return labelled_confusion(ds.factors[column].to_numpy()[rows], predicted, names)


def comb_reading(ceiling: pd.DataFrame, band: str, noise: float, reconstructions: float) -> str:
    """One markdown sentence: the ceiling of ``band`` at the model's pitch noise ``noise`` (octave; read off
    :func:`blur_ceiling` by linear interpolation, or its last column when ``noise`` is past it) against the real
    clips and the ``reconstructions``' accuracy."""
    row = ceiling.loc[band]
    if 0.0 not in row.index:
        raise ValueError(f"the ceiling needs a column at pitch noise 0 (the real clips), has {list(row.index)}")
    sigmas = np.asarray(row.index, dtype=float)
    at_noise = float(np.interp(noise, sigmas, row.to_numpy()))  # past the last column: its value, an upper bound
    past = noise > sigmas.max()
    real, gap = float(row.loc[0.0]), at_noise - reconstructions
    blur = (f"the pitch noise costs {'at least ' if past else ''}{(real - at_noise) * 100:.1f} points" if real > at_noise
            else "the pitch noise costs nothing")
    ceiling_text = (f"at most {at_noise:.1%} (its value at {sigmas.max():g} octave, the most noise tried)" if past else f"{at_noise:.1%}")
    return (f"At {band}, the real clips are read as their own timbre {real:.1%} of the time; averaged over the "
            f"{noise:.3f} octave of pitch noise the model's pitch axis carries, {ceiling_text}: the most a decoder "
            f"trained under that noise could keep there. The model's reconstructions keep {reconstructions:.1%}: {blur}, "
            + (("the decoder's rendering costs " if real <= at_noise else "the decoder's rendering ")
               + f"{'at most ' if past else ''}{gap * 100:.1f}" + (" points." if real <= at_noise else " more.")
               if gap > 0 else "and the decoder reaches the ceiling."))


def sensitivity_reading(sensitivity: Mapping[str, float], step: float = 0.01) -> str:
    """One markdown sentence on :func:`comb_sensitivity` (``step`` octave): how much less the decoder's
    output moves with pitch than the real spectrum does."""
    real, decoder = sensitivity["real clips"], sensitivity["decoder"]
    ratio = f"{real / decoder:.0f} times less" if decoder > 0 else "not at all"
    return (f"Moving a clip {step:g} octave up changes its real time-averaged log-mel by {real:.3f} per band on average "
            f"(the comb slides); moving the decoder's pitch coordinate as far changes its output by {decoder:.4f}, "
            f"{ratio}: the decoder draws one spectrum where the real comb moves.")
