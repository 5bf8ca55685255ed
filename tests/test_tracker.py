"""Known answers for the second pitch judge, the pretrained tracker (mvtutorial.trackers).

PESTO reads synthetic sines and band-limited tones across its range (220-2175 Hz) within
:data:`AUDIO_TOLERANCE_CENTS`, and their log-mels through Griffin-Lim mostly within 50 cents; a
counterfactual judged as its own swap scores about 0 cents; swaps outside the range are neither
inverted nor tracked, only counted; the weights come from inside the installed package, with the
network blocked; a missing package says what to install.
"""
from __future__ import annotations

import socket
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mvtutorial import trackers
from mvtutorial.data import synthesize
from mvtutorial.data import load_tone_dataset
from mvtutorial.features import FeatureConfig, logmel
from mvtutorial.judges import CENTS_TOLERANCE, cents, counterfactual_source, counterfactuals

#: Largest error (cents) allowed on clean synthetic audio. PESTO's output bins are 1/3 semitone
#: (33.3 cents) apart; measured on 400 band-limited tones (4 waveforms, 220-2175 Hz): median 8.6,
#: 99th percentile 29.4, max 37.6 cents.
AUDIO_TOLERANCE_CENTS = 40.0
CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def tracker():
    return trackers.load_tracker(CONFIG)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return load_tone_dataset("fast", cache=tmp_path_factory.mktemp("cache"))


