"""The separation study (chapter 6): which mechanism puts timbre in the shared code and pitch in
the private ones, measured with one evaluation for every run family.

After the paper's own configuration, each family is reconstruction alone (the autoencoder) plus
mechanisms of :mod:`mvtutorial.objectives`, so that a row differs from the one it builds on by one
hypothesis. Every family is trained for 3 seeds (full preset: 30 epochs with early stopping unless
the family says otherwise) and scored by :func:`mvtutorial.evaluate.evaluate_model` on posterior
means *and* posterior samples, with the same probes and the same targets for all. ``python -m mvtutorial.reproduce separation`` writes
``mvtutorial/assets/separation/<key>.json`` (resumable) and the recommended family's checkpoints.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from ..cache import atomic_write_json, read_json
from ..checkpoint import export_checkpoint, load_checkpoint, load_model
from ..config import TrainConfig, config_from_dict
from ..experiments import pending_runs, record_checkpoint, run_dir, run_key
from ..results import seed_stats
from ..training import train
from .headline import headline_config
from .store import asset_path, finished_in_cache, output_root, read_records, refuse_training, shipped_input, sweep_into

__all__ = [
    "Family", "FAMILIES", "PAPER", "RECOMMENDED", "RECOMMENDED_STANDARD", "DECODER_STAGE", "SWAP_CONSISTENCY",
    "PREVIOUS", "label", "family_id", "TARGETS", "STUDY_EVAL",
    "family_config", "family_of", "family_row", "study_grid", "recommended_config", "separation_score", "check_targets",
    "study_table", "run_values", "recommended_model", "study_results", "study_markdown", "reproduce_separation",
]

class Family(NamedTuple):
    """One family of a study: the ``overrides`` it makes (of the preset's :class:`TrainConfig`; of the
    data's config for the pitch study's data controls), the ``hypothesis`` it tests, and the ``label``
    that tables and chapters show (its row name). Code names a family by its identifier, the key it has
    in its registry (:data:`FAMILIES`, ``pitch.PITCH_FAMILIES``, ``baselines.BASELINES``, ...).
    ``schedule``: training-length overrides per preset (``{"full": {...}, "fast": {...}}``), kept apart from
    ``overrides`` because a full-mode length (60 epochs) must not leak into the seconds-long fast preset."""

    overrides: dict
    hypothesis: str
    label: str
    schedule: Mapping[str, dict] | None = None


_TRANSPOSITION_FREQCONV = {"gamma": 0.0, "cross_reconstruction": 1.0, "rate_shared": 0.1, "rate_private": 4.0,
                           "transposition": 5000.0, "arch": "freqconv"}
#: The decoder-stage families' schedule per preset: 60 epochs without early stopping, then 60 for the decoder alone
#: (the fast preset keeps its 2 epochs and adds 2 decoder epochs, so it still runs the two-stage path in seconds).
_STAGED = {"full": {"epochs": 60, "patience": 0, "decoder_epochs": 60}, "fast": {"decoder_epochs": 2}}
#: Run families of the study by identifier, in the order of the chapter.
FAMILIES: dict[str, Family] = {
    "paper": Family({}, "the paper's objective as in chapters 3-4: reconstruction + 0.1 DWKL (alpha = beta = 0)",
                    "paper (headline)"),
    "autoencoder": Family({"gamma": 0.0}, "reconstruction alone: how much timbre and pitch a code keeps at all", "autoencoder"),
    "cross-view": Family({"gamma": 0.0, "cross_reconstruction": 1.0},
                         "decoding each view with the other view's shared code makes the common factor useful in the shared code",
                         "+ cross-view"),
    "rate": Family({"gamma": 0.0, "rate_shared": 0.1, "rate_private": 4.0},
                   "a per-sample rate, cheap in the shared code (once per pair) and dear in the private ones, prices where bits go",
                   "+ rate"),
    "cross-view-rate": Family({"gamma": 0.0, "cross_reconstruction": 1.0, "rate_shared": 0.1, "rate_private": 4.0},
                              "both: the shared path is useful and cheap, so redundant timbre leaves the private code",
                              "+ cross-view + rate"),
    "cycle": Family({"gamma": 0.0, "cross_reconstruction": 1.0, "rate_shared": 0.1, "rate_private": 4.0, "private_cycle": 1.0},
                    "the reverse cycle asks the private code to stay the same when the timbre changes",
                    "+ cross-view + rate + cycle"),
    "cross-view-rate-60-epochs": Family({"gamma": 0.0, "cross_reconstruction": 1.0, "rate_shared": 0.1, "rate_private": 4.0,
                                         "epochs": 60},
                                        "a rate-limited private code keeps sharpening its pitch with training length",
                                        "+ cross-view + rate, 60 epochs"),
    "transposition-freqconv": Family(dict(_TRANSPOSITION_FREQCONV),
                                     "pitch becomes one private axis when the pair's known interval moves it (transposition "
                                     "equivariance) and the encoder convolves along frequency (chapter 6.8's pitch study)",
                                     "+ cross-view + rate + transposition, freq-conv"),
    "decoder-stage": Family(dict(_TRANSPOSITION_FREQCONV),
                            "the aliased classes lose timbre in the decoder, not in the codes (chapter 7.6): 60 epochs without "
                            "early stopping, then 60 more for the decoder alone on frozen codes (chapter 6.8's pitch study)",
                            "+ cross-view + rate + transposition, freq-conv, 60 + 60 decoder epochs",
                            schedule=_STAGED),
    "swap-consistency": Family({**_TRANSPOSITION_FREQCONV, "swap_consistency": 1.0},
                               "the decoder stage's swaps still lose the shared donor's timbre at the aliased classes, where the "
                               "frozen encoder reads the decoder's outputs poorly: the stage also asks the encoder to read each "
                               "swap's shared sample back (chapter 6.8's pitch study)",
                               "+ cross-view + rate + transposition, freq-conv, 60 + 60 decoder epochs, swap consistency",
                               schedule=_STAGED),
    "recommended": Family({**_TRANSPOSITION_FREQCONV, "swap_consistency": 1.0, "swap_pitch_consistency": 1.0},
                          "swap consistency lowers swap pitch in two seeds of three: the swaps' pitch coordinate is read back "
                          "too (chapter 6.8's pitch study)",
                          "+ cross-view + rate + transposition, freq-conv, 60 + 60 decoder epochs, swap consistency with pitch",
                          schedule=_STAGED),
}
#: The paper's family, and the family the study recommends (chapter 6;
#: :func:`mvtutorial.studies.separation.recommended_model` ships it): identifiers of :data:`FAMILIES`.
PAPER, RECOMMENDED = "paper", "recommended"
#: The recommended objective and encoder at the preset's own schedule (30 epochs, early stopping): the
#: recommendation before the decoder stage, and what chapter 5's retest, chapter 8's baselines and the sampled
#: notes of chapters 9-10 train. The stage raised the tones' swap timbre in every seed; on the notes it wins in
#: two seeds of three (:mod:`mvtutorial.studies.transfer_schedule`), for 3.1 times the training.
RECOMMENDED_STANDARD = "transposition-freqconv"
#: The recommended schedule without the swap-consistency term: the recommendation before it, the row chapter 6.8
#: pairs swap consistency with (:mod:`mvtutorial.studies.paired_swaps`), and one of the two staged schedules
#: :mod:`mvtutorial.studies.transfer_schedule` tries on the notes.
DECODER_STAGE = "decoder-stage"
#: The decoder stage with swap consistency for the shared code alone: the recommendation before the pitch read-back,
#: and the other staged schedule :mod:`mvtutorial.studies.transfer_schedule` tries on the notes.
SWAP_CONSISTENCY = "swap-consistency"
#: The family recommended before chapter 6.8's pitch study: the base its families add to (its per-class and
#: swap files in ``assets/pitch`` are named after it), and chapter 9's "before" (``studies.transfer_previous``).
PREVIOUS = "cross-view-rate"


def label(family: str) -> str:
    """The display label (table row name) of study family ``family`` (an identifier of :data:`FAMILIES`)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown study family {family!r}; choose from {list(FAMILIES)}")
    return FAMILIES[family].label


