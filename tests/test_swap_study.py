"""The swap study's shipped records (mvtutorial.studies.swaps): every shipped model with a checkpoint
carries the counterfactual judges, and the tables the chapters and the README print equal the
records' own numbers, by name."""
from __future__ import annotations

import numpy as np
import pytest

from mvtutorial.cache import read_json
from mvtutorial.judges import CENTS_TOLERANCE
from mvtutorial.studies import swaps


@pytest.mark.parametrize("data", sorted(swaps.SWAP_FOLDERS))
def test_every_shipped_swap_record_is_judged(data):
    paths = swaps.swap_record_paths(data)
    assert len(paths) == 6  # paper-faithful and recommended x 3 training seeds
    for path in paths:
        record = read_json(path)
        assert (path.parent.parent / record["checkpoint"]).exists(), path
        judges = record["judges"]
        assert judges["tolerance_cents"] == CENTS_TOLERANCE and judges["overall"]["n"] == record["n_pairs"]
        overall = judges["overall"]
        # the floor is the model's own reconstruction; a swap cannot beat it by much, nor any copy by less than 0
        assert 0 < overall["lsd_reconstruction"] < overall["lsd_copy_private_donor"] < overall["lsd_copy_shared_donor"]
        assert overall[f"within_{CENTS_TOLERANCE:g}_cents_counterfactual"] >= 0.9  # the judge on the real targets
        assert sum(v["n"] for v in judges["per_pitch_class"].values()) == record["n_pairs"]
        assert 0.9 <= record["judges_validation"]["overall"] <= 1.0


def test_tables_read_the_records_by_name():
    records = swaps.judged_records("tones")
    table = swaps.judges_table(records)
    for config in table.index:
        mine = [r for r in records if r["config"] == config]
        for key in ("lsd_swap", f"within_{CENTS_TOLERANCE:g}_cents_swap"):
            assert table.loc[config, (key, "mean")] == pytest.approx(np.mean([r["judges"]["overall"][key] for r in mine]))
        assert table.loc[config, ("swap_timbre", "mean")] == pytest.approx(np.mean([r["swap_timbre"] for r in mine]))
        assert table.loc[config, ("n", "")] == len(mine)
    per_class = swaps.judges_per_class(records)
    assert list(per_class.columns) == list(range(21)) and "real clips (judge ceiling)" in per_class.index
    first = records[0]
    assert per_class.loc[first["config"], 20] == pytest.approx(np.mean(
        [r["judges"]["per_pitch_class"]["20"][f"within_{CENTS_TOLERANCE:g}_cents_swap"] for r in records if r["config"] == first["config"]]))
    text = swaps.judges_markdown()
    assert text.count("\n| tones |") == 2 and text.count("\n| instruments |") == 2
    shown = swaps.judges_display(table)
    assert shown.loc["training seeds"].tolist() == ["3", "3"]
    with pytest.raises(ValueError, match="no judged swap records"):
        swaps.judges_table([])


def test_counterfactual_examples_grid(tmp_path):
    """The listening grid of chapter 7: donors, the counterfactual (a's pitch in b's waveform) and one
    swap column per model, labelled by the donors' names."""
    from mvtutorial.config import TrainConfig
    from mvtutorial.data import load_tone_dataset
    from mvtutorial.training import train

    ds = load_tone_dataset("fast", cache=tmp_path)
    model = train(TrainConfig.preset("fast", epochs=1, hidden=(16, 16)), dataset=ds, progress=False, threads=1).model
    features, audio, rows, cols = swaps.counterfactual_examples({"toy": model}, ds, n=3, seed=1, n_iter=4)
    assert features.shape == (3, 4, *ds.input_shape) and audio.shape[:2] == (3, 4)
    assert cols == ["pitch donor a", "timbre donor b", "counterfactual", "swap: toy"]
    assert all(r.startswith("a: freq_class ") and "; b: " in r for r in rows)
    assert np.isfinite(audio).all() and (np.abs(audio).max(axis=-1) > 0).all()
    assert not np.allclose(features[:, 2], features[:, 0])  # the counterfactual is not the pitch donor itself
