"""Instruments across sample banks (chapter 10): a leave-one-bank-out benchmark, fully offline.

Chapter 9's models name the instrument of a held-out bank's notes only about as often as
a classifier on the raw input does: trained on one General MIDI bank it learns *that bank's* piano.
Here every model trains on several banks and is tested on one it never heard
(:func:`lobo_config`: each training note draws one of the training banks, every test note is
rendered from the held-out bank; the bank is the ``soundfont`` column of the factor table, which the
model never sees). Probes are fitted on training-bank codes and scored on held-out-bank codes.

**Banks** (:data:`BANKS`, all Debian packages, rendered by FluidSynth): TimGM6mb, FluidR3_GM,
MuseScore_General_Lite and the FM-synthesis OPL-3_FM_128M. They are not all independent: MuseScore
General's readme says every instrument without a credit still uses FluidR3Mono's samples, which is 6 of
our 8 (all but piano and trumpet), and FluidR3Mono_GM is FluidR3_GM in mono. So a bank is never
trained on beside a bank of its family (:data:`BANK_FAMILY`): holding out FluidR3_GM or MuseScore
trains on TimGM6mb + OPL-3 only. FluidR3Mono_GM adds nothing the other two lack and is left out of
the full study (fast mode uses it, being small).

**Configurations** (:data:`STUDY`, separation-study families): the paper-faithful and recommended ones of
chapter 9 (the latter :data:`~mvtutorial.studies.separation.RECOMMENDED_STANDARD`), unchanged, and one mechanism aimed at bank invariance,
``cross-bank``: the recommended configuration trained on pairs whose two views are the same
instrument at another pitch *from another bank* (:mod:`mvtutorial.data.cross_pairs`).
Hypothesis (Locatello et al. 2020; von Kügelgen et al. 2021): the shared code keeps what is invariant
between the two views, so when the bank changes inside every pair, the shared code must carry what the
banks' recordings of an instrument have in common, and shared -> instrument on a held-out bank rises.

Each run is scored as chapter 9 scores its runs (:data:`~mvtutorial.studies.separation.STUDY_EVAL`:
probes on posterior samples), plus swap scores (:func:`~mvtutorial.studies.swaps.write_swap_score`),
the counterfactual judges (the counterfactual note rendered from the held-out bank) and the confusion
matrix of the shared-code instrument probe (:func:`extras`). Beside each held-out bank, the **input ceiling**: a classifier on the raw
time-averaged log-mels fitted on the same training banks. ``python -m mvtutorial.reproduce banks``
(resumable) writes ``assets/banks/<held-out>/<name>/<key>.json`` + ``extras-seed{S}.json`` and
``assets/banks/<held-out>/input_ceiling.json``; full-mode chapters read them and never train.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import joblib
import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from .._version import __version__
from ..cache import atomic_write_json, read_json
from ..checkpoint import export_checkpoint, load_model
from ..config import TrainConfig
from ..data.cross_pairs import with_pairs_across
from ..data.instruments import InstrumentConfig, instrument_spec, load_instrument_dataset
from ..evaluate import encode_split
from ..experiments import pending_runs, run_dir, run_key, run_one
from ..judges import judge_model, judge_summary
from ..listening import fit_feature_classifier
from ..metrics import make_probe
from .separation import PAPER, RECOMMENDED_STANDARD, STUDY_EVAL, family_config, label
from .store import asset_path
from .swaps import write_swap_score

__all__ = ["BANKS", "FAST_BANKS", "BANK_FAMILY", "HELD_OUT", "STUDY", "BANK_SEEDS", "LISTEN_BANK", "TARGETS",
           "training_banks", "lobo_config", "bank_dataset", "bank_config", "bank_grid", "bank_spec", "run_bank_study",
           "reproduce_banks", "extras", "shared_confusion", "bank_results", "bank_ceilings", "bank_frame", "bank_table",
           "bank_targets", "confusion_frame", "bank_model", "banks_markdown"]

#: The banks of the full study, and of fast mode (small packages: CI installs these).
BANKS = ("TimGM6mb", "FluidR3_GM", "OPL-3_FM_128M", "MuseScore_General_Lite")
FAST_BANKS = ("TimGM6mb", "FluidR3Mono_GM", "MuseScore_General_Lite")
#: Bank -> family: banks of one family share samples, so one is never trained on while another is held out.
BANK_FAMILY = {"FluidR3_GM": "FluidR3", "FluidR3Mono_GM": "FluidR3", "MuseScore_General_Lite": "FluidR3"}
#: Held-out banks per mode, in the order they are run (so that complete held-out banks land first).
HELD_OUT = {"full": ("FluidR3_GM", "TimGM6mb", "OPL-3_FM_128M", "MuseScore_General_Lite"), "fast": ("TimGM6mb",)}
#: Identifier -> (label: its row in the tables, separation-study family it trains, column the two views of a pair
#: must differ in, or None).
STUDY = {
    "recommended": (label(RECOMMENDED_STANDARD), RECOMMENDED_STANDARD, None),
    "cross-bank": ("+ cross-bank pairs", RECOMMENDED_STANDARD, "soundfont"),
    "headline": (label(PAPER), PAPER, None),
}
BANK_SEEDS = (0, 1, 2)
#: The held-out bank whose seed-0 checkpoints are shipped, for the chapter's listening examples.
LISTEN_BANK = "FluidR3_GM"
#: Targets of issue #28 on the held-out bank: (quantity, op, threshold); "chance" = within 0.10 of chance.
TARGETS = (("shared instrument", ">=", 0.80), ("shared instrument - ceiling", ">", 0.0), ("private pitch", ">=", 0.95),
           ("shared pitch - chance", "<=", 0.10), ("private instrument - chance", "<=", 0.10), ("swap both", ">=", 0.85))
FOLDER = "banks"
_EVAL = {"full": STUDY_EVAL, "fast": {**STUDY_EVAL, "probe": "logistic", "scores": False}}
_PAIRS = {"full": 2000, "fast": 300}


def _stem(bank: str) -> str:
    return Path(bank).stem


def training_banks(held_out: str, banks: Sequence[str] = BANKS) -> tuple[str, ...]:
    """The banks trained on when ``held_out`` is tested: every bank of ``banks`` outside its family."""
    family = lambda b: BANK_FAMILY.get(_stem(b), _stem(b))
    if _stem(held_out) not in [_stem(b) for b in banks]:
        raise ValueError(f"held-out bank {held_out!r} is not one of {tuple(banks)}")
    out = tuple(b for b in banks if family(b) != family(held_out))
    if not out:
        raise ValueError(f"holding out {held_out!r} leaves no bank of another family in {tuple(banks)} to train on")
    return out


def lobo_config(held_out: str, mode: str = "full", banks: Sequence[str] | None = None) -> InstrumentConfig:
    """The instrument preset ``mode`` trained on :func:`training_banks` and tested on ``held_out``."""
    banks = banks if banks is not None else (BANKS if mode == "full" else FAST_BANKS)
    return InstrumentConfig.preset(mode, soundfonts=training_banks(held_out, banks), test_soundfont=held_out)


def bank_dataset(held_out: str, name: str = "recommended", mode: str = "full", progress: bool = False):
    """The data a run of ``name`` trains on (cached; cross-bank pairs for the mechanism)."""
    ds = load_instrument_dataset(lobo_config(held_out, mode), progress=progress)
    across = STUDY[name][2]
    return with_pairs_across(ds, across) if across else ds


def bank_spec(held_out: str, name: str = "recommended", mode: str = "full") -> dict:
    """The data spec :func:`bank_dataset` gives, computed without rendering."""
    spec = instrument_spec(lobo_config(held_out, mode))
    return {**spec, "pairs_across": STUDY[name][2]} if STUDY[name][2] else spec


def bank_config(name: str, seed: int = 0, mode: str = "full") -> TrainConfig:
    if name not in STUDY:
        raise ValueError(f"unknown configuration {name!r}; choose from {list(STUDY)}")
    return family_config(STUDY[name][1], seed, mode)


def bank_grid(held_outs: Sequence[str] | None = None, seeds: Sequence[int] = BANK_SEEDS, names: Sequence[str] = tuple(STUDY),
              mode: str = "full") -> list[tuple[str, str, TrainConfig]]:
    """Every ``(held_out, name, config)``, held-out-bank-major, then seed: complete banks come first."""
    held_outs = HELD_OUT[mode] if held_outs is None else held_outs
    return [(h, n, bank_config(n, s, mode)) for h in held_outs for s in seeds for n in names]


def shared_confusion(model, ds, probe: str = "mlp", seed: int = 0, max_train: int = 10_000) -> np.ndarray:
    """Counts ``(K, K)`` (true instrument x predicted) of a probe fitted on training-split shared-code
    posterior samples and applied to test-split ones (the held-out bank), as the evaluation's probe."""
    col = ds.factor_columns[ds.shared_factor]
    train = encode_split(model, ds, "train", pair_seed=seed).sample(seed)
    test = encode_split(model, ds, "test", pair_seed=seed).sample(seed + 1)
    keep = np.arange(len(train.factors))
    if len(keep) > max_train:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), max_train, replace=False))
    clf = make_probe(probe, seed).fit(train.shared[keep], train.factors[col].to_numpy()[keep])
    k = len(ds.config.programs)
    y, pred = test.factors[col].to_numpy(), clf.predict(test.shared)
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def extras(model, ds, mode: str = "full") -> dict:
    """Counterfactual judges and the shared-code confusion matrix of one model on ``ds``'s test split;
    the extras record adds the swap score of the same pairs (:func:`_run_cell`)."""
    return {"judges": judge_summary(judge_model(model, ds, n_pairs=_PAIRS[mode], seed=0)),
            "confusion": shared_confusion(model, ds, _EVAL[mode]["probe"]).tolist()}


