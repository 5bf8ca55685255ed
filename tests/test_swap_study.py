"""The swap study's shipped records (mvtutorial.studies.swaps): every shipped model with a checkpoint
carries the counterfactual judges, and the tables the chapters and the README print equal the
records' own numbers, by name."""
from __future__ import annotations

import numpy as np
import pytest

from mvtutorial import trackers
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
        # the second pitch judge: the tracker, its range, what it covered and its own ceiling
        tracked, ceiling = judges["tracker"], record["judges_validation"]["tracker"]
        assert tracked["name"] == "pesto-pitch" and tracked["checkpoint"] == "pesto/weights/mir-1k_g7.ckpt"
        assert tracked["range_hz"] == pytest.approx([220.0, 2175.17], abs=0.01)
        coverage = tracked["coverage"]
        assert coverage["n_swaps"] == record["n_pairs"] and tracked["overall"]["n"] == coverage["n_judged"]
        assert sum(v["n"] for v in tracked["per_pitch_class"].values()) == coverage["n_judged"]
        judged_classes = coverage["pitch_classes_judged"] + coverage["pitch_classes_partly"]
        assert sorted(int(c) for c in tracked["per_pitch_class"]) == sorted(judged_classes)
        # tones: classes 0-11 (<= 2142 Hz) lie inside, 12-20 (>= 2192 Hz) outside; every sampled note lies inside
        assert judged_classes == (list(range(12)) if data == "tones" else list(range(21)))
        assert coverage["pitch_classes_excluded"] == (list(range(12, 21)) if data == "tones" else [])
        assert set(ceiling["griffin_lim"]["per_pitch_class"]) == {str(c) for c in judged_classes}
        assert 0.85 <= ceiling["griffin_lim"]["overall"] <= 1.0 and 0.0 <= tracked["overall"]["within_50_cents_swap"] <= 1.0


def test_tables_read_the_records_by_name():
    records = swaps.judged_records("tones")
    table = swaps.judges_table(records)
    for config in table.index:
        mine = [r for r in records if r["config"] == config]
        for key in ("lsd_swap", f"within_{CENTS_TOLERANCE:g}_cents_swap"):
            assert table.loc[config, (key, "mean")] == pytest.approx(np.mean([r["judges"]["overall"][key] for r in mine]))
        assert table.loc[config, ("swap_timbre", "mean")] == pytest.approx(np.mean([r["swap_timbre"] for r in mine]))
        assert table.loc[config, ("n", "")] == len(mine)
    for config in table.index:  # the tracker's columns, and the peak judge on the tracker's classes
        mine = [r for r in records if r["config"] == config]
        tracked = [r["judges"]["tracker"] for r in mine]
        assert table.loc[config, ("tracker_within_swap", "mean")] == pytest.approx(
            np.mean([t["overall"][f"within_{CENTS_TOLERANCE:g}_cents_swap"] for t in tracked]))
        assert table.loc[config, ("tracker_coverage", "mean")] == pytest.approx(np.mean([t["coverage"]["share"] for t in tracked]))
        peak = [np.average([r["judges"]["per_pitch_class"][str(c)][f"within_{CENTS_TOLERANCE:g}_cents_swap"] for c in range(12)],
                           weights=[r["judges"]["per_pitch_class"][str(c)]["n"] for c in range(12)]) for r in mine]
        assert table.loc[config, ("peak_within_swap_in_range", "mean")] == pytest.approx(np.mean(peak))
    per_class = swaps.judges_per_class(records)
    assert list(per_class.columns) == list(range(21)) and "real clips (judge ceiling)" in per_class.index
    first = records[0]
    assert per_class.loc[first["config"], 20] == pytest.approx(np.mean(
        [r["judges"]["per_pitch_class"]["20"][f"within_{CENTS_TOLERANCE:g}_cents_swap"] for r in records if r["config"] == first["config"]]))
    text = swaps.judges_markdown()
    assert text.count("\n| tones |") == 2 and text.count("\n| instruments |") == 2
    shown = swaps.judges_display(table)
    assert shown.loc["training seeds"].tolist() == ["3", "3"]
    assert shown.loc["share of swaps in the tracker's range (judged by it)"].str.match(r"0\.\d\d ± 0\.00").all()
    tracked = trackers.tracker_per_class(records)
    assert list(tracked.columns) == list(range(12)) and "real clips, Griffin-Lim (tracker ceiling)" in tracked.index
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


