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
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .config import TrainConfig, config_from_dict

__all__ = [
    "FAMILIES", "RECOMMENDED", "TARGETS", "STUDY_EVAL", "RETEST_VALUES", "ESTIMATOR_CELLS",
    "family_config", "family_of", "study_grid", "recommended_config", "separation_score", "check_targets",
    "study_table", "recommended_ablation_grid", "estimator_grid",
]

#: Run families of the study, in the order of the chapter: name -> (overrides of the full preset, hypothesis).
FAMILIES: dict[str, tuple[dict, str]] = {
    "paper (headline)": ({}, "the paper's objective as in chapters 3-4: reconstruction + 0.1 DWKL (alpha = beta = 0)"),
    "autoencoder": ({"gamma": 0.0}, "reconstruction alone: how much timbre and pitch a code keeps at all"),
    "+ cross-view": ({"gamma": 0.0, "cross_reconstruction": 1.0},
                     "decoding each view with the other view's shared code makes the common factor useful in the shared code"),
    "+ rate": ({"gamma": 0.0, "rate_shared": 0.1, "rate_private": 4.0},
               "a per-sample rate, cheap in the shared code (once per pair) and dear in the private ones, prices where bits go"),
    "+ cross-view + rate": ({"gamma": 0.0, "cross_reconstruction": 1.0, "rate_shared": 0.1, "rate_private": 4.0},
                            "both: the shared path is useful and cheap, so redundant timbre leaves the private code"),
    "+ cross-view + rate + cycle": ({"gamma": 0.0, "cross_reconstruction": 1.0, "rate_shared": 0.1, "rate_private": 4.0,
                                     "private_cycle": 1.0},
                                    "the reverse cycle asks the private code to stay the same when the timbre changes"),
    "+ cross-view + rate, 60 epochs": ({"gamma": 0.0, "cross_reconstruction": 1.0, "rate_shared": 0.1, "rate_private": 4.0,
                                        "epochs": 60},
                                       "a rate-limited private code keeps sharpening its pitch with training length"),
}
#: The family the study recommends (chapter 6); :func:`mvtutorial.pretrained.recommended_model` ships it.
RECOMMENDED = "+ cross-view + rate"

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
    """The :class:`TrainConfig` of study family ``name`` (``mode="fast"`` for the tiny CI preset)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown study family {name!r}; choose from {list(FAMILIES)}")
    return TrainConfig.preset(mode, seed=seed, **{**FAMILIES[name][0], **overrides})


def recommended_config(mode: str = "full", seed: int = 0, **overrides) -> TrainConfig:
    """The configuration the separation study recommends (:data:`RECOMMENDED`)."""
    return family_config(RECOMMENDED, seed, mode, **overrides)


def study_grid(seeds: Sequence[int] = (0, 1, 2), families: Sequence[str] | None = None, mode: str = "full") -> list[TrainConfig]:
    """Every (family, seed) config of the study, family-major."""
    return [family_config(f, s, mode) for f in (families or FAMILIES) for s in seeds]


def family_of(config: TrainConfig) -> str | None:
    """The study family a config belongs to, or None. An exact match (seed and preset aside) wins;
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


def _run_values(record: dict, codes: str) -> dict[str, float]:
    src = record if codes == "mean" else record["samples"]
    return {**src["probes"], "mi_ratio_timbre": src["mi_ratio_timbre"], "mi_ratio_frequency": src["mi_ratio_frequency"]}


def study_table(records: Sequence[dict], codes: str = "sample") -> pd.DataFrame:
    """Mean and sd over seeds per family of every target quantity, S, MIG and DCI.

    ``records``: result dicts of :func:`mvtutorial.experiments.run_one` (with ``samples``);
    ``codes``: ``"sample"`` or ``"mean"``. Index: family (study order); columns: a MultiIndex
    (quantity, ``mean`` | ``sd`` | ``n``).
    """
    if codes not in ("sample", "mean"):
        raise ValueError(f"codes must be 'sample' or 'mean', got {codes!r}")
    rows = []
    for r in records:
        family = family_of(config_from_dict(r["config"]))
        if family is None:
            continue
        v = _run_values(r, codes)
        v["S"] = separation_score(v)
        v["S_fused"] = separation_score(v, "shared_fused")
        for k in ("mig", "dci_disentanglement", "dci_completeness"):
            if "scores" in r:
                v[k] = r["scores"][k]
        for sub, std in r.get("median_std", {}).items():
            v[f"median_std/{sub}"] = std
        rows.append({"family": family, "seed": r["seed"], **v})
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    stats = df.drop(columns="seed").groupby("family", sort=False).agg(["mean", "std", "count"])
    order = [f for f in FAMILIES if f in stats.index]
    return stats.loc[order].rename(columns={"std": "sd", "count": "n"}, level=1)


#: Weights of the paper's ablation re-run on top of the recommended configuration (chapter 5): each
#: of alpha, beta, gamma at 1 with the other two at 0, and none, at the ablation's epoch budget.
RETEST_VALUES = (0.0, 1.0)


def recommended_ablation_grid(seeds: Sequence[int] = (0, 1, 2), values: Sequence[float] = RETEST_VALUES, mode: str = "full") -> list[TrainConfig]:
    """The paper's one-term-at-a-time ablation with the recommended configuration as the base
    (instead of reconstruction alone), at :data:`mvtutorial.experiments.ABLATION_EPOCHS` epochs."""
    from .experiments import ABLATION_EPOCHS, ablation_grid

    base = recommended_config(mode) if mode == "fast" else recommended_config(mode, epochs=ABLATION_EPOCHS)
    return ablation_grid(values=values, seeds=seeds, base=base)


#: The cells of the paper's ablation whose claims the estimator hypothesis must explain:
#: gamma 0.1 and 1 (separation), alpha 1 and beta 0.5 (collapse of shared timbre).
ESTIMATOR_CELLS = (("gamma", 0.1), ("gamma", 1.0), ("alpha", 1.0), ("beta", 0.5))


def estimator_grid(seeds: Sequence[int] = (0, 1, 2), weighting: str = "mss_strided") -> list[TrainConfig]:
    """The paper's ablation cells of :data:`ESTIMATOR_CELLS` trained with the widely copied
    column-0 MSS estimator (``weighting="mss_strided"``) instead of ours, at the ablation's budget:
    does that estimator explain the paper's ablation? Compare with the same cells of chapter 5."""
    from .experiments import ablation_base

    base = dataclasses.replace(ablation_base(), weighting=weighting)
    return [dataclasses.replace(base, seed=int(s), **{**{"alpha": 0.0, "beta": 0.0, "gamma": 0.0}, term: float(v)})
            for term, v in ESTIMATOR_CELLS for s in seeds]
