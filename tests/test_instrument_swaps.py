"""Swapped notes per instrument pair (mvtutorial.studies.instrument_swaps): known answers on hand-made
predictions and records, a toy model's record on rendered notes, and the shipped records' cells."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mvtutorial import listening as L
from mvtutorial.cache import read_json
from mvtutorial.model import MultiViewVAE
from mvtutorial.studies import instrument_swaps as IS
from mvtutorial.studies.swaps import swap_record_paths


def test_pair_cells_known_answer():
    p = pd.DataFrame({"timbre_private_donor": [0, 0, 0, 1], "timbre_shared_donor": [1, 1, 1, 0],
                      "frequency_private_donor": [3, 4, 5, 6], "frequency_swap": [3, 4, 0, 1]})
    cells = IS.pair_cells(p, {0: "organ", 1: "violin"})
    assert cells.loc[("organ", "violin"), IS.SWAP_PITCH] == pytest.approx(2 / 3) and cells.loc[("organ", "violin"), "n"] == 3
    assert cells.loc[("violin", "organ"), IS.SWAP_PITCH] == 0.0
    with pytest.raises(ValueError, match=r"instrument labels \[1\] have no name"):
        IS.pair_cells(p, {0: "organ"})


def _record(seed, offsets, cells):
    return {"config": "rec", "train_seed": seed, "per_pair": {"axis": {"slope": 1.0, "offset": offsets},
            "swaps": {f"{a}|{b}": {IS.SWAP_PITCH: v, "n": n} for (a, b), (v, n) in cells.items()}}}


def test_offset_gaps_summary_and_reading_known_answer():
    offsets = {"organ": -0.3, "piano": 0.0, "violin": 0.1}
    cells = {("organ", "piano"): (0.5, 10), ("piano", "organ"): (0.6, 10), ("organ", "violin"): (0.4, 10),
             ("violin", "organ"): (0.3, 10), ("piano", "violin"): (1.0, 20), ("violin", "piano"): (0.9, 20)}
    records = [_record(0, offsets, cells), _record(1, offsets, cells), {"config": "other", "train_seed": 0}]
    table = IS.offset_gap_table(records, "rec")
    assert len(table) == 12 and sorted(set(table["train_seed"])) == [0, 1]
    assert table.set_index(["train_seed", "private donor", "shared donor"]).loc[(1, "organ", "violin"), "offset gap"] == pytest.approx(0.4)
    summary = IS.pitch_loss_summary(table)
    row = summary.loc[0]
    assert row["furthest instrument"] == "organ"
    assert row["swap pitch, pairs with it"] == pytest.approx(np.mean([0.5, 0.6, 0.4, 0.3]))
    assert row["swap pitch, other pairs"] == pytest.approx(0.95)
    assert row["spearman rho"] < -0.8  # the larger the gap, the lower the swap pitch
    text = IS.pitch_loss_reading(summary)
    assert "Seed 0: the instrument furthest from the others on the axis is the organ; swaps that involve it keep the pitch in 45%" in text
    assert "the others in 95%" in text and "The same instrument, the organ, is the outlier in every seed." in text
    assert "in every seed" not in IS.pitch_loss_reading(summary.loc[[0]])  # one seed: nothing to repeat
    flipped = {**cells, ("piano", "violin"): (0.1, 20), ("violin", "piano"): (0.2, 20)}  # the near pair now fails most
    unlinked = IS.pitch_loss_reading(IS.pitch_loss_summary(IS.offset_gap_table([_record(0, offsets, flipped)], "rec")))
    assert unlinked.startswith("Swap pitch does not fall with the distance")
    with pytest.raises(ValueError, match="no swap records of 'nobody'"):
        IS.offset_gap_table(records, "nobody")


def test_pair_record_of_a_toy_model_adds_up_to_its_score():
    from test_instruments import SMALL, _need_renderer  # tests/ is on the path: 3 instruments x 3 pitches, rendered in < 1 s

    from mvtutorial.data.instruments import build_instrument_dataset

    _need_renderer()
    ds = build_instrument_dataset(SMALL, seed=0, progress=False)
    torch.manual_seed(0)
    model = MultiViewVAE(input_shape=ds.input_shape, private_dim=3, shared_dim=2, hidden=(32,))
    classifier = L.fit_feature_classifier(ds, seed=0)
    record = IS.pair_record(model, ds, classifier, n_pairs=60, seed=1)
    assert record == {**record, **L.swap_score(model, ds, classifier, n_pairs=60, seed=1)}  # the score, unchanged
    swaps = record["per_pair"]["swaps"]
    assert sum(c["n"] for c in swaps.values()) == 60
    assert sum(c[IS.SWAP_PITCH] * c["n"] for c in swaps.values()) / 60 == pytest.approx(record["swap_frequency"], abs=1e-12)
    assert set(record["per_pair"]["axis"]["offset"]) == set(ds.factors["instrument_name"])


def test_add_pair_cells_keeps_the_record_and_refuses_another_models(tmp_path, monkeypatch):
    from test_instruments import SMALL, _need_renderer

    from mvtutorial.data.instruments import build_instrument_dataset
    from mvtutorial.studies.swaps import write_swap_score

    _need_renderer()
    ds = build_instrument_dataset(SMALL, seed=0, progress=False)
    monkeypatch.setattr(IS, "load_from_spec", lambda spec: ds if spec == {"source": "toy"} else None)
    torch.manual_seed(0)
    model = MultiViewVAE(input_shape=ds.input_shape, private_dim=3, shared_dim=2, hidden=(32,))
    path = tmp_path / "swap" / "toy.json"
    record = write_swap_score(path, model, ds, L.fit_feature_classifier(ds, seed=0), n_pairs=60, seed=1, config="toy",
                              data={"source": "toy"}, checkpoint="toy.pt", train_seed=0)
    assert IS.add_pair_cells({path: tmp_path / "toy.pt"}, load=lambda p: model, progress=False) == [path]
    stored = read_json(path)
    assert {k: stored[k] for k in record} == record and "per_pair" in stored  # scores and identity as written
    assert IS.add_pair_cells({path: tmp_path / "toy.pt"}, load=lambda p: model, progress=False) == []
    other = tmp_path / "swap" / "other.json"
    other.write_text(json.dumps({**record, "swap_frequency": record["swap_frequency"] + 0.2}))
    with pytest.raises(ValueError, match=r"other.json: re-scored swap_frequency .* another classifier or another model"):
        IS.add_pair_cells({other: tmp_path / "toy.pt"}, load=lambda p: model, progress=False)


@pytest.mark.parametrize("path", swap_record_paths("instruments"), ids=lambda p: p.stem)
def test_shipped_instrument_swap_records_carry_consistent_pairs(path):
    record = read_json(path)
    swaps, axis = record["per_pair"]["swaps"], record["per_pair"]["axis"]
    assert sum(c["n"] for c in swaps.values()) == record["n_pairs"]
    assert sum(c[IS.SWAP_PITCH] * c["n"] for c in swaps.values()) / record["n_pairs"] == pytest.approx(record["swap_frequency"], abs=1e-12)
    names = {name for pair in swaps for name in pair.split("|")}
    assert names == set(axis["offset"]) and len(names) == 8
    assert abs(np.mean(list(axis["offset"].values()))) < 0.05  # offsets about the common line (equal clips per instrument)
