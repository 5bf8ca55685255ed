"""The pitch study's helpers (mvtutorial.studies.pitch): its configurations, the per-class tables and
their JSON round trip, on known answers and on a tiny trained model."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mvtutorial.cache import atomic_write_json
from mvtutorial.config import config_to_dict
from mvtutorial.data import load_tone_dataset
from mvtutorial.experiments import run_key
from mvtutorial.studies.separation import (DECODER_STAGE, PREVIOUS, RECOMMENDED_STANDARD, SWAP_CONSISTENCY, family_config, label,
                                           recommended_config)
from mvtutorial.studies import pitch
from mvtutorial.training import NonFiniteLossError, train
from mvtutorial.studies import per_class


def test_each_family_is_the_base_configuration_plus_one_change():
    for name, family in pitch.PITCH_FAMILIES.items():
        config = pitch.pitch_config(name, seed=2)
        assert config == dataclasses.replace(family_config(PREVIOUS, seed=2), **family.overrides) and family.hypothesis
        assert pitch.row_label(name) == family.label != name  # tables show the label, code passes the identifier
    # the study's recommendation is the separation study's recommended family, run for run, its decoder stage without
    # swap consistency the separation study's DECODER_STAGE, and its objective at the preset's schedule (what
    # chapters 8-10 train) the transposition-freqconv family
    assert all(pitch.pitch_config("transposition-freqconv-60-epochs-all-decoder-60-swap-consistency-pitch", s) == recommended_config(seed=s)
               for s in pitch.SEEDS)
    assert all(pitch.pitch_config("transposition-freqconv-60-epochs-all-decoder-60-swap-consistency", s) == family_config(SWAP_CONSISTENCY, s)
               for s in pitch.SEEDS)
    assert all(pitch.pitch_config("transposition-freqconv-60-epochs-all-decoder-60", s) == family_config(DECODER_STAGE, s)
               for s in pitch.SEEDS)
    assert all(pitch.pitch_config("transposition-freqconv", s) == family_config(RECOMMENDED_STANDARD, s) for s in pitch.SEEDS)
    assert len(pitch.pitch_grid()) == 3 * len(pitch.PITCH_FAMILIES)
    with pytest.raises(ValueError, match="unknown pitch family"):
        pitch.pitch_config("+ magic")


def test_per_class_cells_and_weighted_tables(tmp_path):
    factors = pd.DataFrame({"freq_class": [0, 0, 0, 1, 1, 1], "waveform_name": ["sine", "sine", "square"] * 2})
    cells = per_class.per_class_cells({"private -> frequency": np.array([1, 0, 1, 1, 1, 1], bool)}, factors)
    assert cells.loc[(0, "sine"), "private -> frequency"] == 0.5 and cells.loc[(0, "sine"), "n"] == 2
    assert cells.loc[(1, "square"), "private -> frequency"] == 1.0
    # per class: weighted by the clips of each cell (class 0: 2 of 3 right)
    table = per_class.per_class_table({"m": cells})
    assert table.loc["m", 0] == pytest.approx(2 / 3) and table.loc["m", 1] == 1.0
    # saved and read back as the driver does: same numbers, same labels
    atomic_write_json({"model": "m", "per_class": per_class.frame_json(cells)}, tmp_path / "per_class" / "m.json")
    back = per_class.per_class_records(tmp_path)["m"]
    pd.testing.assert_frame_equal(back[cells.columns].astype(float), cells.astype(float), check_names=False)
    by_wave = per_class.per_class_table({"m": cells}, by="waveform")
    assert by_wave.loc["m", "sine"] == pytest.approx(3 / 4)


def test_per_class_accuracy_on_a_tiny_model(tmp_path):
    ds = load_tone_dataset("fast", cache=tmp_path)
    config = pitch.pitch_config("freqconv", mode="fast")
    model = train(dataclasses.replace(config, epochs=1, hidden=(32, 32)), dataset=ds, progress=False, threads=1).model
    cells = per_class.per_class_accuracy(model, ds, max_train=500)
    assert set(cells.columns) == set(per_class.COLUMNS) | {"n"}
    assert cells["n"].sum() == len(ds.split_indices("test"))
    assert ((cells[list(per_class.COLUMNS)] >= 0) & (cells[list(per_class.COLUMNS)] <= 1)).all().all()
    ceiling = per_class.input_ceiling_per_class(ds, max_train=500)
    assert ceiling["n"].sum() == len(ds.split_indices("test"))


def test_shipped_pitch_study_is_complete():
    """Chapter 6's pitch section reads these: every family and data control x 3 seeds with the study's
    evaluation on samples, per-class tables of each run, the shipped checkpoints and the input, and
    swap records with judges for the families' runs."""
    results, diverged = pitch.pitch_results(), pitch.diverged_runs()
    runs = sorted([(r["family"], r["seed"]) for r in results] + [(r["family"], r["seed"]) for r in diverged])
    assert runs == sorted((f, s) for f in pitch.PITCH_FAMILIES for s in pitch.SEEDS)  # every run: a result or a divergence
    assert all(r["key"] == run_key(pitch.pitch_config(r["family"], r["seed"])) and "diverged" in r["error"] for r in diverged)
    assert all("samples" in r and r["version"] for r in results)
    controls = pitch.control_results()
    assert {n: sorted(r["seed"] for r in rs) for n, rs in controls.items()} == {n: list(pitch.SEEDS) for n in pitch.DATA_CONTROLS}
    assert all(r["data"]["tone_config"]["synthesis"] == "bandlimited" for r in controls["band-limited-tones"])
    summary = pitch.per_class_summary()
    assert not summary.isna().any().any() and list(summary.columns) == list(range(21))
    rows = {pitch.CEILING, "paper (headline)", "+ cross-view + rate", *(f.label for f in pitch.PITCH_FAMILIES.values())}
    assert rows <= set(summary.index)
    swaps = pitch.pitch_swap_records()  # every run's, and by name the base's and the separation study's decoder stage's
    assert len(swaps) == len(results) + 2 * len(pitch.SEEDS) and all("tracker" in r["judges"] for r in swaps)
    assert sorted(r["key"] for r in swaps if r["config"] == "+ cross-view + rate") == [pitch.base_name(s) for s in pitch.SEEDS]
    staged = sorted((r["key"], r["train_seed"]) for r in swaps if r["config"] == label(DECODER_STAGE))
    assert staged == [(f"{DECODER_STAGE}-seed{s}", s) for s in pitch.SEEDS]
    table = pitch.pitch_table()
    # the base row is the separation study's own numbers, read by name
    assert table.loc["+ cross-view + rate", ("targets met", "of 12")] == 9


