"""Gather codes from a trained model and run the paper's evaluation on them.

Thin wrappers around :mod:`mvtutorial.metrics` (pure array functions): encode a
split into private / shared codes, then MI matrix, probes, MIG / DCI / SAP and the
full-split MI / TC / DWKL decomposition.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import metrics
from ._version import __version__
from .checkpoint import load_checkpoint, load_model
from .config import config_from_dict
from .cache import atomic_write_json
from .data import TONE_FACTORS, FactorDataset, load_from_spec, load_tone_dataset, spec_difference
from .losses import full_dataset_decomposition
from .model import MultiViewVAE
from .results import factor_info

__all__ = ["FACTORS", "SplitCodes", "encode_split", "mi_matrix", "mi_summary", "evaluate_model", "evaluate_run", "umap_codes", "umap_split"]

#: factor name -> column of the tone set's factor table (a dataset carries its own: ``ds.factor_columns``)
FACTORS = dict(TONE_FACTORS)

@dataclass
class SplitCodes:
    """Posterior means of one split, ``(n, dim)`` each, and the split's factor rows.

    ``private``: each clip's own private mean; ``shared``: single-view shared code (prior x the
    clip's expert); ``fused``: shared code fused with a same-timbre partner (prior x both experts).
    """

    private: np.ndarray
    shared: np.ndarray
    fused: np.ndarray
    private_logvar: np.ndarray
    shared_logvar: np.ndarray
    factors: pd.DataFrame
    fused_logvar: np.ndarray | None = None
    factor_columns: dict = dataclasses.field(default_factory=lambda: dict(TONE_FACTORS))

    def sample(self, seed: int = 0) -> "SplitCodes":
        """One posterior sample per clip and subspace, ``z = mu + sigma * eps`` (seeded): the codes
        the decoder actually receives. Probes on samples count only information that survives the
        posterior noise; a tiny shift of the mean under a wide posterior is not in the code."""
        rng = np.random.default_rng(seed)

        def draw(mu, logvar):
            return (mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape)).astype(mu.dtype)

        if self.fused_logvar is None:
            raise ValueError("these codes carry no fused log-variance; re-encode them with encode_split")
        return SplitCodes(draw(self.private, self.private_logvar), draw(self.shared, self.shared_logvar),
                          draw(self.fused, self.fused_logvar), self.private_logvar, self.shared_logvar,
                          self.factors, self.fused_logvar, self.factor_columns)

    def median_std(self) -> dict[str, float]:
        """Median posterior standard deviation per subspace (1 = the prior: a collapsed subspace)."""
        out = {"private": float(np.median(np.exp(0.5 * self.private_logvar))),
               "shared": float(np.median(np.exp(0.5 * self.shared_logvar)))}
        if self.fused_logvar is not None:
            out["shared_fused"] = float(np.median(np.exp(0.5 * self.fused_logvar)))
        return out

    def latents(self) -> dict[str, np.ndarray]:
        return {
            "private": self.private,
            "shared": self.shared,
            "both": np.hstack([self.private, self.shared]),
            "shared_fused": self.fused,
            "both_fused": np.hstack([self.private, self.fused]),
        }

    def factor_info(self) -> dict[str, dict[str, str]]:
        """``{factor: {"column", "belongs_in"}}``: the first factor belongs in the shared code (see
        :func:`mvtutorial.results.factor_info`)."""
        return factor_info(self.factor_columns)

    def labels(self) -> np.ndarray:
        """Factor labels ``(n, K)`` in the order of ``factor_columns`` (tones: timbre, frequency class)."""
        return self.factors[list(self.factor_columns.values())].to_numpy()


@torch.no_grad()
def encode_split(model: MultiViewVAE, ds: FactorDataset, split: str, pair_seed: int = 0, batch_size: int = 4096) -> SplitCodes:
    """Encode every clip of ``split``; partners for the fused code come from ``ds.pairs(split, pair_seed)``."""
    model.eval()
    idx = ds.split_indices(split)
    device = next(model.parameters()).device
    parts: dict[str, list] = {k: [] for k in ("pm", "plv", "sm", "slv")}
    for s in range(0, len(idx), batch_size):
        x = ds.features[idx[s : s + batch_size]].to(device)
        private, expert = model.encode(x)
        single = model.fuse([expert])
        for k, v in zip(parts, (private.mu, private.logvar, single.mu, single.logvar)):
            parts[k].append(v.cpu())
    pm, plv, sm, slv = (torch.cat(v).numpy() for v in parts.values())
    pairs = ds.pairs(split, rng=pair_seed)  # each clip is the first view exactly once
    fused, fused_lv = np.empty_like(sm), np.empty_like(slv)
    where = {clip: i for i, clip in enumerate(idx)}
    rows = np.array([where[c] for c in pairs[:, 0]])
    for s in range(0, len(pairs), batch_size):
        p = pairs[s : s + batch_size]
        posterior = model.fuse([model.encode(ds.features[p[:, v]].to(device))[1] for v in (0, 1)])
        fused[rows[s : s + batch_size]] = posterior.mu.cpu().numpy()
        fused_lv[rows[s : s + batch_size]] = posterior.logvar.cpu().numpy()
    return SplitCodes(pm, sm, fused, plv, slv, ds.factors.iloc[idx].reset_index(drop=True), fused_lv, dict(ds.factor_columns))


def mi_matrix(codes: SplitCodes, estimator: str = "knn", random_state: int = 0) -> pd.DataFrame:
    """MI (nats) of every latent dimension with each factor, in the paper's layout.

    Rows: ``(subspace, dim)`` for private then shared dims; columns: timbre, frequency.
    ``estimator``: ``"knn"`` (:func:`metrics.mi_knn`), ``"hist"`` (20 equal-width bins) or
    ``"quantile"`` (20 quantile bins).
    """
    z = np.hstack([codes.private, codes.shared])
    if estimator == "knn":
        mi = metrics.mi_knn(z, codes.labels(), random_state=random_state)
    elif estimator in ("hist", "quantile"):
        mi = metrics.mi_histogram(z, codes.labels(), bins=20, strategy="uniform" if estimator == "hist" else "quantile")
    else:
        raise ValueError(f"unknown estimator {estimator!r}; choose 'knn', 'hist' or 'quantile'")
    index = pd.MultiIndex.from_tuples(
        [("private", d + 1) for d in range(codes.private.shape[1])] + [("shared", d + 1) for d in range(codes.shared.shape[1])],
        names=["subspace", "dim"],
    )
    return pd.DataFrame(mi, index=index, columns=list(codes.factor_columns))


def _probe_and_mi(train: SplitCodes, test: SplitCodes, keep: np.ndarray, latents, probe: str, probe_seeds, seed: int) -> dict:
    """Probe accuracies and the k-NN MI matrix of one set of codes (means or samples)."""
    tr_lat, te_lat = train.latents(), test.latents()
    if latents is not None:
        unknown = sorted(set(latents) - set(tr_lat))
        if unknown:
            raise ValueError(f"unknown latent(s) {unknown}; choose from {sorted(tr_lat)}")
        tr_lat = {k: tr_lat[k] for k in latents}
    table = metrics.probe_table(
        {k: (tr_lat[k][keep], te_lat[k]) for k in tr_lat},
        {f: (train.factors[c].to_numpy()[keep], test.factors[c].to_numpy()) for f, c in train.factor_columns.items()},
        kind=probe,
        seeds=probe_seeds,
    )
    summary = table.groupby(["latent", "factor"]).agg(accuracy=("accuracy", "mean"), sd=("accuracy", "std"), chance=("chance", "mean"))
    summary["sd"] = summary["sd"].fillna(0.0)  # one probe seed: no spread (NaN is not valid JSON)
    mi = mi_matrix(test, random_state=seed)
    return {
        "probes": {f"{lat}/{fac}": float(row.accuracy) for (lat, fac), row in summary.iterrows()},
        "probes_sd": {f"{lat}/{fac}": float(row.sd) for (lat, fac), row in summary.iterrows()},
        "chance": {fac: float(summary.xs(fac, level="factor")["chance"].iloc[0]) for fac in train.factor_columns},
        **mi_summary(mi, test.factor_info()),
    }, mi


def mi_summary(mi: pd.DataFrame, factors: dict[str, dict[str, str]]) -> dict:
    """The JSON-ready MI entries of a result, every number keyed by names: ``mi_matrix``
    (``"subspace/dim" -> {factor: nats}``), ``mi_sums`` (``"subspace/factor" -> nats``) and one
    ``mi_ratio_<factor>`` per factor (:func:`_mi_ratios`). ``mi``: :func:`mi_matrix`'s table;
    ``factors``: :meth:`SplitCodes.factor_info` (where each factor belongs)."""
    sums = mi.groupby(level="subspace").sum()
    return {
        "mi_matrix": {f"{sub}/{dim}": {k: float(v) for k, v in row.items()} for (sub, dim), row in mi.iterrows()},
        "mi_sums": {f"{sub}/{fac}": float(sums.loc[sub, fac]) for sub in sums.index for fac in factors},
        **_mi_ratios(sums, factors),
    }


def _mi_ratios(sums: pd.DataFrame, factors: dict[str, dict[str, str]]) -> dict[str, float]:
    """``mi_ratio_<f>``: summed MI of factor ``f`` in the subspace it belongs in over the summed MI in the
    other (tones: ``mi_ratio_timbre`` = shared / private, ``mi_ratio_frequency`` = private / shared);
    high when each factor sits where it belongs. ``factors``: :func:`mvtutorial.results.factor_info`."""
    out = {}
    for f, info in factors.items():
        home = info["belongs_in"]
        other = "private" if home == "shared" else "shared"
        out[f"mi_ratio_{f}"] = float(sums.loc[home, f] / max(sums.loc[other, f], 1e-12))
    return out


def evaluate_model(
    model: MultiViewVAE,
    ds: FactorDataset,
    probe: str = "mlp",
    probe_seeds: tuple[int, ...] = (0, 1, 2),
    max_probe_train: int | None = 10_000,
    scores: bool = True,
    seed: int = 0,
    latents: tuple[str, ...] | None = None,
    samples: bool = False,
) -> dict:
    """The full evaluation of one model; a JSON-ready dict.

    Probes are trained on (up to ``max_probe_train``, seeded subsample of) train-split codes and
    scored on the test split (``latents``: a subset of :meth:`SplitCodes.latents`, default all).
    The MI matrix (k-NN), MIG / DCI / SAP and the MI / TC / DWKL
    decomposition (all N test clips, one posterior sample each) use the test split.

    Codes are posterior means. With ``samples=True`` the probes and the MI matrix are computed a
    second time on one posterior sample per clip (:meth:`SplitCodes.sample`), stored under
    ``"samples"`` (same keys), together with the median posterior std per subspace: information
    that only lives in tiny mean shifts under a wide posterior reaches no decoder, and probes on
    means would still count it.
    """
    train, test = encode_split(model, ds, "train", pair_seed=seed), encode_split(model, ds, "test", pair_seed=seed)
    keep = np.arange(len(train.factors))
    if max_probe_train is not None and len(keep) > max_probe_train:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), max_probe_train, replace=False))
    on_means, mi = _probe_and_mi(train, test, keep, latents, probe, probe_seeds, seed)
    result = {"version": __version__, "probe": probe, "probe_seeds": list(probe_seeds), "factors": test.factor_info(), **on_means,
              "median_std": test.median_std()}
    if samples:
        result["samples"], _ = _probe_and_mi(train.sample(seed), test.sample(seed + 1), keep, latents, probe, probe_seeds, seed)
    gen = torch.Generator().manual_seed(seed)
    result["decomposition"] = {
        "private": full_dataset_decomposition(torch.from_numpy(test.private), torch.from_numpy(test.private_logvar), gen),
        "shared": full_dataset_decomposition(torch.from_numpy(test.shared), torch.from_numpy(test.shared_logvar), gen),
    }
    if scores:
        z_tr, z_te = np.hstack([train.private, train.shared]), np.hstack([test.private, test.shared])
        mi_vals = mi.to_numpy()
        entropy = metrics.factor_entropy(test.labels())
        d = metrics.dci(z_tr[keep], train.labels()[keep], z_te, test.labels(), random_state=seed)
        result["scores"] = {
            "mig": float(metrics.mig(mi_vals, entropy)),
            "dci_disentanglement": float(d["disentanglement"]),
            "dci_completeness": float(d["completeness"]),
            "dci_informativeness": float(d["informativeness"]),
            "sap": float(metrics.sap(z_tr[keep], train.labels()[keep], z_te, test.labels())),
        }
    return result


def evaluate_run(run_dir: str | Path, probe: str = "mlp", probe_seeds: tuple[int, ...] = (0, 1, 2), write: bool = True,
                 dataset=None) -> dict:
    """Evaluate the best weights of a run folder (written by :func:`mvtutorial.training.train`);
    writes ``metrics.json`` beside the checkpoint (atomically).

    The data comes from the checkpoint's data spec (:func:`mvtutorial.data.load_from_spec`), so a
    run trained on other data is evaluated on that data, never silently on the preset tone set.
    ``dataset``: pass it for data that cannot be rebuilt from its spec; it must match the spec.
    """
    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir)
    config = config_from_dict(ckpt["config"])
    spec = ckpt.get("data")
    if dataset is not None:
        if spec is not None and dataset.spec() != spec:
            raise ValueError(f"dataset does not match the data run {run_dir} was trained on (checkpoint != given: "
                             f"{'; '.join(spec_difference(spec, dataset.spec()))}); pass that dataset, or none to rebuild it")
        ds = dataset
    elif spec is not None:
        ds = load_from_spec(spec)
    else:  # checkpoints written before data specs were stored: the config's tone preset
        ds = load_tone_dataset(config.data_mode, seed=config.data_seed)
    model = load_model(run_dir)
    result = {"config": ckpt["config"], "seed": config.seed, "best_epoch": ckpt["best"]["epoch"],
              **evaluate_model(model, ds, probe=probe, probe_seeds=probe_seeds, seed=0)}
    if write:
        atomic_write_json(result, run_dir / "metrics.json")
    return result


def umap_split(split_codes: SplitCodes, codes: Sequence[str] = ("private", "shared"), seed: int = 0,
               max_clips: int | None = None) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """UMAP maps (McInnes et al. 2018; ``umap-learn``) of a split's posterior means, one per code.

    Parameters
    ----------
    split_codes : the split's codes (:func:`encode_split`).
    codes : latents of :meth:`SplitCodes.latents` to map (``"private"``, ``"shared"``, ``"both"``...).
    seed : UMAP's ``random_state`` and the draw of the clips when ``max_clips`` is given.
    max_clips : map a sorted random subset of at most this many clips (default every clip).

    Returns
    -------
    ``({code: (n, 2) array}, the mapped clips' factor table)``, the same clips in every map.
    """
    import umap  # numba compiles on first use: imported only when a map is drawn

    n = len(split_codes.factors)
    keep = np.arange(n) if max_clips is None else np.sort(np.random.default_rng(seed).choice(n, min(max_clips, n), replace=False))
    latents = split_codes.latents()
    maps = {code: umap.UMAP(random_state=seed).fit_transform(latents[code][keep]) for code in codes}
    return maps, split_codes.factors.iloc[keep].reset_index(drop=True)


def umap_codes(model: MultiViewVAE, ds, split: str = "test", codes: Sequence[str] = ("private", "shared"), seed: int = 0,
               max_clips: int | None = None) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """:func:`umap_split` of ``model``'s codes of ``ds``'s ``split`` (tones, notes, any data source)."""
    return umap_split(encode_split(model, ds, split), codes, seed, max_clips)