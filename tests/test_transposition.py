"""Transposition equivariance (mvtutorial.objectives.transposition, ``TrainConfig.transposition``): known
answers for the term and the clips' octaves, the objective's bookkeeping, and the chain from the factor
table through the trainer's pairs to the interval the objective gets."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

import mvtutorial.training as train_module
from mvtutorial.config import TrainConfig, config_from_dict, config_to_dict
from mvtutorial.data import load_tone_dataset
from mvtutorial.model import ModelConfig, MultiViewVAE
from mvtutorial.objectives import OBJECTIVES, clip_octaves, multiview_objective, transposition_error
from mvtutorial.training import epoch_generators, run_epoch

SHAPE = (12, 4)


def test_transposition_error_known_answer():
    """Rows: first coordinate moves 1.0 for an interval of 1.0 (error 0), 0.5 for 1.0 (0.25), -1 for 1 (4):
    mean 4.25 / 3; the other coordinates do not enter."""
    z1 = torch.tensor([[0.0, 5.0], [1.0, -3.0], [2.0, 9.0]])
    z2 = torch.tensor([[1.0, 0.0], [1.5, 7.0], [1.0, 1.0]])
    interval = torch.tensor([1.0, 1.0, 1.0])
    assert transposition_error(z1, z2, interval).item() == pytest.approx(4.25 / 3)
    assert transposition_error(z1, z1 + torch.tensor([0.3, 100.0]), torch.full((3,), 0.3)).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shapes", [((3, 2), (3, 2), (2,)), ((3, 2), (3, 3), (3,)), ((3,), (3,), (3,))])
def test_transposition_error_names_bad_shapes(shapes):
    a, b, t = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match="interval"):
        transposition_error(a, b, t)


def test_clip_octaves_known_answers():
    tones = pd.DataFrame({"freq_hz": [440.0, 880.0, 110.0]})
    assert np.allclose(clip_octaves(tones) - clip_octaves(tones)[0], [0.0, 1.0, -2.0])
    notes = pd.DataFrame({"midi_note": [60, 72, 61], "detune_cents": [0.0, 0.0, -50.0]})
    assert np.allclose(clip_octaves(notes) - clip_octaves(notes)[0], [0.0, 1.0, 0.5 / 12])
    with pytest.raises(ValueError, match="timbre_label"):
        clip_octaves(pd.DataFrame({"timbre_label": [0, 1], "split": ["train", "train"]}))
    with pytest.raises(ValueError, match="freq_hz must be positive"):
        clip_octaves(pd.DataFrame({"freq_hz": [440.0, 0.0]}))


def _model(seed: int = 0) -> MultiViewVAE:
    torch.manual_seed(seed)
    return MultiViewVAE(ModelConfig(input_shape=SHAPE, private_dim=3, shared_dim=2, hidden=(16,))).eval()


def test_objective_adds_the_weighted_term_on_the_private_samples():
    model = _model()
    x1, x2 = (torch.rand(6, *SHAPE, generator=torch.Generator().manual_seed(s)) for s in (1, 2))
    interval = torch.linspace(-1, 1, 6)
    base = TrainConfig(batch_size=6, rate_private=4.0)
    today = multiview_objective(model, x1, x2, base, 100, torch.Generator().manual_seed(0))
    cfg = dataclasses.replace(base, transposition=50.0)
    terms = multiview_objective(model, x1, x2, cfg, 100, torch.Generator().manual_seed(0), interval=interval)
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))  # the same noise: the same samples
    by_hand = ((out.z_private[1][:, 0] - out.z_private[0][:, 0] - interval) ** 2).mean()
    assert torch.allclose(terms.terms["transposition"], by_hand, rtol=1e-6)
    assert torch.allclose(terms.total, today.total + 50.0 * by_hand, rtol=1e-6)
    with pytest.raises(ValueError, match="needs each pair's interval"):
        multiview_objective(model, x1, x2, cfg, 100)


def test_config_keeps_old_keys_and_refuses_other_objectives():
    assert "transposition" not in config_to_dict(TrainConfig())
    assert config_to_dict(TrainConfig(transposition=5000))["transposition"] == 5000.0
    with pytest.raises(ValueError, match="transposition"):
        TrainConfig(transposition=-1.0)
    with pytest.raises(ValueError, match="'multiview' objective"):
        TrainConfig(objective="single_view", transposition=1.0)


def test_pitch_features_keep_old_keys_and_need_the_transposition_term():
    assert "pitch_features" not in config_to_dict(TrainConfig(transposition=5000))
    config = TrainConfig(transposition=5000, pitch_features=16)
    assert config_to_dict(config)["pitch_features"] == 16
    assert config_from_dict(config_to_dict(config)) == config
    assert config.model_config((128, 32)).pitch_features == 16
    with pytest.raises(ValueError, match="set transposition > 0"):
        TrainConfig(pitch_features=16)
    with pytest.raises(ValueError, match="pitch_features must be an integer >= 0"):
        TrainConfig(transposition=5000, pitch_features=-2)


def test_trainer_passes_each_pairs_interval_from_the_factor_table(tmp_path, monkeypatch):
    """The chain as training runs it: the cached tone set, its drawn pairs, the trainer's interval ->
    the objective gets log2(f2 / f1) of each pair's own clips, in batch order."""
    ds = load_tone_dataset("fast", cache=tmp_path)
    seen = []
    real = OBJECTIVES["multiview"]

    def spy(model, x1, x2, config, dataset_size, generator=None, interval=None):
        seen.append((x1.clone(), x2.clone(), interval.clone()))
        return real(model, x1, x2, config, dataset_size, generator, interval=interval)

    monkeypatch.setitem(OBJECTIVES, "multiview", spy)
    config = TrainConfig.preset("fast", batch_size=16, hidden=(16,), transposition=10.0)
    model = MultiViewVAE(config.model_config(ds.input_shape))
    pairs = ds.pairs("train", rng=0)[:32]
    octaves = torch.as_tensor(clip_octaves(ds.factors), dtype=torch.float32)
    rng, gen = epoch_generators(0, 1, torch.device("cpu"))
    terms = run_epoch(model, torch.optim.Adam(model.parameters()), ds.features, pairs, config, 100, gen, rng, octaves=octaves)
    assert np.isfinite(terms["transposition"])
    hz = ds.factors["freq_hz"].to_numpy()
    features = ds.features.numpy()
    for x1, x2, interval in seen:
        rows1 = [int(np.flatnonzero((features == x.numpy()).all(axis=(1, 2)))[0]) for x in x1]
        rows2 = [int(np.flatnonzero((features == x.numpy()).all(axis=(1, 2)))[0]) for x in x2]
        assert np.allclose(interval.numpy(), np.log2(hz[rows2] / hz[rows1]), atol=1e-5)
        assert (interval != 0).all()  # the views of a pair differ in frequency class


