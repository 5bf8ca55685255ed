"""Tests of the evaluation wrappers (mvtutorial.evaluate) on a tiny trained model and on fake codes.

The tiny model (fast preset, 1 epoch, hidden (32, 32), one torch thread) is trained once per
module; it is not expected to disentangle anything, so the checks on it are about plumbing:
shapes, row alignment with the factor table, agreement with the model's own code methods, the
paper's MI layout, the keys and ranges of the result dict, and the exact MI + TC + DWKL = KL
identity. What the MI matrix *says* is checked on fake codes with a known answer.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits

import mvtutorial.evaluate as evaluate_module
from mvtutorial import metrics, paper
from mvtutorial.data import load_tone_dataset
from mvtutorial.evaluate import FACTORS, SplitCodes, encode_split, evaluate_model, evaluate_run, mi_matrix
from mvtutorial.config import TrainConfig
from mvtutorial.training import train

LATENTS = ("private", "shared", "both", "shared_fused", "both_fused")
DIM = 8


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread for torch, BLAS and OpenMP: on a small shared machine scikit-learn's k-NN MI
    (hundreds of tiny OpenMP neighbour searches) and torch slow down many-fold with more."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def ds(cache):
    return load_tone_dataset("fast", cache=cache)


@pytest.fixture(scope="module")
def config():
    return TrainConfig.preset("fast", epochs=1, batch_size=32, hidden=(32, 32))


@pytest.fixture(scope="module")
def model(ds, config):
    return train(config, dataset=ds, progress=False, threads=1).model


@pytest.fixture(scope="module")
def test_codes(model, ds):
    return encode_split(model, ds, "test", pair_seed=0)


@pytest.fixture(scope="module")
def result(model, ds):
    return evaluate_model(model, ds, probe="logistic", probe_seeds=(0,), max_probe_train=300, scores=False)


# --------------------------------------------------------------------------- #
# encode_split
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("split", ["train", "test"])
def test_encode_split_shapes_and_rows(model, ds, split):
    codes = encode_split(model, ds, split, batch_size=100)  # several batches, last one partial
    idx = ds.split_indices(split)
    n = len(idx)
    for name in ("private", "shared", "fused", "private_logvar", "shared_logvar"):
        arr = getattr(codes, name)
        assert arr.shape == (n, DIM), name
        assert np.all(np.isfinite(arr)), name
    # rows follow ds.split_indices(split), in that order
    expected = ds.factors.iloc[idx].reset_index(drop=True)
    pd.testing.assert_frame_equal(codes.factors, expected)
    assert codes.labels().shape == (n, 2)
    np.testing.assert_array_equal(codes.labels()[:, 0], expected["waveform"].to_numpy())
    np.testing.assert_array_equal(codes.labels()[:, 1], expected["freq_class"].to_numpy())
    lat = codes.latents()
    assert set(lat) == set(LATENTS)
    assert lat["both"].shape == lat["both_fused"].shape == (n, 2 * DIM)
    np.testing.assert_array_equal(lat["both"], np.hstack([codes.private, codes.shared]))
    np.testing.assert_array_equal(lat["both_fused"], np.hstack([codes.private, codes.fused]))


def test_encode_split_codes_match_model_methods(model, ds, test_codes):
    idx = ds.split_indices("test")
    x = ds.features[idx]
    with torch.no_grad():
        private = model.private_code(x).numpy()
        shared = model.shared_code(x).numpy()
    np.testing.assert_allclose(test_codes.private, private, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(test_codes.shared, shared, rtol=1e-5, atol=1e-6)
    # fused: each clip (first view exactly once) with the partner drawn by ds.pairs(split, pair_seed)
    pairs = ds.pairs("test", rng=0)
    assert sorted(pairs[:, 0]) == sorted(idx)
    with torch.no_grad():
        fused = model.fused_shared_code(ds.features[pairs[:, 0]], ds.features[pairs[:, 1]]).numpy()
    row = {clip: i for i, clip in enumerate(idx)}
    for k, clip in enumerate(pairs[:, 0]):
        np.testing.assert_allclose(test_codes.fused[row[clip]], fused[k], rtol=1e-5, atol=1e-6)
    # partners share the timbre and differ in frequency class
    f = ds.factors
    assert np.all(f["waveform"].to_numpy()[pairs[:, 0]] == f["waveform"].to_numpy()[pairs[:, 1]])
    assert np.all(f["freq_class"].to_numpy()[pairs[:, 0]] != f["freq_class"].to_numpy()[pairs[:, 1]])


def test_encode_split_fused_depends_on_pair_seed_only(model, ds, test_codes):
    again = encode_split(model, ds, "test", pair_seed=0)
    np.testing.assert_array_equal(again.fused, test_codes.fused)
    other = encode_split(model, ds, "test", pair_seed=1)
    np.testing.assert_array_equal(other.private, test_codes.private)
    np.testing.assert_array_equal(other.shared, test_codes.shared)
    assert not np.allclose(other.fused, test_codes.fused)


# --------------------------------------------------------------------------- #
# mi_matrix
# --------------------------------------------------------------------------- #
def _paper_index():
    return pd.MultiIndex.from_tuples(
        [("private", d) for d in range(1, DIM + 1)] + [("shared", d) for d in range(1, DIM + 1)], names=["subspace", "dim"]
    )


@pytest.mark.parametrize("estimator", ["knn", "hist", "quantile"])
def test_mi_matrix_layout(test_codes, estimator):
    mi = mi_matrix(test_codes, estimator=estimator)
    assert mi.shape == (2 * DIM, 2)
    pd.testing.assert_index_equal(mi.index, _paper_index())
    assert list(mi.columns) == list(FACTORS) == ["timbre", "frequency"]
    assert np.all(np.isfinite(mi.to_numpy())) and np.all(mi.to_numpy() >= 0)
    if estimator != "knn":  # plug-in MI is bounded by the factor entropy exactly
        h = metrics.factor_entropy(test_codes.labels())
        assert np.all(mi.to_numpy() <= h[None, :] + 1e-9)


def test_mi_matrix_knn_matches_metrics_and_is_seeded(test_codes):
    mi = mi_matrix(test_codes, random_state=3)
    direct = metrics.mi_knn(np.hstack([test_codes.private, test_codes.shared]), test_codes.labels(), random_state=3)
    np.testing.assert_array_equal(mi.to_numpy(), direct)
    pd.testing.assert_frame_equal(mi_matrix(test_codes, random_state=3), mi)


def test_mi_matrix_unknown_estimator(test_codes):
    with pytest.raises(ValueError, match="unknown estimator"):
        mi_matrix(test_codes, estimator="kde")


def _fake_codes(seed=0, per_cell=25):
    """Balanced 4 x 21 grid; private dim 5 = frequency class + noise, every shared dim = waveform +
    noise, shared dim 3 = 2 * waveform + N(0, 1) (known MI); all other private dims pure noise."""
    rng = np.random.default_rng(seed)
    wave, freq = (a.ravel() for a in np.meshgrid(np.arange(4), np.arange(21), indexing="ij"))
    wave, freq = np.repeat(wave, per_cell), np.repeat(freq, per_cell)
    n = wave.size
    private = rng.standard_normal((n, DIM))
    private[:, 4] = freq + 0.3 * rng.standard_normal(n)
    shared = wave[:, None] + 0.3 * rng.standard_normal((n, DIM))
    shared[:, 2] = 2 * wave + rng.standard_normal(n)
    factors = pd.DataFrame({"waveform": wave, "freq_class": freq})
    zeros = np.zeros((n, DIM))
    return SplitCodes(private, shared, shared.copy(), zeros, zeros, factors)


def _mixture_mi(spacing=2.0, classes=4):
    """I(z; y) for y uniform on ``classes`` values, z = spacing * y + N(0, 1): H(z) - H(z | y), numerically."""
    grid = np.linspace(-8, spacing * (classes - 1) + 8, 200_001)
    p = sum(np.exp(-(grid - spacing * k) ** 2 / 2) for k in range(classes)) / (classes * math.sqrt(2 * math.pi))
    h = -np.sum(p * np.log(np.where(p > 0, p, 1.0))) * (grid[1] - grid[0])
    return h - 0.5 * math.log(2 * math.pi * math.e)


@pytest.mark.parametrize("estimator", ["knn", "quantile"])
def test_mi_matrix_known_answer_puts_information_in_the_right_subspace(estimator):
    codes = _fake_codes()
    mi = mi_matrix(codes, estimator=estimator)
    sums = mi.groupby(level="subspace").sum()
    # timbre lives in the shared block, frequency in the private block
    assert sums.loc["shared", "timbre"] > 20 * max(sums.loc["private", "timbre"], 1e-3)
    assert sums.loc["shared", "timbre"] > 5.0
    # (binned MI carries a positive bias of ~(bins - 1)(classes - 1) / 2N = 0.09 nats per dim here)
    assert sums.loc["private", "frequency"] > (5 if estimator == "knn" else 3) * max(sums.loc["shared", "frequency"], 1e-3)
    # and the layout names the right dimensions
    assert mi["frequency"].idxmax() == ("private", 5)
    assert mi.loc["private", "frequency"].drop(5).max() < 0.1 * mi.loc[("private", 5), "frequency"]
    assert mi.loc["shared", "timbre"].idxmin() == 3  # the noisiest shared dim
    if estimator == "knn":
        assert mi.loc[("shared", 3), "timbre"] == pytest.approx(_mixture_mi(), abs=0.06)  # 0.845 nats
        assert mi.loc[("private", 5), "frequency"] <= math.log(21) + 0.05


# --------------------------------------------------------------------------- #
# evaluate_model
# --------------------------------------------------------------------------- #
def test_evaluate_model_probes(result):
    keys = {f"{lat}/{fac}" for lat in LATENTS for fac in FACTORS}
    assert set(result["probes"]) == keys
    assert set(result["probes_sd"]) == keys
    for k, v in result["probes"].items():
        assert 0.0 <= v <= 1.0, k
    assert result["probe"] == "logistic" and result["probe_seeds"] == [0]
    assert result["chance"]["timbre"] == pytest.approx(0.25, abs=0.03)
    assert result["chance"]["frequency"] == pytest.approx(1 / 21, abs=0.02)
    assert "scores" not in result
    json.dumps(result)  # JSON-ready (plain floats, str keys)


def test_evaluate_model_mi_entries(result):
    assert result["factors"] == {"timbre": {"column": "waveform", "belongs_in": "shared"},
                                 "frequency": {"column": "freq_class", "belongs_in": "private"}}
    mi = result["mi_matrix"]
    assert list(mi) == [f"{s}/{d}" for s in ("private", "shared") for d in range(1, DIM + 1)]
    for row in mi.values():
        assert set(row) == set(FACTORS) and all(v >= 0 for v in row.values())
    for sub in ("private", "shared"):
        for fac in FACTORS:
            total = sum(mi[f"{sub}/{d}"][fac] for d in range(1, DIM + 1))
            assert result["mi_sums"][f"{sub}/{fac}"] == pytest.approx(total)
    s = result["mi_sums"]
    assert result["mi_ratio_timbre"] == pytest.approx(s["shared/timbre"] / max(s["private/timbre"], 1e-12))
    assert result["mi_ratio_frequency"] == pytest.approx(s["private/frequency"] / max(s["shared/frequency"], 1e-12))


def test_evaluate_model_decomposition(result, ds):
    n = len(ds.split_indices("test"))
    for sub in ("private", "shared"):
        d = result["decomposition"][sub]
        assert set(d) == {"mi", "tc", "dwkl", "kl"}
        assert all(math.isfinite(v) for v in d.values())
        assert d["mi"] + d["tc"] + d["dwkl"] == pytest.approx(d["kl"], rel=1e-9, abs=1e-9)
        assert d["mi"] <= math.log(n) + 1e-9  # q(z_i) >= q(z_i | x_i) / N


def test_paper_constants():
    for lat in ("private", "shared", "both"):
        for fac in FACTORS:
            assert 0 < paper.PROBES[(lat, fac)] < 1
    assert paper.PROBES[("shared", "timbre")] == 0.9741
    assert paper.MI_SUMS[("shared", "timbre")] == 7.5


# --------------------------------------------------------------------------- #
# evaluate_run
# --------------------------------------------------------------------------- #
def test_evaluate_run_writes_metrics(ds, config, cache, tmp_path, monkeypatch):
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(cache))  # evaluate_run reloads the data set from the cache
    run = tmp_path / "run"
    train(config, run, dataset=ds, progress=False, threads=1)
    out = evaluate_run(run, probe="logistic", probe_seeds=(0,))
    written = json.loads((run / "metrics.json").read_text())
    assert written["probes"] == pytest.approx(out["probes"])
    assert written["seed"] == config.seed and written["best_epoch"] >= 1
    assert set(written["scores"]) == {"mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap"}
    assert all(0.0 <= v <= 1.0 for v in written["scores"].values())


def test_evaluate_run_uses_the_data_the_run_was_trained_on(tmp_path):
    """train(cfg, dataset=custom) then evaluate_run: the checkpoint's data spec decides the data,
    not the config's preset; a dataset that does not match the spec is refused."""
    import dataclasses as dc

    from mvtutorial.data import build_tone_dataset, load_from_spec

    preset = load_tone_dataset("fast", cache=tmp_path / "cache")
    custom_tones = dc.replace(preset.config, n_clips=1680, jitter_semitones=0.5)
    custom = load_tone_dataset(custom_tones, cache=tmp_path / "cache", seed=3)
    cfg = TrainConfig.preset("fast", epochs=1, hidden=(16, 16))
    train(cfg, tmp_path / "run", dataset=custom, progress=False, threads=1)
    seen = []
    real = evaluate_module.evaluate_model
    evaluate_module.evaluate_model = lambda model, ds, **kw: seen.append(ds.spec()) or real(model, ds, **kw)
    try:
        evaluate_run(tmp_path / "run", probe="logistic", probe_seeds=(0,), write=False)
    finally:
        evaluate_module.evaluate_model = real
    assert seen == [custom.spec()] and seen[0] != preset.spec()
    with pytest.raises(ValueError, match="does not match the data") as info:
        evaluate_run(tmp_path / "run", probe="logistic", probe_seeds=(0,), write=False, dataset=preset)
    assert "tone_config.n_clips: 1680 != 840" in str(info.value) and "seed: 3 != 0" in str(info.value)
    with pytest.raises(ValueError, match="unknown data source 'spectrograms'"):
        load_from_spec({"source": "spectrograms"})
    assert build_tone_dataset(custom_tones, preset.feature_config, seed=3).spec() == custom.spec()