def test_shipped_pitch_axes_cover_every_transposition_run_with_their_labels():
    """Every run of a family with the equivariance term (but those that diverged) has its pitch-axis and comb
    records: its own key, family label and seed, the four waveforms by name, and the tracker's judges in its swap record."""
    from mvtutorial.cache import read_json
    from mvtutorial.studies.pitch_axis import AXIS_COLUMNS

    diverged = {r["key"] for r in pitch.diverged_runs()}  # a diverged run has no model to read
    expected = {run_key(pitch.pitch_config(f, s)): (pitch.row_label(f), s) for f in pitch.PITCH_FAMILIES for s in pitch.SEEDS
                if pitch.pitch_config(f, s).transposition > 0 and run_key(pitch.pitch_config(f, s)) not in diverged}
    assert len(expected) >= 3
    records = {p.stem: read_json(p) for p in sorted((pitch.ASSETS / "pitch" / "axis").glob("*.json"))}
    assert set(records) == set(expected)
    for key, record in records.items():
        assert (record["key"], (record["family"], record["seed"])) == (key, expected[key])
        assert set(record["axis"]) == {"sine", "triangle", "sawtooth", "square"}
        assert all(set(v) == set(AXIS_COLUMNS) for v in record["axis"].values())
        assert "tracker" in read_json(pitch.ASSETS / "pitch" / "swap" / f"{key}.json")["judges"]
    axes = pitch.pitch_axes()
    assert set(axes.index.get_level_values("family")) == {label for label, _ in expected.values()}
    combs = {p.stem: read_json(p) for p in sorted((pitch.ASSETS / "pitch" / "comb").glob("*.json"))}  # chapter 6.8's comb table
    assert set(combs) == set(expected)
    assert all((r["key"], (r["family"], r["seed"])) == (k, expected[k]) and r["pitch noise"] > 0 for k, r in combs.items())
    labels = {label for label, _ in expected.values()}
    assert list(pitch.pitch_combs().index) == [f.label for f in pitch.PITCH_FAMILIES.values() if f.label in labels]  # study order


