"""Chapter 6.8: two decoder stages that continue the same first stages, compared seed by seed.

A decoder stage freezes the encoder of a finished run and trains its decoder on (:func:`mvtutorial.training.train`).
Two stages that continue the same first stage (same configuration and training seed) share every code, so
their difference is the decoder's alone, and comparing them seed by seed removes the spread between trainings
(several points of swap timbre). :func:`paired_frame` lines up the swap records (chapter 7's classifier judge and
the counterfactual judges) of two rows by training seed; :func:`paired_reading` says what moved and in how many seeds.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..results import wins_by_seed

__all__ = ["PAIRED_COLUMNS", "LOWER_IS_BETTER", "paired_frame", "paired_wins", "paired_reading"]

#: What the comparison shows: column -> (where in a swap record, words).
PAIRED_COLUMNS = {
    "swap timbre": (("swap_timbre",), "swaps keep the shared donor's timbre"),
    "swap pitch": (("swap_frequency",), "swaps keep the private donor's pitch"),
    "swap both": (("swap_both",), "swaps keep both"),
    "leak": (("leak_timbre",), "swaps take the private donor's timbre"),
    "reconstructions: timbre": (("recon_timbre",), "reconstructions are read as their own timbre"),
    "within 50 cents": (("judges", "overall", "within_50_cents_swap"), "swaps within 50 cents of the counterfactual's pitch"),
    "LSD to the counterfactual (dB)": (("judges", "overall", "lsd_swap"), "log-spectral distance to the counterfactual"),
}
#: Columns where a lower number is better.
LOWER_IS_BETTER = ("leak", "LSD to the counterfactual (dB)")
#: Decimals a reading quotes: shares to three, decibels to two.
DIGITS = {c: 2 if c.endswith("(dB)") else 3 for c in PAIRED_COLUMNS}


def _value(record: dict, path: Sequence[str]) -> float:
    for key in path:
        record = record[key]
    return float(record)


def paired_frame(records: Sequence[dict], row: str, paired: str) -> pd.DataFrame:
    """The swap records of rows ``row`` and ``paired`` (their ``config`` labels) by training seed.

    Returns a frame indexed by ``train_seed`` (the seeds both rows have) with columns ``(column, row | paired)``
    for every column of :data:`PAIRED_COLUMNS`. Raises ``ValueError`` naming a row without records, or a row
    with two records of one seed (two trainings under one label cannot be paired)."""
    frames = {}
    for name in (row, paired):
        mine = [r for r in records if r["config"] == name]
        seeds = [r["train_seed"] for r in mine]
        if not mine or len(set(seeds)) != len(seeds):
            raise ValueError(f"row {name!r} needs one swap record per training seed, got seeds {sorted(seeds)}")
        frames[name] = pd.DataFrame({c: [_value(r, path) for r in mine] for c, (path, _) in PAIRED_COLUMNS.items()}, index=seeds)
    seeds = sorted(set(frames[row].index) & set(frames[paired].index))
    out = pd.concat({name: frames[name].loc[seeds] for name in (row, paired)}, axis=1).swaplevel(axis=1)
    out.index.name = "training seed"
    return out[[(c, name) for c in PAIRED_COLUMNS for name in (row, paired)]]


def paired_wins(frame: pd.DataFrame, row: str, paired: str) -> pd.Series:
    """Per column of :data:`PAIRED_COLUMNS`, in how many seeds ``row`` beats ``paired`` in ``frame``
    (:func:`paired_frame`; lower is better in :data:`LOWER_IS_BETTER`): ``"k/n"`` strings."""
    return wins_by_seed(frame.xs(row, axis=1, level=1), frame.xs(paired, axis=1, level=1), LOWER_IS_BETTER).rename(
        f"seeds where {row} wins")


def paired_reading(frame: pd.DataFrame, row: str, paired: str) -> str:
    """One markdown paragraph on :func:`paired_frame`: each column's values for both rows, seed by seed, and the seeds won."""
    wins = paired_wins(frame, row, paired)
    # rounded as DataFrame.round rounds (numpy), so the reading quotes the numbers of the table shown beside it
    fmt = lambda column, name: ", ".join(f"{v:.{DIGITS[column]}f}" for v in frame[(column, name)].round(DIGITS[column]))  # noqa: E731
    moves = "; ".join(f"{words} {fmt(c, row)} against {fmt(c, paired)} (better in {wins[c]} seeds)"
                      for c, (_, words) in PAIRED_COLUMNS.items())
    return (f"**Seed by seed** (*{row}* against *{paired}*, the same first stages, seeds {', '.join(map(str, frame.index))}): "
            f"{moves}.")