def _ceiling(held: str, mode: str, out: Path, progress: bool) -> None:
    path = out / held / "input_ceiling.json"
    if path.exists():
        return
    ds = bank_dataset(held, mode=mode)
    clf = fit_feature_classifier(ds, seed=0)
    test = ds.split_indices("test")
    col = ds.factor_columns[ds.shared_factor]
    pred = clf.predict(ds.features[test])[ds.shared_factor]
    k = len(ds.config.programs)
    confusion = np.bincount(ds.factors[col].to_numpy()[test] * k + pred, minlength=k * k).reshape(k, k)
    atomic_write_json({"held_out": held, "test_accuracy": clf.test_accuracy, "confusion": confusion.tolist(), "data": ds.spec(),
                       "version": __version__, "what": "MLP on time-averaged real log-mels fitted on the training banks' "
                       "training notes, scored on the held-out bank's test notes (listening.fit_feature_classifier, seed 0)"}, path)
    if progress:
        print(f"input ceiling, {held} held out: instrument {clf.test_accuracy[ds.shared_factor]:.3f}", flush=True)


def _run_cell(held: str, name: str, config: TrainConfig, mode: str, out: Path, threads: int, progress: bool) -> None:
    """Train (resuming), evaluate and score one run of the grid; everything it writes is skipped when present."""
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        if name is None:
            return _ceiling(held, mode, out, progress)
        ds, folder, runs = bank_dataset(held, name, mode), out / held / name, run_dir(None, f"{FOLDER}-{held}-{name}")
        if pending_runs([config], folder):
            if progress:
                print(f"training {name} seed {config.seed}, {held} held out", flush=True)
            record = run_one(config, folder, threads=threads, eval_kwargs=_EVAL[mode], runs_dir=runs, dataset=ds)
            if progress:
                print(f"  {name} seed {config.seed}, {held}: {record['seconds']:.0f} s, shared/timbre "
                      f"{record['samples']['probes']['shared/timbre']:.3f}", flush=True)
        path = folder / f"extras-seed{config.seed}.json"
        if not path.exists():  # one write: the swap score, judges and confusion matrix together
            model = load_model(runs / run_key(config))
            record = write_swap_score(path, model, ds, fit_feature_classifier(ds, seed=0), n_pairs=_PAIRS[mode], under="swap",
                                      held_out=held, name=name, train_seed=config.seed, key=run_key(config), data=ds.spec(),
                                      version=__version__, **extras(model, ds, mode))
            if progress:
                print(f"  {name} seed {config.seed}, {held}: swap both {record['swap']['swap_both']:.3f}", flush=True)
        shipped = folder / f"seed{config.seed}.pt"
        if mode == "full" and held == LISTEN_BANK and config.seed == 0 and name != "headline" and not shipped.exists():
            export_checkpoint(runs / run_key(config), shipped)


