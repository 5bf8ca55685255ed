"""Swap scores per cell (mvtutorial.studies.swap_classes): known answers on hand-made predictions, the
chain from a written swap record to its cells and back, and the shipped tone records' cells."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mvtutorial import listening as L
from mvtutorial.cache import read_json
from mvtutorial.studies import swap_classes as SC
from mvtutorial.studies.store import ASSETS
from mvtutorial.studies.swaps import swap_record_paths, write_swap_score


def _predictions(rows):
    keys = ["timbre_private_donor", "timbre_shared_donor", "timbre_swap", "frequency_private_donor", "frequency_shared_donor",
            "frequency_swap"]
    return pd.DataFrame(rows, columns=keys)


def test_swap_cells_known_answer():
    # (timbre a, timbre b, timbre of swap, freq a, freq b, freq of swap); cell = (freq of a, waveform of b)
    p = _predictions([(0, 1, 1, 3, 5, 3),   # cell (3, saw): timbre right, frequency right
                      (2, 1, 2, 3, 7, 7),   # cell (3, saw): timbre leaked from a, frequency from b
                      (1, 0, 0, 4, 2, 4),   # cell (4, sine): right
                      (1, 0, 3, 4, 2, 4)])  # cell (4, sine): timbre wrong (neither donor)
    cells = SC.swap_cells(p, {0: "sine", 1: "saw", 2: "square", 3: "triangle"})
    assert list(cells.index) == [(3, "saw"), (4, "sine")] and cells.index.names == ["freq_class", "waveform"]
    assert cells.loc[(3, "saw"), SC.SWAP_TIMBRE] == 0.5 and cells.loc[(3, "saw"), SC.SWAP_LEAK] == 0.5
    assert cells.loc[(3, "saw"), SC.SWAP_FREQUENCY] == 0.5 and cells.loc[(3, "saw"), "n"] == 2
    assert cells.loc[(4, "sine"), SC.SWAP_TIMBRE] == 0.5 and cells.loc[(4, "sine"), SC.SWAP_LEAK] == 0.0
    assert cells.loc[(4, "sine"), SC.SWAP_FREQUENCY] == 1.0
    with pytest.raises(ValueError, match=r"waveform labels \[1\] have no name"):
        SC.swap_cells(p, {0: "sine"})
    with pytest.raises(ValueError, match="lack columns"):
        SC.swap_cells(p.drop(columns="timbre_swap"), {0: "sine", 1: "saw"})


def _weighted(cells: dict, column: str) -> float:
    return sum(c[column] * c["n"] for c in cells.values()) / sum(c["n"] for c in cells.values())


def test_cells_of_a_written_record_add_up_to_its_scores(tmp_path, fast_tones, toy_vae):
    ds, model = fast_tones, toy_vae
    classifier = L.fit_feature_classifier(ds, seed=0)
    path = tmp_path / "swap" / "toy-seed0.json"
    record = write_swap_score(path, model, ds, classifier, n_pairs=300, seed=2, config="toy", train_seed=0, checkpoint="toy.pt")
    record["judges"] = {"overall": {"kept": 1.0}}
    path.write_text(json.dumps(record))
    loaded = []
    written = SC.add_swap_cells({path: tmp_path / "toy.pt"}, ds, load=lambda p: loaded.append(p) or model, progress=False)
    assert written == [path] and loaded == [tmp_path / "toy.pt"]
    stored = read_json(path)  # reloaded as the chapter reads it
    assert stored["judges"] == record["judges"] and stored["config"] == "toy"  # what is not a classifier score is kept
    for key in ("swap_timbre", "swap_frequency", "leak_timbre", "n_pairs", "seed"):  # same pass, same numbers here
        assert stored[key] == pytest.approx(record[key], abs=1e-12)
    swaps, clips = stored["per_class"]["swaps"], stored["per_class"]["clips"]
    assert sum(c["n"] for c in swaps.values()) == record["n_pairs"]
    assert _weighted(swaps, SC.SWAP_TIMBRE) == pytest.approx(stored["swap_timbre"], abs=1e-12)
    assert _weighted(swaps, SC.SWAP_LEAK) == pytest.approx(stored["leak_timbre"], abs=1e-12)
    assert _weighted(swaps, SC.SWAP_FREQUENCY) == pytest.approx(stored["swap_frequency"], abs=1e-12)
    assert sum(c["n"] for c in clips.values()) == len(ds.split_indices("test"))
    assert _weighted(clips, SC.REAL_TIMBRE) == pytest.approx(classifier.test_accuracy["timbre"], abs=1e-12)
    # cells keyed by names: every frequency class of a swap's private donor, every waveform of its shared donor
    assert {k.split("/")[1] for k in swaps} <= set(ds.factors["waveform_name"])
    # a record that has its cells is left alone; one whose scores are far from the re-scored ones is refused, by name
    assert SC.add_swap_cells({path: tmp_path / "toy.pt"}, ds, load=lambda p: model, progress=False) == []
    other = tmp_path / "swap" / "toy-seed1.json"
    other.write_text(json.dumps({**record, "swap_timbre": record["swap_timbre"] + 0.1}))  # as if another model's
    with pytest.raises(ValueError, match=r"toy-seed1.json: re-scored swap_timbre .* the record belongs to another classifier or another model"):
        SC.add_swap_cells({other: tmp_path / "toy.pt"}, ds, load=lambda p: model, classifier=classifier, progress=False)
    assert "per_class" not in read_json(other)


def test_class_table_means_records_of_a_config(fast_tones, toy_vae):
    ds, model = fast_tones, toy_vae
    classifier = L.fit_feature_classifier(ds, seed=0)
    records = []
    for seed in (0, 1):
        records.append({"config": "toy", **SC.swap_class_record(model, ds, classifier, 200, seed)})
    table = SC.swap_class_table(records)
    assert table.index.names == ["config", "measure"]
    assert list(table.index) == [("toy", SC.SWAP_TIMBRE), ("toy", SC.RECONSTRUCTION_TIMBRE), ("toy", SC.REAL_TIMBRE)]
    frames = [SC.swap_class_frames(r)["swaps"] for r in records]
    for c in table.columns:  # per class: the count-weighted share of each seed, then their mean
        per_seed = [(f.loc[c, SC.SWAP_TIMBRE] * f.loc[c, "n"]).sum() / f.loc[c, "n"].sum() for f in frames]
        assert table.loc[("toy", SC.SWAP_TIMBRE), c] == pytest.approx(np.mean(per_seed))
    with pytest.raises(ValueError, match="no per-class cells"):
        SC.swap_class_frames({"config": "toy"})


def _tone_records():
    return [*swap_record_paths("tones"), *sorted((ASSETS / "pitch" / "swap").glob("*.json"))]


@pytest.mark.parametrize("path", _tone_records(), ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_shipped_tone_swap_records_carry_consistent_cells(path):
    record = read_json(path)
    swaps, clips = record["per_class"]["swaps"], record["per_class"]["clips"]
    assert sum(c["n"] for c in swaps.values()) == record["n_pairs"]
    assert _weighted(swaps, SC.SWAP_TIMBRE) == pytest.approx(record["swap_timbre"], abs=1e-12)
    assert _weighted(swaps, SC.SWAP_LEAK) == pytest.approx(record["leak_timbre"], abs=1e-12)
    assert _weighted(swaps, SC.SWAP_FREQUENCY) == pytest.approx(record["swap_frequency"], abs=1e-12)
    assert _weighted(clips, SC.REAL_TIMBRE) == pytest.approx(record["real_timbre"], abs=1e-12)
    # a swap keeps timbre no more often than reconstructions of the same clips, up to sampling noise
    assert _weighted(swaps, SC.SWAP_TIMBRE) <= _weighted(clips, SC.RECONSTRUCTION_TIMBRE) + 0.02


def test_bands_and_reading_known_answer():
    measures = [SC.SWAP_TIMBRE, SC.SWAP_LEAK, SC.RECONSTRUCTION_TIMBRE, SC.REAL_TIMBRE]
    index = pd.MultiIndex.from_product([["m"], measures], names=["config", "measure"])
    table = pd.DataFrame([[1.0, 0.96, 0.8, 0.7], [0.0, 0.02, 0.1, 0.1], [1.0, 1.0, 0.9, 0.9], [1.0, 1.0, 1.0, 0.98]],
                         index=index, columns=[0, 1, 2, 3])
    bands = SC.swap_class_bands(table, top=(2, 3))
    assert list(bands.columns) == ["classes 0-1", "classes 2-3"]
    assert bands.loc[("m", SC.SWAP_TIMBRE)].tolist() == pytest.approx([0.98, 0.75])
    assert bands.loc[("m", SC.REAL_TIMBRE)].tolist() == pytest.approx([1.0, 0.99])
    text = SC.swap_class_reading(table, "m", top=(2, 3), target=0.95)
    assert "98.0% at classes 0-1 and 75.0% at the aliased classes 2-3 (target 95%: met at classes 0-1)" in text
    assert "keep it in 100.0% and 90.0%" in text and "1.0% and 10.0% of the swaps take the private donor's timbre" in text
    with pytest.raises(ValueError, match="must split"):
        SC.swap_class_bands(table, top=(0, 1, 2, 3))


def _cells(values: dict) -> dict:
    """Stored cells ``{"<class>/<waveform>": {column: value, "n": n}}`` from ``{(class, waveform): (values..., n)}``."""
    return {f"{c}/{w}": v for (c, w), v in values.items()}


def test_pitch_report_bands_and_decoder_reading_known_answer():
    from mvtutorial.studies import pitch_report as R

    swaps = _cells({(0, "sine"): {SC.SWAP_TIMBRE: 1.0, SC.SWAP_LEAK: 0.0, SC.SWAP_FREQUENCY: 1.0, "n": 3},
                    (0, "saw"): {SC.SWAP_TIMBRE: 0.0, SC.SWAP_LEAK: 1.0, SC.SWAP_FREQUENCY: 1.0, "n": 1},
                    (14, "sine"): {SC.SWAP_TIMBRE: 0.5, SC.SWAP_LEAK: 0.25, SC.SWAP_FREQUENCY: 1.0, "n": 4}})
    clips = _cells({(0, "sine"): {SC.REAL_TIMBRE: 1.0, SC.RECONSTRUCTION_TIMBRE: 1.0, "n": 5},
                    (14, "sine"): {SC.REAL_TIMBRE: 1.0, SC.RECONSTRUCTION_TIMBRE: 0.6, "n": 5}})
    records = [{"config": "A", "per_class": {"swaps": swaps, "clips": clips}},
               {"config": "other", "per_class": {"swaps": swaps, "clips": clips}}, {"config": "A"}]  # no cells: left out
    bands = R.swap_timbre_bands(records, ["missing", "A", "A"])
    assert list(bands.index) == ["A"]
    assert bands.loc["A", (SC.SWAP_TIMBRE, "class 0")] == pytest.approx(0.75)  # 3 of 4 swaps at class 0
    assert bands.loc["A", (SC.SWAP_LEAK, "class 14")] == pytest.approx(0.25)
    assert bands.loc["A", (SC.RECONSTRUCTION_TIMBRE, "class 14")] == pytest.approx(0.6)
    shared = pd.DataFrame([[1.0, 0.9]], index=["A"], columns=[0, 14])
    text = R.decoder_reading(bands, shared, "A")
    assert "At the aliased class 14, an MLP on *A*'s shared posterior samples reads the timbre in 90.0%" in text
    assert "reconstructions are read as their own timbre in 60.0% and its swaps as the shared donor's in 50.0% (25.0%" in text
    assert text.endswith("the decoder loses what the code holds.")
    close = R.decoder_reading(bands, pd.DataFrame([[1.0, 0.62]], index=["A"], columns=[0, 14]), "A")
    assert close.endswith("so the code, not the decoder, sets the limit.")
