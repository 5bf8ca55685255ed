"""Tone set: factor grid, pairs, synthesis known answers, input validation, cache."""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

import mvtutorial.data.tones as tones_mod
from mvtutorial.data import (
    SPLITS,
    WAVEFORMS,
    ToneConfig,
    build_tone_dataset,
    factor_pairs,
    frequency_centres,
    generate_tones,
    load_tone_dataset,
    render,
    sample_factors,
    synthesize,
)
from mvtutorial.features import FeatureConfig, logmel

SR = 16_000
FAST = ToneConfig.preset("fast")  # 840 clips, 10 per (waveform, class) cell
# A few seconds' worth of clips for the cache tests: 4 waveforms x 3 classes x 10 clips, 0.5 s.
SMALL = ToneConfig(n_freq_classes=3, n_clips=120, duration=0.5)


def sample_pairs(factors, split="train", rng=None):
    """The tone set's pairs: what its dataset's ``pairs`` draws (same waveform, another class, joint draw)."""
    return factor_pairs(factors, "waveform", "freq_class", split, rng, draw="joint")


@pytest.fixture(scope="module")
def fast_factors():
    return sample_factors(FAST, seed=0)


@pytest.fixture(scope="module")
def fast_ds():
    return build_tone_dataset(FAST, FeatureConfig(), seed=0)


# --------------------------------------------------------------------------- #
# Factor grid and splits
# --------------------------------------------------------------------------- #
def test_defaults_follow_the_method():
    cfg = ToneConfig()
    assert cfg.n_clips == 32_000 and cfg.n_samples == 16_000 and cfg.waveforms == WAVEFORMS
    np.testing.assert_allclose(frequency_centres(cfg), 440 * 2 ** (np.arange(21) / 5))
    assert ToneConfig.preset("fast").n_clips == 840


@pytest.mark.parametrize("n_clips", [840, 1_000, 32_000])
def test_cells_are_balanced_and_split_fractions_hold(n_clips):
    cfg = dataclasses.replace(FAST, n_clips=n_clips)
    f = sample_factors(cfg, seed=3)
    assert len(f) == n_clips
    counts = f.groupby(["waveform", "freq_class"]).size()
    assert len(counts) == cfg.n_cells
    assert counts.max() - counts.min() <= 1
    fractions = f["split"].value_counts(normalize=True)
    for split, target in zip(SPLITS, cfg.split):
        # stratified per cell: rounding per cell moves a fraction by at most ~1 clip per cell
        assert abs(fractions[split] - target) <= cfg.n_cells / n_clips + 1e-9
        # every split holds every cell
        assert f[f["split"] == split].groupby(["waveform", "freq_class"]).ngroups == cfg.n_cells


def test_factor_ranges(fast_factors):
    f, cfg = fast_factors, FAST
    centres = frequency_centres(cfg)[f["freq_class"]]
    semitones = 12 * np.log2(f["freq_hz"] / centres)
    assert np.all(np.abs(semitones) <= cfg.jitter_semitones + 1e-9)
    levels = np.linspace(cfg.amp_min, cfg.amp_max, cfg.n_amplitudes)
    assert np.all(np.isin(f["amplitude"], levels))
    assert f["phase"].between(0, 2 * np.pi).all()
    assert (f["waveform_name"] == np.asarray(WAVEFORMS)[f["waveform"]]).all()
    assert f["freq_hz"].nunique() == len(f)  # jitter keeps every clip distinct


def test_shapes_and_feature_range(fast_ds):
    assert fast_ds.features.shape == (840, 128, 32) and fast_ds.features.dtype == torch.float32
    assert fast_ds.input_shape == (128, 32)
    assert torch.isfinite(fast_ds.features).all()
    assert fast_ds.features.min() >= 0 and fast_ds.features.max() <= 1
    # every clip spans the full [0, 1] range (min-max per clip)
    assert torch.allclose(fast_ds.features.amin(dim=(1, 2)), torch.zeros(840))
    assert torch.allclose(fast_ds.features.amax(dim=(1, 2)), torch.ones(840))
    audio = fast_ds.audio(np.arange(5))
    assert audio.shape == (5, 16_000) and audio.dtype == np.float32


