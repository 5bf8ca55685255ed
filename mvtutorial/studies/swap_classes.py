"""Where swaps lose timbre (chapter 7.6): the swap score per cell of the sound a swap should make.

A swap of clip *a*'s private code with clip *b*'s shared code should sound like *b*'s waveform at *a*'s
frequency class: that (frequency class, waveform) is the swap's cell. :func:`swap_cells` scores the swaps
of each cell with the swap score's own classifier and pairs (:func:`mvtutorial.listening.swap_predictions`);
:func:`clip_cells` measures two ceilings in the same cells on the split's clips: the classifier on the
real clips, and on the model's reconstructions of them. A swap keeps timbre no more often than a
reconstruction in its cell does (its decoder is the same), and a reconstruction no more often than the
real clip is read right.

:func:`swap_class_record` computes a swap score with both tables as a swap record stores them
(``record["per_class"]``, :func:`~mvtutorial.studies.per_class.frame_json`: every number keyed by
``"<freq_class>/<waveform>"``); :func:`add_swap_cells` adds them to tone swap records that lack them
(``reproduce judges`` and the pitch study call it).
:func:`swap_class_table` reads them back per frequency class, mean over training seeds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .._progress import tqdm
from ..cache import atomic_write_json, read_json
from ..data import load_tone_dataset
from ..listening import FeatureClassifier, fit_feature_classifier, reconstruct, score_swap_predictions, swap_predictions
from .per_class import frame_from_json, frame_json, per_class_cells, per_class_table

__all__ = ["SWAP_TIMBRE", "SWAP_LEAK", "SWAP_FREQUENCY", "REAL_TIMBRE", "RECONSTRUCTION_TIMBRE", "swap_cells", "clip_cells",
           "swap_class_record", "RESCORE_TOLERANCE", "add_swap_cells", "swap_class_frames", "swap_class_table", "swap_class_bands", "swap_class_reading"]

#: Columns of :func:`swap_cells`: the share of a cell's swaps whose timbre the classifier reads as the
#: shared donor's (the swap score), as the private donor's (a leak), and whose frequency class is the private donor's.
SWAP_TIMBRE, SWAP_LEAK, SWAP_FREQUENCY = "swap: shared donor's timbre", "swap: private donor's timbre", "swap: private donor's frequency"
#: Columns of :func:`clip_cells`: the classifier's timbre accuracy on the cell's real clips and on their reconstructions.
REAL_TIMBRE, RECONSTRUCTION_TIMBRE = "real clips: timbre", "reconstructions: timbre"
_NEEDED = [f"{f}_{role}" for f in ("timbre", "frequency") for role in ("private_donor", "shared_donor", "swap")]


def swap_cells(predictions: pd.DataFrame, waveform_names: Mapping[int, str]) -> pd.DataFrame:
    """Swap shares per cell (frequency class of the private donor, waveform of the shared donor).

    Parameters
    ----------
    predictions : DataFrame
        :func:`~mvtutorial.listening.swap_predictions` of a tone model: one row per pair, with
        ``timbre_*`` and ``frequency_*`` label columns.
    waveform_names : mapping
        Waveform label -> name (``{0: "sine", ...}``), the tone set's ``waveform`` -> ``waveform_name``.

    Returns
    -------
    DataFrame
        Indexed by ``(freq_class, waveform)``; columns :data:`SWAP_TIMBRE`, :data:`SWAP_LEAK`,
        :data:`SWAP_FREQUENCY` (shares of the cell's swaps) and ``n`` (swaps in the cell).
    """
    missing = [c for c in _NEEDED if c not in predictions]
    if missing:
        raise ValueError(f"predictions lack columns {missing}: swap_cells needs a tone model's swap_predictions")
    unknown = sorted(set(predictions["timbre_shared_donor"]) - set(waveform_names))
    if unknown:
        raise ValueError(f"waveform labels {unknown} have no name in waveform_names {dict(waveform_names)}")
    p = predictions
    cells = pd.DataFrame({"freq_class": p["frequency_private_donor"].to_numpy(),
                          "waveform_name": p["timbre_shared_donor"].map(dict(waveform_names)).to_numpy()})
    correct = {SWAP_TIMBRE: (p["timbre_swap"] == p["timbre_shared_donor"]).to_numpy(),
               SWAP_LEAK: (p["timbre_swap"] == p["timbre_private_donor"]).to_numpy(),
               SWAP_FREQUENCY: (p["frequency_swap"] == p["frequency_private_donor"]).to_numpy()}
    return per_class_cells(correct, cells)


@torch.no_grad()
def clip_cells(model, ds, classifier: FeatureClassifier, split: str = "test", batch_size: int = 1024) -> pd.DataFrame:
    """The classifier's timbre accuracy per (freq_class, waveform) of ``split``'s clips: on the real clips
    (:data:`REAL_TIMBRE`) and on ``model``'s reconstructions of them (:data:`RECONSTRUCTION_TIMBRE`), with ``n`` clips per cell."""
    idx = ds.split_indices(split)
    real, rec = [], []
    for i in range(0, len(idx), batch_size):
        x = ds.features[idx[i : i + batch_size]]
        real.append(classifier.predict(x)["timbre"])
        rec.append(classifier.predict(reconstruct(model, x))["timbre"])
    truth = ds.factors["waveform"].to_numpy()[idx]
    correct = {REAL_TIMBRE: np.concatenate(real) == truth, RECONSTRUCTION_TIMBRE: np.concatenate(rec) == truth}
    return per_class_cells(correct, ds.factors.iloc[idx])


def swap_class_record(model, ds, classifier: FeatureClassifier, n_pairs: int = 2000, seed: int = 0, split: str = "test") -> dict:
    """The swap score of ``model`` (:func:`~mvtutorial.listening.score_swap_predictions`: ``n_pairs`` pairs of
    ``split`` drawn with ``seed``) with, under ``"per_class"``, ``{"swaps": ..., "clips": ...}``: :func:`swap_cells`
    of the same predictions and :func:`clip_cells`, each as :func:`~mvtutorial.studies.per_class.frame_json`.
    One pass over the pairs, so the cells add up to the score exactly."""
    names = dict(zip(ds.factors["waveform"], ds.factors["waveform_name"]))
    predictions = swap_predictions(model, ds, classifier, n_pairs, seed, split)
    cells = {"swaps": frame_json(swap_cells(predictions, names)), "clips": frame_json(clip_cells(model, ds, classifier, split))}
    return {**score_swap_predictions(predictions, classifier, split, seed), "per_class": cells}


#: How far a record's classifier scores may move when re-scored (numerics of the classifier's matrix products
#: flip a pair or two at its decision boundaries); more means another model or another classifier.
RESCORE_TOLERANCE = 0.01


def add_swap_cells(records: Mapping[Path, Path], ds, load: Callable[[Path], object], classifier: FeatureClassifier | None = None,
                   progress: bool = True) -> list[Path]:
    """Add ``"per_class"`` to every tone swap record of ``records`` (record file -> its model's checkpoint,
    read with ``load``) that lacks it, atomically; returns the files written.

    The record's own pairs are scored again (:func:`swap_class_record`) and its classifier scores replaced by
    those of the same pass, so that its cells add up to them; its other keys (judges, identity) are kept.
    ``ds``: the tone set the records were scored on, or None for the full one, loaded only if a record needs
    it. ``classifier`` defaults to ``fit_feature_classifier(ds, seed=0)``, the one the shipped records use.

    Raises
    ------
    ValueError
        The new ``swap_timbre`` or ``real_timbre`` differs from the record's by more than
        :data:`RESCORE_TOLERANCE`: the record belongs to another model or another classifier.
    """
    todo = {p: record for p in records if "per_class" not in (record := read_json(p))}
    written = []
    for path, record in tqdm(todo.items(), desc="swap cells", unit="model", disable=not progress):
        ds = ds if ds is not None else load_tone_dataset("full")
        classifier = classifier or fit_feature_classifier(ds, seed=0)
        scored = swap_class_record(load(records[path]), ds, classifier, record["n_pairs"], record["seed"], record["split"])
        moved = {k: (record[k], scored[k]) for k in ("swap_timbre", "real_timbre") if abs(scored[k] - record[k]) > RESCORE_TOLERANCE}
        if moved:
            raise ValueError(f"{path}: re-scored {', '.join(f'{k} {new:.4f} against the record {old:.4f}' for k, (old, new) in moved.items())}; "
                             f"the record belongs to another classifier or another model than {records[path]}: check which "
                             f"checkpoint it names, or write it again with swaps.write_swap_score")
        atomic_write_json({**record, **scored}, path)
        written.append(path)
    return written


def swap_class_frames(record: dict) -> dict[str, pd.DataFrame]:
    """A record's ``"per_class"`` read back: ``{"swaps": DataFrame, "clips": DataFrame}`` indexed by ``(freq_class, waveform)``."""
    if "per_class" not in record:
        raise ValueError(f"swap record {record.get('key', record.get('config'))!r} has no per-class cells; run add_swap_cells")
    return {part: frame_from_json(cells) for part, cells in record["per_class"].items()}


def swap_class_table(records: Sequence[dict], columns: Sequence[str] = (SWAP_TIMBRE, RECONSTRUCTION_TIMBRE, REAL_TIMBRE),
                     by: str = "config") -> pd.DataFrame:
    """Shares per frequency class, mean over the records (training seeds) of each ``by`` value.

    Rows ``(record[by], column)`` for each of ``columns`` (swap columns from the swaps' cells, clip
    columns from the clips' cells, each cell weighted by its count), columns the frequency classes."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record[by], []).append(record)
    rows = {}
    for label, members in groups.items():
        frames = [swap_class_frames(r) for r in members]
        for column in columns:
            part = "swaps" if column.startswith("swap") else "clips"
            tables = {str(i): f[part] for i, f in enumerate(frames)}
            rows[(label, column)] = per_class_table(tables, column, "freq_class", {"mean": list(tables)}).loc["mean"]
    out = pd.DataFrame(rows).T
    out.index.names = [by, "measure"]
    return out


def swap_class_bands(table: pd.DataFrame, top: Sequence[int]) -> pd.DataFrame:
    """Each row of :func:`swap_class_table` averaged over the frequency classes outside ``top`` and over
    those in it (unweighted: the classes hold about as many clips each); columns named by their classes."""
    rest = [c for c in table.columns if c not in top]
    inside = [c for c in table.columns if c in top]
    if not rest or not inside:
        raise ValueError(f"top classes {list(top)} must split the table's classes {list(table.columns)} in two")
    name = lambda cs: f"classes {min(cs)}-{max(cs)}" if len(cs) > 1 else f"class {cs[0]}"  # noqa: E731
    return pd.DataFrame({name(rest): table[rest].mean(axis=1), name(inside): table[inside].mean(axis=1)})


def swap_class_reading(table: pd.DataFrame, config: str, top: Sequence[int], target: float) -> str:
    """One Markdown sentence on where ``config``'s swaps lose timbre: :func:`swap_class_bands` of its rows of
    ``table`` (which must hold :data:`SWAP_TIMBRE`, :data:`SWAP_LEAK`, :data:`RECONSTRUCTION_TIMBRE` and
    :data:`REAL_TIMBRE`), against ``target``."""
    bands = swap_class_bands(table.loc[config], top)
    low, high = bands.columns
    b = lambda measure, band: f"{bands.loc[measure, band]:.1%}"  # noqa: E731
    verdict = [band for band in bands.columns if bands.loc[SWAP_TIMBRE, band] >= target]
    return (f"**{config}**: swaps keep the shared donor's timbre in {b(SWAP_TIMBRE, low)} at {low} and "
            f"{b(SWAP_TIMBRE, high)} at the aliased {high} (target {target:.0%}: met at {', '.join(verdict) or 'neither'}). "
            f"Reconstructions of the same classes keep it in {b(RECONSTRUCTION_TIMBRE, low)} and {b(RECONSTRUCTION_TIMBRE, high)}, "
            f"the real clips are read right in {b(REAL_TIMBRE, low)} and {b(REAL_TIMBRE, high)}; "
            f"{b(SWAP_LEAK, low)} and {b(SWAP_LEAK, high)} of the swaps take the private donor's timbre instead.")
