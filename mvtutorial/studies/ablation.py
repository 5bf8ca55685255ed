"""Chapter 5's study: the paper's ablation (one of alpha, beta, gamma at a time), the gamma x beta
grid beyond it, the ablation re-run on top of the recommended configuration, and the paper's decisive
cells trained with the widely copied column-0 MSS estimator.

Each grid is a list of :class:`~mvtutorial.config.TrainConfig`; ``python -m mvtutorial.reproduce
ablation|sweep2d|retest|estimator`` runs it (resumable) into ``assets/<study>/<key>.json``, and the
``*_markdown`` functions print the README's tables from the shipped results.
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import paper
from ..cache import cache_dir
from ..config import TrainConfig
from ..data import ToneConfig
from ..experiments import expand_grid, load_results, pending_runs, unique_configs
from ..sweeps import run_sweep
from .separation import family_config, RECOMMENDED_STANDARD, separation_score, STUDY_EVAL
from .store import ASSETS, output_root, sweep_into, where

__all__ = ["PAPER_VALUES", "ABLATION_EPOCHS", "ablation_base", "ablation_grid", "gamma_beta_grid", "ablation_cell",
           "RETEST_VALUES", "recommended_ablation_grid", "ESTIMATOR_CELLS", "estimator_grid", 
           "ablation_markdown", "retest_markdown", "estimator_markdown",
           "reproduce_ablation", "reproduce_sweep2d", "reproduce_retest", "reproduce_estimator",
           "TERMS", "FACTOR_NAMES", "CHANCE", "FAST_EVAL", "fast_base", "ablation_results", "runs_summary",
           "GAMMA_BETA", "gamma_beta_results", "score_grid", "retest_results"]

#: The paper's weights for each term of its ablation.
PAPER_VALUES = (0.0, 0.1, 0.5, 1.0)
#: Epochs per ablation run. The paper does not say; 10 epochs of the full preset keep the
#: 30-run sweep (10 configs x 3 seeds) within ~1.6 h on 2 cores (the headline runs train up to 30 with early stopping).
ABLATION_EPOCHS = 10


def ablation_base() -> TrainConfig:
    """The config every ablation run starts from: the full preset at :data:`ABLATION_EPOCHS` epochs."""
    return TrainConfig.preset("full", epochs=ABLATION_EPOCHS)


def ablation_grid(
    values: Sequence[float] = PAPER_VALUES, seeds: Sequence[int] = (0, 1, 2), base: TrainConfig | str | None = None
) -> list[TrainConfig]:
    """The paper's protocol: reconstruction plus one of alpha, beta, gamma at a time (others 0).

    With the paper's values {0, 0.1, 0.5, 1} that is 10 distinct configs per seed: 3 terms x 3
    non-zero values, plus the all-zero run that the three columns of the paper's figure share.
    ``base`` defaults to :func:`ablation_base`.
    """
    base = ablation_base() if base is None else base
    configs = []
    for term in ("alpha", "beta", "gamma"):
        overrides = [{"alpha": 0.0, "beta": 0.0, "gamma": 0.0, term: float(v)} for v in values]
        for o in overrides:
            configs += expand_grid({k: [v] for k, v in o.items()}, seeds, base)
    return unique_configs(configs)


def gamma_beta_grid(
    gammas: Sequence[float] = (0.0, 0.1, 1.0),
    betas: Sequence[float] = (0.0, 0.1, 1.0),
    seeds: Sequence[int] = (0, 1, 2),
    base: TrainConfig | str | None = None,
) -> list[TrainConfig]:
    """Beyond the paper: the 2-D grid gamma x beta (alpha = 0) of chapter 5's heatmap.

    Its edges (beta = 0 or gamma = 0) are configs of :func:`ablation_grid` with the same keys, so
    an ablation's result files serve them; only the interior cells (both terms on) are new.
    ``base`` defaults to :func:`ablation_base`.
    """
    base = ablation_base() if base is None else base
    return expand_grid({"gamma": gammas, "beta": betas, "alpha": [0.0]}, seeds, base)


def ablation_cell(table: pd.DataFrame, term: str, value: float, latent: str, factor: str) -> tuple[float, float, int] | None:
    """``(mean, sd, n_seeds)`` of the probe accuracy of ``latent`` for ``factor`` over the runs of
    ``table`` (from :func:`load_results`) with ``term`` at ``value`` and the other two weights at 0;
    None when no run has that cell (sd is NaN for a single seed)."""
    if term not in ("alpha", "beta", "gamma"):
        raise ValueError(f"unknown term {term!r}; choose alpha, beta or gamma")
    if len(table) == 0:
        return None
    keep = np.isclose(table[term], value)
    for other in {"alpha", "beta", "gamma"} - {term}:
        keep &= np.isclose(table[other], 0.0)
    acc = table[keep & (table.latent == latent) & (table.factor == factor)].accuracy.to_numpy()
    if len(acc) == 0:
        return None
    return float(acc.mean()), (float(acc.std(ddof=1)) if len(acc) > 1 else float("nan")), len(acc)


#: Weights of the paper's ablation re-run on top of the recommended configuration (chapter 5): each
#: of alpha, beta, gamma at 1 with the other two at 0, and none, at the ablation's epoch budget.
RETEST_VALUES = (0.0, 1.0)


def recommended_ablation_grid(seeds: Sequence[int] = (0, 1, 2), values: Sequence[float] = RETEST_VALUES, mode: str = "full") -> list[TrainConfig]:
    """The paper's one-term-at-a-time ablation with the recommended objective and encoder as the base
    (instead of reconstruction alone; :data:`~mvtutorial.studies.separation.RECOMMENDED_STANDARD`: no decoder
    stage), at :data:`ABLATION_EPOCHS` epochs."""
    base = family_config(RECOMMENDED_STANDARD, mode=mode, **({} if mode == "fast" else {"epochs": ABLATION_EPOCHS}))
    return ablation_grid(values=values, seeds=seeds, base=base)


#: The cells of the paper's ablation whose claims the estimator hypothesis must explain:
#: gamma 0.1 and 1 (separation), alpha 1 and beta 0.5 (collapse of shared timbre).
ESTIMATOR_CELLS = (("gamma", 0.1), ("gamma", 1.0), ("alpha", 1.0), ("beta", 0.5))


def estimator_grid(seeds: Sequence[int] = (0, 1, 2), weighting: str = "mss_strided") -> list[TrainConfig]:
    """The paper's ablation cells of :data:`ESTIMATOR_CELLS` trained with the widely copied
    column-0 MSS estimator (``weighting="mss_strided"``) instead of ours, at the ablation's budget:
    does that estimator explain the paper's ablation? Compare with the same cells of chapter 5."""
    base = dataclasses.replace(ablation_base(), weighting=weighting)
    return [dataclasses.replace(base, seed=int(s), **{**{"alpha": 0.0, "beta": 0.0, "gamma": 0.0}, term: float(v)})
            for term, v in ESTIMATOR_CELLS for s in seeds]


