"""Evaluation results as labelled tables: every number travels with its factor and subspace names.

An evaluation result (:func:`mvtutorial.evaluate.evaluate_model`, saved as JSON with sorted keys)
names its factors in its keys (``"private/frequency"``), never by position. This module turns a
list of such results (training seeds, say) into tidy :class:`pandas.DataFrame` s, so no axis
order is ever a convention: a figure or table selects by name, and the JSON's key order (sorted,
or any other) cannot move a number to another factor.

Which subspace each factor *belongs in* (the shared factor of a pair belongs in the shared code,
the others in the private code) is part of a result too: ``result["factors"]``, written by the
evaluation from the dataset (:func:`factor_info`). Results written before it was stored are read
with their data source's factors (tones: timbre = ``waveform``, frequency = ``freq_class``;
sampled instruments: timbre = ``instrument``, frequency = ``pitch``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["SUBSPACES", "factor_info", "result_factors", "mi_frame", "mi_sums", "mi_table"]

SUBSPACES = ("private", "shared")

#: Columns of the tidy MI table returned by :func:`mi_frame`.
MI_COLUMNS = ["run", "subspace", "dim", "factor", "column", "belongs_in", "mi"]


def factor_info(factor_columns: dict) -> dict[str, dict[str, str]]:
    """``{factor: {"column": ..., "belongs_in": "shared" | "private"}}`` from a dataset's
    ``factor_columns`` (its first factor is the one the two views of a pair share)."""
    return {name: {"column": str(col), "belongs_in": "shared" if i == 0 else "private"}
            for i, (name, col) in enumerate(factor_columns.items())}


def _legacy_factors(result: dict) -> dict[str, dict[str, str]]:
    """Factors of a result written before ``result["factors"]`` existed, from its data source."""
    from .data import INSTRUMENT_FACTORS, TONE_FACTORS  # here: results itself needs no torch

    source = (result.get("data") or {}).get("source", "tones")
    known = {"tones": TONE_FACTORS, "instruments": INSTRUMENT_FACTORS}
    names = set(result.get("chance", {})) or {f.split("/")[1] for f in result.get("mi_sums", {})}
    if source not in known or names != set(known[source]):
        raise ValueError(f"this result names no factor roles (no 'factors' entry) and its data source {source!r} with "
                         f"factors {sorted(names)} has no known default; re-evaluate it with mvtutorial.evaluate.evaluate_run")
    return factor_info(known[source])


def result_factors(result: dict) -> dict[str, dict[str, str]]:
    """The factors of one evaluation result: ``{name: {"column", "belongs_in"}}``, the shared factor first."""
    info = result["factors"] if "factors" in result else _legacy_factors(result)
    bad = {k: v.get("belongs_in") for k, v in info.items() if v.get("belongs_in") not in SUBSPACES}
    if bad:
        raise ValueError(f"factor roles must be 'shared' or 'private', got {bad}")
    return dict(sorted(info.items(), key=lambda kv: kv[1]["belongs_in"] != "shared"))


def mi_frame(results: Sequence[dict], samples: bool = False, runs: Sequence | None = None) -> pd.DataFrame:
    """The k-NN MI matrices of several results (e.g. training seeds) as one tidy table.

    Parameters
    ----------
    results : evaluation results (dicts as written to JSON), all on the same factors.
    samples : use the matrices computed on posterior samples (``result["samples"]["mi_matrix"]``).
    runs : a label per result (default: its ``"seed"``, else its position).

    Returns
    -------
    DataFrame with one row per (run, subspace, dim, factor) and the columns ``run``, ``subspace``
    (``"private"`` / ``"shared"``), ``dim`` (1-based), ``factor`` (its name), ``column`` (the
    factor table's column), ``belongs_in`` (the subspace the factor should live in) and ``mi`` (nats).
    """
    if len(results) == 0:
        raise ValueError("no results to tabulate")
    runs = list(runs) if runs is not None else [r.get("seed", i) for i, r in enumerate(results)]
    if len(runs) != len(results):
        raise ValueError(f"{len(runs)} run labels for {len(results)} results")
    factors = result_factors(results[0])
    rows = []
    for run, result in zip(runs, results):
        if set(result_factors(result)) != set(factors):
            raise ValueError(f"results name different factors: {sorted(factors)} and {sorted(result_factors(result))}")
        source = result["samples"] if samples else result
        if "mi_matrix" not in source:
            raise ValueError(f"result of run {run!r} has no MI matrix{' on samples' if samples else ''}")
        for key, row in source["mi_matrix"].items():
            subspace, dim = key.split("/")
            for name, info in factors.items():
                rows.append((run, subspace, int(dim), name, info["column"], info["belongs_in"], float(row[name])))
    frame = pd.DataFrame(rows, columns=MI_COLUMNS)
    return frame.sort_values(["run", "subspace", "dim"], kind="stable").reset_index(drop=True)


def mi_sums(frame: pd.DataFrame) -> pd.DataFrame:
    """Summed MI per run, subspace and factor (nats): columns ``run``, ``subspace``, ``factor``,
    ``belongs_in``, ``mi``."""
    return frame.groupby(["run", "subspace", "factor", "belongs_in"], as_index=False, sort=False)["mi"].sum()


def mi_table(frame: pd.DataFrame, paper: dict | None = None) -> pd.DataFrame:
    """Per factor and subspace: where the factor belongs, the range over dims of the MI averaged
    over runs, and the summed MI (mean, sd over runs, n runs), with the paper's sum beside it
    (``paper``: ``(subspace, factor) -> nats``; missing entries are NaN).

    Rows are indexed by ``(factor, subspace)``, the shared factor first (chapter 4's table).
    """
    per_dim = frame.groupby(["factor", "subspace", "dim"], sort=False)["mi"].mean()
    sums = mi_sums(frame).groupby(["factor", "subspace"], sort=False)["mi"]
    belongs = frame.groupby("factor", sort=False)["belongs_in"].first()
    table = pd.DataFrame({
        "min over dims": per_dim.groupby(level=["factor", "subspace"], sort=False).min(),
        "max over dims": per_dim.groupby(level=["factor", "subspace"], sort=False).max(),
        "sum": sums.mean(),
        "sd": sums.std(ddof=1),
        "n": sums.size(),
    })
    table.insert(0, "belongs_in", [belongs[f] for f, _ in table.index])
    if paper is not None:
        table["paper sum"] = [paper.get((s, f), np.nan) for f, s in table.index]
    order = sorted(table.index, key=lambda fs: (belongs[fs[0]] != "shared", fs[0], SUBSPACES.index(fs[1])))
    return table.loc[order]