def family_id(row: str) -> str:
    """The identifier of the family whose display label is ``row`` (shipped records name families by label)."""
    for family, spec in FAMILIES.items():
        if spec.label == row:
            return family
    raise ValueError(f"no study family is labelled {row!r}; labels: {[f.label for f in FAMILIES.values()]}")

#: Evaluation of every study run: MLP probes (one probe seed, up to 10,000 training codes, as for
#: the headline) on all five latents, on posterior means and samples; MI matrix; MIG / DCI / SAP.
STUDY_EVAL = {"probe": "mlp", "probe_seeds": (0,), "max_probe_train": 10_000, "scores": True, "samples": True, "latents": None}

#: Targets of the separation issue: (probe or ratio key, comparison, threshold). ``shared`` stands for
#: both the single-view (``shared``, ``both``) and the pair-fused codes (``shared_fused``, ``both_fused``).
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("shared/timbre", ">=", 0.97),
    ("private/frequency", ">=", 0.90),
    ("both/timbre", ">=", 0.98),
    ("both/frequency", ">=", 0.90),
    ("private/timbre", "<=", 0.50),
    ("shared/frequency", "<=", 0.15),
    ("mi_ratio_timbre", ">=", 15.0),
    ("mi_ratio_frequency", ">=", 5.0),
)


