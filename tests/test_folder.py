"""Your own folder of audio: reading, resampling, pairs, cache and the clear errors, on a tiny
folder of sine tones that the tests write themselves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

from mvtutorial import data as dataset_mod
from mvtutorial.data.folder import load_audio_folder, read_audio

RATE = 22_050  # the files' rate; clips are resampled to 16 kHz
NOTES = {"C4": 261.63, "E4": 329.63, "G4": 392.0}


def _write_folder(path, n_per_cell=3, rate=RATE):
    """Two 'instruments' (sine, square) x 3 pitches x n_per_cell files of 0.7 s, and factors.csv."""
    rows = []
    t = np.arange(int(0.7 * rate)) / rate
    for inst in ("sine", "square"):
        for name, f in NOTES.items():
            for k in range(n_per_cell):
                x = np.sin(2 * np.pi * f * t)
                x = 0.3 * (np.sign(x) if inst == "square" else x) * (1 - 0.1 * k)
                file = f"{inst}_{name}_{k}.wav"
                soundfile.write(path / file, x.astype(np.float32), rate)
                rows.append({"file": file, "instrument": inst, "pitch": name, "take": k})
    table = pd.DataFrame(rows)
    table["split"] = table["take"].map({0: "train", 1: "val", 2: "test"})
    table.to_csv(path / "factors.csv", index=False)
    return table


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "audio"
    d.mkdir()
    _write_folder(d)
    return d


def test_read_audio_resamples_cuts_and_pads(folder):
    x = read_audio(folder / "sine_G4_0.wav", 16_000, 16_000)
    assert x.shape == (16_000,) and x.dtype == np.float32
    assert np.abs(x[11_300:]).max() == 0  # 0.7 s of audio, zero-padded to 1 s
    spec = np.abs(np.fft.rfft(x[:11_000] * np.hanning(11_000)))
    assert abs(np.argmax(spec) * 16_000 / 11_000 - 392.0) < 2  # pitch preserved by resampling
    assert read_audio(folder / "sine_G4_0.wav", 16_000, 4_000).shape == (4_000,)


def test_dataset_interface_and_pairs(folder, tmp_path):
    ds = load_audio_folder(folder, shared="instrument", factors=["pitch", "instrument"], cache=tmp_path / "c", progress=False)
    assert len(ds) == 18 and ds.features.shape == (18, 128, 32) and ds.input_shape == (128, 32)
    assert list(ds.factor_columns) == ["instrument", "pitch"]  # the shared factor first
    assert ds.factor_columns["pitch"] == "pitch_label"
    assert sorted(ds.factors.pitch_label.unique()) == [0, 1, 2]
    assert (ds.factors.split.astype(str) == ds.factors["take"].map({0: "train", 1: "val", 2: "test"})).all()  # CSV split used
    pairs = ds.pairs("train", rng=0)
    a, b = ds.factors.iloc[pairs[:, 0]], ds.factors.iloc[pairs[:, 1]]
    assert (a.instrument.to_numpy() == b.instrument.to_numpy()).all()
    assert (a.pitch.to_numpy() != b.pitch.to_numpy()).all()
    np.testing.assert_allclose(ds.audio([0])[0], read_audio(folder / ds.factors.file[0], 16_000, 16_000))


def test_random_split_without_split_column(folder, tmp_path):
    table = pd.read_csv(folder / "factors.csv").drop(columns="split")
    table.to_csv(folder / "plain.csv", index=False)
    ds = load_audio_folder(folder, "instrument", ["pitch"], csv="plain.csv", split=(1 / 3, 1 / 3, 1 / 3), cache=False, progress=False)
    assert (ds.factors.groupby(["instrument", "pitch", "split"], observed=True).size() == 1).all()


def test_cache_round_trip_and_spec(folder, tmp_path, monkeypatch):
    cache = tmp_path / "c"
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(cache))  # load_from_spec uses the default cache folder
    ds = load_audio_folder(folder, "instrument", ["pitch"], cache=cache, progress=False)
    assert len(list(cache.glob("folder-*.npz"))) == 1
    again = load_audio_folder(folder, "instrument", ["pitch"], cache=cache, progress=False)
    assert torch.equal(again.features, ds.features)
    assert (again.factors.file == ds.factors.file).all() and (again.factors.pitch_label == ds.factors.pitch_label).all()
    rebuilt = dataset_mod.load_from_spec(ds.spec())
    assert torch.equal(rebuilt.features, ds.features)
    # a changed file changes the cache key: the new audio is read, not the stale cache
    soundfile.write(folder / ds.factors.file[0], np.zeros(RATE, np.float32) + 0.1 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32), RATE)
    changed = load_audio_folder(folder, "instrument", ["pitch"], cache=cache, progress=False)
    assert not torch.equal(changed.features[0], ds.features[0])


def test_missing_file_is_named(folder):
    (folder / "square_E4_1.wav").unlink()
    with pytest.raises(FileNotFoundError, match="square_E4_1.wav"):
        load_audio_folder(folder, "instrument", ["pitch"], cache=False, progress=False)


def test_unreadable_file_is_named(folder):
    (folder / "sine_C4_0.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="cannot read audio file .*sine_C4_0.wav"):
        load_audio_folder(folder, "instrument", ["pitch"], cache=False, progress=False)


def test_csv_without_named_columns(folder):
    with pytest.raises(ValueError, match=r"no column\(s\) \['timbre'\]"):
        load_audio_folder(folder, "timbre", ["pitch"], cache=False, progress=False)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_audio_folder(folder, "instrument", ["pitch"], csv="missing.csv", cache=False, progress=False)


def test_factor_with_one_value(folder):
    table = pd.read_csv(folder / "factors.csv")
    table["room"] = "studio"
    table.to_csv(folder / "factors.csv", index=False)
    with pytest.raises(ValueError, match="factor 'room' has a single value \\('studio'\\)"):
        load_audio_folder(folder, "instrument", ["pitch", "room"], cache=False, progress=False)


def test_incomplete_grid_pairs_within_what_exists(folder):
    """A cell missing from a split (no sine E4 in train) is never a partner there; a shared value
    left with a single pitch in a split is one clear error naming it, at load time."""
    table = pd.read_csv(folder / "factors.csv")
    table.loc[(table.instrument == "sine") & (table.pitch == "E4"), "split"] = "val"
    table.to_csv(folder / "factors.csv", index=False)
    ds = load_audio_folder(folder, "instrument", ["pitch"], cache=False, progress=False)
    for seed in range(5):
        partners = ds.factors.iloc[ds.pairs("train", rng=seed)[:, 1]]
        assert not ((partners.instrument == "sine") & (partners.pitch == "E4")).any()
    table.loc[(table.instrument == "sine") & (table.pitch == "G4"), "split"] = "val"
    table.to_csv(folder / "factors.csv", index=False)
    with pytest.raises(ValueError, match="split 'train' has only pitch='C4' for instrument='sine' .*`split` column"):
        load_audio_folder(folder, "instrument", ["pitch"], cache=False, progress=False)


def test_a_model_trains_and_evaluates_on_any_factor_names(folder, tmp_path):
    """The trainer and the evaluation are generic over the factor names: MI ratios are keyed by
    them (shared factor: shared / private; the other: private / shared)."""
    from mvtutorial.config import TrainConfig
    from mvtutorial.evaluate import evaluate_model
    from mvtutorial.training import train

    ds = load_audio_folder(folder, "instrument", ["pitch"], cache=False, progress=False)
    config = TrainConfig.preset("fast", epochs=1, batch_size=4, hidden=(16,))
    result = train(config, tmp_path / "run", dataset=ds, progress=False)
    out = evaluate_model(result.model, ds, probe="logistic", probe_seeds=(0,), scores=False)
    assert set(out["chance"]) == {"instrument", "pitch"}
    assert {"mi_ratio_instrument", "mi_ratio_pitch"} <= set(out)
    sums = out["mi_sums"]
    assert out["mi_ratio_instrument"] == pytest.approx(sums["shared/instrument"] / max(sums["private/instrument"], 1e-12))
    assert out["mi_ratio_pitch"] == pytest.approx(sums["private/pitch"] / max(sums["shared/pitch"], 1e-12))
