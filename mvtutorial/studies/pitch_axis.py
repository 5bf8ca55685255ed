"""Where the transposition families put pitch (chapter 6.8): the first private coordinate against log-frequency.

Transposition equivariance (:mod:`mvtutorial.objectives.transposition`) asks the first private
coordinate of a pair's two views to differ by their interval in octaves. Within a pair that fixes
the axis up to a constant, and a pair shares its timbre, so nothing in the term stops each timbre
from shifting the axis by its own offset. :func:`axis_fit` measures both what the term asks for
(slope and spread about the line) and what it leaves free (the offset per timbre), from the posterior
means of the test split; :func:`pitch_axis` is the thin wrapper that encodes a model's clips.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..cache import read_json
from ..evaluate import encode_split
from ..objectives.transposition import clip_octaves

__all__ = ["AXIS_COLUMNS", "axis_fit", "pitch_axis", "axis_record", "axis_records", "axis_summary"]

#: What :func:`axis_fit` reports per group, in octaves of pitch (code units / slope).
AXIS_COLUMNS = ("offset", "median error", "slope", "clips")


def axis_fit(code: np.ndarray, octaves: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    r"""How well one code coordinate is a pitch axis, per group (e.g. per waveform).

    Fits :math:`c \approx a\,o + b` by least squares over all clips (``a``: the slope, 1 for the
    equivariance term's exact answer), then per group: ``offset``, the group's mean residual divided by
    ``a`` (octaves the group's axis sits above the common line), and ``median error``, the median
    absolute residual about the group's own offset, also divided by ``a`` (octaves); ``slope``, the
    group's own least-squares slope; ``clips``.

    Parameters
    ----------
    code : ``(N,)`` float, the coordinate (e.g. posterior means of the first private dimension).
    octaves : ``(N,)`` float, each clip's pitch in octaves (:func:`~mvtutorial.objectives.transposition.clip_octaves`).
    groups : ``(N,)`` group names (e.g. waveform names).

    Returns
    -------
    DataFrame indexed by group (sorted), columns :data:`AXIS_COLUMNS`; ``attrs["slope"]`` the common slope.

    Raises
    ------
    ValueError
        For arrays of different lengths, fewer than 2 clips, or octaves that do not vary.
    """
    code, octaves, groups = np.asarray(code, float), np.asarray(octaves, float), np.asarray(groups)
    if not (code.ndim == octaves.ndim == groups.ndim == 1 and len(code) == len(octaves) == len(groups)) or len(code) < 2:
        raise ValueError(f"code, octaves and groups must be 1-d of one length >= 2, got {code.shape}, {octaves.shape}, {groups.shape}")
    if np.ptp(octaves) == 0:
        raise ValueError("octaves do not vary: no axis can be fitted")
    slope, intercept = np.polyfit(octaves, code, 1)
    residual = (code - (slope * octaves + intercept)) / slope
    rows = {}
    for name in np.unique(groups):
        at = groups == name
        offset = residual[at].mean()
        own = np.polyfit(octaves[at], code[at], 1)[0] if np.ptp(octaves[at]) > 0 else np.nan
        rows[name] = {"offset": offset, "median error": float(np.median(np.abs(residual[at] - offset))), "slope": own,
                      "clips": int(at.sum())}
    table = pd.DataFrame.from_dict(rows, orient="index")[list(AXIS_COLUMNS)]
    table.attrs["slope"] = float(slope)
    return table


def pitch_axis(model, ds, split: str = "test", coordinate: int = 0, by: str = "waveform_name") -> pd.DataFrame:
    """:func:`axis_fit` of private coordinate ``coordinate`` (posterior means) on ``split`` of ``ds``,
    grouped by the factor column ``by`` (default the tone set's waveform names)."""
    codes = encode_split(model, ds, split)
    private = np.asarray(codes.private)
    if not 0 <= coordinate < private.shape[1]:
        raise ValueError(f"coordinate {coordinate} is outside the private code's {private.shape[1]} dimensions")
    return axis_fit(private[:, coordinate], clip_octaves(codes.factors), codes.factors[by].to_numpy())


def axis_record(table: pd.DataFrame, **identity) -> dict:
    """A JSON-ready record of one :func:`axis_fit` table: ``identity`` (key, family, seed, ...) plus
    ``slope`` and ``axis`` (``{group: {column: value}}``, every number under its group's name)."""
    return {**identity, "slope": table.attrs["slope"],
            "axis": {str(g): {c: float(v) for c, v in row.items()} for g, row in table.iterrows()}}


def axis_records(folder: Path, order: Sequence[str] = ()) -> list[dict]:
    """The :func:`axis_record` files of ``folder/axis/``, families in ``order`` (labels) first, each in file order."""
    rank = {name: i for i, name in enumerate(order)}
    records = [read_json(p) for p in sorted((Path(folder) / "axis").glob("*.json"))]
    return sorted(records, key=lambda r: rank.get(r["family"], len(rank)))


def axis_summary(records: list[dict]) -> pd.DataFrame:
    """Mean over seeds of :func:`axis_record` records: rows ``(family, group)``, columns :data:`AXIS_COLUMNS`
    (``clips`` summed) plus ``seeds``; empty when there are none."""
    rows = [{"family": r["family"], "group": g, **v} for r in records for g, v in r["axis"].items()]
    if not rows:
        return pd.DataFrame(columns=[*AXIS_COLUMNS, "seeds"])
    frame = pd.DataFrame(rows)
    out = frame.groupby(["family", "group"], sort=False).agg(
        offset=("offset", "mean"), **{"median error": ("median error", "mean")}, slope=("slope", "mean"),
        clips=("clips", "sum"), seeds=("offset", "size"))
    return out