def _weights_rows(table, with_n: bool = False) -> list[str]:
    """Markdown rows ``| alpha | beta | gamma | [n |] timbre private | timbre shared | frequency private |
    frequency shared |``, mean +- sd over seeds, from a :func:`load_results` table."""
    table = table[table.latent.isin(["private", "shared"])]
    stats = table.groupby(["alpha", "beta", "gamma", "factor", "latent"]).accuracy.agg(["mean", "std"])
    n = table.groupby(["alpha", "beta", "gamma"]).seed.nunique()
    lines = []
    for (a, b, g), rows in stats.groupby(level=["alpha", "beta", "gamma"]):
        cells = [f"{rows.loc[(a, b, g, f, l), 'mean']:.3f} +- {rows.loc[(a, b, g, f, l), 'std']:.3f}"
                 for f in ("timbre", "frequency") for l in ("private", "shared")]
        lines.append(f"| {a:g} | {b:g} | {g:g} | " + (f"{n.loc[(a, b, g)]} | " if with_n else "") + " | ".join(cells) + " |")
    return lines


def ablation_markdown() -> str:
    """Markdown table of the shipped ablation (mean +- sd over seeds): private / shared probe accuracy."""
    table = load_results(ASSETS / "ablation", ablation_grid())
    if len(table) == 0:
        return "(no shipped ablation results: run `python -m mvtutorial.reproduce ablation`)"
    seeds = sorted(table.seed.unique())
    return "\n".join([f"Ablation ({ABLATION_EPOCHS}-epoch full preset, seeds {', '.join(map(str, seeds))}), "
                      "MLP probe accuracy on single-view codes, mean +- sd, private / shared:", "",
                      "| alpha | beta | gamma | timbre private | timbre shared | frequency private | frequency shared |",
                      "|---|---|---|---|---|---|---|", *_weights_rows(table)])