def run_bank_study(held_outs: Sequence[str] | None = None, seeds: Sequence[int] = BANK_SEEDS, names: Sequence[str] = tuple(STUDY),
                   out: str | Path | None = None, threads: int = 1, n_jobs: int = 1, mode: str = "full",
                   progress: bool = True) -> list[dict]:
    """Run every cell of :func:`bank_grid` missing in ``out`` (default ``assets/banks``), ``n_jobs`` at a
    time (processes, ``threads`` each), held-out bank by held-out bank; return the results.

    Resumable: finished results and extras are skipped, an interrupted run continues from its last
    epoch (run folders ``runs/banks-<held-out>-<name>/<key>`` in the cache). Every data set is rendered
    (once, cached) before training starts, so parallel runs never render the same bank twice."""
    out = Path(out) if out is not None else asset_path(FOLDER)
    grid = bank_grid(held_outs, seeds, names, mode)
    cells = []
    for held in dict.fromkeys(h for h, _, _ in grid):
        bank_dataset(held, mode=mode, progress=progress)
        cells += [(held, None, None)] + [c for c in grid if c[0] == held]
    jobs = (joblib.delayed(_run_cell)(h, n, c, mode, out, threads, progress) for h, n, c in cells)
    joblib.Parallel(n_jobs=n_jobs, backend="loky" if n_jobs > 1 else "sequential")(jobs)
    return bank_results(held_outs, seeds, names, out, mode)


