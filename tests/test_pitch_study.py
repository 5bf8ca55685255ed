"""The pitch study's helpers (mvtutorial.studies.pitch): its configurations, the per-class tables and
their JSON round trip, on known answers and on a tiny trained model."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mvtutorial.cache import atomic_write_json
from mvtutorial.data import load_tone_dataset
from mvtutorial.studies.separation import recommended_config
from mvtutorial.studies import pitch
from mvtutorial.training import train


def test_each_family_is_the_recommended_configuration_plus_one_change():
    for name, family in pitch.PITCH_FAMILIES.items():
        config = pitch.pitch_config(name, seed=2)
        assert config == dataclasses.replace(recommended_config(seed=2), **family.overrides) and family.hypothesis
        assert pitch.row_label(name) == family.label != name  # tables show the label, code passes the identifier
    assert len(pitch.pitch_grid()) == 3 * len(pitch.PITCH_FAMILIES)
    with pytest.raises(ValueError, match="unknown pitch family"):
        pitch.pitch_config("+ magic")


def test_per_class_cells_and_weighted_tables(tmp_path):
    factors = pd.DataFrame({"freq_class": [0, 0, 0, 1, 1, 1], "waveform_name": ["sine", "sine", "square"] * 2})
    cells = pitch._per_class({"private -> frequency": np.array([1, 0, 1, 1, 1, 1], bool)}, factors)
    assert cells.loc[(0, "sine"), "private -> frequency"] == 0.5 and cells.loc[(0, "sine"), "n"] == 2
    assert cells.loc[(1, "square"), "private -> frequency"] == 1.0
    # per class: weighted by the clips of each cell (class 0: 2 of 3 right)
    table = pitch.per_class_table({"m": cells})
    assert table.loc["m", 0] == pytest.approx(2 / 3) and table.loc["m", 1] == 1.0
    # saved and read back as the driver does: same numbers, same labels
    atomic_write_json({"model": "m", "per_class": pitch._frame_json(cells)}, tmp_path / "per_class" / "m.json")
    back = pitch.per_class_records(tmp_path)["m"]
    pd.testing.assert_frame_equal(back[cells.columns].astype(float), cells.astype(float), check_names=False)
    by_wave = pitch.per_class_table({"m": cells}, by="waveform")
    assert by_wave.loc["m", "sine"] == pytest.approx(3 / 4)


def test_per_class_accuracy_on_a_tiny_model(tmp_path):
    ds = load_tone_dataset("fast", cache=tmp_path)
    config = pitch.pitch_config("freqconv", mode="fast")
    model = train(dataclasses.replace(config, epochs=1, hidden=(32, 32)), dataset=ds, progress=False, threads=1).model
    cells = pitch.per_class_accuracy(model, ds, max_train=500)
    assert set(cells.columns) == set(pitch.COLUMNS) | {"n"}
    assert cells["n"].sum() == len(ds.split_indices("test"))
    assert ((cells[list(pitch.COLUMNS)] >= 0) & (cells[list(pitch.COLUMNS)] <= 1)).all().all()
    ceiling = pitch.input_ceiling_per_class(ds, max_train=500)
    assert ceiling["n"].sum() == len(ds.split_indices("test"))


def test_shipped_pitch_study_is_complete():
    """Chapter 6's pitch section reads these: every family and data control x 3 seeds with the study's
    evaluation on samples, per-class tables of each run, the shipped checkpoints and the input, and
    swap records with judges for the families' runs."""
    results = pitch.pitch_results()
    assert sorted((r["family"], r["seed"]) for r in results) == sorted((f, s) for f in pitch.PITCH_FAMILIES for s in pitch.SEEDS)
    assert all("samples" in r and r["version"] for r in results)
    controls = pitch.control_results()
    assert {n: sorted(r["seed"] for r in rs) for n, rs in controls.items()} == {n: list(pitch.SEEDS) for n in pitch.DATA_CONTROLS}
    assert all(r["data"]["tone_config"]["synthesis"] == "bandlimited" for r in controls["band-limited-tones"])
    summary = pitch.per_class_summary()
    assert not summary.isna().any().any() and list(summary.columns) == list(range(21))
    rows = {pitch.CEILING, "paper (headline)", "+ cross-view + rate", *(f.label for f in pitch.PITCH_FAMILIES.values())}
    assert rows <= set(summary.index)
    swaps = pitch.pitch_swap_records()
    assert len(swaps) == 3 * len(pitch.PITCH_FAMILIES) and all("judges" in r for r in swaps)
    table = pitch.pitch_table()
    # the recommended row is the separation study's own numbers, read by name
    assert table.loc["+ cross-view + rate", ("targets met", "of 12")] == 9
