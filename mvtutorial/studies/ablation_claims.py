"""Chapter 5's reading of the ablation: its tables, and the paper's conclusions (Wilkins et al. 2024,
section 4) turned into checks that return true or false, applied alike to the paper's values and to ours.

A *cell getter* ``get(term, value, latent, factor)`` returns ``(mean, sd, n_seeds)`` of a probe
accuracy, or None when there is no such run: :func:`cells` over a results table (ours),
:func:`paper_cell` over :data:`mvtutorial.paper.ABLATION`. Every check takes a getter, so the same
code tests the paper's figure and our runs.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .. import paper
from .ablation import FACTOR_NAMES, PAPER_VALUES, TERMS, ablation_cell
from .separation import separation_score

__all__ = ["SHARED", "NEAR_CHANCE", "WELL", "NO_MOVE", "cells", "paper_cell", "value_of", "separation", "available",
           "CLAIMS", "claims_table", "verdict", "claims_summary", "ablation_table", "grid_reading", "retest_table",
           "retest_reading"]

Cell = Callable[[str, float, str, str], "tuple[float, float, int] | None"]
SHARED = "shared"  #: the shared code of the checks: single-view (chapter 4); "shared_fused" for the pair-fused one
NEAR_CHANCE = 0.4  #: shared-code timbre accuracy below this is "near chance" (chance 1/4)
WELL = {"timbre": 0.7, "frequency": 0.5}  #: "classifies well": at least this from the better of the two codes
NO_MOVE = 0.05  #: "does not move timbre into the shared code": shared - private timbre accuracy below this


def cells(table: pd.DataFrame) -> Cell:
    """The getter of a results table (:func:`mvtutorial.experiments.load_results`): mean, sd and number of seeds."""
    return functools.partial(ablation_cell, table)


def paper_cell(term: str, value: float, latent: str, factor: str) -> tuple[float, float, int] | None:
    """The paper's value of one cell (read from its bar chart, :data:`mvtutorial.paper.ABLATION`) as
    ``(value, nan, 1)``; any shared code reads the paper's shared bar."""
    v = paper.ablation_cell(term, value, "private" if latent == "private" else "shared", factor)
    return None if v is None else (v, float("nan"), 1)


def value_of(get: Cell, term: str, value: float, latent: str, factor: str) -> float | None:
    """The mean accuracy of one cell, or None."""
    cell = get(term, value, latent, factor)
    return None if cell is None else cell[0]


def separation(get: Cell, term: str, value: float, shared: str = SHARED) -> float | None:
    """:func:`~mvtutorial.studies.separation.separation_score` of one cell, or None when a probe is missing."""
    probes = {f"{lat}/{f}": value_of(get, term, value, lat, f) for lat in ("private", shared) for f in FACTOR_NAMES}
    return None if None in probes.values() else separation_score(probes, shared)


def available(get: Cell, term: str, values: Sequence[float]) -> list[float]:
    """The weights of ``values`` at which ``term`` has a run."""
    return [v for v in values if get(term, v, "private", "timbre") is not None]


def _gamma_helps(get: Cell, shared: str = SHARED) -> tuple[bool | None, str]:
    nonzero = available(get, "gamma", [v for v in PAPER_VALUES if v > 0])
    s0 = separation(get, "gamma", 0.0, shared)
    if not nonzero or s0 is None:
        return None, "not testable"
    g = nonzero[0]  # the smallest non-zero weight that was run
    sg = separation(get, "gamma", g, shared)
    return sg > s0, f"S = {sg:.2f} at gamma = {g:g} vs {s0:.2f} at 0"


def _gamma_best(get: Cell, shared: str = SHARED) -> tuple[bool | None, str]:
    best = {}
    for term in TERMS:
        scores = [(separation(get, term, v, shared), v) for v in available(get, term, [v for v in PAPER_VALUES if v > 0])]
        scores = [s for s in scores if s[0] is not None]
        if scores:
            best[term] = max(scores)
    if len(best) < len(TERMS):
        return None, "not testable"
    text = ", ".join(f"{t} {s:.2f} ({t} = {v:g})" for t, (s, v) in best.items())
    return best["gamma"][0] > max(best["alpha"][0], best["beta"][0]), f"best S: {text}"


