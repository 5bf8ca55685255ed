"""Chapter 7's swap study: the one writer of swap scores, the shipped swap records of every model with
a shipped checkpoint, judged against their counterfactuals (:mod:`mvtutorial.judges`), and the tables
chapters 7 and 9 and the README print.

A swap record (``assets/swap/<name>-seed<S>.json`` for the tones, ``assets/instruments/swap/...`` for
the sampled notes) holds the classifier score of :func:`mvtutorial.listening.swap_score`, written by
:func:`write_swap_score` (which also nests the score in the baselines' results and the banks' extras);
:func:`add_judges` adds, in place and atomically, ``"judges"`` (:func:`mvtutorial.judges.judge_summary`
of the same 2,000 pairs) and ``"judges_validation"`` (the pitch estimator on the real test clips, the
judge's ceiling); then ``judges["tracker"]`` and ``judges_validation["tracker"]``, the pretrained
pitch tracker of :mod:`mvtutorial.trackers` and its validation, to records that have the first judges
but not the tracker, leaving their numbers as they are. It skips what a record has, so a killed run
resumes where it stopped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from .._progress import tqdm
from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..checkpoint import load_model
from ..data import load_from_spec, load_tone_dataset
from ..judges import CENTS_TOLERANCE, counterfactual_source, counterfactuals, judge_model, judge_summary, validate_f0
from ..listening import fit_feature_classifier, swap, swap_pairs, swap_score, to_audio
from ..trackers import TRACKER_COLUMNS, add_tracker_judges, tracker_row
from .store import ASSETS

__all__ = ["SWAP_FOLDERS", "write_swap_score", "swap_record_paths", "checkpoint_of", "add_judges", "judged_records", "judges_table", "judges_per_class",
           "judges_markdown", "counterfactual_examples", "judge_models", "judges_display", "validation_summary"]

#: Folders of shipped swap records: tones (chapter 7) and sampled instruments (chapter 9).
SWAP_FOLDERS = {"tones": ASSETS / "swap", "instruments": ASSETS / "instruments" / "swap"}
WITHIN = f"within_{CENTS_TOLERANCE:g}_cents"


def write_swap_score(path: str | Path, model, ds, classifier, *, n_pairs: int = 2000, seed: int = 0,
                     under: str | None = None, **identity) -> dict:
    """Compute a model's swap score and write it to JSON: the one writer of swap scores.

    Parameters
    ----------
    path : str or Path
        The JSON file, written atomically (:func:`mvtutorial.cache.atomic_write_json`, keys sorted, so
        the order of the keys below does not reach the file).
    model, ds, classifier
        As :func:`mvtutorial.listening.swap_score` takes them; the score is of ``n_pairs`` pairs of
        ``ds``'s test split drawn with ``seed``.
    under : str, optional
        ``None``: write a flat swap record, ``{**identity, "version": package version, **score}`` (the
        shipped ``swap/`` records; ``identity`` then names the model, e.g. ``config``, ``checkpoint``,
        ``train_seed``, ``command``, and may not reuse a key of the score). A key: nest the score under
        it in the record already at ``path`` (if any) updated with ``identity``, keeping its other
        keys (the baselines' results, ``"swap"``; the banks' extras).
    **identity
        The record's other keys.

    Returns
    -------
    dict
        The record written.

    Raises
    ------
    ValueError
        A flat record's ``identity`` names ``"version"`` or a key of the score (it would be overwritten).
    """
    score = swap_score(model, ds, classifier, n_pairs=n_pairs, seed=seed)
    if under is None:
        clash = sorted(set(identity) & ({"version"} | set(score)))
        if clash:
            raise ValueError(f"identity keys {clash} are keys of the swap record itself")
        record = {**identity, "version": __version__, **score}
    else:
        record = {**(read_json(path) if Path(path).exists() else {}), **identity, under: score}
    atomic_write_json(record, path)
    return record


def swap_record_paths(data: str | None = None, root: Path | None = None) -> list[Path]:
    """The shipped swap-record files (``data``: ``"tones"``, ``"instruments"`` or None for both), sorted.
    ``root``: a copy of ``assets/`` to read instead of the package's own."""
    names = list(SWAP_FOLDERS) if data is None else [data]
    unknown = [n for n in names if n not in SWAP_FOLDERS]
    if unknown:
        raise ValueError(f"unknown data {unknown[0]!r}; choose from {sorted(SWAP_FOLDERS)}")
    folders = [SWAP_FOLDERS[n] if root is None else Path(root) / SWAP_FOLDERS[n].relative_to(ASSETS) for n in names]
    return sorted(p for f in folders for p in f.glob("*.json"))


