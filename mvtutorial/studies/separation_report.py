"""Chapter 6's readings: the sentences that say what the separation study's tables show, computed
from them so that no reading can contradict its table when a result changes.

Each function takes the tables of :func:`mvtutorial.studies.separation.study_table` (mean, sd and n
over training seeds per family) and returns a table or markdown lines; the chapter displays them.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import torch

from .. import paper
from ..losses import LossWeights, multiview_loss
from ..metrics.probes import probe_accuracy
from ..results import format_stats
from .ablation import ESTIMATOR_CELLS, ablation_cell
from .separation import FAMILIES, PAPER, RECOMMENDED, TARGETS, check_targets, label, separation_score

__all__ = ["PAPER_FAMILY", "AUTOENCODER", "BUILDS_ON", "mi_gradient_check", "mean_sd_display", "target_table",
           "input_ceiling", "value", "study_readings", "mechanism_readings", "pitch_targets_reading", "paper_comparison",
           "cell_separation_score", "estimator_table", "estimator_readings"]

#: Rows of the study tables (display labels) the readings name: the paper's family and reconstruction alone.
PAPER_FAMILY, AUTOENCODER = label(PAPER), label("autoencoder")
#: Each family's comparison family: the one it adds one hypothesis to (identifiers, chapter 6's table order).
BUILDS_ON = {"cross-view": "autoencoder", "rate": "autoencoder", "cross-view-rate": "cross-view", "cycle": "cross-view-rate",
             "cross-view-rate-60-epochs": "cross-view-rate", "transposition-freqconv": "cross-view-rate",
             "decoder-stage": "transposition-freqconv", "swap-consistency": "decoder-stage", "recommended": "swap-consistency"}
#: What a mechanism reading reports, in order: (probe key, words).
_READ = (("shared/timbre", "shared → timbre"), ("private/timbre", "private → timbre"),
         ("private/frequency", "private → frequency"), ("shared/frequency", "shared → frequency"),
         ("both/frequency", "both → frequency"), ("median_std/private", "median private posterior std"))


def mi_gradient_check(model, ds, gamma: float = 0.1, n_pairs: int = 64, seed: int = 0) -> dict[str, float]:
    """Why turning up alpha cannot push a sharp model: on one batch of ``n_pairs`` training pairs, the
    minibatch index-code MI estimates (shared; private per view) against their ceiling ``log N``, and the
    gradient norms (over all parameters) of the reconstruction term and of the MI term at alpha = 1.
    ``model`` is put back in eval mode."""
    model.train()
    pairs = ds.pairs("train", rng=seed)[:n_pairs]
    x1, x2 = ds.features[pairs[:, 0]], ds.features[pairs[:, 1]]
    n_train = len(ds.split_indices("train"))
    loss = multiview_loss(model(x1, x2, generator=torch.Generator().manual_seed(seed)), x1, x2, LossWeights(0, 0, gamma), n_train)
    params = list(model.parameters())

    def norm(term) -> float:  # the gradient's Euclidean norm over every parameter
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        return float(torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None)))

    mi = 2 * loss.terms["shared_mi"] + loss.terms["private_mi"]
    out = {"shared_mi": loss.terms["shared_mi"].item(), "private_mi_per_view": loss.terms["private_mi"].item() / 2,
           "log_n": float(np.log(n_train)), "grad_reconstruction": norm(loss.reconstruction), "grad_mi": norm(mi)}
    model.eval()
    return out


def mean_sd_display(stats: pd.DataFrame, columns) -> pd.DataFrame:
    """A study table as text, "mean ± sd" (:func:`mvtutorial.results.format_stats`) for the quantities of ``columns`` it has."""
    keys = [k for k in columns if (k, "mean") in stats.columns]
    stds = {k: 3 for k in keys if k.startswith("median_std")}  # posterior stds go down to 0.005
    return format_stats(stats[[c for c in stats.columns if c[0] in keys]], digits=stds)[keys]


def value(stats: pd.DataFrame, family: str, key: str, what: str = "mean") -> float:
    """``stats.loc[family, (key, what)]`` (``family``: a row label), NaN when the family or the quantity is not in the table."""
    return float(stats.loc[family, (key, what)]) if family in stats.index and (key, what) in stats.columns else np.nan


def target_table(samples: pd.DataFrame, means: pd.DataFrame, family: str = RECOMMENDED) -> pd.DataFrame:
    """Every target of :data:`~mvtutorial.studies.separation.TARGETS` for ``family`` (an identifier; mean over
    seeds), on posterior samples and on means: columns ``(codes, "value" | "met")``, rows the targets."""
    rows = {}
    for codes, stats in (("samples", samples), ("means", means)):
        values = {key: stats.loc[label(family), (key, "mean")] for key, what in stats.columns if what == "mean"}
        rows[codes] = check_targets(values).set_index("target")[["value", "met"]]
    return pd.concat(rows, axis=1).round(3)


def input_ceiling(ds, probe: str = "mlp", max_train: int = 10_000, seed: int = 0) -> dict[str, float]:
    """What the input allows: the study's probe on the time-averaged log-mel (no model in between),
    test accuracy per factor (factor names from ``ds.factor_columns``). Training clips are subsampled
    to ``max_train`` as the study's probes are."""
    train, test = ds.split_indices("train"), ds.split_indices("test")
    if len(train) > max_train:
        train = np.sort(np.random.default_rng(seed).choice(train, max_train, replace=False))
    pooled = ds.features.mean(-1).numpy()
    return {factor: probe_accuracy(pooled[train], ds.factors[col].to_numpy()[train], pooled[test],
                                   ds.factors[col].to_numpy()[test], kind=probe, seed=seed)
            for factor, col in ds.factor_columns.items()}