def test_audio_shape_of_whole_set():
    audio, f = generate_tones(SMALL, seed=0)
    assert audio.shape == (120, 8_000) and len(f) == 120
    assert np.all(np.abs(audio) <= f["amplitude"].to_numpy()[:, None] + 1e-6)


# --------------------------------------------------------------------------- #
# Pairs
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("split", SPLITS)
def test_pairs_share_waveform_differ_in_class_and_stay_in_split(fast_factors, split):
    f = fast_factors
    pairs = sample_pairs(f, split, rng=0)
    members = np.flatnonzero((f["split"] == split).to_numpy())
    assert pairs.shape == (len(members), 2) and pairs.dtype == np.int64
    w, c = f["waveform"].to_numpy(), f["freq_class"].to_numpy()
    assert np.array_equal(w[pairs[:, 0]], w[pairs[:, 1]])
    assert np.all(c[pairs[:, 0]] != c[pairs[:, 1]])
    assert np.all(np.isin(pairs, members))
    # each clip of the split is the first view exactly once
    assert np.array_equal(np.sort(pairs[:, 0]), members)


def test_pairs_partner_classes_cover_the_others(fast_factors):
    pairs = sample_pairs(fast_factors, "train", rng=0)
    c = fast_factors["freq_class"].to_numpy()
    # over 672 anchors, partners should reach (almost) every class
    assert len(np.unique(c[pairs[:, 1]])) == FAST.n_freq_classes


def test_pairs_reproducible_and_redrawn(fast_factors):
    a = sample_pairs(fast_factors, "train", rng=0)
    assert np.array_equal(a, sample_pairs(fast_factors, "train", rng=0))
    assert np.array_equal(a, sample_pairs(fast_factors, "train", rng=np.random.default_rng(0)))
    rng = np.random.default_rng(1)
    e1, e2 = sample_pairs(fast_factors, "train", rng), sample_pairs(fast_factors, "train", rng)
    assert not np.array_equal(e1, e2)  # successive epochs differ
    # as a mapping anchor -> partner, most partners change between two rng states
    p1, p2 = dict(e1.tolist()), dict(e2.tolist())
    assert np.mean([p1[k] != p2[k] for k in p1]) > 0.5


def test_dataset_pairs_match_sample_pairs(fast_ds):
    assert np.array_equal(fast_ds.pairs("val", rng=5), sample_pairs(fast_ds.factors, "val", rng=5))
    assert np.array_equal(fast_ds.split_indices("test"), np.flatnonzero((fast_ds.factors["split"] == "test").to_numpy()))


# --------------------------------------------------------------------------- #
# Determinism
# --------------------------------------------------------------------------- #
def test_same_seed_bit_identical_audio_and_features():
    a1, f1 = generate_tones(SMALL, seed=7)
    a2, f2 = generate_tones(SMALL, seed=7)
    assert np.array_equal(a1, a2)
    assert f1.equals(f2)
    d1 = build_tone_dataset(SMALL, FeatureConfig(), seed=7)
    d2 = build_tone_dataset(SMALL, FeatureConfig(), seed=7)
    assert torch.equal(d1.features, d2.features)
    # re-rendering a clip from its factor row gives the same audio
    assert np.array_equal(d1.audio([3, 50]), a1[[3, 50]])


def test_chunked_threaded_build_equals_the_per_clip_path():
    """build_tone_dataset (chunks of one waveform, worker threads, batched STFT) gives each clip the
    features of rendering and featurising that clip alone, and the same bits for any thread count."""
    one = build_tone_dataset(SMALL, FeatureConfig(), seed=3, threads=1)
    two = build_tone_dataset(SMALL, FeatureConfig(), seed=3, threads=2)
    assert torch.equal(one.features, two.features)
    rows = [0, 1, 29, 30, 64, 119]  # every waveform, first and last rows
    alone = torch.stack([logmel(torch.from_numpy(render(one.factors.iloc[[i]], SMALL))[0]) for i in rows])
    assert (one.features[rows] - alone).abs().max() < 1e-6
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        build_tone_dataset(SMALL, FeatureConfig(), seed=3, threads=0)