def family_config(name: str, seed: int = 0, mode: str = "full", **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of study family ``name`` (an identifier of :data:`FAMILIES`; ``mode="fast"``
    for the tiny CI preset)."""
    label(name)  # an unknown family: one ValueError naming the known ones
    schedule = (FAMILIES[name].schedule or {}).get(mode, {})
    return TrainConfig.preset(mode, seed=seed, **{**FAMILIES[name].overrides, **schedule, **overrides})


def recommended_config(mode: str = "full", seed: int = 0, **overrides) -> TrainConfig:
    """The configuration the separation study recommends (:data:`RECOMMENDED`)."""
    return family_config(RECOMMENDED, seed, mode, **overrides)


def study_grid(seeds: Sequence[int] = (0, 1, 2), families: Sequence[str] | None = None, mode: str = "full") -> list[TrainConfig]:
    """Every (family, seed) config of the study, family-major."""
    return [family_config(f, s, mode) for f in (families or FAMILIES) for s in seeds]


def family_of(config: TrainConfig) -> str | None:
    """The study family (identifier) a config belongs to, or None. An exact match (seed and preset aside) wins;
    otherwise size settings (epochs, hidden, batch size, patience) are ignored, so that shrunken
    copies of a family (tests, fast mode) are still recognised."""
    mode = "fast" if config.data_mode == "fast" else "full"
    for name in FAMILIES:
        if family_config(name, config.seed, mode) == config:
            return name
    for name in FAMILIES:
        base = family_config(name, config.seed, mode)
        if dataclasses.replace(base, epochs=config.epochs, hidden=config.hidden, batch_size=config.batch_size,
                               patience=config.patience) == config:
            return name
    return None


def family_row(config: TrainConfig) -> str | None:
    """The table row (display label) of the study family ``config`` belongs to (:func:`family_of`), or None."""
    family = family_of(config)
    return None if family is None else label(family)


def separation_score(probes: Mapping[str, float], shared: str = "shared") -> float:
    """``S = [acc(shared->timbre) - acc(private->timbre)] + [acc(private->frequency) - acc(shared->frequency)]``.

    High when timbre sits in the shared code and frequency in the private one, ~0 when both codes
    know the same, negative when the factors sit in the wrong codes; at most
    ``(1 - 1/4) + (1 - 1/21) ~ 1.70`` for the tone set's 4 timbres and 21 frequency classes.
    ``probes``: ``"latent/factor" -> accuracy``; ``shared``: ``"shared"`` or ``"shared_fused"``.
    """
    try:
        return (probes[f"{shared}/timbre"] - probes["private/timbre"]) + (probes["private/frequency"] - probes[f"{shared}/frequency"])
    except KeyError as err:
        raise ValueError(f"separation_score needs probe {err.args[0]!r}; got {sorted(probes)}") from None


def _fused_key(key: str) -> str:
    return key.replace("shared/", "shared_fused/").replace("both/", "both_fused/")


def check_targets(values: Mapping[str, float]) -> pd.DataFrame:
    """One row per target (single-view and pair-fused versions of each probe target):
    ``target``, ``value``, ``threshold``, ``met``. ``values``: probe accuracies by ``"latent/factor"``
    plus ``mi_ratio_timbre`` / ``mi_ratio_frequency``; a missing value is reported as not met."""
    rows = []
    for key, op, threshold in TARGETS:
        for k in dict.fromkeys([key, _fused_key(key)]):  # fused variant, without duplicates
            v = values.get(k)
            met = v is not None and np.isfinite(v) and (v >= threshold if op == ">=" else v <= threshold)
            rows.append({"target": f"{k} {op} {threshold:g}", "value": v, "threshold": threshold, "met": bool(met)})
    return pd.DataFrame(rows)


def run_values(record: dict, codes: str) -> dict[str, float]:
    """A result's probe accuracies and MI ratios on posterior means (``codes="mean"``) or samples (``"sample"``), one flat dict."""
    src = record if codes == "mean" else record["samples"]
    return {**src["probes"], "mi_ratio_timbre": src["mi_ratio_timbre"], "mi_ratio_frequency": src["mi_ratio_frequency"]}


def study_table(records: Sequence[dict], codes: str = "sample") -> pd.DataFrame:
    """Mean and sd over seeds per family of every target quantity, S, MIG and DCI.

    ``records``: result dicts of :func:`mvtutorial.experiments.run_one` (with ``samples``);
    ``codes``: ``"sample"`` or ``"mean"``. Index: family label (:func:`label`; study order); columns: a MultiIndex
    (quantity, ``mean`` | ``sd`` | ``n``).
    """
    if codes not in ("sample", "mean"):
        raise ValueError(f"codes must be 'sample' or 'mean', got {codes!r}")
    rows = []
    for r in records:
        family = family_of(config_from_dict(r["config"]))
        if family is None:
            continue
        v = run_values(r, codes)
        v["S"] = separation_score(v)
        v["S_fused"] = separation_score(v, "shared_fused")
        for k in ("mig", "dci_disentanglement", "dci_completeness"):
            if "scores" in r:
                v[k] = r["scores"][k]
        for sub, std in r.get("median_std", {}).items():
            v[f"median_std/{sub}"] = std
        rows.append({"family": label(family), "seed": r["seed"], **v})
    if not rows:
        return pd.DataFrame()
    stats = seed_stats(pd.DataFrame(rows).drop(columns="seed"), "family")
    return stats.loc[[f.label for f in FAMILIES.values() if f.label in stats.index]]


def recommended_model(mode: str = "full", seed: int = 0, progress: bool = True, train_if_missing: bool = False):
    """``(model, history)`` of the configuration the separation study recommends (chapter 6,
    :func:`recommended_config`).

    ``fast``: trains it on the fast preset (seconds). ``full``: loads the shipped checkpoint
    ``assets/recommended/seed{seed}.pt`` (written by ``python -m mvtutorial.reproduce separation``;
    seeds 0, 1, 2), else the finished run in the cache folder (the one
    ``reproduce separation`` trains in); it trains the full preset there
    (resumable) only with ``train_if_missing=True``, else a ``ValueError`` names the shipped seeds.
    """
    config = recommended_config(mode, seed=seed)
    shipped = asset_path("recommended", f"seed{seed}.pt")
    if mode == "full" and shipped.exists():
        ckpt = load_checkpoint(shipped, config)  # refuses another config or version, naming it
        return load_model(shipped), ckpt["history"]
    out = None if mode == "fast" else run_dir(config, "separation")  # where reproduce separation trains it
    if out is not None and not (train_if_missing or finished_in_cache(out, config)):
        refuse_training("recommended", seed, out, config)
    result = train(config, out, progress=progress)
    return result.model, result.history


def study_results() -> list[dict]:
    """Evaluation JSON of every shipped separation-study run (``assets/separation``); empty if none."""
    return read_records("separation")


def study_markdown() -> str:
    """Markdown table of the shipped separation study (mean +- sd over seeds, probes on posterior samples)."""
    records = study_results()
    table = study_table(records, "sample")
    if len(table) == 0:
        return "(no shipped study results: run `python -m mvtutorial.reproduce separation`)"
    cols = [("shared/timbre", "shared timbre"), ("private/timbre", "private timbre"), ("private/frequency", "private freq."),
            ("shared/frequency", "shared freq."), ("shared_fused/timbre", "fused timbre"), ("shared_fused/frequency", "fused freq."),
            ("both/timbre", "both timbre"), ("both/frequency", "both freq."), ("mi_ratio_timbre", "MI ratio timbre"),
            ("mi_ratio_frequency", "MI ratio freq."), ("mig", "MIG"), ("dci_disentanglement", "DCI dis.")]
    seeds = sorted({r["seed"] for r in records})
    lines = [f"Separation study (full preset, seeds {', '.join(map(str, seeds))}), MLP probes on test-split posterior "
             "**samples**, mean +- sd over training seeds (MIG and DCI on means):", "",
             "| family | n | " + " | ".join(name for _, name in cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for family, row in table.iterrows():
        cells = [f"{row[(k, 'mean')]:.2f} +- {row[(k, 'sd')]:.2f}" if (k, "mean") in row.index else "-" for k, _ in cols]
        lines.append(f"| {family} | {int(row[('S', 'n')])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reproduce_separation(seeds=(0, 1, 2), n_jobs: int = 2, threads: int | None = None, families=None, **backend) -> None:
    """The study (every family x ``seeds``, or ``families``) into ``<root>/separation/<key>.json``, then
    slim checkpoints of the recommended family into ``<root>/recommended/seed{S}.pt`` (with its result)."""
    configs = study_grid(seeds, families)
    root = output_root(backend.get("out"))
    for config in pending_runs(configs, root / "separation"):  # the paper's family: the (shipped) headline runs
        shipped = shipped_input(root, "headline", f"seed{config.seed}.pt")
        if config == headline_config("full", seed=config.seed) and shipped.exists():
            record_checkpoint(config, shipped, root / "separation", threads, STUDY_EVAL)
    sweep_into(configs, "separation", n_jobs, threads, STUDY_EVAL, **backend)
    if families is None or RECOMMENDED in families:
        for seed in seeds:
            key = run_key(recommended_config(seed=seed))
            export_checkpoint(run_dir(recommended_config(seed=seed), "separation"), root / "recommended" / f"seed{seed}.pt")
            record = read_json(root / "separation" / f"{key}.json")
            atomic_write_json({**record, "command": "python -m mvtutorial.reproduce separation"}, root / "recommended" / f"seed{seed}.json")
    records = [read_json(p) for p in sorted((root / "separation").glob("*.json"))]
    print(study_table(records).xs("mean", axis=1, level=1).round(3).to_string())