def study_readings(samples: pd.DataFrame, ceiling: Mapping[str, float] | None = None) -> list[str]:
    """Markdown lines: the family with the highest separation score, one line per family, and (with the
    input's ``ceiling``) how much the autoencoder keeps against what the input holds."""
    if len(samples) == 0:
        return []
    best = samples[("S", "mean")].idxmax()
    v = lambda f, k: value(samples, f, k)  # noqa: E731
    lines = [f"On posterior samples the highest separation score is **{best}** (S = {v(best, 'S'):.2f}, pair-fused "
             f"{v(best, 'S_fused'):.2f}); the paper's configuration scores {v(PAPER_FAMILY, 'S'):.2f}."]
    lines += [f"* **{f}**: shared → timbre {v(f, 'shared/timbre'):.2f}, private → timbre {v(f, 'private/timbre'):.2f}, "
              f"private → frequency {v(f, 'private/frequency'):.2f}, shared → frequency {v(f, 'shared/frequency'):.2f}; "
              f"median posterior std private {v(f, 'median_std/private'):.2g}, shared {v(f, 'median_std/shared'):.2g}."
              for f in samples.index]
    if ceiling is not None and AUTOENCODER in samples.index:
        lost = v(AUTOENCODER, "both/frequency") < ceiling["frequency"] - 0.02
        lines += ["", f"Information kept: with reconstruction alone both codes together read timbre at "
                  f"{v(AUTOENCODER, 'both/timbre'):.2f} and frequency at {v(AUTOENCODER, 'both/frequency'):.2f} (the paper's "
                  f"configuration: {v(PAPER_FAMILY, 'both/timbre'):.2f} and {v(PAPER_FAMILY, 'both/frequency'):.2f}); the same "
                  f"probe on the time-averaged log-mel itself (the encoder's input) reads {ceiling['timbre']:.2f} and "
                  f"{ceiling['frequency']:.2f}, so "
                  + ("part of the pitch is lost by the autoencoder before any separation is asked for."
                     if lost else "the autoencoder keeps what the input holds.")]
    return lines


