"""Chapter 4's tables of the headline configuration: where its numbers come from, probe accuracies
beside the paper's, the reproduction targets, scores, the KL decomposition, UMAP maps, and the
generated discussion. Every function reads evaluation results (:func:`mvtutorial.evaluate.evaluate_model`
dicts, one per training seed) so that the chapter prints nothing it did not compute.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .. import metrics, paper
from ..evaluate import FACTORS, SplitCodes, encode_split, evaluate_model
from ..results import mi_frame, mi_table
from .headline import headline_config, headline_model, headline_results
from .separation import PAPER, RECOMMENDED, check_targets, label, study_results, study_table

__all__ = ["LATENTS", "DIRECTIONS", "headline_evaluation", "probe_accuracies", "probe_table", "paper_values",
           "targets_table", "score_table", "decomposition_table", "paper_comparison",
           "discussion_markdown", "COMPARE_KEYS", "study_comparison"]

#: The codes chapter 4 probes, in its order (see :meth:`mvtutorial.evaluate.SplitCodes.latents`).
LATENTS = ("private", "shared", "both", "shared_fused", "both_fused")
#: The probes of the paper's table, each with whether higher is better (False: it measures leakage).
DIRECTIONS = {("shared", "timbre"): True, ("private", "frequency"): True, ("both", "timbre"): True,
              ("both", "frequency"): True, ("private", "timbre"): False, ("shared", "frequency"): False}


def headline_evaluation(mode: str, ds) -> tuple[list[dict], object, str]:
    """``(runs, model, source)`` for chapter 4: one evaluation dict per training seed, the seed-0
    model (for the figures that need codes), and a sentence saying where the numbers come from.

    ``full``: the shipped results of ``python -m mvtutorial.reproduce headline`` (evaluated now, on
    one seed, if none ship) and the shipped seed-0 checkpoint. ``fast``: the fast preset trained and
    evaluated on the spot with one probe seed (a smoke test, not a result).
    """
    if mode != "full":
        model, _ = headline_model(mode, progress=False)
        runs = [{"seed": 0, **evaluate_model(model, ds, probe_seeds=(0,), max_probe_train=2000)}]
        config = headline_config(mode)
        return runs, model, (f"{mode} mode: a {config.epochs}-epoch model on the {len(ds):,}-clip set, evaluated on the spot "
                             "(a smoke test, not a result)")
    model, _ = headline_model("full", seed=0)
    runs = headline_results()
    if runs:
        return runs, model, (f"shipped results: {len(runs)} training seed(s) {[r['seed'] for r in runs]} of the headline "
                             f"configuration, evaluated by mvtutorial {runs[0]['version']}")
    runs = [{"seed": 0, **evaluate_model(model, ds)}]
    return runs, model, "NO shipped results found: evaluating the seed-0 headline model now (one training seed)"


def probe_accuracies(runs: Sequence[dict]) -> dict[str, np.ndarray]:
    """``"latent/factor" -> (n_seeds,)`` probe accuracies over the training seeds of ``runs``."""
    return {key: np.array([r["probes"][key] for r in runs]) for key in runs[0]["probes"]}


def probe_table(runs: Sequence[dict], latents: Sequence[str] = LATENTS) -> pd.DataFrame:
    """Ours (mean +- sd over training seeds), the paper's table and chance, per latent (rows) and factor:
    columns ``(factor, "ours" | "paper" | "chance")``, formatted to 3 decimals ("-": no paper value)."""
    acc, chance = probe_accuracies(runs), runs[0]["chance"]
    rows = {}
    for lat in latents:
        row = {}
        for f in FACTORS:
            v = acc[f"{lat}/{f}"]
            row[(f, "ours")] = f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else "")
            theirs = paper.PROBES.get((lat, f))
            row[(f, "paper")] = "-" if theirs is None else f"{theirs:.3f}"
            row[(f, "chance")] = f"{chance[f]:.3f}"
        rows[lat] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("latent")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def _ours(runs: Sequence[dict]) -> dict[str, float]:
    """Mean over training seeds of every probe and of both MI ratios."""
    out = {k: float(v.mean()) for k, v in probe_accuracies(runs).items()}
    return {**out, **{k: float(np.mean([r[k] for r in runs])) for k in ("mi_ratio_timbre", "mi_ratio_frequency")}}


def paper_values() -> dict[str, float]:
    """The paper's probe accuracies (``"latent/factor"``) and summed-MI ratios (:mod:`mvtutorial.paper`)."""
    return {**{f"{lat}/{f}": v for (lat, f), v in paper.PROBES.items()},
            "mi_ratio_timbre": paper.mi_ratio("timbre"), "mi_ratio_frequency": paper.mi_ratio("frequency")}