def test_train_logs_the_term_and_refuses_a_source_without_pitch(tmp_path):
    ds = load_tone_dataset("fast", cache=tmp_path)
    config = TrainConfig.preset("fast", epochs=1, batch_size=32, hidden=(16,), transposition=10.0)
    result = train_module.train(config, dataset=ds, progress=False)
    assert np.isfinite(result.history[0]["train_transposition"]) and "val_transposition" in result.history[0]
    no_pitch = dataclasses.replace(ds, factors=ds.factors.drop(columns=["freq_hz"]))
    with pytest.raises(ValueError, match="transposition needs each clip's pitch.*recommended_config\\(transposition=0, swap_pitch_consistency=0\\)"):
        train_module.train(config, dataset=no_pitch, progress=False)
    # the way out the error names: the recommended configuration without the term trains on such data
    from mvtutorial.studies.separation import recommended_config

    plain = recommended_config("fast", transposition=0, swap_pitch_consistency=0, epochs=1, hidden=(16,))
    assert plain.transposition == 0 and plain.arch == "freqconv" and recommended_config("fast").transposition > 0
    with pytest.raises(ValueError, match="swap_pitch_consistency=1 reads the first private coordinate as pitch"):
        recommended_config("fast", transposition=0)  # the read-back needs the axis the term makes: one clear error
    history = train_module.train(plain, dataset=no_pitch, progress=False).history
    assert np.isfinite(history[0]["train_reconstruction"]) and "train_transposition" not in history[0]


