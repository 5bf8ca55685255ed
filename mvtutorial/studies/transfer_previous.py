"""Chapter 9 before and after chapter 6.8's pitch study: the sampled-instrument results of the configuration
recommended before it, ``+ cross-view + rate`` (:data:`mvtutorial.studies.separation.PREVIOUS`), beside those of
the recommended configuration now.

The pitch study changed the recommended configuration (a transposition term and an encoder that convolves
along frequency) because it fixed pitch on the tones; whether that carries over to sampled notes is a result
of its own. The previous configuration's records are kept in ``assets/instruments/previous/`` as
``python -m mvtutorial.reproduce instruments`` wrote them while it was the recommended one (commit 572f68e):
run results (``<key>.json``), held-out-bank results (``heldout/<key>.json``) and swap records with their
judges (``swap/seed{S}.json``). :func:`before_after` is a pure function of record lists; :func:`shipped_before_after`
reads the shipped ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..cache import read_json
from ..config import config_from_dict
from .separation import PREVIOUS, RECOMMENDED_STANDARD, family_row, label, run_values
from .store import asset_path
from .transfer import FOLDER, heldout_results, transfer_results, transfer_swap_records

__all__ = ["COLUMNS", "previous_records", "before_after", "shipped_before_after", "before_after_reading"]

#: The comparison's columns: (source, key) -> label. Sources: the run results on TimGM6mb's notes (probes on
#: posterior samples), the swap records (classifier judge; pitch tracker within 50 cents), the held-out-bank results.
COLUMNS = {("runs", "private/frequency"): "private -> pitch", ("runs", "shared/timbre"): "shared -> instrument",
           ("runs", "private/timbre"): "private -> instrument", ("runs", "shared/frequency"): "shared -> pitch",
           ("swaps", "swap_both"): "swap: both right", ("swaps", "swap_frequency"): "swap: pitch follows private donor",
           ("heldout", "private/frequency"): "other bank: private -> pitch",
           ("heldout", "shared/timbre"): "other bank: shared -> instrument"}


def previous_records(folder: str | Path | None = None) -> dict[str, list[dict]]:
    """The previous configuration's shipped records: ``{"runs", "heldout", "swaps"}`` -> record lists."""
    root = Path(folder) if folder is not None else asset_path(FOLDER, "previous")
    read = lambda sub, pattern: [read_json(p) for p in sorted((root / sub).glob(pattern))]  # noqa: E731
    return {"runs": read(".", "*.json"), "heldout": read("heldout", "*.json"), "swaps": read("swap", "*.json")}


def _row(records: dict[str, Sequence[dict]], family: str) -> dict[str, float]:
    # each source's values of ``family`` (swap records name their row; run results carry their config), found once
    values = {"swaps": [r for r in records["swaps"] if r["config"] == family],
              **{source: [run_values(r, "sample") for r in records[source] if family_row(config_from_dict(r["config"])) == family]
                 for source in ("runs", "heldout")}}
    return {label: float(np.mean([v[key] for v in values[source]])) if values[source] else np.nan
            for (source, key), label in COLUMNS.items()}


def before_after(before: dict[str, Sequence[dict]], after: dict[str, Sequence[dict]], families: Sequence[str]) -> pd.DataFrame:
    """Mean over training seeds of :data:`COLUMNS` for two configurations on the sampled notes.

    ``before``, ``after``: ``{"runs", "heldout", "swaps"}`` -> records (run results with ``samples``; swap
    records whose ``"config"`` is the row label); ``families``: the two row labels (display labels of
    separation-study families), before first. Returns rows ``families``, columns the labels of :data:`COLUMNS`
    (NaN where a source has no record of that family).
    """
    if len(families) != 2:
        raise ValueError(f"need the two configurations' row labels, before first, got {list(families)}")
    return pd.DataFrame([_row(before, families[0]), _row(after, families[1])], index=list(families))


def shipped_before_after() -> pd.DataFrame:
    """:func:`before_after` of the shipped records: ``+ cross-view + rate`` (kept) against the recommended configuration."""
    after = {"runs": transfer_results(), "heldout": heldout_results(), "swaps": transfer_swap_records()}
    return before_after(previous_records(), after, [label(PREVIOUS), label(RECOMMENDED_STANDARD)])


def before_after_reading(table: pd.DataFrame) -> str:
    """One markdown paragraph: what changed on the sampled notes from the first row of ``table`` to the second."""
    (before, b), (after, a) = table.iterrows()
    change = lambda k: f"{b[k]:.2f} → {a[k]:.2f}"  # noqa: E731
    worse = [k for k in ("private -> pitch", "swap: both right", "other bank: private -> pitch") if a[k] < b[k] - 0.02]
    return (f"From *{before}* to *{after}* (means over training seeds): private → pitch {change('private -> pitch')}, "
            f"private → instrument {change('private -> instrument')}, shared → pitch {change('shared -> pitch')}, "
            f"swaps with both factors right {change('swap: both right')}; on the other bank private → pitch "
            f"{change('other bank: private -> pitch')} and shared → instrument {change('other bank: shared -> instrument')}. "
            + (f"The changes that fixed pitch on the tones cost some here ({', '.join(worse)} lower by more than 0.02)."
               if worse else "The changes that fixed pitch on the tones cost nothing here (no pitch column lower by more than 0.02)."))
