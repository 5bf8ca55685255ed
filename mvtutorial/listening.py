"""Hear what a trained model learned: audio from log-mels, latent swaps, traversals, and a swap score.

The paper reports probes and MI only; this module is where the book goes past it (chapter 7).
Every operation works on posterior means (the single-view shared code is the prior fused with
the clip's own expert, as in :func:`mvtutorial.evaluate.encode_split`) and is batched:

* :func:`reconstruct` ``x -> decode(private(x), shared(x))``
* :func:`swap` ``decode(private(a), shared(b))``: *a*'s pitch in *b*'s timbre when the split works;
  :func:`swap_shared` and :func:`swap_private` name the two readings of it
* :func:`traverse` one latent dimension, :func:`interpolate` one subspace between two clips
* :func:`to_audio`: Griffin-Lim inversion of the normalised log-mels

:func:`swap_score` is a quantitative disentanglement measure of our own: a classifier trained on
*real* log-mels (not on codes) labels each decoded swap; a swap succeeds when its timbre follows
the shared-code donor and its pitch follows the private-code donor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.pipeline import Pipeline

from .features import FeatureConfig, griffin_lim
from .metrics.probes import make_probe
from .players import audio_grid_html  # part of this module's API: chapters 7 and 9 call listening.audio_grid_html

__all__ = ["SUBSPACES", "GRIFFIN_LIM_ITERS", "Codes", "encode_means", "decode_codes", "reconstruct", "swap", "swap_shared", "swap_private",
           "traverse", "interpolate", "traversal_values", "most_informative_dim", "to_audio", "FeatureClassifier",
           "fit_feature_classifier", "swap_pairs", "swap_predictions", "swap_score", "score_swap_predictions", "swap_table", "audio_grid_html"]

SUBSPACES = ("private", "shared")
#: Griffin-Lim iterations per book mode: ``fast`` only exercises the code path (CI), ``full`` is for listening.
GRIFFIN_LIM_ITERS = {"fast": 8, "full": 64}


@dataclass
class Codes:
    """Posterior means: ``private`` ``(N, private_dim)`` and single-view ``shared`` ``(N, shared_dim)``."""

    private: torch.Tensor
    shared: torch.Tensor


def _as_batch(model, x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim == 2:
        x = x[None]
    shape = tuple(model.config.input_shape)
    if x.ndim != 3 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"{name} must be log-mels of shape (N, {shape[0]}, {shape[1]}) or ({shape[0]}, {shape[1]}), "
                         f"got {tuple(x.shape)}")
    _check_finite(x, name)  # a NaN input would decode to NaN without a word
    return x.to(next(model.parameters()).device)


def _check_finite(x: torch.Tensor, name: str) -> None:
    """``ValueError`` naming ``name`` and the clips with NaN/inf values, if any."""
    bad = ~torch.isfinite(x)
    if bad.any():
        clips = torch.nonzero(bad.reshape(len(x), -1).any(dim=1))[:, 0].tolist() if x.ndim == 3 else []
        where = f" in clip(s) {clips[:5]}{' ...' if len(clips) > 5 else ''}" if clips else ""
        raise ValueError(f"{name} holds {int(bad.sum())} NaN/inf value(s){where}; log-mels must be finite (in [0, 1])")


def _check_subspace(subspace: str) -> None:
    if subspace not in SUBSPACES:
        raise ValueError(f"unknown subspace {subspace!r}; choose from {SUBSPACES}")


@torch.no_grad()
def encode_means(model, x) -> Codes:
    """Posterior means of log-mels ``x`` ``(N, n_mels, n_frames)``: private ``mu_p`` and single-view
    shared ``mu_s`` (the prior fused with the clip's expert, what the decoder sees for one clip)."""
    model.eval()
    x = _as_batch(model, x, "x")
    return Codes(model.private_code(x), model.shared_code(x))


@torch.no_grad()
def decode_codes(model, codes: Codes) -> torch.Tensor:
    """Decoded log-mels ``(N, n_mels, n_frames)`` in [0, 1] from ``codes``."""
    model.eval()
    if codes.private.ndim != 2 or codes.shared.ndim != 2 or len(codes.private) != len(codes.shared):
        raise ValueError(f"codes must be (N, private_dim) and (N, shared_dim) with the same N, "
                         f"got {tuple(codes.private.shape)} and {tuple(codes.shared.shape)}")
    return model.decode(codes.private, codes.shared).contiguous()


def reconstruct(model, x) -> torch.Tensor:
    """``decode(mu_p(x), mu_s(x))``, shape of ``x``."""
    return decode_codes(model, encode_means(model, x))


def swap(model, private_from, shared_from) -> torch.Tensor:
    """``decode(mu_p(private_from), mu_s(shared_from))`` for each pair of rows.

    With a split that works this is the pitch of ``private_from`` in the timbre of ``shared_from``.
    Both inputs ``(N, n_mels, n_frames)`` with the same ``N``. Swapping a clip with itself is
    :func:`reconstruct`.
    """
    a, b = _as_batch(model, private_from, "private_from"), _as_batch(model, shared_from, "shared_from")
    if len(a) != len(b):
        raise ValueError(f"private_from and shared_from must hold the same number of clips, got {len(a)} and {len(b)}")
    return decode_codes(model, Codes(encode_means(model, a).private, encode_means(model, b).shared))


def swap_shared(model, x, donor) -> torch.Tensor:
    """Keep ``x``'s private code, take ``donor``'s shared code: "x's pitch in the donor's timbre"."""
    return swap(model, private_from=x, shared_from=donor)


def swap_private(model, x, donor) -> torch.Tensor:
    """Keep ``x``'s shared code, take ``donor``'s private code: "the donor's pitch in x's timbre"."""
    return swap(model, private_from=donor, shared_from=x)


def traverse(model, x, subspace: str, dim: int, values: Sequence[float]) -> torch.Tensor:
    """Set latent ``dim`` (0-based) of ``subspace`` to each of ``values``, keep every other code.

    Returns ``(N, len(values), n_mels, n_frames)``.
    """
    _check_subspace(subspace)
    codes = encode_means(model, x)
    size = getattr(codes, subspace).shape[1]
    if not isinstance(dim, (int, np.integer)) or not 0 <= dim < size:
        raise ValueError(f"dim {dim!r} is out of range for the {subspace} subspace of size {size} (0-based)")
    values = torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(-1)
    if not len(values) or not torch.isfinite(values).all():
        raise ValueError(f"values must be a non-empty sequence of finite numbers, got {values.tolist()!r}")
    out = []
    for v in values:
        z = getattr(codes, subspace).clone()
        z[:, dim] = v
        out.append(decode_codes(model, Codes(z, codes.shared) if subspace == "private" else Codes(codes.private, z)))
    return torch.stack(out, dim=1)


def interpolate(model, x_a, x_b, subspace: str, n_steps: int = 5) -> torch.Tensor:
    """Move ``subspace``'s code linearly from clip *a*'s to clip *b*'s in ``n_steps`` (ends included),
    keeping *a*'s other code. Returns ``(N, n_steps, n_mels, n_frames)``; step 0 is *a*'s reconstruction."""
    _check_subspace(subspace)
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 2:
        raise ValueError(f"n_steps must be an integer >= 2, got {n_steps!r}")
    a, b = encode_means(model, x_a), encode_means(model, x_b)
    if len(a.private) != len(b.private):
        raise ValueError(f"x_a and x_b must hold the same number of clips, got {len(a.private)} and {len(b.private)}")
    za, zb = getattr(a, subspace), getattr(b, subspace)
    out = []
    for t in torch.linspace(0, 1, n_steps):
        z = (1 - t) * za + t * zb
        out.append(decode_codes(model, Codes(z, a.shared) if subspace == "private" else Codes(a.private, z)))
    return torch.stack(out, dim=1)


def traversal_values(codes: np.ndarray, dim: int, n_steps: int = 7, coverage: float = 0.9) -> np.ndarray:
    """``n_steps`` evenly spaced values spanning the central ``coverage`` of ``codes[:, dim]``
    (the 5th to 95th percentile by default): a traversal that stays where the encoder puts clips."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or not 0 <= dim < codes.shape[1]:
        raise ValueError(f"dim {dim!r} is out of range for codes of shape {codes.shape}")
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    lo, hi = np.quantile(codes[:, dim], [(1 - coverage) / 2, (1 + coverage) / 2])
    return np.linspace(lo, hi, n_steps)


def most_informative_dim(mi: pd.DataFrame, subspace: str) -> tuple[int, str, float]:
    """``(dim, factor, nats)``: the dimension of ``subspace`` with the largest MI with any factor,
    read off an MI matrix from :func:`mvtutorial.evaluate.mi_matrix` (rows ``(subspace, dim)``,
    1-based). ``dim`` is returned 0-based, ready for :func:`traverse`."""
    _check_subspace(subspace)
    block = mi.xs(subspace, level="subspace")
    row, factor = np.unravel_index(np.nanargmax(block.to_numpy()), block.shape)
    return int(block.index[row]) - 1, str(block.columns[factor]), float(block.iat[row, factor])


def to_audio(features, config: FeatureConfig = FeatureConfig(), n_iter: int = 64, seed: int = 0) -> np.ndarray:
    """Audio ``(N, (n_frames - 1) * hop_length)`` float32 in [-1, 1] from normalised log-mels.

    Maps [0, 1] back to dB with the peak at 0 dB and the floor at ``-top_db``, inverts the mel
    filterbank and runs Griffin-Lim (torchaudio, via :func:`mvtutorial.features.griffin_lim`).
    What cannot be undone: the phase (Griffin-Lim estimates one, seeded; expect a slightly
    rough, phasey sound), the absolute level and each clip's own dB range (the per-clip min-max
    keeps neither; the result is peak-normalised), and detail below the -``top_db`` floor.

    References: Griffin & Lim (1984), "Signal estimation from modified short-time Fourier transform".
    """
    x = torch.as_tensor(features, dtype=torch.float32)
    if x.ndim not in (2, 3) or x.shape[-2] != config.n_mels:
        raise ValueError(f"features must be log-mels (N, {config.n_mels}, n_frames) or ({config.n_mels}, n_frames), "
                         f"got {tuple(x.shape)}")
    _check_finite(x, "features")  # Griffin-Lim would fail deep inside the FFT (an MKL error, an internal assert)
    audio = griffin_lim(x.cpu(), config, n_iter=n_iter, seed=seed)
    return audio.numpy().astype(np.float32)


# --------------------------------------------------------------------------- #
# Swap score
# --------------------------------------------------------------------------- #
@dataclass
class FeatureClassifier:
    """One classifier per factor on time-averaged *real* log-mels ``(N, n_mels)``.

    Time-averaging makes it fair to decoders that predict one frame (the pooled architecture);
    the tones are stationary, so nothing a factor needs is lost (chapter 6: .99 pitch accuracy).
    """

    probes: dict[str, Pipeline]
    factor_columns: dict[str, str]
    test_accuracy: dict[str, float]

    def predict(self, features) -> dict[str, np.ndarray]:
        x = torch.as_tensor(features, dtype=torch.float32)
        if x.ndim != 3:
            raise ValueError(f"features must be (N, n_mels, n_frames), got {tuple(x.shape)}")
        pooled = x.mean(dim=-1).cpu().numpy()
        return {name: probe.predict(pooled) for name, probe in self.probes.items()}


def fit_feature_classifier(ds, kind: str = "mlp", seed: int = 0, max_train: int | None = 10_000) -> FeatureClassifier:
    """Train :class:`FeatureClassifier` on ``ds``'s train split (``kind``: a
    :func:`mvtutorial.metrics.make_probe` kind) and score it on the test split."""
    rng = np.random.default_rng(seed)
    train, test = ds.split_indices("train"), ds.split_indices("test")
    if max_train is not None and len(train) > max_train:
        train = np.sort(rng.choice(train, max_train, replace=False))
    pooled = ds.features.mean(dim=-1).numpy()
    probes, acc = {}, {}
    for name, col in ds.factor_columns.items():
        y = ds.factors[col].to_numpy()
        probes[name] = make_probe(kind, seed).fit(pooled[train], y[train])
        acc[name] = float(probes[name].score(pooled[test], y[test]))
    return FeatureClassifier(probes, dict(ds.factor_columns), acc)


def swap_pairs(factors: pd.DataFrame, factor_columns: dict, n_pairs: int, seed: int = 0) -> np.ndarray:
    """``(n_pairs, 2)`` row positions ``(private donor, shared donor)`` of ``factors`` whose shared
    factor (the first of ``factor_columns``) and private factor (the second) both differ."""
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs!r}")
    shared_col, private_col = list(factor_columns.values())[:2]
    s, p = factors[shared_col].to_numpy(), factors[private_col].to_numpy()
    rng = np.random.default_rng(seed)
    out = np.empty((0, 2), dtype=np.int64)
    for _ in range(100):
        cand = rng.integers(0, len(factors), size=(4 * n_pairs, 2))
        ok = (s[cand[:, 0]] != s[cand[:, 1]]) & (p[cand[:, 0]] != p[cand[:, 1]])
        out = np.vstack([out, cand[ok]])
        if len(out) >= n_pairs:
            return out[:n_pairs]
    raise ValueError("found no pairs whose shared and private factors both differ; does each factor take 2+ values?")


def _majority_share(labels: np.ndarray) -> float:
    return float(np.unique(labels, return_counts=True)[1].max() / len(labels))


def swap_predictions(model, ds, classifier: FeatureClassifier, n_pairs: int = 2000, seed: int = 0, split: str = "test",
                     batch_size: int = 1024) -> pd.DataFrame:
    """The classifier's labels of each swap of :func:`swap_score`, one row per pair *(a, b)*.

    For each of the first two factors ``F`` of ``ds.factor_columns`` (the shared, then the private):
    ``F_private_donor`` and ``F_shared_donor``, the true labels of *a* and *b*; ``F_swap``, the
    classifier's label of ``swap(model, private_from=a, shared_from=b)``; ``F_reconstruction``, its label
    of *a*'s reconstruction. ``private_donor`` and ``shared_donor`` are the clips' rows in ``ds``.
    The pairs are :func:`swap_pairs` of ``split`` drawn with ``seed``.
    """
    names = list(ds.factor_columns)[:2]
    if list(classifier.factor_columns)[:2] != names:
        raise ValueError(f"classifier was trained for factors {list(classifier.factor_columns)}, dataset has {names}")
    idx = ds.split_indices(split)
    pairs = idx[swap_pairs(ds.factors.iloc[idx].reset_index(drop=True), ds.factor_columns, n_pairs, seed)]
    swapped, rec = {n: [] for n in names}, {n: [] for n in names}
    for i in range(0, len(pairs), batch_size):
        a, b = ds.features[pairs[i : i + batch_size, 0]], ds.features[pairs[i : i + batch_size, 1]]
        for out, labels in ((swapped, classifier.predict(swap(model, private_from=a, shared_from=b))),
                            (rec, classifier.predict(reconstruct(model, a)))):
            for n in names:
                out[n].append(labels[n])
    frame = {"private_donor": pairs[:, 0], "shared_donor": pairs[:, 1]}
    for n in names:
        truth = ds.factors[ds.factor_columns[n]].to_numpy()
        frame.update({f"{n}_private_donor": truth[pairs[:, 0]], f"{n}_shared_donor": truth[pairs[:, 1]],
                      f"{n}_swap": np.concatenate(swapped[n]), f"{n}_reconstruction": np.concatenate(rec[n])})
    return pd.DataFrame(frame)


def swap_score(model, ds, classifier: FeatureClassifier | None = None, n_pairs: int = 2000, seed: int = 0,
               split: str = "test", batch_size: int = 1024) -> dict:
    """How often a decoded swap carries the shared donor's timbre and the private donor's pitch.

    For pairs *(a, b)* of ``split`` clips that differ in both factors, decode
    ``swap(model, private_from=a, shared_from=b)`` and label it with a classifier trained on real
    log-mels (:func:`swap_predictions`). With ``S`` the shared factor (timbre for tones) and ``P`` the private one (frequency):

    * ``swap_S`` = share with ``S`` predicted as *b*'s (follows the shared donor), ``swap_P`` = share
      with ``P`` predicted as *a*'s, ``swap_both`` = both at once;
    * ``leak_S`` = share with ``S`` of *a* (timbre came through the private code), ``leak_P`` =
      share with ``P`` of *b* (pitch came through the shared code);
    * ``chance_S``, ``chance_P``: the best a constant output can score (majority share of the donors'
      labels, 1/K for balanced factors), ``chance_both`` their product;
    * ``recon_S``, ``recon_P``: the classifier's accuracy on plain reconstructions of the same clips
      (a swap cannot score higher than the decoder's own fidelity); ``real_S``, ``real_P``: its
      accuracy on the real test clips.

    ``model`` needs ``private_code(x)``, ``shared_code(x)``, ``decode(z_p, z_s)`` and ``config.input_shape``
    (any :class:`~mvtutorial.model.MultiViewVAE`). Returns a JSON-ready dict that also names the factors.
    """
    classifier = classifier or fit_feature_classifier(ds, seed=seed)
    return score_swap_predictions(swap_predictions(model, ds, classifier, n_pairs, seed, split, batch_size), classifier, split, seed)


def score_swap_predictions(frame: pd.DataFrame, classifier: FeatureClassifier, split: str = "test", seed: int = 0) -> dict:
    """:func:`swap_score`'s record from its :func:`swap_predictions` ``frame`` (``split`` and ``seed``, the pairs'
    draw, are only stored); ``real_*`` is ``classifier``'s own test accuracy."""
    s, p = list(classifier.factor_columns)[:2]
    follows_s = frame[f"{s}_swap"] == frame[f"{s}_shared_donor"]
    follows_p = frame[f"{p}_swap"] == frame[f"{p}_private_donor"]
    chance_s, chance_p = _majority_share(frame[f"{s}_shared_donor"].to_numpy()), _majority_share(frame[f"{p}_private_donor"].to_numpy())
    return {
        "shared_factor": s, "private_factor": p, "n_pairs": int(len(frame)), "split": split, "seed": seed,
        f"swap_{s}": float(follows_s.mean()), f"swap_{p}": float(follows_p.mean()), "swap_both": float((follows_s & follows_p).mean()),
        f"leak_{s}": float((frame[f"{s}_swap"] == frame[f"{s}_private_donor"]).mean()),
        f"leak_{p}": float((frame[f"{p}_swap"] == frame[f"{p}_shared_donor"]).mean()),
        f"chance_{s}": chance_s, f"chance_{p}": chance_p, "chance_both": chance_s * chance_p,
        **{f"recon_{n}": float((frame[f"{n}_reconstruction"] == frame[f"{n}_private_donor"]).mean()) for n in (s, p)},
        f"real_{s}": classifier.test_accuracy[s], f"real_{p}": classifier.test_accuracy[p],
    }


def swap_table(records: Sequence[dict], by: str = "config") -> pd.DataFrame:
    """Mean and sd over training seeds of :func:`swap_score` records (each with a ``by`` key):
    rows ``by``, columns ``(measure, "mean" | "sd")`` plus ``("n", "")``."""
    if not records:
        raise ValueError("no swap-score records")
    frame = pd.DataFrame(records)
    if by not in frame:
        raise ValueError(f"records have no {by!r} key")
    measures = [c for c in frame.columns if c.split("_")[0] in ("swap", "leak", "chance", "recon", "real")]
    grouped = frame.groupby(by, sort=False)[measures]
    out = pd.concat({"mean": grouped.mean(), "sd": grouped.std(ddof=1).fillna(0.0)}, axis=1).swaplevel(axis=1)
    out = out[[(m, s) for m in measures for s in ("mean", "sd")]]
    out[("n", "")] = grouped.size()
    return out