def _dataset(record: dict, cache: dict):
    """The data a swap record was scored on (its data spec; tone records predate specs: the full tone
    set) and the pitch judge's validation on its split, each computed once per data set."""
    spec = record.get("data")
    key = repr((spec, record["split"]))
    if key not in cache:
        ds = load_tone_dataset("full") if spec is None else load_from_spec(spec)
        cache[key] = ds, validation_summary(ds, record["split"])
    return cache[key]


def checkpoint_of(record_path: Path, name: str) -> Path:
    """A swap record's checkpoint: beside its folder (``<root>/swap/x.json`` -> ``<root>/<name>``), else
    the shipped one at the same place under ``assets/`` (a record regenerated outside the package)."""
    here = record_path.parent.parent / name
    if here.exists():
        return here
    shipped = (ASSETS / "instruments" if record_path.parent.parent.name == "instruments" else ASSETS) / name
    if shipped.exists():
        return shipped
    raise FileNotFoundError(f"no checkpoint {name!r} for the swap record {record_path} (looked in {here.parent} and "
                            f"{shipped.parent})")


def add_judges(paths: Iterable[Path] | None = None, threads: int | None = 1, progress: bool = True) -> list[Path]:
    """Add the counterfactual judges, then the pitch tracker's, to every swap record of ``paths``
    (default: all shipped ones) that lacks them; returns the files written. A record that has the
    first judges keeps them as they are. The checkpoint of a record is ``record["checkpoint"]``
    relative to the folder above the record's folder; the pairs are the record's own (``n_pairs``,
    ``seed``, ``split``)."""
    paths = list(swap_record_paths() if paths is None else paths)
    records = {p: read_json(p) for p in paths}
    todo = [p for p in paths if "tracker" not in records[p].get("judges", {})]
    datasets: dict = {}
    written = []
    previous = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            for path in tqdm(todo, desc="judging swaps", unit="model", disable=not progress):
                record = records[path]
                ds, validation = _dataset(record, datasets)
                model = load_model(checkpoint_of(path, record["checkpoint"]))
                if "judges" not in record:
                    judged = judge_model(model, ds, n_pairs=record["n_pairs"], seed=record["seed"], split=record["split"])
                    record["judges"] = judge_summary(judged)
                    record["judges_validation"] = validation
                add_tracker_judges(record, model, ds, datasets)
                atomic_write_json(record, path)
                written.append(path)
    finally:
        torch.set_num_threads(previous)
    return written


def validation_summary(ds, split: str = "test") -> dict:
    """The pitch judge's ceiling as a record stores it: the share of real ``split`` clips it reads
    within :data:`~mvtutorial.judges.CENTS_TOLERANCE`, overall and per pitch class (:func:`validate_f0`)."""
    validation = validate_f0(ds, split)
    return {"overall": float(np.average(validation[WITHIN], weights=validation["n"])),
            "per_pitch_class": {str(c): float(v) for c, v in validation[WITHIN].items()}}


def judged_records(data: str, root: Path | None = None) -> list[dict]:
    """The shipped swap records of ``data`` that carry judges, each with its file stem as ``"record"``."""
    out = []
    for p in swap_record_paths(data, root):
        record = read_json(p)
        if "judges" in record:
            out.append({**record, "record": p.stem})
    return out


#: Columns of :func:`judges_table`: (key in ``record["judges"]["overall"]``, display label).
JUDGE_COLUMNS = (
    ("lsd_swap", "dB to the counterfactual: swap"),
    ("lsd_reconstruction", "dB: model's reconstruction (floor)"),
    ("lsd_copy_private_donor", "dB: copy pitch donor"),
    ("lsd_copy_shared_donor", "dB: copy timbre donor"),
    (f"{WITHIN}_swap", f"pitch within {CENTS_TOLERANCE:g} cents: swap"),
    (f"{WITHIN}_reconstruction", f"pitch within {CENTS_TOLERANCE:g} cents: reconstruction"),
    ("median_abs_cents_swap", "median |cents|: swap"),
    ("pitch_judge_ceiling", f"pitch judge on real clips (within {CENTS_TOLERANCE:g})"),
)


