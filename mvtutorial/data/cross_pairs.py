"""Pairs whose two views also differ in a nuisance factor: the same instrument, another pitch, *another bank*.

The one pair sampler (:mod:`mvtutorial.data.pairs`) pairs clips that share the ``shared`` factor and
differ in the ``differ`` one; everything else (velocity, detune, the SoundFont bank a note was
rendered from) is left to chance, so with several banks most pairs come from one bank. This module
adds the option to require that the partner also differs in a third column, ``across``, and a
dataset that draws its training and validation pairs that way (:func:`with_pairs_across`).

Why: in multi-view learning the shared code is identified as the part of the input that is
*invariant between the two views*; what changes between them is left to the private codes
(Locatello et al. 2020, "Weakly-supervised disentanglement without compromises", ICML; von Kügelgen
et al. 2021, "Self-supervised learning with data augmentations provably isolates content from
style", NeurIPS). If the bank always changes inside a pair, what the banks' recordings of an
instrument do *not* have in common cannot serve the shared code's cross-view reconstruction, so the
shared code should keep what they have in common: the instrument rather than one bank's samples.
:mod:`mvtutorial.studies.banks` tests that hypothesis.

The existing pair streams are untouched: this is a separate sampler, used only by a dataset built
with :func:`with_pairs_across`.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .dataset import FactorDataset
from .splits import check_split

__all__ = ["pairs_across", "PairsAcrossDataset", "with_pairs_across"]


def pairs_across(factors: pd.DataFrame, shared: str, differ: str, across: str, split: str = "train",
                 rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Pair every clip of ``split`` with a partner of the same ``shared`` value whose ``differ`` *and*
    ``across`` values both differ from its own, drawn uniformly among such clips of the split.

    Returns int64 ``(n_split, 2)`` row positions into ``factors`` (anchors in a random order, as
    :func:`~mvtutorial.data.pairs.factor_pairs`). ``ValueError`` for an empty split or a clip with
    no eligible partner (e.g. a split rendered from a single bank), naming its ``shared`` value.
    """
    check_split(split)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    idx = np.flatnonzero((factors["split"] == split).to_numpy())
    if len(idx) == 0:
        raise ValueError(f"split {split!r} is empty")
    sh, df, ac = (factors[col].to_numpy()[idx] for col in (shared, differ, across))
    anchors = rng.permutation(len(idx))
    partner = np.empty(len(idx), dtype=np.int64)
    for value in np.unique(sh):
        at = np.flatnonzero(sh[anchors] == value)  # positions in anchor order
        a, pool = anchors[at], np.flatnonzero(sh == value)
        ok = (df[a][:, None] != df[pool][None, :]) & (ac[a][:, None] != ac[pool][None, :])
        if not ok.any(axis=1).all():
            raise ValueError(f"split {split!r}: a clip with {shared}={value!r} has no partner of another {differ!r} "
                             f"and another {across!r} (does the split hold 2+ values of {across!r}?)")
        score = np.where(ok, rng.random(ok.shape), -1.0)
        partner[at] = pool[score.argmax(axis=1)]
    return np.stack([idx[anchors], idx[partner]], axis=1).astype(np.int64)


@dataclasses.dataclass(eq=False)
class PairsAcrossDataset(FactorDataset):
    """A :class:`~mvtutorial.data.dataset.FactorDataset` whose training and validation pairs also differ
    in ``across`` (:func:`pairs_across`); test pairs are the ordinary ones, so the evaluation is unchanged."""

    across: str = "soundfont"

    def pairs(self, split: str = "train", rng: np.random.Generator | int | None = None) -> np.ndarray:
        if split == "test":
            return super().pairs(split, rng)
        cols = list(self.factor_columns.values())
        return pairs_across(self.factors, cols[0], cols[1], self.across, split, rng)


def with_pairs_across(ds: FactorDataset, across: str = "soundfont") -> PairsAcrossDataset:
    """The same data (features shared, not copied) with :class:`PairsAcrossDataset`'s pairs; its spec
    gains ``"pairs_across": across`` so results and checkpoints say how they were trained."""
    if across not in ds.factors.columns:
        raise ValueError(f"no column {across!r} in the factor table; choose from {list(ds.factors.columns)}")
    fields = {f.name: getattr(ds, f.name) for f in dataclasses.fields(FactorDataset)}
    fields["source_spec"] = {**ds.spec(), "pairs_across": across}
    return PairsAcrossDataset(**fields, across=across)
