"""Known answers for the counterfactual swap judges (mvtutorial.judges).

The counterfactual itself scores 0 dB; a self-swap scores what the reconstruction scores; a decoder
that copies the pitch donor scores the copy bound; the pitch estimator recovers synthetic f0s over
the tones' whole range (415-7460 Hz: 440-7040 Hz centres, +-1 semitone jitter) within
:data:`F0_TOLERANCE_CENTS`, naive (aliased) synthesis included.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mvtutorial.data import WAVEFORMS, synthesize
from mvtutorial.data import load_tone_dataset
from mvtutorial.features import FeatureConfig, logmel
from mvtutorial.judges import (CENTS_TOLERANCE, cents, counterfactual_source, counterfactuals, f0_from_logmel,
                               judge_model, judge_summary, judge_swaps, log_spectral_distance, validate_f0)
from mvtutorial.listening import reconstruct, swap

#: Largest pitch error (cents) the estimator may make on a clean synthetic tone. Measured on the 800
#: tones below: median 0.8, 99th percentile 6.6, max 10.0 cents (the mel filters are 22-150 Hz wide,
#: 40-90 cents, and the tone is interpolated between two of them).
F0_TOLERANCE_CENTS = 15.0
CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return load_tone_dataset("fast", cache=tmp_path_factory.mktemp("cache"))


class CopyPrivateDonor(torch.nn.Module):
    """A 'model' whose private code is the whole clip and whose decoder returns it: every swap
    returns its private (pitch) donor, every reconstruction its input."""

    def __init__(self, shape=(128, 32)):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the listening helpers a device
        self.config = type("Config", (), {"input_shape": shape})()
        self.shape = shape

    def private_code(self, x):
        return x.reshape(len(x), -1)

    def shared_code(self, x):
        return torch.zeros(len(x), 1)

    def decode(self, z_private, z_shared):
        return z_private.reshape(len(z_private), *self.shape)


def test_log_spectral_distance_known_answers():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0, 1, (3, 128, 32)).astype(np.float32))
    assert log_spectral_distance(x, x) == pytest.approx([0, 0, 0])
    assert log_spectral_distance(x, x + 0.1, top_db=80.0) == pytest.approx([8.0] * 3, abs=1e-4)  # 0.1 of 80 dB everywhere
    shifted = x.clone()
    shifted[:, :32] += 0.2  # a quarter of the bands 16 dB off: RMS = 16 / sqrt(4) = 8 dB
    assert log_spectral_distance(x, shifted) == pytest.approx([8.0] * 3, abs=1e-4)
    with pytest.raises(ValueError, match="one shape"):
        log_spectral_distance(x, x[:, :64])


def test_f0_estimator_recovers_synthetic_tones_over_the_whole_range():
    rng = np.random.default_rng(1)
    n = 800
    f0 = 440 * 2 ** (rng.uniform(-1, 4 * 12 + 1, n) / 12)  # 415-7460 Hz
    waveform = np.tile(np.arange(len(WAVEFORMS)), n // len(WAVEFORMS))
    audio = synthesize(waveform, f0, rng.uniform(0.1, 1.0, n), rng.uniform(0, 2 * np.pi, n), method="naive")
    error = cents(f0_from_logmel(logmel(torch.from_numpy(audio), CONFIG), CONFIG), f0)
    assert np.abs(error).max() <= F0_TOLERANCE_CENTS
    assert np.median(np.abs(error)) < 2.0
    # one clip, 2-D input: a float
    assert abs(cents(f0_from_logmel(logmel(torch.from_numpy(audio[0]), CONFIG), CONFIG), f0[0])) <= F0_TOLERANCE_CENTS


def test_harmonic_method_finds_a_weak_fundamental():
    """A tone whose second harmonic is 6 dB louder than its fundamental: the loudest partial is an
    octave up; sub-harmonic summation puts f0 back where it is."""
    t = np.arange(16_000) / 16_000
    f0 = 330.0
    audio = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.6 * np.sin(2 * np.pi * 2 * f0 * t) + 0.3 * np.sin(2 * np.pi * 3 * f0 * t)
    x = logmel(torch.from_numpy(audio.astype(np.float32)), CONFIG)
    assert abs(cents(f0_from_logmel(x, CONFIG), f0) - 1200) < 25  # the loudest partial
    assert abs(cents(f0_from_logmel(x, CONFIG, method="harmonic", f_range=(200.0, 900.0)), f0)) < 25
    with pytest.raises(ValueError, match="unknown method"):
        f0_from_logmel(x, CONFIG, method="crepe")
    with pytest.raises(ValueError, match="NaN"):
        f0_from_logmel(torch.full((128, 32), float("nan")), CONFIG)


def test_counterfactual_is_the_private_donor_in_the_shared_donors_timbre(ds):
    idx = ds.split_indices("test")
    f = ds.factors
    a = idx[:40]
    b = np.array([idx[np.flatnonzero(f.waveform.to_numpy()[idx] != f.waveform.to_numpy()[i])[0]] for i in a])
    rows, target = counterfactuals(ds, a, b)
    np.testing.assert_array_equal(rows.waveform.to_numpy(), f.waveform.to_numpy()[b])
    for col in ("freq_hz", "freq_class", "amplitude", "phase"):
        np.testing.assert_array_equal(rows[col].to_numpy(), f[col].to_numpy()[a])
    # swapping a clip with itself renders the clip itself, bit for bit through the same front end
    _, same = counterfactuals(ds, a, a)
    torch.testing.assert_close(same, ds.features[a], atol=1e-5, rtol=0)
    assert not torch.allclose(target, ds.features[a])


def test_the_counterfactual_itself_scores_zero(ds):
    idx = ds.split_indices("test")[:50]
    donors = idx[::-1].copy()
    rows, target = counterfactuals(ds, idx, donors)
    f0 = counterfactual_source(ds).f0(rows)
    judged = judge_swaps(target, target, ds.features[idx], ds.features[donors], target, f0, ds.feature_config)
    assert (judged.lsd_swap == 0).all() and (judged.lsd_reconstruction == 0).all()
    same_timbre = ds.factors.waveform.to_numpy()[idx] == ds.factors.waveform.to_numpy()[donors]
    assert same_timbre.any() and not same_timbre.all()
    # where the donors share a waveform the counterfactual is the private donor itself (exact re-render)
    np.testing.assert_allclose(judged.lsd_copy_private_donor[same_timbre], 0, atol=1e-3)
    assert (judged.lsd_copy_private_donor[~same_timbre] > 1).all()
    np.testing.assert_array_equal(judged.cents_swap, judged.cents_counterfactual)
    assert judged.cents_swap.abs().max() <= F0_TOLERANCE_CENTS


def test_a_self_swap_equals_the_reconstruction(ds):
    torch.manual_seed(0)
    from mvtutorial.model import ModelConfig, MultiViewVAE

    model = MultiViewVAE(ModelConfig(input_shape=tuple(ds.input_shape), hidden=(32, 32))).eval()
    idx = ds.split_indices("test")[:30]
    rows, target = counterfactuals(ds, idx, idx)
    f0 = counterfactual_source(ds).f0(rows)
    judged = judge_swaps(swap(model, target, target), target, target, target, reconstruct(model, target), f0, ds.feature_config)
    np.testing.assert_allclose(judged.lsd_swap, judged.lsd_reconstruction)
    np.testing.assert_allclose(judged.cents_swap, judged.cents_reconstruction)
    np.testing.assert_allclose(judged.lsd_copy_private_donor, 0, atol=1e-6)


def test_a_decoder_that_copies_the_pitch_donor_scores_the_copy_bound(ds):
    judged = judge_model(CopyPrivateDonor(tuple(ds.input_shape)), ds, n_pairs=120, seed=3)
    assert len(judged) == 120
    np.testing.assert_array_equal(judged.lsd_swap, judged.lsd_copy_private_donor)
    np.testing.assert_allclose(judged.lsd_reconstruction, 0, atol=1e-6)
    assert (judged.lsd_copy_private_donor > 5).all()  # another waveform at the same pitch: far from the target
    # the copied donor has the counterfactual's pitch: the pitch judge passes it, as the classifier would
    assert (judged.cents_swap.abs() <= CENTS_TOLERANCE).mean() == 1.0
    summary = judge_summary(judged)
    assert summary["overall"]["n"] == 120 and summary["overall"]["lsd_swap"] == pytest.approx(judged.lsd_swap.median())
    assert sum(v["n"] for v in summary["per_pitch_class"].values()) == 120
    assert set(summary["per_pitch_class"]) == {str(c) for c in judged.pitch_class.unique()}


def test_validation_on_real_clips_and_sources_that_cannot_render(ds):
    table = validate_f0(ds)
    assert set(table.index) == set(range(ds.config.n_freq_classes))
    assert (table[f"within_{CENTS_TOLERANCE:g}_cents"] == 1.0).all()  # every real test clip, every class
    assert table.n.sum() == len(ds.split_indices("test"))

    class Folder:
        factors = pd.DataFrame()

        def spec(self):
            return {"source": "folder"}

    with pytest.raises(ValueError, match="'folder' cannot render the counterfactual.*classifier score"):
        counterfactuals(Folder(), np.array([0]), np.array([0]))


def test_cents_known_answers_and_bad_frequencies():
    assert cents(880.0, 440.0) == pytest.approx(1200.0) and cents(440.0, 440.0) == 0.0
    assert cents([466.1638], [440.0])[0] == pytest.approx(100.0, abs=1e-3)  # one equal-tempered semitone
    with pytest.raises(ValueError, match=r"estimate holds 1 value\(s\).*nan"):
        cents([440.0, float("nan")], [440.0, 440.0])
    with pytest.raises(ValueError, match=r"truth holds 1 value\(s\).*0\.0"):
        cents([440.0], [0.0])
