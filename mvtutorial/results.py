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

Every table of runs repeated over training seeds is aggregated by one function, :func:`seed_stats`
(mean, sd, n of each value per group, columns ``(value, "mean" | "sd" | "n")``); :func:`format_stats`
writes such a table as "mean ± sd" strings and :class:`StatsReader` reads it for prose (means,
ranks, spreads), so a chapter's reading is computed from the table it shows.
"""
from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from .data import INSTRUMENT_FACTORS, TONE_FACTORS

__all__ = ["SUBSPACES", "factor_info", "result_factors", "mi_frame", "mi_sums", "mi_table", "seed_stats", "wins_by_seed",
           "format_stats", "side_by_side", "StatsReader"]

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


def seed_stats(frame: pd.DataFrame, by: str | Sequence[str], values: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean, sd and n over repeated runs (training seeds) of each value, per group: the one layout of
    every table of runs.

    Parameters
    ----------
    frame : one row per run, the group column(s) ``by`` and numeric value columns.
    by : group column(s); groups keep their order of first appearance.
    values : the value columns, in order (default: every column that is not in ``by``).

    Returns
    -------
    DataFrame indexed by group with columns ``(value, "mean" | "sd" | "n")``: ``sd`` with ddof 1
    (NaN for a single run), ``n`` the runs with a value (a missing value, NaN, is not counted).
    An empty ``frame`` gives an empty DataFrame.
    """
    if len(frame) == 0:
        return pd.DataFrame()
    keys = [by] if isinstance(by, str) else list(by)
    values = list(values) if values is not None else [c for c in frame.columns if c not in keys]
    stats = frame.groupby(by, sort=False)[values].agg(["mean", "std", "count"])
    return stats.rename(columns={"std": "sd", "count": "n"}, level=1)


def wins_by_seed(challenger: pd.DataFrame, baseline: pd.DataFrame, lower_is_better: Sequence[str] = ()) -> pd.Series:
    """Per column, in how many training seeds ``challenger`` beats ``baseline``, paired by seed.

    Both frames are indexed by training seed with the same value columns; only the seeds both have count.
    A column in ``lower_is_better`` is won when it falls, every other when it rises; a tie is no win.
    Returns a Series of ``"k/n"`` strings (``k`` seeds won of the ``n`` paired), one per column of ``challenger``.
    """
    seeds = challenger.index.intersection(baseline.index)
    gain = challenger.loc[seeds] - baseline.loc[seeds, challenger.columns]
    gain[[c for c in gain.columns if c in lower_is_better]] *= -1
    return pd.Series({c: f"{int((gain[c] > 0).sum())}/{len(seeds)}" for c in gain.columns}, dtype=object)


def format_stats(stats: pd.DataFrame, digits: int | Mapping[str, int] = 2, missing: str = "–") -> pd.DataFrame:
    """A :func:`seed_stats` table as ``"mean ± sd"`` strings (no-break spaces keep a cell on one line).

    Parameters
    ----------
    stats : a :func:`seed_stats` table.
    digits : decimals, one number for every value or ``value -> digits`` (2 for the values it does not name).
    missing : the text of a NaN mean.

    Returns
    -------
    DataFrame with the index of ``stats`` and one column of strings per value; the sd is left out
    where it is NaN (one run).
    """
    out = {}
    for value in dict.fromkeys(stats.columns.get_level_values(0)):
        d = digits if isinstance(digits, int) else digits.get(value, 2)
        out[value] = [missing if not np.isfinite(m) else f"{m:.{d}f}" + ("" if not np.isfinite(sd) else f"\u00a0±\u00a0{sd:.{d}f}")
                      for m, sd in zip(stats[(value, "mean")].astype(float), stats[(value, "sd")].astype(float))]
    return pd.DataFrame(out, index=stats.index)


def side_by_side(tables: Mapping[str, pd.DataFrame], values: Mapping[str, str], rows: Mapping | None = None,
                 digits: int | Mapping[str, int] = 2, missing: str = "–") -> pd.DataFrame:
    """Several :func:`seed_stats` tables of the same rows (e.g. one per data set) next to each other.

    Parameters
    ----------
    tables : table name (e.g. the data set) -> :func:`seed_stats` table.
    values : value -> its label, in the order shown; values no table has are dropped.
    rows : row -> its label, in the order shown (rows it leaves out are not shown; default every row
        under its own name).
    digits : as for :func:`format_stats`.
    missing : the text of a value a table lacks or has no mean of.

    Returns
    -------
    DataFrame of :func:`format_stats` strings: one row per value label, columns
    ``(row label, table name)`` (levels ``configuration``, ``data``) grouped by row.
    """
    columns = {}
    for name, table in tables.items():
        shown = format_stats(table, digits, missing)
        for row in table.index:
            if rows is None or row in rows:
                columns[((rows or {}).get(row, row), name)] = shown.loc[row]
    out = pd.DataFrame(columns)
    out = out.loc[[v for v in values if v in out.index]].rename(index=dict(values))
    order = list(dict.fromkeys(rows.values())) if rows is not None else list(dict.fromkeys(label for label, _ in columns))
    out = out[[c for label in order for c in out.columns if c[0] == label]]
    out.columns.names = ["configuration", "data"]
    return out.fillna(missing)