def _alpha_collapse(get: Cell, shared: str = SHARED) -> tuple[bool | None, str]:
    t = value_of(get, "alpha", 1.0, shared, "timbre")
    return (None, "not testable") if t is None else (t < NEAR_CHANCE, f"shared timbre {t:.2f} at alpha = 1")


def _beta_collapse(get: Cell, shared: str = SHARED) -> tuple[bool | None, str]:
    vals = available(get, "beta", [v for v in PAPER_VALUES if v >= 0.5])
    if not vals:
        return None, "not testable"
    ts = {v: value_of(get, "beta", v, shared, "timbre") for v in vals}
    return all(t < NEAR_CHANCE for t in ts.values()), "shared timbre " + ", ".join(f"{t:.2f} at beta = {v:g}" for v, t in ts.items())


def _recon_only(get: Cell, shared: str = SHARED) -> tuple[bool | None, str]:
    c = {(lat, f): value_of(get, "alpha", 0.0, lat, f) for lat in ("private", shared) for f in FACTOR_NAMES}
    if any(v is None for v in c.values()):
        return None, "not testable"
    best = {f: max(c[("private", f)], c[(shared, f)]) for f in FACTOR_NAMES}
    gap = c[(shared, "timbre")] - c[("private", "timbre")]
    holds = all(best[f] >= WELL[f] for f in FACTOR_NAMES) and gap < NO_MOVE
    return holds, f"best timbre {best['timbre']:.2f}, best frequency {best['frequency']:.2f}; shared - private timbre {gap:+.2f}"


#: The paper's conclusions from its ablation figure, each a check ``(get, shared) -> (holds or None, what it measured)``.
CLAIMS: dict[str, Callable] = {
    "1. gamma (even small) separates better than reconstruction alone": _gamma_helps,
    "1b. gamma separates best of the three terms": _gamma_best,
    f"2. alpha = 1 collapses shared timbre to near chance (< {NEAR_CHANCE:g})": _alpha_collapse,
    f"3. beta >= 0.5 collapses shared timbre to near chance (< {NEAR_CHANCE:g})": _beta_collapse,
    "4. reconstruction alone classifies both factors well but does not separate": _recon_only,
}


def verdict(ok: bool | None) -> str:
    """``yes``, ``NO`` or ``not testable``."""
    return "not testable" if ok is None else ("yes" if ok else "NO")


