"""Sampled-instrument notes: factor table, rendering known answers, pairs, cache, clear errors.

Rendering needs FluidSynth (``libfluidsynth3`` + ``pyfluidsynth``) and the TimGM6mb SoundFont
(``timgm6mb-soundfont``); ``.ci/run`` installs them. Without them these tests are skipped locally
and fail under CI (``CI`` set).
"""
from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import pytest
import torch

from mvtutorial import data as dataset_mod
from mvtutorial.features import FeatureConfig
from mvtutorial.data.instruments import (
    InstrumentConfig,
    build_instrument_dataset,
    find_soundfont,
    load_instrument_dataset,
    render_notes,
    sample_note_factors,
)

SR = 16_000
# 3 instruments x 3 pitches x 10 clips, 0.5 s: rendered in well under a second.
SMALL = InstrumentConfig(programs=(0, 40, 73), n_pitches=3, n_clips=90, duration=0.5, hold=0.4)


def _need_renderer():
    try:
        find_soundfont("TimGM6mb")
        import fluidsynth  # noqa: F401
    except (FileNotFoundError, ImportError) as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err} (CI is set, so this is an error: .ci/run installs them)")
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def small_ds():
    _need_renderer()
    return build_instrument_dataset(SMALL, seed=0, progress=False)


def test_full_preset_meets_the_issue():
    cfg = InstrumentConfig.preset("full")
    assert len(cfg.programs) >= 8 and cfg.n_pitches >= 21
    assert cfg.sample_rate == SR and cfg.duration == 1.0
    assert list(cfg.midi_notes) == list(range(60, 81))


def test_factor_table_is_balanced_and_seeded():
    f = sample_note_factors(SMALL, seed=0)
    assert len(f) == 90
    assert (f.groupby(["instrument", "pitch"]).size() == 10).all()
    assert (f.groupby(["instrument", "pitch", "split"], observed=True).size().unstack()[["train", "val", "test"]] == [8, 1, 1]).all().all()
    assert (f["midi_note"] == 60 + f["pitch"]).all()
    assert f["velocity"].isin(np.round(np.linspace(40, 120, 8))).all()
    assert f["detune_cents"].abs().max() <= 25
    assert sample_note_factors(SMALL, seed=0).equals(f)
    assert not sample_note_factors(SMALL, seed=1)["velocity"].equals(f["velocity"])


def test_held_out_bank_renders_test_clips_from_the_other_bank():
    f = sample_note_factors(dataclasses.replace(SMALL, test_soundfont="FluidR3_GM"), seed=0)
    assert set(f.loc[f.split == "test", "soundfont"]) == {"FluidR3_GM"}
    assert set(f.loc[f.split != "test", "soundfont"]) == {"TimGM6mb"}


def test_rendered_notes_have_their_pitch(small_ds):
    """Known answer: the strongest partial of every held note sits on the harmonic series of its
    MIDI frequency 440 * 2**((note - 69 + cents / 100) / 12) Hz (k = 1..4 times it, within 10 cents;
    a neighbouring note would be 100 cents off)."""
    f = small_ds.factors
    rows = f.groupby("instrument").head(4).index.to_numpy()
    audio = small_ds.audio(rows)
    assert audio.shape == (len(rows), SMALL.n_samples) and audio.dtype == np.float32
    n = 4800
    for clip, (_, r) in zip(audio, f.loc[rows].iterrows()):
        spec = np.abs(np.fft.rfft(clip[1600 : 1600 + n] * np.hanning(n), 16 * n))
        peak = np.argmax(spec) * SR / (16 * n)
        expected = 440 * 2 ** ((r.midi_note - 69 + r.detune_cents / 100) / 12)
        k = max(1, round(peak / expected))
        assert k <= 4 and abs(1200 * np.log2(peak / (k * expected))) < 10, (r.instrument_name, peak, expected)


def test_rendering_does_not_depend_on_jobs_or_order():
    _need_renderer()
    f = sample_note_factors(SMALL, seed=0)
    one = render_notes(f, SMALL, n_jobs=1, progress=False)
    two = render_notes(f, SMALL, n_jobs=2, progress=False)
    np.testing.assert_array_equal(one, two)
    alone = render_notes(f.iloc[[37]], SMALL, progress=False)[0]
    assert np.abs(alone - one[37]).max() < 1e-3 * np.abs(one[37]).max() + 1e-6