def _digits(key: str) -> int:
    """Decimals a judge is shown with: dB and cents to 1, shares to 2."""
    return 1 if key.startswith(("lsd", "median")) else 2


def _row(record: dict) -> dict:
    overall = record["judges"]["overall"]
    shared = record["shared_factor"]
    row = {key: overall[key] for key, _ in JUDGE_COLUMNS if key in overall}
    row["pitch_judge_ceiling"] = record["judges_validation"]["overall"]
    row.update(tracker_row(record))
    row[f"swap_{shared}"] = record[f"swap_{shared}"]
    return row


def judges_table(records: Sequence[dict], by: str = "config") -> pd.DataFrame:
    """Mean and sd over training seeds of the judges per ``by`` (rows in first-seen order): columns
    ``(key, "mean" | "sd")`` for every :data:`JUDGE_COLUMNS` key and the classifier's
    ``swap_<shared factor>`` (the timbre judgement), plus ``("n", "")``."""
    if not records:
        raise ValueError("no judged swap records: run `python -m mvtutorial.studies.swaps` (or reproduce judges)")
    frame = pd.DataFrame([{by: r[by], **_row(r)} for r in records])
    grouped = frame.groupby(by, sort=False)
    keys = [c for c in frame.columns if c != by]
    out = pd.concat({"mean": grouped[keys].mean(), "sd": grouped[keys].std(ddof=1).fillna(0.0)}, axis=1).swaplevel(axis=1)
    out = out[[(k, s) for k in keys for s in ("mean", "sd")]]
    out[("n", "")] = grouped.size()
    return out


