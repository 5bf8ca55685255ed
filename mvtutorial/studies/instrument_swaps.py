"""Where swapped notes lose pitch (chapter 9): by instrument pair, beside each instrument's place on the pitch axis.

The transposition term (chapter 6.8) asks the first private coordinate of a pair's two views to differ by
their interval, which fixes the axis only up to a constant per pair; a pair is one instrument, so each
instrument may sit at its own **offset** on the axis (:func:`mvtutorial.studies.pitch_axis.axis_fit`). A
swap decodes one instrument's private code with another's shared code. If the decoder reads the axis
relative to the shared donor's instrument, the pitch of a swap comes out wrong more often the further apart
the two instruments' offsets are.

:func:`pair_cells` scores the swaps of each (private donor's instrument, shared donor's instrument) with the
swap score's classifier and pairs (:func:`mvtutorial.listening.swap_predictions`); :func:`pair_record` adds
the axis offsets, and :func:`add_pair_cells` stores both in the instrument swap records (``"per_pair"``).
:func:`offset_gap_table` joins them per pair and seed, :func:`pitch_loss_summary` tests the link (Spearman's
rank correlation of a pair's swap pitch with the distance between its two offsets, per seed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .._progress import tqdm
from ..cache import atomic_write_json, read_json
from ..data import load_from_spec
from ..listening import FeatureClassifier, fit_feature_classifier, score_swap_predictions, swap_predictions
from .pitch_axis import pitch_axis
from .swap_classes import RESCORE_TOLERANCE

__all__ = ["SWAP_PITCH", "pair_cells", "pair_record", "add_pair_cells", "offset_gap_table", "pitch_loss_summary",
           "pitch_loss_reading"]

#: The share of a pair's swaps whose pitch class the classifier reads as the private donor's.
SWAP_PITCH = "swap: private donor's pitch"


def pair_cells(predictions: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """:data:`SWAP_PITCH` and ``n`` per (private donor's instrument, shared donor's instrument).

    ``predictions``: :func:`~mvtutorial.listening.swap_predictions` of an instrument model (``timbre_*`` are
    instrument labels, ``frequency_*`` pitch classes); ``names``: instrument label -> name. Returns a
    DataFrame indexed by ``(private donor, shared donor)`` names."""
    unknown = sorted((set(predictions["timbre_private_donor"]) | set(predictions["timbre_shared_donor"])) - set(names))
    if unknown:
        raise ValueError(f"instrument labels {unknown} have no name in {dict(names)}")
    frame = pd.DataFrame({"private donor": predictions["timbre_private_donor"].map(dict(names)),
                          "shared donor": predictions["timbre_shared_donor"].map(dict(names)),
                          SWAP_PITCH: predictions["frequency_swap"] == predictions["frequency_private_donor"]})
    grouped = frame.groupby(["private donor", "shared donor"])[SWAP_PITCH]
    return pd.DataFrame({SWAP_PITCH: grouped.mean(), "n": grouped.size()})


def pair_record(model, ds, classifier: FeatureClassifier, n_pairs: int = 2000, seed: int = 0, split: str = "test") -> dict:
    """The swap score of ``model`` on instrument notes with, under ``"per_pair"``, :func:`pair_cells` of the
    same predictions (keyed ``"<private donor>|<shared donor>"``) and the pitch axis of its first private
    coordinate per instrument (:func:`~mvtutorial.studies.pitch_axis.pitch_axis`: ``slope`` and ``offset``
    in octaves, posterior means of ``split``)."""
    names = dict(zip(ds.factors["instrument"], ds.factors["instrument_name"]))
    predictions = swap_predictions(model, ds, classifier, n_pairs, seed, split)
    cells = pair_cells(predictions, names)
    axis = pitch_axis(model, ds, split, by="instrument_name")
    per_pair = {"swaps": {f"{a}|{b}": {k: float(v) for k, v in row.items()} for (a, b), row in cells.iterrows()},
                "axis": {"slope": axis.attrs["slope"], "offset": {k: float(v) for k, v in axis["offset"].items()}}}
    return {**score_swap_predictions(predictions, classifier, split, seed), "per_pair": per_pair}


def add_pair_cells(records: Mapping[Path, Path], load: Callable[[Path], object], progress: bool = True) -> list[Path]:
    """Add ``"per_pair"`` (:func:`pair_record`, the record's own pairs and data spec, the seed-0 classifier the
    shipped records use) to every instrument swap record of ``records`` (file -> its checkpoint, read with
    ``load``) that lacks it; its classifier scores are replaced by the same pass's, as
    :func:`~mvtutorial.studies.swap_classes.add_swap_cells` does. Returns the files written.

    Raises
    ------
    ValueError
        ``swap_frequency`` re-scored differs from the record's by more than
        :data:`~mvtutorial.studies.swap_classes.RESCORE_TOLERANCE` (another model or classifier).
    """
    todo = {p: record for p in records if "per_pair" not in (record := read_json(p))}
    data: dict = {}
    written = []
    for path, record in tqdm(todo.items(), desc="swap pairs", unit="model", disable=not progress):
        key = repr(record["data"])
        if key not in data:
            ds = load_from_spec(record["data"])
            data[key] = ds, fit_feature_classifier(ds, seed=0)
        ds, classifier = data[key]
        scored = pair_record(load(records[path]), ds, classifier, record["n_pairs"], record["seed"], record["split"])
        if abs(scored["swap_frequency"] - record["swap_frequency"]) > RESCORE_TOLERANCE:
            raise ValueError(f"{path}: re-scored swap_frequency {scored['swap_frequency']:.4f} against the record's "
                             f"{record['swap_frequency']:.4f}; the record belongs to another classifier or another model than "
                             f"{records[path]}: check which checkpoint it names, or write it again with swaps.write_swap_score")
        atomic_write_json({**record, **scored}, path)
        written.append(path)
    return written


def offset_gap_table(records: Sequence[dict], config: str) -> pd.DataFrame:
    """One row per (training seed, private donor, shared donor) of ``config``'s records with ``"per_pair"``:
    :data:`SWAP_PITCH`, ``n`` and ``offset gap``, the distance in octaves between the two instruments'
    offsets on that seed's pitch axis."""
    rows = []
    for record in (r for r in records if r["config"] == config and "per_pair" in r):
        offset = record["per_pair"]["axis"]["offset"]
        for pair, cell in record["per_pair"]["swaps"].items():
            a, b = pair.split("|")
            rows.append({"train_seed": record["train_seed"], "private donor": a, "shared donor": b, **cell,
                         "offset gap": abs(offset[a] - offset[b])})
    if not rows:
        raise ValueError(f"no swap records of {config!r} carry per-pair cells; run add_pair_cells")
    return pd.DataFrame(rows)