def mechanism_readings(samples: pd.DataFrame) -> list[str]:
    """Markdown lines, one per family of :data:`BUILDS_ON`: its hypothesis (from
    :data:`~mvtutorial.studies.separation.FAMILIES`) and how each key quantity moved against the
    family it builds on (mean over seeds, posterior samples), with the change in units of the larger
    sd over seeds, so a reader sees which moves are beyond seed noise."""
    lines = []
    for family_key, base_key in BUILDS_ON.items():
        family, base = label(family_key), label(base_key)
        if family not in samples.index or base not in samples.index:
            continue
        moves = []
        for key, words in _READ:
            a, b = value(samples, base, key), value(samples, family, key)
            if np.isnan(a) or np.isnan(b):
                continue
            spread = np.nanmax([value(samples, base, key, "sd"), value(samples, family, key, "sd"), 1e-3])
            mark = "" if abs(b - a) > 2 * spread else " (within seed noise)"
            fmt = ".2g" if key.startswith("median_std") else ".2f"  # posterior stds span 0.005 to 1
            moves.append(f"{words} {a:{fmt}} → {b:{fmt}}{mark}")
        lines.append(f"* **{family}** (against *{base}*; hypothesis: {FAMILIES[family_key].hypothesis}): " + "; ".join(moves) + ".")
    return lines


def pitch_targets_reading(samples: pd.DataFrame) -> str:
    """Which families meet the two pitch targets of :data:`~mvtutorial.studies.separation.TARGETS` (private ->
    frequency and both -> frequency) on posterior samples, and how far the autoencoder's both -> frequency is."""
    pitch_targets = [(key, threshold) for key, op, threshold in TARGETS if key in ("private/frequency", "both/frequency")]
    meeting = [f for f in samples.index if all(value(samples, f, key) >= threshold for key, threshold in pitch_targets)]
    ae = value(samples, AUTOENCODER, "both/frequency")
    return ((f"Families that meet both pitch targets on samples: {', '.join(meeting)}." if meeting else
             "No family meets both pitch targets (private → frequency and both → frequency) on samples")
            + ("" if meeting or np.isnan(ae) else f"; even reconstruction alone reads both → frequency {ae:.2f}, so the limit "
               "sits in how precisely the pooled autoencoder keeps pitch, not only in the split (section 6.8 looks closer).")
            + " Section 6.4 lists exactly which targets hold.")


def paper_comparison(samples: pd.DataFrame, family: str = RECOMMENDED) -> str:
    """One markdown sentence: ``family``'s (an identifier) probes on samples against the paper's printed probes
    (:data:`mvtutorial.paper.PROBES`), for the three probes the paper's table and ours share."""
    parts, beaten, missed, family = [], [], [], label(family)
    for (latent, factor), lower_is_better in ((("shared", "frequency"), True), (("private", "timbre"), True),
                                              (("private", "frequency"), False)):
        ours, theirs = value(samples, family, f"{latent}/{factor}"), paper.PROBES.get((latent, factor))
        if theirs is None or np.isnan(ours):
            continue
        better = ours < theirs if lower_is_better else ours > theirs
        (beaten if better else missed).append(f"{latent} → {factor}")
        parts.append(f"{latent} → {factor} {ours:.2f} (paper {theirs:.2f}, {'lower' if lower_is_better else 'higher'} is better)")
    if not parts:
        return ""
    return (f"Against the paper's printed probes, **{family}** on posterior samples: " + "; ".join(parts) + ". "
            + (f"Better than the paper: {', '.join(beaten)}. " if beaten else "")
            + (f"Not reached: {', '.join(missed)}." if missed else "Every one of them is reached."))


def cell_separation_score(table: pd.DataFrame, term: str, value: float) -> float | None:
    """The separation score S (:func:`~mvtutorial.studies.separation.separation_score`) of one ablation
    cell, from the mean probes of :func:`~mvtutorial.studies.ablation.ablation_cell`; None when a probe is missing."""
    probes = {}
    for latent in ("private", "shared"):
        for factor in ("timbre", "frequency"):
            cell = ablation_cell(table, term, value, latent, factor) if len(table) else None
            if cell is None:
                return None
            probes[f"{latent}/{factor}"] = cell[0]
    return separation_score(probes)


def estimator_table(correct: pd.DataFrame, strided: pd.DataFrame) -> pd.DataFrame:
    """Chapter 6's estimator comparison: for reconstruction alone and each cell of :data:`~mvtutorial.studies.ablation.ESTIMATOR_CELLS`,
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
    """Markdown lines, one per cell of :data:`~mvtutorial.studies.ablation.ESTIMATOR_CELLS` that both estimators have: S and shared ->
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