def reproduce_banks(seeds: Sequence[int] = BANK_SEEDS, n_jobs: int = 2, threads: int | None = 1, out: str | Path | None = None) -> None:
    """``python -m mvtutorial.reproduce banks``: the whole study into ``<out>/banks``, then its table."""
    root = Path(out) / FOLDER if out is not None else None
    run_bank_study(seeds=seeds, out=root, threads=threads or 1, n_jobs=max(1, n_jobs))
    print(banks_markdown(root), flush=True)


def bank_results(held_outs: Sequence[str] | None = None, seeds: Sequence[int] = BANK_SEEDS, names: Sequence[str] = tuple(STUDY),
                 folder: str | Path | None = None, mode: str = "full") -> list[dict]:
    """The results that exist (``name``, ``held_out`` and ``extras`` added when written), each checked
    against :func:`bank_spec`; ``ValueError`` for one trained on other data."""
    folder = Path(folder) if folder is not None else asset_path(FOLDER)
    out = []
    for held, name, config in bank_grid(held_outs, seeds, names, mode):
        path = folder / held / name / f"{run_key(config)}.json"
        if not path.exists():
            continue
        record, expected = read_json(path), bank_spec(held, name, mode)
        if record.get("data") != expected:
            raise ValueError(f"{path} was trained on other data than {held!r} held out ({mode}); "
                             "regenerate it with `python -m mvtutorial.reproduce banks`")
        extra = folder / held / name / f"extras-seed{config.seed}.json"
        out.append({**record, "name": name, "held_out": held, "extras": read_json(extra) if extra.exists() else None})
    return out


def bank_ceilings(held_outs: Sequence[str] | None = None, folder: str | Path | None = None, mode: str = "full") -> dict[str, dict]:
    """Held-out bank -> its input-ceiling record, for those written."""
    folder = Path(folder) if folder is not None else asset_path(FOLDER)
    paths = {h: folder / h / "input_ceiling.json" for h in (HELD_OUT[mode] if held_outs is None else held_outs)}
    return {h: read_json(p) for h, p in paths.items() if p.exists()}


def bank_frame(records: Sequence[dict], ceilings: dict[str, dict]) -> pd.DataFrame:
    """One row per run: held-out bank, configuration, seed, probes on posterior samples, swap and judge
    scores (NaN where not written), the bank's input ceiling and the chance levels."""
    rows = []
    for r in records:
        probes, chance, ex = r["samples"]["probes"], r["samples"]["chance"], r.get("extras") or {}
        swap, judges = ex.get("swap", {}), ex.get("judges", {}).get("overall", {})
        rows.append({"held out": r["held_out"], "configuration": STUDY[r["name"]][0], "seed": r["seed"],
                     "shared instrument": probes["shared/timbre"], "private pitch": probes["private/frequency"],
                     "shared pitch": probes["shared/frequency"], "private instrument": probes["private/timbre"],
                     "fused instrument": probes["shared_fused/timbre"], "swap instrument": swap.get("swap_timbre", np.nan),
                     "swap pitch": swap.get("swap_frequency", np.nan), "swap both": swap.get("swap_both", np.nan),
                     "reconstruction instrument": swap.get("recon_timbre", np.nan),
                     "swap within 50 cents": judges.get("within_50_cents_swap", np.nan),
                     "swap dB to counterfactual": judges.get("lsd_swap", np.nan),
                     "ceiling instrument": ceilings.get(r["held_out"], {}).get("test_accuracy", {}).get("timbre", np.nan),
                     "chance instrument": chance["timbre"], "chance pitch": chance["frequency"]})
    return pd.DataFrame(rows)