def test_a_diverged_run_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    """train_runs with the real sweep's contract (a result file per finished run; NonFiniteLossError from
    the sweep when a run diverges): the diverging run is written to diverged/, the others get results,
    and a second call does not try the diverged run again."""
    configs = [pitch.pitch_config("freqconv", s, mode="fast") for s in (0, 1, 2)]
    bad, calls = run_key(configs[1]), []

    def fake_sweep(todo, out, **kwargs):
        calls.append([run_key(c) for c in todo])
        for c in todo:
            if run_key(c) == bad:
                raise NonFiniteLossError("epoch 1: the run diverged, non-finite loss in training: term(s) ['x']")
            atomic_write_json({"config": config_to_dict(c), "probes": {}, "key": run_key(c)}, out / f"{run_key(c)}.json")

    monkeypatch.setattr(pitch, "run_sweep", fake_sweep)
    monkeypatch.setattr(pitch, "pending_runs", lambda cs, out: [c for c in cs if not (out / f"{run_key(c)}.json").exists()])
    done = pitch.train_runs(configs, tmp_path, tmp_path / "runs", n_jobs=2)
    assert [run_key(c) for c in done] == [run_key(configs[0]), run_key(configs[2])]
    [record] = pitch.diverged_runs(tmp_path)
    assert (record["family"], record["seed"], record["key"]) == ("freqconv", 1, bad) and "diverged" in record["error"]
    calls.clear()
    assert len(pitch.train_runs(configs, tmp_path, tmp_path / "runs")) == 2 and bad not in sum(calls, [])


def test_swap_records_score_new_runs_once_and_add_only_what_is_missing(tmp_path, monkeypatch):
    """A run without a record is scored, then gets the tracker and its per-class cells; a record without the
    tracker gets the tracker and the cells (its score untouched); a record with the tracker but no cells gets
    only the cells; a complete record and a run without a checkpoint are left alone."""
    from mvtutorial.cache import atomic_write_json, read_json

    configs = [pitch.pitch_config("freqconv", s, mode="fast") for s in (0, 1, 2, 3)]
    keys = [run_key(c) for c in configs]
    runs, out = tmp_path / "runs", tmp_path / "out"
    for key in keys[:3]:
        (runs / key).mkdir(parents=True)
        (runs / key / "checkpoint.pt").write_bytes(b"")
    atomic_write_json({"score": "old", "judges": {}}, out / "swap" / f"{keys[1]}.json")
    atomic_write_json({"score": "old", "judges": {"tracker": {}}}, out / "swap" / f"{keys[2]}.json")
    calls = {"judged": [], "tracked": [], "cells": []}
    monkeypatch.setattr(pitch, "load_model", lambda path: path.name)
    monkeypatch.setattr(pitch, "fit_feature_classifier", lambda ds, seed: "classifier")

    def fake_judge(models, ds, **kwargs):
        calls["judged"] += list(models)
        calls.setdefault("labels", []).append(kwargs["labels"])
        return [{"score": "new", "judges": {}}]

    def fake_tracker(record, model, ds, cache):
        calls["tracked"].append(model)
        record["judges"]["tracker"] = {}
        return record

    def fake_cells(records, ds, load, classifier, progress):
        [(path, folder)] = records.items()
        assert classifier == "classifier" and load(folder) == folder.name
        calls["cells"].append(folder.name)
        atomic_write_json({**read_json(path), "per_class": {}}, path)

    monkeypatch.setattr(pitch, "judge_models", fake_judge)
    monkeypatch.setattr(pitch, "add_tracker_judges", fake_tracker)
    monkeypatch.setattr(pitch, "add_swap_cells", fake_cells)
    pitch._swap_records([(k, c, runs / k, f"row {k}") for k, c in zip(keys, configs)], out, ds=None)
    assert {k: calls[k] for k in ("judged", "tracked", "cells")} == {"judged": [keys[0]], "tracked": [keys[0], keys[1]], "cells": keys[:3]}
    assert calls["labels"] == [{keys[0]: f"row {keys[0]}"}]  # the row label each run is given, not one guessed from its config
    assert read_json(out / "swap" / f"{keys[0]}.json")["score"] == "new"
    assert read_json(out / "swap" / f"{keys[1]}.json") == {"score": "old", "judges": {"tracker": {}}, "per_class": {}}
    assert not (out / "swap" / f"{keys[3]}.json").exists()
    pitch._swap_records([(k, c, runs / k, f"row {k}") for k, c in zip(keys, configs)], out, ds=None)  # complete now: nothing is done again
    assert {k: calls[k] for k in ("judged", "tracked", "cells")} == {"judged": [keys[0]], "tracked": [keys[0], keys[1]], "cells": keys[:3]}