def test_synthesis_does_not_depend_on_the_order_of_clips():
    # clips are rendered grouped by waveform and put back in the caller's order: same bits either way
    rng = np.random.default_rng(0)
    wave, freq = rng.integers(0, 4, 12), rng.uniform(440, 7000, 12)
    amp, phase = rng.uniform(0.1, 1, 12), rng.uniform(0, 6.28, 12)
    x = synthesize(wave, freq, amp, phase)
    perm = rng.permutation(12)
    np.testing.assert_array_equal(synthesize(wave[perm], freq[perm], amp[perm], phase[perm]), x[perm])
    for i in (0, 5, 11):
        np.testing.assert_array_equal(synthesize(wave[i], freq[i], amp[i], phase[i])[0], x[i])


def test_other_seed_differs():
    a1, f1 = generate_tones(SMALL, seed=7)
    a2, f2 = generate_tones(SMALL, seed=8)
    assert not np.array_equal(a1, a2)
    assert not np.array_equal(f1["freq_hz"], f2["freq_hz"])
    assert not torch.equal(
        build_tone_dataset(SMALL, FeatureConfig(), seed=7).features,
        build_tone_dataset(SMALL, FeatureConfig(), seed=8).features,
    )


# --------------------------------------------------------------------------- #
# Synthesis known answers
# --------------------------------------------------------------------------- #
T = np.arange(SR) / SR


@pytest.mark.parametrize("freq, amp, phase", [(440.0, 1.0, 0.0), (1234.5, 0.3, 1.1), (7459.0, 0.7, 5.9)])
def test_sine_matches_float64_formula(freq, amp, phase):
    x = synthesize("sine", freq, amp, phase)[0]
    assert x.dtype == np.float32 and x.shape == (SR,)
    expected = amp * np.sin(2 * np.pi * freq * T + phase)
    assert np.max(np.abs(x - expected)) < 1e-5


@pytest.mark.parametrize("freq", [440.0, 1234.5, 5000.0])
def test_naive_square_takes_only_plus_minus_amplitude(freq):
    amp = 0.35
    x = synthesize("square", freq, amp, phase=0.4)[0]
    assert set(np.unique(x).tolist()) == {float(np.float32(amp)), float(np.float32(-amp))}


def test_naive_sawtooth_and_triangle_shapes():
    # sawtooth 2p - 1 and triangle 1 - 4|p - 1/2| at position p = frac(f t + phase / 2 pi)
    f, phase = 523.25, 0.9
    p = np.mod(f * T + phase / (2 * np.pi), 1.0)
    saw = synthesize("sawtooth", f, 1.0, phase)[0]
    tri = synthesize("triangle", f, 1.0, phase)[0]
    assert np.max(np.abs(tri - (1 - 4 * np.abs(p - 0.5)))) < 1e-5
    # the sawtooth jumps at p = 0: compare away from the wrap, where rounding can pick either side
    away = (p > 1e-5) & (p < 1 - 1e-5)
    assert np.max(np.abs(saw - (2 * p - 1))[away]) < 1e-5


def test_bandlimited_5khz_sawtooth_is_its_fundamental_only():
    # At 5 kHz only k = 1 lies below Nyquist (8 kHz): 2p - 1 -> -(2/pi) sin(theta)
    amp, phase = 0.8, 0.7
    fundamental = -amp * 2 / np.pi * np.sin(2 * np.pi * 5000 * T + phase)
    bl = synthesize("sawtooth", 5000.0, amp, phase, method="bandlimited")[0]
    naive = synthesize("sawtooth", 5000.0, amp, phase, method="naive")[0]
    assert np.max(np.abs(bl - fundamental)) < 1e-4
    assert np.max(np.abs(naive - fundamental)) > 0.1


def _line_db(x, hz):
    """Level (dB re a unit sine) of the Hann-windowed spectrum of a 1 s clip at integer ``hz``."""
    w = np.hanning(len(x))
    mag = np.abs(np.fft.rfft(x.astype(np.float64) * w)) / (w.sum() / 2)
    return 20 * np.log10(mag[int(hz)] + 1e-15)


# Fourier coefficient of the fundamental of each waveform
FUNDAMENTAL = {"triangle": 8 / np.pi**2, "sawtooth": 2 / np.pi, "square": 4 / np.pi}


