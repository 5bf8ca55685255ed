"""The alias-comb diagnosis of chapter 7.6: pitch-blurred clips, their ceiling, the pitch axis's noise,
the decoder's sensitivity to pitch, and the labelled confusion of reconstructions."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

from mvtutorial.listening import fit_feature_classifier
from mvtutorial.model import MultiViewVAE
from mvtutorial.studies import alias_comb as AC
from mvtutorial.studies import swap_classes as SC


@pytest.fixture(scope="module")
def classifier(fast_tones):
    return fit_feature_classifier(fast_tones, seed=0)


def _model(ds, logvar0: float | None = None, blind_decoder: bool = False) -> MultiViewVAE:
    torch.manual_seed(0)
    model = MultiViewVAE(input_shape=ds.input_shape, private_dim=3, shared_dim=2, hidden=(32,))
    with torch.no_grad():
        if logvar0 is not None:  # the first private coordinate's log-variance is a constant
            model.private_head.weight[3].zero_()
            model.private_head.bias[3] = logvar0
        if blind_decoder:  # the decoder's output does not depend on the codes
            model.decoder_body[0].weight.zero_()
    return model


def test_blurred_features_at_no_noise_give_back_the_stored_features(fast_tones):
    rows = fast_tones.split_indices("test")[:12]
    torch.testing.assert_close(AC.pitch_blurred_features(fast_tones, rows, 0.0), fast_tones.features[rows], atol=1e-4, rtol=0)


def test_blurred_features_are_deterministic_and_move_with_the_noise(fast_tones):
    rows = fast_tones.split_indices("test")[:6]
    a = AC.pitch_blurred_features(fast_tones, rows, 0.02, n_draws=2)
    torch.testing.assert_close(a, AC.pitch_blurred_features(fast_tones, rows, 0.02, n_draws=2))
    assert (a - fast_tones.features[rows]).abs().mean() > 0.01


def test_pitch_quantiles_known_answer():
    # two quantiles of N(0, 1) (far from Nyquist): eps = -+0.6745, the quartiles
    q = AC._pitch_quantiles(np.array([1000.0]), 0.1, 8000.0, 2)
    np.testing.assert_allclose(np.log2(q[:, 0] / 1000.0) / 0.1, [-0.6744897501960817, 0.6744897501960817], rtol=1e-9)
    np.testing.assert_allclose(AC._pitch_quantiles(np.array([440.0, 880.0]), 0.0, 8000.0, 3), [[440.0, 880.0]] * 3)


def test_blurred_pitches_stay_below_nyquist(fast_tones):
    top = fast_tones.factors["freq_hz"].iloc[fast_tones.factors["freq_hz"].to_numpy().argmax()]  # ~7.4 kHz
    moved = AC._pitch_quantiles(np.array([top]), 0.2, 8000.0, 1000)  # 0.2 octave of noise often crosses 8 kHz
    assert moved.max() < 8000.0 and moved.min() < top
    # the truncated normal: the share below the clip's pitch is Phi(0) / Phi(top) > 1/2
    assert np.mean(moved < top) == pytest.approx(0.5 / norm.cdf(np.log2(8000.0 / top) / 0.2), abs=2e-3)
    AC.pitch_blurred_features(fast_tones, [int(fast_tones.factors["freq_hz"].to_numpy().argmax())], 0.2, n_draws=3)


@pytest.mark.parametrize("kwargs, match", [({"sigma": -0.1}, "sigma must be a finite"), ({"sigma": float("nan")}, "sigma must be"),
                                           ({"sigma": 0.01, "n_draws": 0}, "n_draws must be >= 1")])
def test_blurred_features_refuse_bad_arguments(fast_tones, kwargs, match):
    with pytest.raises(ValueError, match=match):
        AC.pitch_blurred_features(fast_tones, [0], **kwargs)


def test_blurred_features_need_a_source_with_pitches(fast_tones):
    no_pitch = dataclasses.replace(fast_tones, factors=fast_tones.factors.drop(columns=["freq_hz"]))
    with pytest.raises(ValueError, match="freq_hz column"):
        AC.pitch_blurred_features(no_pitch, [0], 0.01)


def test_ceiling_without_noise_is_the_classifier_on_the_real_clips(fast_tones, classifier):
    bands = {"low": range(0, 7), "high": range(14, 21)}
    table = AC.blur_ceiling(fast_tones, classifier, bands, sigmas=(0.0, 0.02), n_clips=10_000, n_draws=2)
    assert list(table.index) == ["low", "high"] and list(table.columns) == [0.0, 0.02]
    assert table.columns.name == "pitch noise (octave)"
    rows = fast_tones.split_indices("test")
    classes, timbre = fast_tones.factors["freq_class"].to_numpy(), fast_tones.factors["waveform"].to_numpy()
    for band, members in bands.items():
        r = rows[np.isin(classes[rows], list(members))]
        expected = np.mean(classifier.predict(fast_tones.features[r])["timbre"] == timbre[r])
        assert table.loc[band, 0.0] == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="band 'none'.*no clip"):
        AC.blur_ceiling(fast_tones, classifier, {"none": [99]}, sigmas=(0.0,))


def test_pitch_axis_noise_reads_the_first_private_coordinate(fast_tones):
    model = _model(fast_tones, logvar0=2 * math.log(0.01))
    assert AC.pitch_axis_noise(model, fast_tones, range(20)) == pytest.approx(0.01, rel=1e-5)


def test_comb_sensitivity_of_a_blind_decoder_is_zero_and_of_the_real_comb_is_not(fast_tones):
    rows = fast_tones.split_indices("test")[:10]
    blind = AC.comb_sensitivity(_model(fast_tones, blind_decoder=True), fast_tones, rows, step=0.01)
    assert blind["decoder"] == 0.0 and blind["real clips"] > 0.01
    assert AC.comb_sensitivity(_model(fast_tones), fast_tones, rows, step=0.01)["decoder"] > 0
    assert AC.comb_sensitivity(_model(fast_tones), fast_tones, rows, step=0.0) == {"real clips": 0.0, "decoder": 0.0}


def test_labelled_confusion_known_answer():
    table = AC.labelled_confusion(np.array([0, 0, 1, 1, 1, 1]), np.array([0, 1, 1, 1, 1, 0]), {0: "sine", 1: "square"})
    assert table.index.name == "true timbre" and table.columns.name == "read as"
    expected = pd.DataFrame([[0.5, 0.5], [0.25, 0.75]], index=["sine", "square"], columns=["sine", "square"])
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy())
    assert list(table.index) == list(table.columns) == ["sine", "square"]


def test_reconstruction_confusion_names_the_waveforms_and_rows_sum_to_one(fast_tones, classifier):
    table = AC.reconstruction_confusion(_model(fast_tones), fast_tones, classifier, range(14, 21))
    assert list(table.index) == list(fast_tones.config.waveforms) == list(table.columns)
    np.testing.assert_allclose(table.sum(axis=1).to_numpy(), 1.0)


def test_comb_reading_interpolates_the_ceiling_at_the_models_noise():
    ceiling = pd.DataFrame({0.0: [0.97], 0.01: [0.95], 0.02: [0.93]}, index=["classes 14-20"])
    text = AC.comb_reading(ceiling, "classes 14-20", noise=0.015, reconstructions=0.91)
    assert "97.0%" in text and "94.0%" in text and "91.0%" in text
    assert "the pitch noise costs 3.0 points" in text and "rendering 3.0 more" in text
    assert "reaches the ceiling" in AC.comb_reading(ceiling, "classes 14-20", noise=0.02, reconstructions=0.95)
    free = pd.DataFrame({0.0: [0.96], 0.02: [0.975]}, index=["top"])  # averaging over the noise reads as well as the real clips
    assert "the pitch noise costs nothing, the decoder's rendering costs 7.1 points." in AC.comb_reading(free, "top", 0.02, 0.904)
    past = AC.comb_reading(ceiling, "classes 14-20", noise=0.05, reconstructions=0.9)
    assert "at most 93.0% (its value at 0.02 octave" in past and "costs at least 4.0 points" in past
    with pytest.raises(ValueError, match="column at pitch noise 0"):
        AC.comb_reading(ceiling.drop(columns=[0.0]), "classes 14-20", noise=0.015, reconstructions=0.9)


def test_sensitivity_reading_known_answer():
    text = AC.sensitivity_reading({"real clips": 0.12, "decoder": 0.001}, step=0.01)
    assert "by 0.120 per band" in text and "by 0.0010, 120 times less" in text
    assert "not at all" in AC.sensitivity_reading({"real clips": 0.12, "decoder": 0.0})


def test_band_accuracy_is_the_classifier_on_each_bands_reconstructions(fast_tones, classifier):
    model = _model(fast_tones)
    acc = AC.band_accuracy(model, fast_tones, classifier, {"high": range(14, 21), "all": range(21)})
    conf = AC.reconstruction_confusion(model, fast_tones, classifier, range(14, 21))
    rows = AC.band_rows(fast_tones, range(14, 21))
    share = fast_tones.factors["waveform"].iloc[rows].value_counts(normalize=True).sort_index().to_numpy()
    assert acc["high"] == pytest.approx(float(np.diag(conf.to_numpy()) @ share))  # the confusion's diagonal, weighted by clips
    assert list(acc.index) == ["high", "all"]


def test_ceiling_record_round_trips_through_json_with_its_labels(tmp_path, fast_tones, classifier, monkeypatch):
    table = AC.blur_ceiling(fast_tones, classifier, {"low": range(7), "high": range(14, 21)}, sigmas=(0.0, 0.005), n_clips=8, n_draws=2)
    path = tmp_path / "alias_comb" / "ceiling.json"
    path.parent.mkdir()
    path.write_text(json.dumps(AC.ceiling_record(table, n_draws=2)))
    back = AC.shipped_ceiling(tmp_path)
    pd.testing.assert_frame_equal(back, table)
    assert back.columns.name == "pitch noise (octave)" and json.loads(path.read_text())["n_draws"] == 2
    with pytest.raises(FileNotFoundError, match="reproduce comb"):
        AC.shipped_ceiling(tmp_path / "elsewhere")


def test_shipped_ceiling_holds_both_bands_and_the_real_clips_column():
    table = AC.shipped_ceiling()
    assert list(table.index) == list(AC.BANDS) and list(table.columns) == list(AC.SIGMAS)
    assert ((table >= 0) & (table <= 1)).all().all()
    assert table.loc["classes 14-20", 0.0] < table.loc["classes 0-13", 0.0]  # aliasing makes the top classes harder to read


def test_comb_record_carries_its_identity_and_the_measures_of_its_parts(fast_tones):
    model = _model(fast_tones, logvar0=2 * math.log(0.02))
    record = AC.comb_record(model, fast_tones, classes=range(14, 21), n_clips=10, key="k", family="fam", seed=2)
    rows = AC.band_rows(fast_tones, range(14, 21))
    assert (record["key"], record["family"], record["seed"], record["step"]) == ("k", "fam", 2, AC.COMB_STEP)
    assert record["pitch noise"] == pytest.approx(0.02, rel=1e-5)
    change = AC.comb_sensitivity(model, fast_tones, rows[:10], step=AC.COMB_STEP)
    assert (record["decoder change"], record["real change"]) == (change["decoder"], change["real clips"])
    json.dumps(record)  # JSON-ready


def test_comb_summary_means_over_seeds_in_the_given_order():
    records = [{"family": "b", "pitch noise": 0.02, "decoder change": 0.001, "real change": 0.14},
               {"family": "a", "pitch noise": 0.01, "decoder change": 0.003, "real change": 0.14},
               {"family": "b", "pitch noise": 0.04, "decoder change": 0.003, "real change": 0.12}]
    table = AC.comb_summary(records, order=["a", "b"])
    assert list(table.index) == ["a", "b"] and list(table.columns) == [*AC.COMB_COLUMNS, "seeds"]
    np.testing.assert_allclose(table.loc["b", list(AC.COMB_COLUMNS)].to_numpy(dtype=float), [0.03, 0.002, 0.13])
    assert table.loc["b", "seeds"] == 2 and table.loc["a", "seeds"] == 1
    assert AC.comb_summary([]).empty


def test_comb_table_and_reading_put_each_family_beside_its_top_band():
    summary = pd.DataFrame({"pitch noise": [0.02, 0.004], "decoder change": [0.001, 0.01], "real change": [0.14, 0.14],
                            "seeds": [3, 3]}, index=["base", "sharp"])
    columns = pd.MultiIndex.from_tuples([(m, b) for m in (SC.SWAP_TIMBRE, SC.RECONSTRUCTION_TIMBRE) for b in ("classes 0-13", "classes 14-20")])
    bands = pd.DataFrame([[0.97, 0.89, 0.98, 0.91], [0.97, 0.93, 0.98, 0.95]], index=["sharp", "base"], columns=columns)
    table = AC.comb_table(summary, bands)
    assert list(table.index) == ["base", "sharp"]
    assert table.loc["sharp", "reconstructions: timbre (classes 14-20)"] == 0.91  # read by name, not by position
    assert table.loc["base", "swaps: timbre (classes 14-20)"] == 0.93
    text = AC.comb_family_reading(table, "sharp", "base")
    assert "pitch noise 0.0040 octave (*base*: 0.0200)" in text and "by 0.0100 per band (0.0010" in text
    assert "reconstructions keep timbre 91.0% (95.0%)" in text and "swaps 89.0% (93.0%) at classes 14-20." in text


def test_reproduce_ceiling_writes_what_shipped_ceiling_reads(tmp_path, monkeypatch, fast_tones):
    """The command's whole chain on the fast set and a tiny preset: computed, written atomically, read back with its labels."""
    monkeypatch.setattr(AC, "load_tone_dataset", lambda mode: fast_tones)
    monkeypatch.setitem(AC.CEILING_PRESETS, "full", {"n_clips": 6, "n_draws": 2, "sigmas": (0.0, 0.01)})
    path = AC.reproduce_ceiling(tmp_path)
    assert path == tmp_path / "alias_comb" / "ceiling.json"
    table = AC.shipped_ceiling(tmp_path)
    assert list(table.index) == list(AC.BANDS) and list(table.columns) == [0.0, 0.01]
    record = json.loads(path.read_text())
    assert (record["n_clips"], record["n_draws"], record["data"]) == (6, 2, fast_tones.spec()) and record["version"]
    classifier = fit_feature_classifier(fast_tones, seed=0)
    again = AC.blur_ceiling(fast_tones, classifier, AC.BANDS, sigmas=(0.0, 0.01), n_clips=6, n_draws=2)
    pd.testing.assert_frame_equal(table, again)  # the same numbers as calling the function