def test_add_judges_adds_the_tracker_to_a_judged_record_and_keeps_its_numbers(tmp_path):
    """Resumable: a record that has the first judges gets the tracker only, its other numbers as they
    were; a second run writes nothing."""
    from mvtutorial.cache import atomic_write_json
    from mvtutorial.checkpoint import load_model
    from mvtutorial.config import TrainConfig
    from mvtutorial.data import load_tone_dataset
    from mvtutorial.training import train

    ds = load_tone_dataset("fast")
    train(TrainConfig.preset("fast", epochs=1, hidden=(16, 16)), tmp_path / "toy", dataset=ds, progress=False, threads=1)
    [record] = swaps.judge_models({"toy": load_model(tmp_path / "toy")}, ds, n_pairs=60)
    assert "tracker" not in record["judges"]
    path = tmp_path / "swap" / "toy.json"
    atomic_write_json({**record, "data": ds.spec(), "checkpoint": "toy"}, path)
    before = read_json(path)
    assert swaps.add_judges([path], progress=False) == [path]
    again = read_json(path)
    tracked, ceiling = again["judges"].pop("tracker"), again["judges_validation"].pop("tracker")
    assert again == before
    assert tracked["coverage"]["n_swaps"] == 60 and set(ceiling) >= {"griffin_lim", "audio"}
    assert swaps.add_judges([path], progress=False) == []


#: Keys added to a swap record after it is written: by :func:`swaps.add_judges`, and (tone records) the
#: per-class cells of :func:`mvtutorial.studies.swap_classes.add_swap_cells`.
JUDGE_KEYS = ("judges", "judges_validation", "per_class")


@pytest.mark.parametrize("data", sorted(swaps.SWAP_FOLDERS))
def test_the_writer_rewrites_a_shipped_record_byte_for_byte(data, tmp_path, monkeypatch):
    """Known answer: given a shipped record's score and identity, the writer writes that record
    (before the judges were added) byte for byte, in the same key order."""
    import json

    source = swaps.swap_record_paths(data)[0]
    shipped = read_json(source)
    assert source.read_text() == json.dumps(shipped, indent=2, sort_keys=True) + "\n"  # written as the writer writes
    identity_keys = ("config", "name", "checkpoint", "train_seed", "data", "command")
    identity = {k: shipped[k] for k in identity_keys if k in shipped}
    score = {k: v for k, v in shipped.items() if k not in (*identity_keys, *JUDGE_KEYS, "version")}
    monkeypatch.setattr(swaps, "swap_score", lambda model, ds, classifier, n_pairs, seed: dict(score))
    monkeypatch.setattr(swaps, "__version__", shipped["version"])
    path = tmp_path / "swap" / "x.json"
    record = swaps.write_swap_score(path, None, None, None, **identity)
    expected = {k: v for k, v in shipped.items() if k not in JUDGE_KEYS}
    assert record == expected and list(read_json(path)) == list(expected)
    assert path.read_text() == json.dumps(expected, indent=2, sort_keys=True) + "\n"
    with pytest.raises(ValueError, match=r"\['split', 'version'\]"):
        swaps.write_swap_score(path, None, None, None, split="x", version="x")


def test_the_writer_scores_a_model_flat_or_nested(tmp_path):
    """A tiny untrained model: the flat record has a shipped record's keys in its order and the score
    of :func:`mvtutorial.listening.swap_score`; ``under="swap"`` keeps a result's other keys and adds
    the score under ``"swap"`` (and starts from the identity when there is no file yet)."""
    import torch

    from mvtutorial import __version__
    from mvtutorial.cache import atomic_write_json
    from mvtutorial.config import TrainConfig
    from mvtutorial.data import load_tone_dataset
    from mvtutorial.listening import fit_feature_classifier, swap_score
    from mvtutorial.model import MultiViewVAE

    ds = load_tone_dataset("fast")
    torch.manual_seed(0)
    model = MultiViewVAE(TrainConfig.preset("fast", hidden=(16, 16)).model_config(ds.input_shape)).eval()
    classifier = fit_feature_classifier(ds, kind="logistic", seed=0)
    score = swap_score(model, ds, classifier, n_pairs=40, seed=1)
    flat = tmp_path / "swap" / "toy-seed0.json"
    record = swaps.write_swap_score(flat, model, ds, classifier, n_pairs=40, seed=1, config="toy", checkpoint="toy/seed0.pt",
                                    train_seed=0, command="python -m mvtutorial.reproduce swap")
    shipped = read_json(swaps.swap_record_paths("tones")[0])
    assert list(read_json(flat)) == [k for k in shipped if k not in JUDGE_KEYS]
    assert read_json(flat) == record == {"config": "toy", "checkpoint": "toy/seed0.pt", "train_seed": 0, "version": __version__,
                                         "command": "python -m mvtutorial.reproduce swap", **score}
    result = tmp_path / "baselines" / "run.json"
    atomic_write_json({"config": {"objective": "x"}, "seed": 3, "version": "old", "samples": {"probes": {"a": 0.5}}}, result)
    nested = swaps.write_swap_score(result, model, ds, classifier, n_pairs=40, seed=1, under="swap")
    assert read_json(result) == nested == {"config": {"objective": "x"}, "seed": 3, "version": "old",
                                           "samples": {"probes": {"a": 0.5}}, "swap": score}
    fresh = swaps.write_swap_score(tmp_path / "extras.json", model, ds, classifier, n_pairs=40, seed=1, under="swap",
                                   key="k", judges={"overall": {}})
    assert read_json(tmp_path / "extras.json") == fresh == {"key": "k", "judges": {"overall": {}}, "swap": score}
