"""Chapter 1's measurements of the tone set (mvtutorial.studies.tones_tour): known answers."""
from __future__ import annotations

import numpy as np
import pytest

from mvtutorial.data import ToneConfig, synthesize
from mvtutorial.features import FeatureConfig
from mvtutorial.studies import tones_tour

SR = 16_000


def test_spectrum_of_a_unit_sine_peaks_at_0_db_at_its_frequency():
    x = np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)
    freq, db = tones_tour.spectrum_db(x, SR)
    assert freq[np.argmax(db)] == 1000 and db.max() == pytest.approx(0.0, abs=0.01)
    assert tones_tour.spectral_peaks(x, SR) == [1000]
    assert tones_tour.spectral_centroid(x, SR) == pytest.approx(1000, abs=1)


def test_folding_known_answers():
    """A 5 kHz sawtooth sampled at 16 kHz: 10, 15, 20, 25, 30, 35 kHz land at 6, 1, 4, 7, 2, 3 kHz;
    40 kHz on Nyquist, 80 kHz on 0 Hz."""
    table = tones_tour.fold_table(5000, SR, [2, 3, 4, 5, 6, 7, 8, 16])
    assert table["lands at"].tolist() == [6000, 1000, 4000, 7000, 2000, 3000, 8000, 0]
    assert tones_tour.folded_frequency(7000, SR) == 7000  # below Nyquist: unchanged


def test_naive_peaks_are_the_folded_harmonics_and_band_limiting_keeps_the_fundamental():
    table = tones_tour.alias_table(5000.0, SR)
    assert table["as predicted"].all()
    assert table.loc["sawtooth", "naive"] == [1000, 2000, 3000, 4000, 5000, 6000, 7000]
    assert table.loc["square", "naive"] == [1000, 3000, 5000, 7000]
    assert all(peaks == [5000] for peaks in table["band-limited"])


def test_harmonics_below_nyquist_counts_the_fourier_series():
    f = np.array([440.0, 3000.0, 5000.0])
    assert tones_tour.harmonics_below_nyquist("sawtooth", f, SR).tolist() == [18, 2, 1]  # k f < 8000
    assert tones_tour.harmonics_below_nyquist("square", f, SR).tolist() == [9, 1, 1]  # odd k only
    assert tones_tour.harmonics_below_nyquist("sine", f, SR).tolist() == [1, 1, 1]


def test_pure_sine_classes_of_the_default_grid():
    table = tones_tour.pure_sine_classes(ToneConfig())
    centre, bottom = table.columns
    # 3 f > 8 kHz from class 13's centre (3064 Hz) for the odd-harmonic waveforms, 2 f > 8 kHz from class 16's
    assert table[centre].to_dict() == {"sine": 0, "triangle": 13, "sawtooth": 16, "square": 13}
    assert table[bottom].max() == 17


def test_class_bands_and_gaps():
    config = ToneConfig()
    assert tones_tour.class_of(440.0, config) == 0
    assert tones_tour.class_of(5000.0, config) is None  # between the bands of classes 17 and 18
    summary = tones_tour.grid_summary(config)
    assert summary["gap between bands (semitones)"] == pytest.approx(0.4)
    assert summary["(waveform, class) cells"] == 84


def test_db_range_is_capped_at_the_floor():
    fc = FeatureConfig()
    audio = synthesize(["sine", "sawtooth", "sawtooth"], [880.0, 1011.3, 6000.0], phase=0.3)
    ranges = tones_tour.db_range(audio, fc)
    assert ranges[0] == fc.top_db  # a pure tone's spectrum falls far below the floor
    assert 40 < ranges[1] < 50  # a naive sawtooth's aliases fill the bands between its harmonics
    assert ranges[2] == fc.top_db  # at 6 kHz they all land on multiples of 2 kHz: the gaps reach the floor


def test_filterbank_agreement_converts_the_largest_difference_to_db():
    fb = tones_tour.filterbank_agreement(FeatureConfig())
    assert 0 < fb["median"] < 1e-4 < fb["max"] < 0.1
    assert fb["edge_db"] == pytest.approx(10 * np.log10(1 + fb["max"]))
    assert fb["edge_unit"] == pytest.approx(fb["edge_db"] / 80)