def retest_markdown() -> str:
    """Markdown table of the paper's ablation re-run on the recommended configuration (posterior samples)."""
    table = load_results(ASSETS / "retest", recommended_ablation_grid(), codes="sample")
    if len(table) == 0:
        return "(no shipped re-test results: run `python -m mvtutorial.reproduce retest`)"
    return "\n".join([f"The paper's ablation on top of the recommended configuration ({ABLATION_EPOCHS} epochs), MLP probes on "
                      "posterior samples, mean +- sd, private / shared:", "",
                      "| alpha | beta | gamma | n | timbre private | timbre shared | frequency private | frequency shared |",
                      "|---|---|---|---|---|---|---|---|", *_weights_rows(table, with_n=True)])


def estimator_markdown() -> str:
    """Markdown table: the paper's decisive ablation cells with the column-0 MSS estimator, beside ours and the paper's."""
    strided = load_results(ASSETS / "estimator", estimator_grid())
    if len(strided) == 0:
        return "(no shipped estimator results: run `python -m mvtutorial.reproduce estimator`)"
    correct = load_results(ASSETS / "ablation", ablation_grid())
    lines = [f"The paper's decisive ablation cells ({ABLATION_EPOCHS}-epoch full preset, seeds "
             f"{', '.join(map(str, sorted(strided.seed.unique())))}), MLP probes on posterior means, mean over seeds: "
             "our estimator (loo) / the copied column-0 estimator / the paper:", "",
             "| cell | timbre private | timbre shared | frequency private | frequency shared |", "|---|---|---|---|---|"]
    for term, value in ESTIMATOR_CELLS:
        cells = []
        for factor in ("timbre", "frequency"):
            for latent in ("private", "shared"):
                ours, theirs = ablation_cell(correct, term, value, latent, factor), ablation_cell(strided, term, value, latent, factor)
                cells.append(f"{ours[0]:.2f} / {theirs[0]:.2f} / {paper.ablation_cell(term, value, latent, factor):.2f}")
        lines.append(f"| {term} = {value:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reproduce_ablation(seeds=(0, 1, 2), n_jobs: int = 2, threads: int | None = None, **backend) -> None:
    """The paper's ablation; ``backend``: ``scheduler``, ``write_on``, ``out`` of :func:`~mvtutorial.studies.store.sweep_into`."""
    sweep_into(ablation_grid(seeds=seeds), "ablation", n_jobs, threads, **backend)


def reproduce_sweep2d(seeds=(0, 1, 2), n_jobs: int = 2, threads: int | None = None, **backend) -> None:
    """Chapter 5's gamma x beta grid; its edges are ablation runs, taken from the output folder or the shipped ones."""
    grid = gamma_beta_grid(seeds=seeds)
    root = output_root(backend.get("out"))
    todo = grid
    for folder in dict.fromkeys([root / "ablation", ASSETS / "ablation"]):  # the grid's edges are ablation runs
        todo = pending_runs(todo, folder)
    found_in = where(root, "ablation") + ("" if root == ASSETS else " or assets/ablation")
    print(f"{len(grid)} runs in the grid, {len(grid) - len(todo)} already in {found_in}, "
          f"{len(todo)} for {where(root, 'sweep2d')}", flush=True)
    sweep_into(todo, "sweep2d", n_jobs, threads, by=("beta", "gamma"), **backend)


def reproduce_retest(seeds=(0, 1, 2), n_jobs: int = 2, threads: int | None = None, **backend) -> None:
    """The paper's ablation re-run on top of the recommended configuration (chapter 5)."""
    sweep_into(recommended_ablation_grid(seeds), "retest", n_jobs, threads, STUDY_EVAL, **backend)


def reproduce_estimator(seeds=(0, 1, 2), n_jobs: int = 2, threads: int | None = None, **backend) -> None:
    """The paper's key ablation cells with the column-0 MSS estimator (chapters 5 and 6)."""
    sweep_into(estimator_grid(seeds), "estimator", n_jobs, threads, {"samples": True}, **backend)


# --------------------------------------------------------------------------- #
# Chapter 5: the results of each grid, shipped (full), re-run (full, rerun) or toy (fast)
# --------------------------------------------------------------------------- #
TERMS = ("alpha", "beta", "gamma")
FACTOR_NAMES = ("timbre", "frequency")
#: Chance accuracy of each factor of the tone set: 1 / number of classes.
CHANCE = {"timbre": 1 / len(ToneConfig().waveforms), "frequency": 1 / ToneConfig().n_freq_classes}
#: Evaluation of fast mode's toy runs: one logistic probe on at most 500 training codes.
FAST_EVAL = {"probe": "logistic", "max_probe_train": 500, "probe_seeds": (0,)}


def fast_base() -> TrainConfig:
    """Fast mode's toy runs: one epoch of a 32-32 model on the 840-clip set."""
    return TrainConfig.preset("fast", epochs=1, hidden=(32, 32))


def _shipped(folder: str, configs: Sequence[TrainConfig], codes: str = "mean") -> tuple[pd.DataFrame, str]:
    """Results of ``configs`` shipped in ``assets/<folder>``, and a note when files there match none."""
    table = load_results(ASSETS / folder, configs, codes=codes)
    n_files = len(list((ASSETS / folder).glob("*.json")))
    note = (f"; note: assets/{folder} holds {n_files} result file(s), none for these configs (run keys hash the config "
            "and the package version)" if n_files and len(table) == 0 else "")
    return table, note


def ablation_results(mode: str = "full", rerun: bool = False) -> tuple[pd.DataFrame, list[TrainConfig], Path, str]:
    """``(table, configs, folder, source)`` of the paper's ablation for chapter 5.

    ``full``: the shipped results (``assets/ablation``, :func:`ablation_grid` with seeds 0-2), or with
    ``rerun`` the sweep run into the cache folder (resumable; hours on a laptop). ``fast``: the weights
    0 and 1 of :func:`fast_base` trained now into a new temporary folder (a smoke test, not a result).
    ``table``: :func:`~mvtutorial.experiments.load_results`, one row per run, latent and factor.
    """
    if mode == "fast":
        configs = ablation_grid(values=(0.0, 1.0), seeds=(0,), base=fast_base())
        folder = Path(tempfile.mkdtemp(prefix="mvtutorial-ablation-"))
        table = run_sweep(configs, folder, n_jobs=1, threads=1, eval_kwargs=FAST_EVAL)  # tiny runs: one process, one thread
        return table, configs, folder, (f"fast mode: {len(configs)} one-epoch models (hidden 32-32, 840 clips) with "
                                        "logistic probes, trained on the spot (a smoke test, not a result)")
    configs = ablation_grid(seeds=(0, 1, 2))
    if rerun:
        folder = cache_dir() / "sweeps"
        return run_sweep(configs, folder, n_jobs=2, verbose=5), configs, folder, f"re-run on this machine into {folder}"
    table, note = _shipped("ablation", configs)
    return table, configs, ASSETS / "ablation", f"shipped results in mvtutorial/assets/ablation ({table['key'].nunique() if len(table) else 0} runs){note}"


def runs_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (alpha, beta, gamma) of a results table: training seeds, which, mean seconds per run."""
    return (table.drop_duplicates("key").groupby(["alpha", "beta", "gamma"])
            .agg(n_seeds=("seed", "nunique"), seeds=("seed", lambda s: ", ".join(map(str, sorted(s)))),
                 seconds=("seconds", "mean")))


#: The gamma x beta grid of chapter 5 (gammas, betas) per mode.
GAMMA_BETA = {"full": ((0.0, 0.1, 1.0), (0.0, 0.1, 1.0)), "fast": ((0.0, 1.0), (0.0, 1.0))}


def gamma_beta_results(mode: str = "full", rerun: bool = False, folder: Path | None = None) -> tuple[pd.DataFrame, list[TrainConfig], str]:
    """``(table, configs, source)`` of :func:`gamma_beta_grid` (:data:`GAMMA_BETA` of ``mode``).

    ``fast`` and ``rerun`` sweep into ``folder`` (the ablation's: its runs are the grid's edges, same
    keys); ``full`` reads ``assets/sweep2d`` and ``assets/ablation``.
    """
    gammas, betas = GAMMA_BETA[mode]
    if mode == "fast":
        configs = gamma_beta_grid(gammas, betas, seeds=(0,), base=fast_base())
        table = run_sweep(configs, folder, n_jobs=1, threads=1, eval_kwargs=FAST_EVAL)
        return table, configs, "fast mode: one-epoch toy models (not a result)"
    configs = gamma_beta_grid(gammas, betas, seeds=(0, 1, 2))
    if rerun:
        return run_sweep(configs, folder, n_jobs=2, verbose=5), configs, f"re-run on this machine into {folder}"
    (interior, note), (edges, _) = _shipped("sweep2d", configs), _shipped("ablation", configs)
    parts = [p for p in (interior, edges) if len(p)]
    table = pd.concat(parts).drop_duplicates(["key", "latent", "factor"]) if parts else pd.DataFrame()
    return table, configs, f"shipped results in mvtutorial/assets/sweep2d and assets/ablation{note}"


def score_grid(table: pd.DataFrame, gammas: Sequence[float], betas: Sequence[float], shared: str = "shared") -> dict[str, pd.DataFrame]:
    """The separation score S (:func:`~mvtutorial.studies.separation.separation_score`) of every run
    of a gamma x beta results table, as ``{"mean" | "std" | "count": (betas x gammas)}`` over seeds
    (NaN: a cell with no run)."""
    per_run = table.pivot_table(index=["key", "gamma", "beta", "seed"], columns=["latent", "factor"], values="accuracy")
    per_run.columns = [f"{lat}/{f}" for lat, f in per_run.columns]
    s = per_run.apply(lambda row: separation_score(row.to_dict(), shared), axis=1).rename("S").reset_index()
    return {agg: s.pivot_table(index="beta", columns="gamma", values="S", aggfunc=agg).reindex(index=betas, columns=gammas)
            for agg in ("mean", "std", "count")}


def retest_results(mode: str = "full") -> tuple[pd.DataFrame, Path, str]:
    """``(table, folder, source)`` of :func:`recommended_ablation_grid`, probes on posterior samples:
    shipped in ``assets/retest`` (``full``), or trained now, one epoch, into a new temporary folder (``fast``)."""
    if mode == "fast":
        configs = [dataclasses.replace(c, epochs=1, hidden=(32, 32)) for c in recommended_ablation_grid(seeds=(0,), mode="fast")]
        folder = Path(tempfile.mkdtemp(prefix="mvtutorial-retest-"))
        run_sweep(configs, folder, n_jobs=1, threads=1, eval_kwargs={**FAST_EVAL, "samples": True})
        return load_results(folder, configs, codes="sample"), folder, "fast mode: one-epoch toy models (not a result)"
    table, note = _shipped("retest", recommended_ablation_grid(seeds=(0, 1, 2)), codes="sample")
    return table, ASSETS / "retest", f"shipped results in mvtutorial/assets/retest (python -m mvtutorial.reproduce retest){note}"