@pytest.mark.parametrize("name", ["triangle", "sawtooth", "square"])
def test_aliases_present_in_naive_absent_in_bandlimited(name):
    # 5 kHz at 16 kHz: the 3rd harmonic (15 kHz) folds to 1 kHz; band-limited keeps only 5 kHz.
    naive = synthesize(name, 5000.0, method="naive")[0]
    bl = synthesize(name, 5000.0, method="bandlimited")[0]
    assert _line_db(naive, 1000) > -30
    for hz in (1000, 2000, 3000, 4000, 6000, 7000):  # every folded position is empty
        assert _line_db(bl, hz) < -100
    reference = FUNDAMENTAL[name] * synthesize("sine", 5000.0)[0]
    assert abs(_line_db(bl, 5000) - _line_db(reference, 5000)) < 0.01


def test_bandlimited_triangle_close_to_naive_at_low_pitch():
    # Same phase convention: at 440 Hz the missing odd harmonics k >= 19 of (8/pi^2)/k^2 sum to < 0.03.
    naive = synthesize("triangle", 440.0, 1.0, 1.3, method="naive")[0]
    bl = synthesize("triangle", 440.0, 1.0, 1.3, method="bandlimited")[0]
    assert np.max(np.abs(naive - bl)) < 0.03


def test_synthesize_batches_and_labels():
    x = synthesize(["sine", "square", "sawtooth"], [440.0, 880.0, 1760.0], [1.0, 0.5, 0.25])
    assert x.shape == (3, SR)
    np.testing.assert_array_equal(x[1], synthesize("square", 880.0, 0.5)[0])
    np.testing.assert_array_equal(x, synthesize([0, 3, 2], [440.0, 880.0, 1760.0], [1.0, 0.5, 0.25]))
    assert synthesize("sine", 440.0, duration=0.25, sample_rate=8000).shape == (1, 2000)


# --------------------------------------------------------------------------- #
# Bad inputs: ValueError naming the bad value
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "kwargs, names",
    [
        ({"waveforms": ("sine", "piano")}, "piano"),
        ({"f_min": 1000.0}, "1000"),  # highest class 1000 * 16 * 2^(1/12) Hz > Nyquist
        ({"sample_rate": 8000}, "4000"),  # default grid tops out at 7459 Hz > 4 kHz Nyquist
        ({"duration": 0.0}, "0.0"),
        ({"duration": -1.0}, "-1.0"),
        ({"sample_rate": 0}, "got 0"),
        ({"sample_rate": -16000}, "-16000"),
        ({"n_freq_classes": 1}, "got 1"),
        ({"n_clips": 84}, "(0.8, 0.1, 0.1)"),  # one clip per cell: val and test empty
        ({"split": (0.5, 0.5, 0.5)}, "(0.5, 0.5, 0.5)"),
        ({"split": (0.9, 0.1)}, "(0.9, 0.1)"),
        ({"synthesis": "fm"}, "'fm'"),
    ],
)
def test_config_rejects_bad_values(kwargs, names):
    with pytest.raises(ValueError) as err:
        ToneConfig(**kwargs)
    assert names in str(err.value)


def test_empty_partition_message_names_the_counts():
    with pytest.raises(ValueError, match=r"empty.*\(1, 0, 0\)"):
        ToneConfig(n_clips=84)


@pytest.mark.parametrize(
    "args, kwargs, names",
    [
        (("piano", 440.0), {}, "piano"),
        ((7, 440.0), {}, "7"),
        (("sine", 8000.0), {}, "8000"),
        (("sine", 9000.0), {}, "9000"),
        (("sine", 0.0), {}, "0.0"),
        (("sine", 440.0), {"duration": 0}, "got 16000, 0"),
        (("sine", 440.0), {"sample_rate": -1}, "got -1, 1.0"),
        (("sine", 440.0), {"method": "wavetable"}, "'wavetable'"),
        (("sine", float("nan")), {}, "frequency must be finite, got nan"),
        (("sine", [440.0, float("inf")]), {}, "frequency must be finite, got inf (at index 1)"),
        (("sine", 440.0), {"amplitude": float("nan")}, "amplitude must be finite, got nan"),
        (("sine", 440.0), {"phase": float("-inf")}, "phase must be finite, got -inf"),
        (("sine", 440.0), {"duration": float("inf")}, "got 16000, inf"),
    ],
)
def test_synthesize_rejects_bad_values(args, kwargs, names):
    with pytest.raises(ValueError) as err:
        synthesize(*args, **kwargs)
    assert names in str(err.value)