def claims_table(ours: Cell, theirs: Cell | None = paper_cell, claims: Sequence[str] | None = None,
                 shared: str = SHARED) -> pd.DataFrame:
    """One row per claim (``claims``: names of :data:`CLAIMS`, default all): what the check measures on
    the paper's values (``theirs``; None leaves it out) and whether it holds there, what it measures on
    ours and whether it holds. Columns ``paper says``, ``paper: holds?``, ``we measure``, ``holds?``, and
    ``ok`` (True / False / None) for code that reads the verdicts."""
    rows = {}
    for name in claims or CLAIMS:
        row = {}
        if theirs is not None:
            p_ok, p_text = CLAIMS[name](theirs, shared)
            row.update({"paper says": p_text, "paper: holds?": verdict(p_ok)})
        ok, text = CLAIMS[name](ours, shared)
        rows[name] = {**row, "we measure": text, "holds?": verdict(ok), "ok": None if ok is None else bool(ok)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("claim")


def claims_summary(claims: pd.DataFrame, ours: Cell, shared: str = SHARED) -> str:
    """Markdown: how many claims of a :func:`claims_table` hold in our runs and which fail, and the
    separation score of reconstruction alone beside the best gamma setting (ours and the paper's)."""
    tested = claims[claims.ok.notna()]
    if len(tested) == 0:
        return "No claim could be tested: there are no results for the configurations the checks need."
    failed = [k for k, ok in tested.ok.items() if not ok]
    lines = [f"Of the {len(tested)} claim(s) we could test, {len(tested) - len(failed)} hold in our runs"
             + (f" and {len(failed)} do not: " + "; ".join(f"*{k}*" for k in failed) + "." if failed else ".")]
    s0, g_vals = separation(ours, "gamma", 0.0, shared), available(ours, "gamma", [v for v in PAPER_VALUES if v > 0])
    if s0 is not None and g_vals:
        g = max(g_vals, key=lambda v: separation(ours, "gamma", v, shared))
        lines.append(f"Reconstruction alone scores S = {s0:.2f}; the best gamma setting (gamma = {g:g}) scores S = "
                     f"{separation(ours, 'gamma', g, shared):.2f} (the paper's values give "
                     f"{separation(paper_cell, 'gamma', 0.0, shared):.2f} and {separation(paper_cell, 'gamma', g, shared):.2f}).")
    untested = list(claims.index[claims.ok.isna()])
    if untested:
        lines.append(f"Not testable with the available runs: {', '.join(untested)}.")
    return "\n\n".join(lines)


def _fmt(cell) -> str:
    if cell is None:
        return "-"
    m, sd, n = cell
    return f"{m:.2f}" + (f"\u00a0±\u00a0{sd:.2f}" if n > 1 else "")  # no-break spaces: one line in a table


def ablation_table(ours: Cell, values: Sequence[float] = PAPER_VALUES) -> pd.DataFrame:
    """The ablation as a table, one row per configuration (reconstruction alone once), columns
    ``(factor, code)``: ours (mean ± sd over seeds) for the private, single-view and pair-fused shared
    codes beside the paper's private and shared values ("-": no run or no paper value)."""
    labels = {"private": "private", "shared": "shared", "shared_fused": "pair-fused"}
    rows = {}
    for term in TERMS:
        for v in values:
            if v == 0.0 and term != TERMS[0]:
                continue  # the all-zero configuration is listed once
            row = {}
            for factor in FACTOR_NAMES:
                for latent, label in labels.items():
                    row[(factor, f"{label} (ours)")] = _fmt(ours(term, v, latent, factor))
                    if latent != "shared_fused":
                        row[(factor, f"{label} (paper)")] = _fmt(paper_cell(term, v, latent, factor))
            rows["reconstruction only" if v == 0.0 else f"{term} = {v:g}"] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("config")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def grid_reading(mean: pd.DataFrame) -> str:
    """Markdown reading of a gamma x beta grid of mean S (rows beta, columns gamma; :func:`score_grid`):
    the best cell beside reconstruction alone, and what adding each beta does at each non-zero gamma."""
    best, s_best = mean.stack().idxmax(), mean.stack().max()
    s_zero = mean.loc[0.0, 0.0] if 0.0 in mean.index and 0.0 in mean.columns else np.nan
    lines = [f"The best cell is beta = {best[0]:g}, gamma = {best[1]:g} with S = {s_best:.2f}"
             + (f" (reconstruction alone: {s_zero:.2f})." if np.isfinite(s_zero) else ".")]
    for g in [g for g in mean.columns if g > 0]:
        if 0.0 in mean.index and np.isfinite(mean.loc[0.0, g]):
            with_beta = [(b, mean.loc[b, g]) for b in mean.index if b > 0 and np.isfinite(mean.loc[b, g])]
            if with_beta:
                change = ", ".join(f"{s - mean.loc[0.0, g]:+.2f} with beta = {b:g}" for b, s in with_beta)
                lines.append(f"At gamma = {g:g}, adding beta changes S by {change}.")
    return "\n\n".join(lines)


_RETEST_ROWS = (("alpha", 0.0), ("alpha", 1.0), ("beta", 1.0), ("gamma", 1.0))


def retest_table(ours: Cell) -> pd.DataFrame:
    """The ablation re-run on the recommended configuration: one row per added term (weight 0: the
    recommended configuration alone), columns ``(factor, private | shared)``, mean ± sd over seeds."""
    rows = {}
    for term, value in _RETEST_ROWS:
        rows["recommended" if value == 0 else f"recommended + {term} = {value:g}"] = {
            (f, lat): _fmt(ours(term, value, lat, f)) for f in FACTOR_NAMES for lat in ("private", "shared")}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("config")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def retest_reading(ours: Cell, shared: str = SHARED) -> str:
    """Markdown: S of the recommended configuration alone, and what adding each term at weight 1 changes."""
    base = separation(ours, "alpha", 0.0, shared)
    if base is None:
        return "No re-test results to read."
    lines = [f"The recommended configuration alone scores S = {base:.2f} at this budget (single-view shared code, "
             "posterior samples)."]
    for term in TERMS:
        s = separation(ours, term, 1.0, shared)
        if s is not None:
            lines.append(f"* adding {term} = 1: S = {s:.2f} ({s - base:+.2f}); shared → timbre "
                         f"{value_of(ours, term, 1.0, shared, 'timbre'):.2f}.")
    return "\n".join(lines)
