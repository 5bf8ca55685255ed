"""Chapter 8's baselines judged against their counterfactuals: the judges of :mod:`mvtutorial.studies.swaps`
added to the swap score of every baseline run with a decoder (``assets/baselines/<key>.json``).

Chapter 8's checkpoints are not shipped, so each run is trained again (resumable, in the folder
``reproduce baselines`` uses) before it is judged; every record says whether the retrained weights
reproduce the shipped classifier score.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd
from threadpoolctl import threadpool_limits

from .._progress import tqdm
from ..cache import atomic_write_json, read_json
from ..checkpoint import load_model
from ..config import config_from_dict
from ..data import load_tone_dataset
from ..experiments import run_dir, run_key
from ..judges import judge_model, judge_summary
from ..listening import fit_feature_classifier, swap_score
from ..trackers import add_tracker_judges
from ..training import train
from .baselines import NO_DECODER, baseline_grid, baseline_of
from .separation import family_row
from .store import ASSETS
from .swaps import JUDGE_COLUMNS, validation_summary

__all__ = ["judge_baselines", "judge_runs", "baseline_judges_table"]

def judge_baselines(seeds: Sequence[int] = (0, 1, 2), threads: int | None = 1, progress: bool = True,
                    results_dir: Path | None = None) -> list[Path]:
    """Add the judges to the swap score of chapter 8's baselines (``assets/baselines/<key>.json``, key
    ``"swap"``), whose checkpoints are not shipped.

    Each run is trained again (resumable, in the folder ``reproduce baselines`` uses) and judged. A
    retrained run is the same configuration and seed but, measured here, not the same weights (the
    shipped runs predate a change of the log-mel code at the 1e-7 level, and may have used other
    thread counts; either can send training down another path). So the record keeps the shipped
    classifier score as it is and adds, under
    ``swap["judged_checkpoint"]``, whether the weights were retrained, whether they reproduce the
    shipped classifier score exactly, and their own classifier score, beside ``swap["judges"]``. The
    pitch tracker's judges are added to a judged run only while its retrained checkpoint is in that
    folder and still gives the stored judges exactly (never by training again for them)."""
    results_dir = Path(results_dir) if results_dir is not None else ASSETS / "baselines"
    todo = []
    for config in baseline_grid(seeds):
        path = results_dir / f"{run_key(config)}.json"
        if config.objective in NO_DECODER or not path.exists():
            continue
        swap, run = read_json(path).get("swap"), run_dir(config, "baselines")
        if swap is not None and ("judges" not in swap or ("tracker" not in swap["judges"] and (run / "checkpoint.pt").exists())):
            todo.append((config, path))  # a scored run not judged yet, or judged on a checkpoint still here
    written, ds, classifier, validation, cache = [], None, None, None, {}
    with threadpool_limits(limits=threads):
        for config, path in tqdm(todo, desc="judging baselines", unit="run", disable=not progress):
            ds = ds or load_tone_dataset("full")
            run = run_dir(config, "baselines")
            record = read_json(path)
            shipped = record["swap"]
            if "judges" in shipped:  # tracker only, if these are the weights the stored judges describe
                model = load_model(run)
                again = judge_model(model, ds, n_pairs=shipped["n_pairs"], seed=shipped["seed"], split=shipped["split"])
                if judge_summary(again)["overall"] == shipped["judges"]["overall"]:
                    atomic_write_json({**record, "swap": add_tracker_judges(shipped, model, ds, cache)}, path)
                    written.append(path)
                continue
            classifier = classifier or fit_feature_classifier(ds, seed=0)
            validation = validation or validation_summary(ds, "test")
            train(config, run, progress=False, threads=threads)
            model = load_model(run)
            again = swap_score(model, ds, classifier, n_pairs=shipped["n_pairs"], seed=shipped["seed"])
            scores = {k: v for k, v in again.items() if k.startswith(("swap_", "leak_", "recon_"))}
            same = all(abs(v - shipped[k]) < 1e-12 for k, v in scores.items())
            judged = judge_model(model, ds, n_pairs=shipped["n_pairs"], seed=shipped["seed"], split=shipped["split"])
            record["swap"] = {**shipped, "judges": judge_summary(judged), "judges_validation": validation,
                              "judged_checkpoint": {"retrained": True, "reproduces_shipped_score": bool(same),
                                                    "classifier_score": scores}}
            add_tracker_judges(record["swap"], model, ds, cache)
            atomic_write_json(record, path)
            written.append(path)
    return written


def judge_runs(records: Sequence[dict], runs_dir: Path, ds, n_pairs: int = 2000) -> list[dict]:
    """Records (as :func:`mvtutorial.studies.baselines.add_swap_scores` returns them) with the judges of each
    run's own checkpoint (``runs_dir/<key>``) added under ``swap`` (chapter 8's fast mode)."""
    validation = validation_summary(ds, "test")
    out = []
    for r in records:
        if "swap" in r and (Path(runs_dir) / r["key"] / "checkpoint.pt").exists():
            judged = judge_model(load_model(Path(runs_dir) / r["key"]), ds, n_pairs=n_pairs, seed=r["swap"]["seed"])
            r = {**r, "swap": {**r["swap"], "judges": judge_summary(judged), "judges_validation": validation}}
        out.append(r)
    return out


def baseline_judges_table(records: Sequence[dict]) -> pd.DataFrame:
    """Chapter 8's judges: per configuration (:func:`mvtutorial.studies.baselines.baseline_of`, else the
    separation study's family), mean over training seeds of the judges of ``record["swap"]``, the
    classifier's timbre judgement, how many seeds are judged and how many of those on a retrained
    checkpoint (``swap["judged_checkpoint"]``). Rows in first-seen order."""
    rows = []
    for r in records:
        swap = r.get("swap") or {}
        if "judges" not in swap:
            continue
        config = config_from_dict(r["config"])
        overall = swap["judges"]["overall"]
        rows.append({"configuration": baseline_of(config) or family_row(config),
                     **{key: overall[key] for key, _ in JUDGE_COLUMNS if key in overall},
                     "swap_timbre": swap["swap_timbre"],
                     "retrained": bool(swap.get("judged_checkpoint", {}).get("retrained", False))})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    grouped = frame.groupby("configuration", sort=False)
    out = grouped.mean(numeric_only=True).drop(columns="retrained")
    out["judged seeds"] = grouped.size()
    out["of them retrained"] = grouped["retrained"].sum().astype(int)
    return out


if __name__ == "__main__":  # python -m mvtutorial.studies.baseline_judges: judge chapter 8's runs (resumable)
    for p in judge_baselines():
        print("judged", p.relative_to(ASSETS))