# --------------------------------------------------------------------------- #
# The pitch axis (mvtutorial.studies.pitch_axis)
from mvtutorial.cache import atomic_write_json  # noqa: E402
from mvtutorial.studies import pitch as pitch_study  # noqa: E402
from mvtutorial.studies.pitch_axis import AXIS_COLUMNS, axis_fit, axis_record, axis_summary, pitch_axis  # noqa: E402


def test_axis_fit_known_answer():
    """code = 2 * octaves +- 0.5 by group (balanced): common slope 2, offsets +-0.25 octave, no error.
    One clip of group b moved: b's median error is the median absolute residual about b's own mean, by hand."""
    octaves = np.tile(np.arange(4.0), 2)
    groups = np.repeat(["a", "b"], 4)
    code = 2 * octaves + np.where(groups == "a", 0.5, -0.5)
    table = axis_fit(code, octaves, groups)
    assert list(table.columns) == list(AXIS_COLUMNS) and list(table.index) == ["a", "b"]
    assert table.attrs["slope"] == pytest.approx(2.0)
    assert table.loc["a", "offset"] == pytest.approx(0.25) and table.loc["b", "offset"] == pytest.approx(-0.25)
    assert np.allclose(table["median error"], 0.0, atol=1e-12) and np.allclose(table["slope"], 2.0)
    assert table["clips"].tolist() == [4, 4]
    noisy = code.copy()
    noisy[4] += 0.8
    t2 = axis_fit(noisy, octaves, groups)
    b = (noisy - np.polyval(np.polyfit(octaves, noisy, 1), octaves))[groups == "b"] / t2.attrs["slope"]
    assert t2.loc["b", "median error"] == pytest.approx(np.median(np.abs(b - b.mean())))
    with pytest.raises(ValueError, match="one length"):
        axis_fit(code[:3], octaves, groups)
    with pytest.raises(ValueError, match="do not vary"):
        axis_fit(code, np.ones(8), groups)


def test_axis_records_round_trip_through_json_with_their_labels(tmp_path):
    octaves = np.tile(np.arange(4.0), 2)
    groups = np.repeat(["sine", "square"], 4)
    for seed, shift in ((0, 0.2), (1, 0.4)):
        table = axis_fit(octaves + np.where(groups == "sine", -shift, shift), octaves, groups)
        atomic_write_json(axis_record(table, key=f"k{seed}", family="+ T", seed=seed), tmp_path / "axis" / f"k{seed}.json")
    summary = pitch_study.pitch_axes(tmp_path)
    assert summary.loc[("+ T", "sine"), "offset"] == pytest.approx(-0.3)
    assert summary.loc[("+ T", "square"), "offset"] == pytest.approx(0.3)
    assert summary.loc[("+ T", "square"), "seeds"] == 2 and summary.loc[("+ T", "square"), "clips"] == 8
    assert axis_summary([]).empty


def test_pitch_axis_of_a_trained_model_reads_its_own_means(tmp_path):
    """The chain as the study runs it: a model trained with the term, encoded by the wrapper, equals the
    pure function applied to the test split's posterior means by hand."""
    ds = load_tone_dataset("fast", cache=tmp_path)
    config = TrainConfig.preset("fast", epochs=1, batch_size=32, hidden=(16,), transposition=10.0)
    model = train_module.train(config, dataset=ds, progress=False).model
    table = pitch_axis(model, ds)
    rows = ds.split_indices("test")
    with torch.no_grad():
        means = model.encode(ds.features[rows])[0].mu[:, 0].numpy()
    by_hand = axis_fit(means, clip_octaves(ds.factors)[rows], ds.factors["waveform_name"].to_numpy()[rows])
    assert sorted(table.index) == ["sawtooth", "sine", "square", "triangle"]
    pd.testing.assert_frame_equal(table, by_hand, atol=1e-5)
    with pytest.raises(ValueError, match="coordinate 9"):
        pitch_axis(model, ds, coordinate=9)


