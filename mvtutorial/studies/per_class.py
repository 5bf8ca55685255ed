"""Per-class accuracy for chapter 6's pitch study (:mod:`mvtutorial.studies.pitch`): where pitch is lost.

The separation study's probe, scored per (frequency class, waveform) cell of the tone set's test
split, for a model's codes (:func:`per_class_accuracy`) and for the input itself
(:func:`input_ceiling_per_class`); the tables are written as JSON keyed by cell names
(:func:`frame_json`), read back (:func:`per_class_records`) and averaged over seeds (:func:`per_class_table`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..cache import read_json
from ..evaluate import encode_split
from ..metrics.probes import make_probe

__all__ = ["TOP_CLASSES", "COLUMNS", "CEILING", "per_class_cells", "per_class_accuracy", "input_ceiling_per_class", "frame_json", "frame_from_json",
           "per_class_records", "per_class_table", "input_as"]

#: The frequency classes where the naive tones alias most (3.3-7 kHz): where pitch, and then timbre, is lost.
TOP_CLASSES = tuple(range(14, 21))

#: The probes scored per class: column name -> (code, factor).
COLUMNS = {"private -> frequency": ("private", "frequency"), "both -> frequency": ("both", "frequency"),
           "shared -> timbre": ("shared", "timbre"), "private -> timbre": ("private", "timbre")}
#: The per-class table's row of the input's own probe.
CEILING = "raw input (ceiling)"


def per_class_cells(correct: dict[str, np.ndarray], factors: pd.DataFrame) -> pd.DataFrame:
    """Mean of each boolean array of ``correct`` (one entry per test clip) per (frequency class, waveform)
    of ``factors``, and ``n``, the clips per cell."""
    frame = pd.DataFrame({"freq_class": factors["freq_class"].to_numpy(), "waveform": factors["waveform_name"].to_numpy(),
                          **correct})
    out = frame.groupby(["freq_class", "waveform"]).mean()
    out["n"] = frame.groupby(["freq_class", "waveform"]).size()
    return out


@torch.no_grad()
def per_class_accuracy(model, ds, seed: int = 0, max_train: int = 10_000, samples: bool = True) -> pd.DataFrame:
    """MLP probe accuracy per (frequency class, waveform) on the test split.

    The probes of the separation study (MLP, one probe seed, at most ``max_train`` training codes,
    posterior samples unless ``samples=False``: train codes sampled with ``seed``, test codes with
    ``seed + 1``, as :func:`mvtutorial.evaluate.evaluate_model` does) for each code -> factor of
    :data:`COLUMNS`; each test clip counts once, in its own cell. Returns a DataFrame indexed by
    ``(freq_class, waveform)`` with one accuracy column per probe and ``n`` (test clips per cell).
    """
    train, test = encode_split(model, ds, "train", pair_seed=seed), encode_split(model, ds, "test", pair_seed=seed)
    if samples:
        train, test = train.sample(seed), test.sample(seed + 1)
    keep = np.arange(len(train.factors))
    if len(keep) > max_train:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), max_train, replace=False))
    tr, te = train.latents(), test.latents()
    correct = {}
    for name, (latent, factor) in COLUMNS.items():
        column = ds.factor_columns[factor]
        probe = make_probe("mlp", seed).fit(tr[latent][keep], train.factors[column].to_numpy()[keep])
        correct[name] = probe.predict(te[latent]) == test.factors[column].to_numpy()
    return per_class_cells(correct, test.factors)


def input_ceiling_per_class(ds, seed: int = 0, max_train: int = 10_000) -> pd.DataFrame:
    """The input's own ceiling per (frequency class, waveform): the same MLP probe on the time-averaged
    log-mel (no model in between), for frequency and for timbre."""
    train, test = ds.split_indices("train"), ds.split_indices("test")
    if len(train) > max_train:
        train = np.sort(np.random.default_rng(seed).choice(train, max_train, replace=False))
    pooled = ds.features.mean(dim=-1).numpy()
    correct = {}
    for name, factor in (("input -> frequency", "frequency"), ("input -> timbre", "timbre")):
        y = ds.factors[ds.factor_columns[factor]].to_numpy()
        correct[name] = make_probe("mlp", seed).fit(pooled[train], y[train]).predict(pooled[test]) == y[test]
    return per_class_cells(correct, ds.factors.iloc[test])


def frame_json(frame: pd.DataFrame) -> dict:
    """``{"<freq_class>/<waveform>": {column: value}}``: every number keyed by its cell's names."""
    return {f"{c}/{w}": {k: float(v) for k, v in row.items()} for (c, w), row in frame.iterrows()}


def frame_from_json(cells: dict) -> pd.DataFrame:
    """:func:`frame_json`'s table read back: indexed by ``(freq_class, waveform)``, sorted."""
    frame = pd.DataFrame.from_dict({tuple(k.split("/")): v for k, v in cells.items()}, orient="index")
    frame.index = pd.MultiIndex.from_tuples([(int(c), w) for c, w in frame.index], names=["freq_class", "waveform"])
    return frame.sort_index()


def per_class_records(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Per-class accuracy tables by model name (``paper-seed0``, ``recommended-seed1``, a run key,
    ``input``), read back from ``<folder>/per_class/*.json`` (written with :func:`frame_json`)."""
    folder = Path(folder)
    out = {}
    for path in sorted((folder / "per_class").glob("*.json")):
        record = read_json(path)
        out[record["model"]] = frame_from_json(record["per_class"])
    return out


def per_class_table(tables: dict[str, pd.DataFrame], column: str = "private -> frequency", by: str = "freq_class",
                    groups: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """``column`` per ``by`` (``"freq_class"`` or ``"waveform"``), mean over the seeds of each group
    (``groups``: label -> model names; default each model alone), weighted by the test clips per cell."""
    groups = groups or {name: [name] for name in tables}
    rows = {}
    for label, names in groups.items():
        parts = [tables[n] for n in names if n in tables and column in tables[n]]
        if not parts:
            continue
        per = [(t[column] * t["n"]).groupby(level=by).sum() / t["n"].groupby(level=by).sum() for t in parts]
        rows[label] = pd.concat(per, axis=1).mean(axis=1)
    return pd.DataFrame(rows).T


def input_as(tables: dict[str, pd.DataFrame], column: str) -> dict[str, pd.DataFrame]:
    """``tables`` with the input's probe of ``column``'s factor (``"input -> frequency"``) named
    ``column``, so the input's row sits beside the models' (it reads the factor from the log-mel)."""
    if "input" in tables:
        factor = column.split(" -> ")[1]
        tables = {**tables, "input": tables["input"].rename(columns={f"input -> {factor}": column})}
    return tables