def test_unknown_mode_and_split(fast_factors):
    with pytest.raises(ValueError, match="'slow'"):
        ToneConfig.preset("slow")
    with pytest.raises(ValueError, match="'slow'"):
        load_tone_dataset("slow", cache=False)
    with pytest.raises(ValueError, match="'training'"):
        sample_pairs(fast_factors, "training")


def test_build_rejects_mismatched_sample_rates():
    with pytest.raises(ValueError, match="22050"):
        build_tone_dataset(SMALL, FeatureConfig(sample_rate=22_050, f_max=8000.0))


# --------------------------------------------------------------------------- #
# Cache
# --------------------------------------------------------------------------- #
def _cache_files(folder):
    return sorted(p.name for p in folder.iterdir())


def _assert_same(a, b):
    assert torch.equal(a.features, b.features)
    assert a.factors.equals(b.factors)


def test_cache_roundtrip_does_not_rebuild(tmp_path, monkeypatch):
    first = load_tone_dataset(SMALL, cache=tmp_path)
    files = _cache_files(tmp_path)
    assert len(files) == 1 and files[0].endswith(".npz")  # atomic write: no temp file left behind

    def fail(*args, **kwargs):
        raise AssertionError("rebuilt although a valid cache file exists")

    monkeypatch.setattr(tones_mod, "build_tone_dataset", fail)
    second = load_tone_dataset(SMALL, cache=tmp_path)
    _assert_same(first, second)
    assert second.config == SMALL and second.seed == 0
    assert _cache_files(tmp_path) == files


def test_cache_keys_differ_by_config_and_seed(tmp_path):
    load_tone_dataset(SMALL, cache=tmp_path, seed=0)
    load_tone_dataset(SMALL, cache=tmp_path, seed=1)
    load_tone_dataset(dataclasses.replace(SMALL, synthesis="bandlimited"), cache=tmp_path, seed=0)
    assert len(_cache_files(tmp_path)) == 3


def _only_file(folder):
    (path,) = folder.iterdir()
    return path


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, damage):
    good = load_tone_dataset(SMALL, cache=tmp_path)
    path = _only_file(tmp_path)
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        mid = len(raw) // 2
        raw[mid : mid + 16] = bytes(b ^ 0xFF for b in raw[mid : mid + 16])
    else:
        raw = raw[: len(raw) // 2]
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = load_tone_dataset(SMALL, cache=tmp_path)
    _assert_same(rebuilt, good)
    # the rebuilt file replaced the damaged one and loads cleanly
    assert _cache_files(tmp_path) == [path.name]
    _assert_same(load_tone_dataset(SMALL, cache=tmp_path), good)


def test_checksum_catches_consistent_looking_file(tmp_path):
    """A readable file whose features were altered (zip CRCs valid) fails the checksum."""
    good = load_tone_dataset(SMALL, cache=tmp_path)
    path = _only_file(tmp_path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["features"][0, 0, 0] += 0.5
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.warns(UserWarning, match="checksum"):
        rebuilt = load_tone_dataset(SMALL, cache=tmp_path)
    _assert_same(rebuilt, good)


def test_cache_from_another_seed_is_detected(tmp_path):
    other_dir = tmp_path / "other"
    good = load_tone_dataset(SMALL, cache=tmp_path / "mine", seed=0)
    load_tone_dataset(SMALL, cache=other_dir, seed=1)
    target = _only_file(tmp_path / "mine")
    shutil.copyfile(_only_file(other_dir), target)  # seed-1 file under the seed-0 name
    with pytest.warns(UserWarning, match="another config/seed"):
        rebuilt = load_tone_dataset(SMALL, cache=tmp_path / "mine", seed=0)
    _assert_same(rebuilt, good)
    assert rebuilt.seed == 0


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path):
    from mvtutorial.cache import atomic_write

    path = tmp_path / "tones.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write(b"half of the new con")
            raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"old"
    assert _cache_files(tmp_path) == ["tones.npz"]


def test_cache_false_builds_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(tmp_path))
    ds = load_tone_dataset(SMALL, cache=False)
    assert len(ds) == 120 and list(tmp_path.iterdir()) == []