def bank_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and n over seeds per (configuration, held-out bank), and per configuration a row
    ``"mean over banks"``: the mean (and sd) of its per-bank means. Rows in :data:`STUDY` order,
    columns ``(quantity, stat)``."""
    measures = [c for c in frame.columns if c not in ("held out", "configuration", "seed")]
    g = frame.groupby(["configuration", "held out"], sort=False)[measures]
    per_bank = pd.concat({"mean": g.mean(), "sd": g.std(ddof=1).fillna(0.0), "n": g.count()}, axis=1).swaplevel(axis=1)
    means = per_bank.xs("mean", axis=1, level=1).groupby(level=0, sort=False)
    overall = pd.concat({"mean": means.mean(), "sd": means.std(ddof=1).fillna(0.0), "n": means.count()}, axis=1).swaplevel(axis=1)
    overall.index = pd.MultiIndex.from_tuples([(c, "mean over banks") for c in overall.index], names=per_bank.index.names)
    order = [label for label, _, _ in STUDY.values() if label in per_bank.index.get_level_values(0)]
    table = pd.concat([part for c in order for part in (per_bank.loc[[c]], overall.loc[[c]])])
    return table[[(m, s) for m in measures for s in ("mean", "sd", "n")]]


def bank_targets(table: pd.DataFrame, configuration: str = label(RECOMMENDED_STANDARD), row: str = "mean over banks") -> pd.DataFrame:
    """Issue #28's targets (:data:`TARGETS`) on one row of :func:`bank_table` (``configuration``: a row label,
    :data:`STUDY`'s first field): ``target``, ``value``, ``met`` and
    ``by`` (how far the value is from the threshold, positive when met)."""
    m = lambda k: table.loc[(configuration, row), (k, "mean")]
    values = {"shared instrument": m("shared instrument"), "shared instrument - ceiling": m("shared instrument") - m("ceiling instrument"),
              "private pitch": m("private pitch"), "shared pitch - chance": abs(m("shared pitch") - m("chance pitch")),
              "private instrument - chance": abs(m("private instrument") - m("chance instrument")), "swap both": m("swap both")}
    out = []
    for key, op, threshold in TARGETS:
        v = values[key]
        by = v - threshold if op in (">=", ">") else threshold - v
        met = bool(np.isfinite(v) and (by > 0 if op == ">" else by >= 0))
        out.append({"target": f"{key} {op} {threshold:g}", "value": v, "met": met, "by": by})
    return pd.DataFrame(out)


def confusion_frame(records: Sequence[dict], held_out: str, name: str, names: Sequence[str]) -> pd.DataFrame | None:
    """Row-normalised confusion matrix (true instrument x predicted) of the shared-code probe on the held-out
    bank, summed over the seeds of ``name`` with extras; None if there are none."""
    mats = [np.asarray(r["extras"]["confusion"]) for r in records
            if r["held_out"] == held_out and r["name"] == name and r.get("extras")]
    if not mats:
        return None
    counts = np.sum(mats, axis=0)
    return pd.DataFrame(counts / counts.sum(axis=1, keepdims=True), index=list(names), columns=list(names))


def bank_model(name: str, held_out: str = LISTEN_BANK, seed: int = 0, folder: str | Path | None = None):
    """A shipped seed-0 model of the listening bank (``assets/banks/<held-out>/<name>/seed{S}.pt``)."""
    path = (Path(folder) if folder is not None else asset_path(FOLDER)) / held_out / name / f"seed{seed}.pt"
    if not path.exists():
        raise FileNotFoundError(f"no shipped checkpoint {path}; run `python -m mvtutorial.reproduce banks`")
    return load_model(path)


def banks_markdown(folder: str | Path | None = None) -> str:
    """Markdown table of the study (held-out bank rows and the mean over banks), for the README."""
    records = bank_results(folder=folder)
    if not records:
        return "(no shipped leave-one-bank-out results: run `python -m mvtutorial.reproduce banks`)"
    table = bank_table(bank_frame(records, bank_ceilings(folder=folder)))
    cols = ["shared instrument", "ceiling instrument", "private pitch", "shared pitch", "private instrument", "swap both"]
    lines = ["Leave one SoundFont bank out (full instrument preset; train on the banks outside the held-out bank's family, "
             "test on the held-out bank; + cross-bank pairs: the recommended configuration trained on pairs from two banks), MLP probes on test-split posterior **samples**, mean +- sd over training seeds; chance 0.125 (instrument), "
             "0.048 (pitch); ceiling: a classifier on the raw log-mels fitted on the same training banks.", "",
             "| configuration | held out | n | " + " | ".join(cols) + " |", "|---" * (len(cols) + 3) + "|"]
    for (config, held), row in table.iterrows():
        cells = [f"{row[(c, 'mean')]:.2f} +- {row[(c, 'sd')]:.2f}" if np.isfinite(row[(c, "mean")]) else "-" for c in cols]
        lines.append(f"| {config} | {held} | {int(row[('shared instrument', 'n')])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