def test_dataset_interface(small_ds):
    ds = small_ds
    assert ds.features.shape == (90, 128, 16) and ds.input_shape == (128, 16)
    assert float(ds.features.min()) >= 0 and float(ds.features.max()) <= 1
    assert list(ds.factor_columns) == ["timbre", "frequency"]
    pairs = ds.pairs("train", rng=0)
    assert pairs.shape == (len(ds.split_indices("train")), 2)
    a, b = ds.factors.iloc[pairs[:, 0]], ds.factors.iloc[pairs[:, 1]]
    assert (a.instrument.to_numpy() == b.instrument.to_numpy()).all()
    assert (a.pitch.to_numpy() != b.pitch.to_numpy()).all()
    assert (ds.factors.split.iloc[pairs.ravel()] == "train").all()
    np.testing.assert_array_equal(pairs, ds.pairs("train", rng=0))
    assert ds.spec()["source"] == "instruments"


def test_same_seed_same_features(small_ds):
    again = build_instrument_dataset(SMALL, seed=0, progress=False)
    assert torch.equal(again.features, small_ds.features)
    assert again.factors.equals(small_ds.factors)


def test_cache_round_trip_and_corruption(tmp_path, small_ds, monkeypatch):
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(tmp_path))  # load_from_spec uses the default cache folder
    ds = load_instrument_dataset(SMALL, cache=tmp_path, progress=False)
    files = list(tmp_path.glob("instruments-*.npz"))
    assert len(files) == 1
    again = load_instrument_dataset(SMALL, cache=tmp_path, progress=False)
    assert torch.equal(again.features, ds.features) and torch.equal(ds.features, small_ds.features)
    for col in ds.factors.columns:
        assert (again.factors[col].astype(str).to_numpy() == ds.factors[col].astype(str).to_numpy()).all(), col
    rebuilt = dataset_mod.load_from_spec(ds.spec())  # what evaluating or resuming a checkpoint does
    assert torch.equal(rebuilt.features, ds.features) and rebuilt.spec() == ds.spec()
    files[0].write_bytes(files[0].read_bytes()[:1000])  # truncate
    with pytest.warns(UserWarning, match="unreadable cache file"):
        fixed = load_instrument_dataset(SMALL, cache=tmp_path, progress=False)
    assert torch.equal(fixed.features, ds.features)


def test_missing_soundfont_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr("mvtutorial.data.soundfont.SOUNDFONT_DIRS", (str(tmp_path),))
    monkeypatch.delenv("MVTUTORIAL_SOUNDFONTS", raising=False)
    with pytest.raises(FileNotFoundError, match="apt-get install timgm6mb-soundfont"):
        find_soundfont("TimGM6mb")
    with pytest.raises(FileNotFoundError, match="apt-get install fluid-soundfont-gm"):
        render_notes(sample_note_factors(dataclasses.replace(SMALL, soundfonts=("FluidR3_GM",)), 0), SMALL, progress=False)


def test_soundfont_from_environment_folder(monkeypatch, tmp_path):
    _need_renderer()
    shutil.copy(find_soundfont("TimGM6mb"), tmp_path / "MyBank.sf2")
    monkeypatch.setenv("MVTUTORIAL_SOUNDFONTS", str(tmp_path))
    assert find_soundfont("MyBank") == tmp_path / "MyBank.sf2"


@pytest.mark.parametrize("bad, match", [
    ({"programs": (0,)}, "programs"),
    ({"programs": (0, 0)}, "programs"),
    ({"pitch_low": 126}, "MIDI notes"),
    ({"detune_cents": 80}, "detune_cents"),
    ({"hold": 2.0}, "hold"),
    ({"n_clips": 9}, "partition empty"),
    ({"soundfonts": ()}, "soundfonts"),
])
def test_bad_config_is_one_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(SMALL, **bad)


def test_feature_rate_must_match():
    with pytest.raises(ValueError, match="sample_rate"):
        build_instrument_dataset(SMALL, FeatureConfig(sample_rate=22_050, f_max=8000.0), progress=False)
