"""Chapter 5's study: the paper's ablation (one of alpha, beta, gamma at a time), the gamma x beta
grid beyond it, the ablation re-run on top of the recommended configuration, and the paper's decisive
cells trained with the widely copied column-0 MSS estimator.

Each grid is a list of :class:`~mvtutorial.config.TrainConfig`; ``python -m mvtutorial.reproduce
ablation|sweep2d|retest|estimator`` runs it (resumable) into ``assets/<study>/<key>.json``, and the
``*_markdown`` functions print the README's tables from the shipped results.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from .. import paper
from ..config import TrainConfig
from ..experiments import expand_grid, load_results, pending_runs, unique_configs
from .separation import STUDY_EVAL, recommended_config, separation_score
from .store import ASSETS, output_root, sweep_into, where

__all__ = ["PAPER_VALUES", "ABLATION_EPOCHS", "ablation_base", "ablation_grid", "gamma_beta_grid", "ablation_cell",
           "RETEST_VALUES", "recommended_ablation_grid", "ESTIMATOR_CELLS", "estimator_grid", "cell_separation_score",
           "estimator_table", "estimator_readings",
           "ablation_markdown", "retest_markdown", "estimator_markdown",
           "reproduce_ablation", "reproduce_sweep2d", "reproduce_retest", "reproduce_estimator"]

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
    """The paper's one-term-at-a-time ablation with the recommended configuration as the base
    (instead of reconstruction alone), at :data:`ABLATION_EPOCHS` epochs."""
    base = recommended_config(mode) if mode == "fast" else recommended_config(mode, epochs=ABLATION_EPOCHS)
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


def cell_separation_score(table: pd.DataFrame, term: str, value: float) -> float | None:
    """The separation score S (:func:`~mvtutorial.studies.separation.separation_score`) of one ablation
    cell, from the mean probes of :func:`ablation_cell`; None when a probe is missing."""
    probes = {}
    for latent in ("private", "shared"):
        for factor in ("timbre", "frequency"):
            cell = ablation_cell(table, term, value, latent, factor) if len(table) else None
            if cell is None:
                return None
            probes[f"{latent}/{factor}"] = cell[0]
    return separation_score(probes)


def estimator_table(correct: pd.DataFrame, strided: pd.DataFrame) -> pd.DataFrame:
    """Chapter 6's estimator comparison: for reconstruction alone and each cell of :data:`ESTIMATOR_CELLS`,
    the mean probe (posterior means) with our estimator (``correct``), the column-0 one (``strided``)
    and the paper's bar; rows the cells, columns ``(factor latent, estimator)``, "-" where missing."""
    rows = []
    for term, value in [("gamma", 0.0), *ESTIMATOR_CELLS]:
        row = {"cell": "reconstruction only" if value == 0 else f"{term} = {value:g}"}
        for factor in ("timbre", "frequency"):
            for latent in ("private", "shared"):
                for name, table in (("loo", correct), ("column-0", strided)):
                    cell = ablation_cell(table, term, value, latent, factor) if len(table) else None
                    row[(f"{factor} {latent}", name)] = "-" if cell is None else f"{cell[0]:.2f}"
                theirs = paper.ablation_cell(term, value, latent, factor)
                row[(f"{factor} {latent}", "paper")] = "-" if theirs is None else f"{theirs:.2f}"
        rows.append(row)
    out = pd.DataFrame(rows).set_index("cell")
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def estimator_readings(correct: pd.DataFrame, strided: pd.DataFrame) -> list[str]:
    """Markdown lines, one per cell of :data:`ESTIMATOR_CELLS` that both estimators have: S and shared ->
    timbre with the column-0 estimator and with ours, beside reconstruction alone and the paper's bar."""
    s0, lines = cell_separation_score(correct, "gamma", 0.0), []
    for term, value in ESTIMATOR_CELLS:
        s_loo, s_col = cell_separation_score(correct, term, value), cell_separation_score(strided, term, value)
        if s_loo is None or s_col is None:
            continue
        t_col = ablation_cell(strided, term, value, "shared", "timbre")[0]
        t_loo = ablation_cell(correct, term, value, "shared", "timbre")[0]
        lines.append(f"* {term} = {value:g}: separation score S = {s_col:.2f} with the column-0 estimator, {s_loo:.2f} with "
                     f"ours (reconstruction alone: {s0:.2f}); shared → timbre {t_col:.2f} vs {t_loo:.2f} "
                     f"(paper {paper.ablation_cell(term, value, 'shared', 'timbre'):.2f}).")
    return lines