def pitch_loss_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per training seed of :func:`offset_gap_table`: Spearman's rho between a pair's offset gap and its
    swap pitch (and its p-value), the instrument whose offset is furthest from the others' (largest summed
    gap), and the swap pitch of the pairs with it and without it (weighted by swaps)."""
    out = {}
    for seed, part in table.groupby("train_seed"):
        rho = spearmanr(part["offset gap"], part[SWAP_PITCH])
        outlier = part.groupby("private donor")["offset gap"].sum().idxmax()
        has = (part["private donor"] == outlier) | (part["shared donor"] == outlier)
        share = lambda rows: float(np.average(rows[SWAP_PITCH], weights=rows["n"]))  # noqa: E731
        out[seed] = {"spearman rho": float(rho.statistic), "p": float(rho.pvalue), "furthest instrument": outlier,
                     "swap pitch, pairs with it": share(part[has]), "swap pitch, other pairs": share(part[~has])}
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "train_seed"
    return frame


def pitch_loss_reading(summary: pd.DataFrame) -> str:
    """Markdown sentences on :func:`pitch_loss_summary`: whether the rank correlation is negative at
    p < 0.01 in every seed, and where the loss sits."""
    rhos = ", ".join(f"{r:.2f}" for r in summary["spearman rho"])
    linked = bool(((summary["spearman rho"] < 0) & (summary["p"] < 0.01)).all())
    furthest = summary["furthest instrument"].value_counts()
    lines = [f"Across instrument pairs, swap pitch falls as the two instruments' offsets on the pitch axis grow apart, in every "
             f"training seed (Spearman's rho {rhos}, each at p < 0.01)." if linked else
             f"Swap pitch does not fall with the distance between the two instruments' offsets on the pitch axis in every "
             f"training seed (Spearman's rho {rhos}; p < 0.01 is required in each)."]
    for seed, row in summary.iterrows():
        lines.append(f"Seed {seed}: the instrument furthest from the others on the axis is the {row['furthest instrument']}; "
                     f"swaps that involve it keep the pitch in {row['swap pitch, pairs with it']:.0%}, the others in "
                     f"{row['swap pitch, other pairs']:.0%}.")
    if len(furthest) == 1 and len(summary) > 1:
        lines.append(f"The same instrument, the {furthest.index[0]}, is the outlier in every seed.")
    return " ".join(lines)
