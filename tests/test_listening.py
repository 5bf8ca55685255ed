"""Listening tools: Griffin-Lim inversion, latent swaps / traversals / interpolations, swap score."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from mvtutorial import listening as L
from mvtutorial.data import synthesize
from mvtutorial.data import load_tone_dataset
from mvtutorial.features import FeatureConfig, logmel


@pytest.fixture(scope="module")
def ds(fast_tones):
    return fast_tones


@pytest.fixture(scope="module")
def model(toy_vae):
    return toy_vae


@pytest.fixture(scope="module")
def classifier(ds):
    return L.fit_feature_classifier(ds, seed=0)


def test_griffin_lim_of_a_pure_tone_keeps_its_fundamental_within_one_mel_bin():
    config = FeatureConfig()
    for freq in (220.0, 587.3, 1318.5):
        tone = np.atleast_2d(synthesize("sine", freq, sample_rate=config.sample_rate))[0]
        feats = logmel(torch.from_numpy(tone[None].astype(np.float32)), config)
        audio = L.to_audio(feats, config, n_iter=32)
        assert audio.shape == (1, 31 * config.hop_length) and audio.dtype == np.float32
        assert np.abs(audio).max() == pytest.approx(1.0, abs=1e-5)  # peak-normalised: the level is lost
        again = logmel(torch.from_numpy(audio), config)
        band_in = int(feats[0].mean(-1).argmax())
        band_out = int(again[0].mean(-1).argmax())
        assert abs(band_in - band_out) <= 1, (freq, band_in, band_out)


def test_to_audio_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(N, 128, n_frames\).*got \(3, 64, 32\)"):
        L.to_audio(torch.zeros(3, 64, 32))


def test_swap_with_itself_is_the_reconstruction(ds, model):
    x = ds.features[:16]
    torch.testing.assert_close(L.swap(model, x, x), L.reconstruct(model, x))
    torch.testing.assert_close(L.swap_shared(model, x, x), L.reconstruct(model, x))


def test_swap_takes_each_code_from_its_donor(ds, model):
    a, b = ds.features[:8], ds.features[8:16]
    ca, cb = L.encode_means(model, a), L.encode_means(model, b)
    expected = model.decode(ca.private, cb.shared)
    torch.testing.assert_close(L.swap_shared(model, a, b), expected)
    torch.testing.assert_close(L.swap_private(model, b, a), expected)  # b's timbre, a's pitch
    assert not torch.allclose(L.swap(model, a, b), L.swap(model, b, a))


def test_traverse_and_interpolate(ds, model):
    x = ds.features[:4]
    values = [-1.0, 0.0, 2.0]
    out = L.traverse(model, x, "private", 1, values)
    assert out.shape == (4, 3, *ds.input_shape)
    codes = L.encode_means(model, x)
    z = codes.private.clone()
    z[:, 1] = 2.0
    torch.testing.assert_close(out[:, 2], model.decode(z, codes.shared))
    steps = L.interpolate(model, x, ds.features[4:8], "shared", n_steps=4)
    assert steps.shape == (4, 4, *ds.input_shape)
    torch.testing.assert_close(steps[:, 0], L.reconstruct(model, x))
    torch.testing.assert_close(steps[:, -1], L.swap(model, x, ds.features[4:8]))


def test_bad_inputs_get_one_clear_error(ds, model):
    x = ds.features[:4]
    with pytest.raises(ValueError, match=r"dim 3 is out of range for the shared subspace of size 2"):
        L.traverse(model, x, "shared", 3, [0.0])
    with pytest.raises(ValueError, match=r"unknown subspace 'both'"):
        L.traverse(model, x, "both", 0, [0.0])
    with pytest.raises(ValueError, match=r"same number of clips, got 4 and 3"):
        L.swap(model, x, ds.features[:3])
    with pytest.raises(ValueError, match=r"shape \(N, 128, 32\).*got \(4, 128, 16\)"):
        L.reconstruct(model, x[..., :16])
    with pytest.raises(ValueError, match=r"n_steps must be an integer >= 2, got 1"):
        L.interpolate(model, x, x, "private", n_steps=1)
    with pytest.raises(ValueError, match=r"finite numbers"):
        L.traverse(model, x, "private", 0, [float("nan")])


def test_most_informative_dim_reads_the_mi_matrix():
    index = pd.MultiIndex.from_tuples([("private", 1), ("private", 2), ("shared", 1), ("shared", 2)], names=["subspace", "dim"])
    mi = pd.DataFrame([[0.1, 0.2], [0.0, 1.5], [0.9, 0.1], [0.3, 0.0]], index=index, columns=["timbre", "frequency"])
    assert L.most_informative_dim(mi, "private") == (1, "frequency", 1.5)
    assert L.most_informative_dim(mi, "shared") == (0, "timbre", 0.9)
    np.testing.assert_allclose(L.traversal_values(np.arange(101.0)[:, None], 0, n_steps=3), [5.0, 50.0, 95.0])


def test_swap_pairs_differ_in_both_factors(ds):
    f = ds.factors.reset_index(drop=True)
    pairs = L.swap_pairs(f, ds.factor_columns, 500, seed=1)
    assert pairs.shape == (500, 2)
    assert (f["waveform"].to_numpy()[pairs[:, 0]] != f["waveform"].to_numpy()[pairs[:, 1]]).all()
    assert (f["freq_class"].to_numpy()[pairs[:, 0]] != f["freq_class"].to_numpy()[pairs[:, 1]]).all()
    np.testing.assert_array_equal(pairs, L.swap_pairs(f, ds.factor_columns, 500, seed=1))


class OracleModel(torch.nn.Module):
    """A perfect disentangler: the private code is the clip's frequency class, the shared code its
    waveform (found by looking the clip up in the dataset), and the decoder returns a real clip
    with the requested waveform and frequency class."""

    def __init__(self, ds, ignore_input: bool = False):
        super().__init__()
        self.config = SimpleNamespace(input_shape=ds.input_shape)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.keys = ds.features.mean(-1)
        self.waveform = torch.tensor(ds.factors["waveform"].to_numpy())
        self.freq = torch.tensor(ds.factors["freq_class"].to_numpy())
        self.features = ds.features
        self.table = {}
        for i in ds.split_indices("train"):
            self.table.setdefault((int(self.waveform[i]), int(self.freq[i])), i)
        self.ignore_input = ignore_input

    def eval(self):
        return self

    def _lookup(self, x):
        return torch.cdist(x.mean(-1), self.keys).argmin(dim=1)

    def private_code(self, x):
        return self.freq[self._lookup(x)].float()[:, None]

    def shared_code(self, x):
        return self.waveform[self._lookup(x)].float()[:, None]

    def decode(self, z_private, z_shared):
        if self.ignore_input:
            return self.features[:1].expand(len(z_private), -1, -1)
        idx = [self.table[(int(w), int(f))] for w, f in zip(z_shared[:, 0], z_private[:, 0])]
        return self.features[idx]


@pytest.fixture(scope="module")
def mid():
    """50 clips per (waveform, class) cell: enough for the real-log-mel classifier to reach ~.94 / .97
    (the 840-clip fast set gives only ~.80 timbre); 4 s to build."""
    from mvtutorial.data import ToneConfig

    ds = load_tone_dataset(ToneConfig.preset("fast", n_clips=4200), cache=False)
    return ds, L.fit_feature_classifier(ds, seed=0)


def test_swap_score_is_near_one_for_an_oracle_and_near_chance_for_a_constant_decoder(mid):
    ds, classifier = mid
    oracle = L.swap_score(OracleModel(ds), ds, classifier, n_pairs=400, seed=0)
    assert oracle["shared_factor"] == "timbre" and oracle["private_factor"] == "frequency"
    assert classifier.test_accuracy["timbre"] > 0.9 and classifier.test_accuracy["frequency"] > 0.9
    assert oracle["swap_timbre"] > 0.9 and oracle["swap_frequency"] > 0.9 and oracle["swap_both"] > 0.85
    assert oracle["leak_timbre"] < 0.05 and oracle["leak_frequency"] < 0.05
    assert oracle["recon_timbre"] > 0.9 and oracle["recon_frequency"] > 0.9
    assert oracle["chance_timbre"] == pytest.approx(0.25, abs=0.06)
    assert oracle["chance_frequency"] == pytest.approx(1 / 21, abs=0.03)
    deaf = L.swap_score(OracleModel(ds, ignore_input=True), ds, classifier, n_pairs=400, seed=0)
    assert abs(deaf["swap_timbre"] - deaf["chance_timbre"]) < 0.1
    assert deaf["swap_frequency"] < 3 * deaf["chance_frequency"]
    assert deaf["swap_both"] < 0.05


def test_swap_score_of_a_trained_model_is_json_ready(ds, model, classifier):
    result = L.swap_score(model, ds, classifier, n_pairs=100, seed=0)
    for key in ("swap_timbre", "swap_frequency", "swap_both", "leak_timbre", "leak_frequency", "recon_timbre", "recon_frequency"):
        assert 0.0 <= result[key] <= 1.0 and isinstance(result[key], float)
    assert result["n_pairs"] == 100 and result["chance_both"] == pytest.approx(result["chance_timbre"] * result["chance_frequency"])


def test_swap_table_means_and_sds_over_seeds():
    records = [{"config": "a", "swap_timbre": 0.5, "chance_timbre": 0.25, "n_pairs": 10},
               {"config": "a", "swap_timbre": 0.7, "chance_timbre": 0.25, "n_pairs": 10},
               {"config": "b", "swap_timbre": 0.9, "chance_timbre": 0.25, "n_pairs": 10}]
    table = L.swap_table(records)
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", ("swap_timbre", "mean")] == pytest.approx(0.6)
    assert table.loc["a", ("swap_timbre", "sd")] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert table.loc["b", ("swap_timbre", "sd")] == 0.0 and table.loc["b", ("n", "")] == 1
    with pytest.raises(ValueError, match="no 'family' key"):
        L.swap_table(records, by="family")


def test_audio_grid_html_has_a_player_and_a_spectrogram_per_cell():
    import re

    feats = np.random.default_rng(0).random((2, 3, 128, 32))
    audio = np.sin(np.linspace(0, 2000, 16000))[None, None].repeat(2, 0).repeat(3, 1) * 0.5
    page = L.audio_grid_html(feats, audio, ["sine", "square"], ["low", "mid", "high"], title="t")
    assert len(re.findall(r"<audio controls", page)) == 6
    assert len(re.findall(r"src='data:audio/wav;base64,", page)) == 6
    assert len(re.findall(r"<img alt='log-mel, (sine|square), (low|mid|high)'", page)) == 6
    with pytest.raises(ValueError, match=r"2 row and 2 column labels for a 2 x 3 grid"):
        L.audio_grid_html(feats, audio, ["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match=r"one grid"):
        L.audio_grid_html(feats, audio[:, :2], ["a", "b"], ["x", "y", "z"])