def test_mi_frame_labels_every_value():
    from mvtutorial.results import mi_frame

    def result(offset, seed):
        mat = {f"{s}/{d}": {"timbre": offset + 10 * i + d, "frequency": -(offset + 10 * i + d)}
               for i, s in enumerate(("private", "shared")) for d in (1, 2, 3)}
        return {"seed": seed, "mi_matrix": mat, "chance": {"timbre": 0.25, "frequency": 0.05},
                "samples": {"mi_matrix": {k: {f: 2 * v for f, v in row.items()} for k, row in mat.items()}}}

    frame = mi_frame([result(0, 4), result(100, 7)]).set_index(["run", "subspace", "dim", "factor"])
    assert len(frame) == 2 * 2 * 3 * 2
    assert frame.loc[(7, "shared", 3, "timbre"), "mi"] == 100 + 10 + 3
    assert frame.loc[(4, "private", 1, "frequency"), "mi"] == -1
    assert frame.loc[(4, "private", 1, "frequency"), "belongs_in"] == "private"
    assert frame.loc[(4, "private", 1, "timbre"), "column"] == "waveform"
    on_samples = mi_frame([result(0, 0)], samples=True).set_index(["subspace", "dim", "factor"])
    assert on_samples.loc[("shared", 1, "timbre"), "mi"] == 2 * 11


@pytest.mark.slow  # UMAP's first fit compiles with numba (about a minute)
def test_umap_codes_maps_the_same_clips_in_every_code(model, ds, test_codes):
    pytest.importorskip("umap")
    from mvtutorial.evaluate import umap_codes

    maps, factors = umap_codes(model, ds, "test", ("private", "shared"), seed=0, max_clips=60)
    assert set(maps) == {"private", "shared"} and all(m.shape == (60, 2) and np.isfinite(m).all() for m in maps.values())
    keep = np.sort(np.random.default_rng(0).choice(len(test_codes.factors), 60, replace=False))  # the documented draw
    pd.testing.assert_frame_equal(factors, test_codes.factors.iloc[keep].reset_index(drop=True))