def _tones(n: int, low: float, high: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` band-limited tones, the four waveforms in turn, f0 log-uniform in [low, high] Hz."""
    rng = np.random.default_rng(seed)
    f0 = np.exp(rng.uniform(np.log(low), np.log(high), n))
    waveform = np.arange(n) % 4
    audio = synthesize(waveform, f0, rng.uniform(0.1, 1.0, n), rng.uniform(0, 2 * np.pi, n), method="bandlimited")
    return audio, f0, waveform


def test_range_is_read_from_the_checkpoint(tracker):
    low, top = tracker.window_hz  # constant-Q bins 16 and 234 of 251 from A0, 3 per semitone
    assert low == pytest.approx(36.71, abs=0.01) and top == pytest.approx(2441.55, abs=0.01)
    assert tracker.range_hz == (trackers.LOW_HZ, pytest.approx(top * 2 ** (-trackers.MARGIN_SEMITONES / 12)))
    assert tracker.range_hz[1] == pytest.approx(2175.2, abs=0.1)
    assert trackers.in_range([219.9, 220.0, 1000.0, 2175.0, 2176.0, 7040.0], tracker).tolist() == \
        [False, True, True, True, False, False]


def test_tracker_recovers_sines_and_tones_across_its_range(tracker):
    audio, f0, _ = _tones(80, *tracker.range_hz, seed=0)
    t = np.arange(CONFIG.sample_rate) / CONFIG.sample_rate
    edges = np.array([tracker.range_hz[0], 440.0, 1000.0, tracker.range_hz[1]])
    sines = 0.5 * np.sin(2 * np.pi * edges[:, None] * t + 1.0)
    error = cents(trackers.track_audio(trackers.central_audio(np.vstack([audio, sines]), CONFIG), tracker),
                  np.concatenate([f0, edges]))
    assert np.abs(error).max() <= AUDIO_TOLERANCE_CENTS
    assert np.median(np.abs(error)) < 15.0
    # through the features and Griffin-Lim, as swaps are judged: coarser (mel bands, invented phase)
    gl = cents(trackers.track_logmels(logmel(torch.from_numpy(audio), CONFIG), CONFIG, tracker), f0)
    assert np.mean(np.abs(gl) <= CENTS_TOLERANCE) >= 0.95 and np.median(np.abs(gl)) < 20.0


def test_a_counterfactual_judged_as_its_own_swap_scores_about_zero_cents(ds, tracker):
    idx = ds.split_indices("test")
    rows, target = counterfactuals(ds, idx, idx[::-1].copy())
    f0 = counterfactual_source(ds).f0(rows)
    judged = trackers.judge_tracked(target, f0, rows.freq_class.to_numpy(), ds.feature_config, tracker)
    inside = judged[judged.in_range]
    assert len(inside) >= 30 and set(inside.pitch_class) == set(range(12))  # classes 0-11 lie in 220-2175 Hz
    assert np.median(inside.cents_swap.abs()) < 20.0
    assert (inside.cents_swap.abs() <= CENTS_TOLERANCE).mean() >= 0.9
    assert judged.cents_swap[~judged.in_range].isna().all()


def test_swaps_outside_the_range_are_excluded_and_counted(tracker, monkeypatch):
    f0 = np.array([440.0, 3000.0, 880.0, 7040.0, 150.0, 2175.0])
    audio = 0.5 * np.sin(2 * np.pi * f0[:, None] * np.arange(CONFIG.sample_rate) / CONFIG.sample_rate)
    features = logmel(torch.from_numpy(audio.astype(np.float32)), CONFIG)
    seen = []
    real = trackers.track_logmels
    monkeypatch.setattr(trackers, "track_logmels", lambda x, *a, **k: seen.append(len(x)) or real(x, *a, **k))
    judged = trackers.judge_tracked(features, f0, [0, 1, 0, 2, 3, 1], CONFIG, tracker)
    assert seen == [3]  # only the three inside were inverted and tracked
    assert judged.in_range.tolist() == [True, False, True, False, False, True]
    assert judged.cents_swap[judged.in_range].abs().max() <= CENTS_TOLERANCE and judged.cents_swap[~judged.in_range].isna().all()
    summary = trackers.tracker_summary(judged, tracker)
    assert summary["coverage"] == {"n_judged": 3, "n_swaps": 6, "share": 0.5, "pitch_classes_judged": [0],
                                   "pitch_classes_partly": [1], "pitch_classes_excluded": [2, 3]}
    assert summary["overall"]["n"] == 3 and summary["overall"][f"within_{CENTS_TOLERANCE:g}_cents_swap"] == 1.0
    assert set(summary["per_pitch_class"]) == {"0", "1"} and summary["range_hz"] == list(tracker.range_hz)
    nothing = trackers.tracker_summary(judged[~judged.in_range], tracker)
    assert nothing["overall"] == {f"within_{CENTS_TOLERANCE:g}_cents_swap": None, "median_abs_cents_swap": None, "n": 0}


def test_a_decoder_that_copies_the_pitch_donor_keeps_the_pitch(ds):
    """Every swap returns its pitch donor, which has the counterfactual's f0: the tracker passes
    nearly all of them (its ceiling), on the same pairs as the other judges."""
    class CopyPrivateDonor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))
            self.config = type("Config", (), {"input_shape": tuple(ds.input_shape)})()

        def private_code(self, x):
            return x.reshape(len(x), -1)

        def shared_code(self, x):
            return torch.zeros(len(x), 1)

        def decode(self, z_private, z_shared):
            return z_private.reshape(len(z_private), *ds.input_shape)

    judged = trackers.track_model(CopyPrivateDonor(), ds, n_pairs=120, seed=3)
    assert len(judged) == 120 and 0 < judged.in_range.sum() < 120
    assert (judged.cents_swap[judged.in_range].abs() <= CENTS_TOLERANCE).mean() >= 0.9


def test_validation_on_real_clips(ds):
    table = trackers.validate_tracker(ds)
    assert list(table.index) == list(range(12)) and table.n.sum() == len(
        [i for i in ds.split_indices("test") if ds.factors.freq_class.iat[i] < 12])
    assert (table[f"within_{CENTS_TOLERANCE:g}_cents_griffin_lim"] * table.n).sum() / table.n.sum() >= 0.9
    summary = trackers.tracker_validation_summary(ds)
    assert summary["griffin_lim"]["per_pitch_class"]["0"] == table.loc[0, f"within_{CENTS_TOLERANCE:g}_cents_griffin_lim"]
    assert set(summary["audio"]["median_abs_cents_per_pitch_class"]) == {str(c) for c in range(12)}


def test_weights_come_from_inside_the_installed_package_with_the_network_blocked(monkeypatch):
    import pesto

    def blocked(*args, **kwargs):
        raise AssertionError("the pitch tracker tried to reach the network")

    monkeypatch.setattr(urllib.request, "urlopen", blocked)
    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", blocked)
    monkeypatch.setattr(torch.hub, "download_url_to_file", blocked)
    monkeypatch.setattr(torch.hub, "load", blocked)
    loaded = []
    real = pesto.load_model
    monkeypatch.setattr(pesto, "load_model", lambda checkpoint, *a, **k: loaded.append(checkpoint) or real(checkpoint, *a, **k))
    monkeypatch.setattr(trackers, "_TRACKERS", {})
    fresh = trackers.load_tracker(CONFIG)
    package = Path(pesto.__file__).resolve().parent
    assert loaded == [str(fresh.weights)] and fresh.weights.is_file() and fresh.weights.is_relative_to(package)
    assert fresh.weights == trackers.weights_path() and fresh.describe()["checkpoint"] == "pesto/weights/mir-1k_g7.ckpt"
    audio = 0.5 * np.sin(2 * np.pi * 660.0 * np.arange(fresh.n_samples) / CONFIG.sample_rate)
    assert abs(cents(trackers.track_audio(audio[None], fresh), 660.0)[0]) <= AUDIO_TOLERANCE_CENTS


def test_a_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pesto", None)  # makes `import pesto` raise ImportError
    monkeypatch.setattr(trackers, "_TRACKERS", {})
    with pytest.raises(ImportError, match=r"needs the 'pesto-pitch' package.*nothing is downloaded.*pip install pesto-pitch"):
        trackers.load_tracker(CONFIG)
    with pytest.raises(ImportError, match="pesto-pitch"):
        trackers.weights_path()


def test_bad_inputs(tracker):
    with pytest.raises(ValueError, match=r"audio must be \(N, 4608\)"):
        trackers.track_audio(np.zeros((2, 16000)), tracker)
    with pytest.raises(ValueError, match="at least 10 frames"):
        trackers.tracker_audio(torch.zeros(1, 128, 6), CONFIG)
    with pytest.raises(ValueError, match="finite log-mels"):
        trackers.tracker_audio(torch.full((1, 128, 32), float("nan")), CONFIG)


def test_tables_read_the_tracker_by_name():
    w = f"within_{CENTS_TOLERANCE:g}_cents_swap"
    records = [{"config": c,
                "judges": {"per_pitch_class": {"0": {w: 0.5, "n": 10}, "1": {w: 1.0, "n": 30}, "2": {w: 0.0, "n": 60}},
                           "tracker": {"overall": {w: share}, "per_pitch_class": {"0": {w: share}},
                                       "coverage": {"share": 0.5, "pitch_classes_judged": [0], "pitch_classes_partly": [1]}}},
                "judges_validation": {"tracker": {"griffin_lim": {"overall": 0.97, "per_pitch_class": {"0": 0.9}},
                                                  "audio": {"overall": 0.8, "per_pitch_class": {"0": 0.7}}}}}
               for c, share in (("a", 0.2), ("a", 0.4), ("b", 1.0))]
    # the peak judge on the tracker's classes 0 and 1 (class 2 is outside): (10 * 0.5 + 30 * 1.0) / 40
    assert trackers.tracker_row(records[0]) == {"tracker_within_swap": 0.2, "peak_within_swap_in_range": 0.875,
                                                "tracker_coverage": 0.5, "tracker_ceiling": 0.97}
    assert trackers.tracker_row({"judges": {}}) == {}
    table = trackers.tracker_per_class(records)
    expected = pd.DataFrame({0: [0.3, 1.0, 0.9, 0.7]}, index=["a", "b", "real clips, Griffin-Lim (tracker ceiling)",
                                                              "real clips, real audio"])
    pd.testing.assert_frame_equal(table, expected)