def targets_table(runs: Sequence[dict]) -> pd.DataFrame:
    """The project's targets (:data:`mvtutorial.studies.separation.TARGETS`, single-view and pair-fused
    versions, via :func:`~mvtutorial.studies.separation.check_targets`) on the mean over training seeds,
    beside the paper's value: columns ``ours``, ``paper`` (NaN: the paper has none), ``met``, ``paper met``."""
    ours, theirs = check_targets(_ours(runs)), check_targets(paper_values())
    return pd.DataFrame({"ours": ours.value.to_numpy(), "paper": theirs.value.astype(float).to_numpy(),
                         "met": ours.met.to_numpy(), "paper met": theirs.met.to_numpy()},
                        index=pd.Index(ours.target, name="target"))


def score_table(runs: Sequence[dict], model=None, ds=None, codes: SplitCodes | None = None) -> tuple[pd.DataFrame, str]:
    """MIG, DCI and SAP: mean (and sd) over the training seeds of ``runs``, or, for results written
    without scores, computed now on the codes of ``model`` (``codes``: its test codes; train codes
    from ``ds``, at most 10,000). Returns ``(table, where the scores come from)``."""
    if all("scores" in r for r in runs):
        per_run, source = pd.DataFrame([r["scores"] for r in runs]), "evaluation results"
    else:
        train = encode_split(model, ds, "train")
        z_tr, y_tr = np.hstack([train.private, train.shared])[:10_000], train.labels()[:10_000]
        z_te, y_te = np.hstack([codes.private, codes.shared]), codes.labels()
        d = metrics.dci(z_tr, y_tr, z_te, y_te)
        per_run = pd.DataFrame([{"mig": metrics.mig(metrics.mi_knn(z_te, y_te), metrics.factor_entropy(y_te)),
                                 "dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
                                 "dci_informativeness": d["informativeness"], "sap": metrics.sap(z_tr, y_tr, z_te, y_te)}])
        source = "computed here on the seed-0 codes"
    table = pd.DataFrame({"mean": per_run.mean()})
    if len(per_run) > 1:
        table["sd"] = per_run.std(ddof=1)
    return table, source