class StatsReader:
    """Reads a :func:`seed_stats` table for prose: formatted means, ranks among rows, spreads.

    A chapter's reading quotes ``reader(row, value)`` and words its verdicts with :meth:`rank_word`
    or :meth:`within_spread`, so that no sentence can contradict the table when a result changes.
    A row or value the table lacks reads as NaN (``"n/a"`` when formatted).
    """

    _ORDINALS = ("", "second ", "third ")

    def __init__(self, stats: pd.DataFrame, digits: int = 2):
        self.stats, self.digits = stats, digits

    def _get(self, row: Hashable, value: str, stat: str) -> float:
        try:
            return float(self.stats.loc[row, (value, stat)])
        except KeyError:
            return float("nan")

    def mean(self, row: Hashable, value: str) -> float:
        """The mean of ``value`` in ``row`` (NaN if missing)."""
        return self._get(row, value, "mean")

    def sd(self, row: Hashable, value: str) -> float:
        """The sd of ``value`` in ``row`` (NaN for one run or if missing)."""
        return self._get(row, value, "sd")

    def n(self, row: Hashable, value: str) -> int:
        """The number of runs with a value (0 if missing)."""
        n = self._get(row, value, "n")
        return 0 if not np.isfinite(n) else int(n)

    def __call__(self, row: Hashable, value: str, digits: int | None = None) -> str:
        """The mean, formatted with ``digits`` (default the reader's); ``"n/a"`` if missing."""
        m = self.mean(row, value)
        return "n/a" if not np.isfinite(m) else f"{m:.{self.digits if digits is None else digits}f}"

    def mean_sd(self, row: Hashable, value: str, digits: int | None = None) -> str:
        """``"mean ± sd"`` as :func:`format_stats` writes it (the sd left out for one run); ``"n/a"`` if missing."""
        sd = self.sd(row, value)
        return self(row, value, digits) + ("" if not np.isfinite(sd) or not np.isfinite(self.mean(row, value))
                                           else f"\u00a0±\u00a0{sd:.{self.digits if digits is None else digits}f}")

    def pct(self, row: Hashable, value: str, digits: int = 0) -> str:
        """The mean as a percentage with ``digits`` decimals (``"97 %"``); ``"n/a"`` if missing."""
        m = self.mean(row, value)
        return "n/a" if not np.isfinite(m) else f"{100 * m:.{digits}f} %"

    def ranking(self, value: str, rows: Sequence | None = None, largest: bool = True) -> pd.Series:
        """The means of ``value`` of ``rows`` (default all), best first (``largest``: high is best); NaN left out."""
        means = self.stats[(value, "mean")].astype(float)
        if rows is not None:
            means = means[means.index.isin(list(rows))]
        return means.dropna().sort_values(ascending=not largest, kind="stable")

    def best(self, value: str, rows: Sequence | None = None, largest: bool = True) -> Hashable | None:
        """The row with the best mean of ``value`` among ``rows`` (default all); ``None`` if none has one."""
        order = self.ranking(value, rows, largest)
        return order.index[0] if len(order) else None

    def rank_word(self, row: Hashable, value: str, rows: Sequence | None = None, largest: bool = True) -> str:
        """``"the highest"``, ``"the second highest"``, ``"the 4th lowest"``... of ``row`` among ``rows``; ``"n/a"`` if unranked."""
        order = list(self.ranking(value, rows, largest).index)
        if row not in order:
            return "n/a"
        k = order.index(row)
        return f"the {self._ORDINALS[k] if k < len(self._ORDINALS) else f'{k + 1}th '}{'highest' if largest else 'lowest'}"

    def best_other(self, row: Hashable, value: str, rows: Sequence | None = None, largest: bool = True,
                   digits: int | None = None) -> str:
        """``"name, mean"`` of the best row other than ``row`` (its runner-up if it is the best); ``"n/a"`` if none."""
        others = self.ranking(value, rows, largest).drop(row, errors="ignore")
        if len(others) == 0:
            return "n/a"
        return f"{others.index[0]}, {self(others.index[0], value, digits)}"

    def holds(self, row: Hashable, value: str, chance: float) -> bool:
        """Whether an accuracy (or share) ``value`` of ``row`` is at least halfway from ``chance`` to 1:
        the book's rule for "this code holds the factor" (False if missing)."""
        return bool(self.mean(row, value) >= (1 + chance) / 2)

    def held_in(self, row: Hashable, factor: str, chance: float, codes: Sequence[str] = SUBSPACES) -> str:
        """Which of ``codes`` hold ``factor`` by :meth:`holds` (probe keys ``"<code>/<factor>"``), in words:
        ``"in every code"``, ``"in the shared code only"``, ``"in no code"``."""
        held = [c for c in codes if self.holds(row, f"{c}/{factor}", chance)]
        if len(held) == len(codes):
            return "in every code"
        return "in no code" if not held else f"in the {' and '.join(held)} code{'s' if len(held) > 1 else ''} only"

    def within_spread(self, row_a: Hashable, row_b: Hashable, value: str) -> bool:
        """Whether the means of two rows differ by at most the sum of their sds (a missing sd counts 0)."""
        a, b = self.mean(row_a, value), self.mean(row_b, value)
        spread = np.nan_to_num(self.sd(row_a, value)) + np.nan_to_num(self.sd(row_b, value))
        return bool(abs(a - b) <= spread)