def judges_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`judges_table` for reading: one row per judge (display labels), one column per
    configuration, cells ``"mean ± sd"`` (dB and cents to 1 decimal, shares to 2)."""
    labels = dict(JUDGE_COLUMNS) | dict(TRACKER_COLUMNS)
    keys = [k for k in dict.fromkeys(k for k, _ in table.columns) if k != "n"]
    out = {}
    for config, row in table.iterrows():
        cells = {}
        for key in keys:
            d = _digits(key)
            label = labels.get(key, f"{key.split('_', 1)[1]} follows the shared donor (classifier)")
            cells[label] = f"{row[(key, 'mean')]:.{d}f} ± {row[(key, 'sd')]:.{d}f}"
        cells["training seeds"] = str(int(row[("n", "")]))
        out[config] = cells
    return pd.DataFrame(out)


def judges_per_class(records: Sequence[dict], by: str = "config", measure: str = f"{WITHIN}_swap") -> pd.DataFrame:
    """``measure`` per pitch class (the private donor's), mean over the training seeds of each ``by``:
    rows ``by``, columns the pitch classes (ints, ascending); plus a row ``"real clips (judge ceiling)"``
    with the estimator's own share on the real test clips."""
    rows, ceiling = {}, None
    for r in records:
        per = r["judges"]["per_pitch_class"]
        rows.setdefault(r[by], []).append({int(c): v[measure] for c, v in per.items()})
        ceiling = {int(c): v for c, v in r["judges_validation"]["per_pitch_class"].items()}
    table = pd.DataFrame({k: pd.DataFrame(v).mean() for k, v in rows.items()}).T
    if ceiling is not None and measure.startswith(WITHIN):
        table.loc["real clips (judge ceiling)"] = pd.Series(ceiling)
    return table[sorted(table.columns)]


def judge_models(models: dict, ds, n_pairs: int = 2000, seed: int = 0, labels: dict | None = None,
                 classifier=None, tracker: bool = False) -> list[dict]:
    """Swap records made on the spot for ``models`` (name -> model), with the classifier score and the
    judges, shaped like the shipped ones (``config`` = ``labels[name]`` or the name); chapter 7's fast
    mode and the pitch study. ``classifier``: default ``fit_feature_classifier(ds, seed=seed)``;
    ``tracker``: add the pitch tracker's judges too (:mod:`mvtutorial.trackers`)."""
    classifier = classifier or fit_feature_classifier(ds, seed=seed)
    validation = validation_summary(ds, "test")
    records, cache = [], {}
    for name, model in models.items():
        record = {"config": (labels or {}).get(name, name), "train_seed": 0,
                  **swap_score(model, ds, classifier, n_pairs=n_pairs, seed=seed)}
        record["judges"] = judge_summary(judge_model(model, ds, n_pairs=n_pairs, seed=seed))
        record["judges_validation"] = validation
        if tracker:
            add_tracker_judges(record, model, ds, cache)
        records.append(record)
    return records


def counterfactual_examples(models: dict, ds, n: int = 4, seed: int = 0, n_iter: int = 64):
    """A grid for listening: ``n`` test pairs (rows) that differ in both factors; columns the pitch donor
    *a*, the timbre donor *b*, the counterfactual (*a* in *b*'s timbre, rendered) and the swap
    ``dec(mu_p(a), mu_s(b))`` of each model in ``models``.

    Returns ``(features (n, cols, n_mels, n_frames), audio (n, cols, n_samples), row_labels,
    col_labels)`` for :func:`mvtutorial.listening.audio_grid_html`: the real clips' audio is rendered
    (exact), the swaps' comes from Griffin-Lim (``n_iter`` iterations) of the decoded log-mels.
    """
    idx = ds.split_indices("test")
    pairs = swap_pairs(ds.factors.iloc[idx].reset_index(drop=True), ds.factor_columns, n, seed)
    a, b = idx[pairs[:, 0]], idx[pairs[:, 1]]
    rows, target = counterfactuals(ds, a, b)
    swaps = [swap(m, private_from=ds.features[a], shared_from=ds.features[b]) for m in models.values()]
    features = torch.stack([ds.features[a], ds.features[b], target, *swaps], dim=1).numpy()
    decoded = torch.cat(swaps).numpy()
    gl = to_audio(decoded, ds.feature_config, n_iter=n_iter).reshape(len(models), n, -1)
    real = np.stack([ds.audio(a), ds.audio(b), counterfactual_source(ds).render(ds, rows)], axis=1)
    real = real[..., : gl.shape[-1]]
    audio = np.concatenate([real, gl.transpose(1, 0, 2)], axis=1)
    shared_col, private_col = list(ds.factor_columns.values())[:2]
    f = ds.factors

    def named(col: str, i: int) -> str:  # a factor's name column where the table has one (waveform_name)
        return str(f[f"{col}_name"].iat[i]) if f"{col}_name" in f else f"{col} {f[col].iat[i]}"

    hz = (lambda i: f" ({f['freq_hz'].iat[i]:.0f} Hz)") if "freq_hz" in f else (lambda i: "")
    row_labels = [f"a: {named(private_col, i)}{hz(i)}; b: {named(shared_col, j)}" for i, j in zip(a, b)]
    col_labels = ["pitch donor a", "timbre donor b", "counterfactual", *[f"swap: {name}" for name in models]]
    return features, audio, row_labels, col_labels


def judges_markdown(root: Path | None = None) -> str:
    """The README's table of the counterfactual judges (mean +- sd over training seeds), tones and instruments."""
    lines = ["Swaps judged against their counterfactuals (chapter 7; the same 2,000 test pairs as the classifier "
             "score): median log-spectral distance (dB) of the swap to the sound a perfect swap makes, beside the "
             "model's reconstruction of that sound (floor) and copying either donor; share of swaps whose f0 is "
             f"within {CENTS_TOLERANCE:g} cents of the counterfactual's, beside the same judge on the model's "
             "reconstructions and on the real clips (the judge's ceiling); timbre by the classifier.", "",
             "| data | configuration | n | " + " | ".join(label for _, label in JUDGE_COLUMNS) + " | timbre follows shared donor |",
             "|---" * (len(JUDGE_COLUMNS) + 4) + "|"]
    found = False
    for data in SWAP_FOLDERS:
        records = judged_records(data, root)
        if not records:
            continue
        found = True
        table = judges_table(records)
        shared = records[0]["shared_factor"]
        for config, row in table.iterrows():
            cells = []
            for key in [k for k, _ in JUDGE_COLUMNS] + [f"swap_{shared}"]:
                d = _digits(key)
                cells.append(f"{row[(key, 'mean')]:.{d}f} +- {row[(key, 'sd')]:.{d}f}")
            lines.append(f"| {data} | {config} | {int(row[('n', '')])} | " + " | ".join(cells) + " |")
    if not found:
        return "(no judged swap records: run `python -m mvtutorial.studies.swaps`)"
    return "\n".join(lines)


if __name__ == "__main__":  # python -m mvtutorial.studies.swaps: add the judges to the shipped records
    for p in add_judges():  # chapter 8's baselines: python -m mvtutorial.studies.baseline_judges
        print("judged", p.relative_to(ASSETS))