def test_axis_reading_says_the_offsets_and_their_spread_in_classes():
    from mvtutorial.studies import pitch_report

    row = pitch_study.row_label("transposition")
    axes = pd.DataFrame({"offset": [0.1, -0.3], "median error": [0.05, 0.02], "slope": [1.0, 0.98], "clips": [10, 10],
                         "seeds": [3, 3]}, index=pd.MultiIndex.from_tuples([(row, "sawtooth"), (row, "sine")], names=["family", "group"]))
    text = pitch_report.axis_reading(axes, "transposition")
    assert "rises 0.99 per octave" in text and "sawtooth +0.10, sine -0.30" in text
    assert "offsets span 0.40 octave (2.0 classes)" in text and "sawtooth 0.05, sine 0.02 octave" in text and "(3 seeds" in text


def test_swap_targets_reading_known_answer():
    from mvtutorial.studies import pitch_report

    rec, fam = pitch_report.BASE_ROW, pitch_study.row_label("transposition-freqconv")
    swaps = pd.DataFrame({("swap_frequency", "mean"): [0.634, 0.974], ("swap_timbre", "mean"): [0.882, 0.951],
                          ("recon_frequency", "mean"): [0.81, 0.99], ("recon_timbre", "mean"): [0.954, 0.955],
                          ("n", ""): [3, 3]}, index=[rec, fam])
    lines = pitch_report.swap_targets_reading(swaps, ["transposition-freqconv", "transposition"])  # one without records
    assert len(lines) == 2 and lines[0].startswith(f"* **{rec}** (3 seeds)")
    assert "63.4% of swaps" in lines[0] and "Swap targets met: 0 of 2" in lines[0]
    assert "97.4% of swaps" in lines[1] and "95.1%" in lines[1] and "timbre 95.5%" in lines[1] and "Swap targets met: 2 of 2" in lines[1]


def test_decoder_stage_reading_known_answer():
    from mvtutorial.studies import pitch_report

    first, staged = (pitch_study.row_label(f) for f in ("transposition-freqconv", "transposition-freqconv-60-epochs"))
    swaps = pd.DataFrame({("swap_frequency", "mean"): [0.974, 0.98], ("swap_timbre", "mean"): [0.912, 0.955],
                          ("recon_timbre", "mean"): [0.95, 0.97], ("n", ""): [3, 2]}, index=[first, staged])
    bands = pd.DataFrame({(pitch_report.SWAP_TIMBRE, "classes 0-13"): [0.94, 0.97], (pitch_report.SWAP_TIMBRE, "classes 14-20"): [0.85, 0.925]},
                         index=[first, staged])
    table = pd.DataFrame({("private/frequency", "mean"): [0.99, 0.99], ("shared/timbre", "mean"): [0.99, 0.985],
                          ("mi_ratio_timbre", "mean"): [20.0, 30.0]}, index=[first, staged])  # ratios are not probes
    text = pitch_report.decoder_stage_reading(table, swaps, bands, "transposition-freqconv-60-epochs", "transposition-freqconv")
    assert f"(row *{staged}*, 2 seeds, against *{first}*)" in text
    assert "timbre follows the shared donor in 95.5% of swaps (91.2%)" in text and "pitch the private donor in 98.0% (97.4%)" in text
    assert "own timbre in 97.0% (95.0%)" in text and "At the aliased classes 14-20 the swaps keep timbre in 92.5% (85.0%)" in text
    assert text.endswith("probe accuracies (mean over seeds) is 0.005.")