def decomposition_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Index-code MI, total correlation, dimension-wise KL and their sum (nats per clip, test split),
    per subspace, mean over training seeds (Chen et al. 2018's decomposition, all N clips)."""
    table = pd.concat({s: pd.DataFrame([r["decomposition"][s] for r in runs]).mean() for s in ("private", "shared")},
                      axis=1).T[["mi", "tc", "dwkl", "kl"]]
    table.columns = ["index-code MI", "total correlation", "dimension-wise KL", "KL (sum)"]
    return table


def paper_comparison(runs: Sequence[dict], tol: float = 0.01) -> pd.DataFrame:
    """Each probe of the paper's table, ours (mean over training seeds) beside the paper's, which way
    is better, and the verdict: ``matches`` (within ``tol``), ``beats`` or ``falls short of``."""
    acc = _ours(runs)
    rows = []
    for (lat, f), higher in DIRECTIONS.items():
        ours, theirs = acc[f"{lat}/{f}"], paper.PROBES[(lat, f)]
        verdict = f"matches (within {tol:g})" if abs(ours - theirs) <= tol else (
            "beats" if (ours > theirs) == higher else "falls short of")
        rows.append({"probe": f"{lat} → {f}", "ours": ours, "paper": theirs,
                     "better": "higher" if higher else "lower (leakage)", "ours vs the paper": verdict})
    return pd.DataFrame(rows).set_index("probe")


def discussion_markdown(runs: Sequence[dict], scores: pd.DataFrame, n_test: int, separated_ratio: float = 3.0) -> str:
    """Chapter 4's discussion, every number and verdict computed from ``runs`` (evaluation results,
    one per training seed), ``scores`` (:func:`score_table`) and the test split's size ``n_test``:
    the summed MI (:func:`mvtutorial.results.mi_table`) and its ratios beside the paper's, the targets
    met, what pair fusion changes, the scores (a code whose MI ratios are both at least
    ``separated_ratio`` counts as separated at the subspace level), the diagonal beside the leakage,
    and the KL decomposition."""
    acc, chance = _ours(runs), runs[0]["chance"]
    mi = mi_table(mi_frame(runs))["sum"]
    rt, rf = acc["mi_ratio_timbre"], acc["mi_ratio_frequency"]
    targets, decomp = targets_table(runs), decomposition_table(runs)
    dci, mig, sap = (scores.loc[k, "mean"] for k in ("dci_disentanglement", "mig", "sap"))
    if min(rt, rf) >= separated_ratio:
        spread = ("much lower, so inside each subspace a factor is spread over several dimensions, which the paper's "
                  "objective does not discourage" if max(mig, sap) < 0.5 * dci else "as high: each factor is also concentrated "
                  "in few dimensions")
        scores_text = (f"The subspaces separate the factors (both MI ratios at least {separated_ratio:g}); DCI disentanglement "
                       f"is {dci:.2f}, MIG {mig:.2f} and SAP {sap:.2f}: MIG and SAP are {spread}.")
    else:
        scores_text = (f"At least one MI ratio is below {separated_ratio:g} ({rt:.1f}, {rf:.1f}), so the subspaces do not "
                       f"cleanly separate the factors in this run; the scores (DCI disentanglement {dci:.2f}, MIG {mig:.2f}, "
                       f"SAP {sap:.2f}) describe a code that is tangled at the subspace level.")
    fused_lower = acc["shared_fused/frequency"] < acc["shared/frequency"]
    return "\n\n".join([
        f"The summed MI puts {mi['timbre', 'shared']:.2f} nats of timbre in the shared code against "
        f"{mi['timbre', 'private']:.2f} in the private code, a mean per-seed ratio of {rt:.1f} (paper "
        f"{paper.mi_ratio('timbre'):.1f}); frequency has {mi['frequency', 'private']:.2f} nats in the private code against "
        f"{mi['frequency', 'shared']:.2f} in the shared code, a mean per-seed ratio of {rf:.1f} (paper "
        f"{paper.mi_ratio('frequency'):.1f}). Reproduction targets met: {int(targets.met.sum())} of {len(targets)} (the "
        f"paper's own numbers meet {int(targets['paper met'].sum())}).",
        f"Pair fusion changes the shared code's frequency accuracy from {acc['shared/frequency']:.3f} (single view) to "
        f"{acc['shared_fused/frequency']:.3f} (fused with a partner of another frequency), and its timbre accuracy from "
        f"{acc['shared/timbre']:.3f} to {acc['shared_fused/timbre']:.3f}. "
        + ("Fusion pushes frequency towards chance, consistent with the paper's near-chance shared-frequency ablation "
           "numbers having been measured on the fused code." if fused_lower else
           "Fusion does not lower the frequency accuracy here."),
        scores_text,
        f"Low leakage only counts next to a high diagonal: an encoder that keeps no frequency at all would score at chance "
        f"on shared → frequency. The diagonal here: shared → timbre {acc['shared/timbre']:.3f}, private → frequency "
        f"{acc['private/frequency']:.3f}; the leakage: private → timbre {acc['private/timbre']:.3f} (chance "
        f"{chance['timbre']:.3f}), shared → frequency {acc['shared/frequency']:.3f} (chance {chance['frequency']:.3f}).",
        f"The shared subspace keeps {decomp.loc['shared', 'index-code MI']:.2f} nats of index-code MI and the private one "
        f"{decomp.loc['private', 'index-code MI']:.2f} (of at most log N = {np.log(n_test):.2f}); their total correlations "
        f"are {decomp.loc['shared', 'total correlation']:.2f} and {decomp.loc['private', 'total correlation']:.2f} nats.",
    ])


#: The probes chapter 4 compares between the headline and the recommended configuration of chapter 6.
COMPARE_KEYS = ("shared/timbre", "private/timbre", "private/frequency", "shared/frequency", "shared_fused/timbre",
                "shared_fused/frequency", "both/timbre", "both/frequency")


def study_comparison(keys: Sequence[str] = COMPARE_KEYS, codes: str = "sample") -> pd.DataFrame | None:
    """The shipped separation study's ``paper (headline)`` and recommended families side by side:
    mean +- sd over seeds of each probe in ``keys`` on posterior ``codes`` (chapter 6's
    :func:`~mvtutorial.studies.separation.study_table`), and a last row counting the targets each
    meets (:func:`~mvtutorial.studies.separation.check_targets` on the means). None when the study is not shipped."""
    study = study_table(study_results(), codes)
    if len(study) == 0 or label(RECOMMENDED) not in study.index:
        return None
    families = [label(f) for f in (PAPER, RECOMMENDED) if label(f) in study.index]
    table = pd.DataFrame({fam: [f"{study.loc[fam, (k, 'mean')]:.3f} ± {study.loc[fam, (k, 'sd')]:.3f}" for k in keys]
                          for fam in families}, index=list(keys))
    quantities = study.columns.get_level_values(0).unique()
    met = {fam: check_targets({k: float(study.loc[fam, (k, "mean")]) for k in quantities}) for fam in families}
    table.loc["targets met"] = [f"{int(m.met.sum())} of {len(m)}" for m in met.values()]
    return table
