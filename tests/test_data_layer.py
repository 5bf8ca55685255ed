"""The one data layer (issue 24): every source draws the streams it drew before the merge, one
dataset class, one cache format, one registry, and factor names read from the dataset.

``fixtures/data_streams.json`` holds digests of the factor tables, splits and pairs drawn by the
five data modules before the merge (commit d2cbc62, ``fixtures/make_data_streams.py``): the tone
stream is part of the shipped runs, and so is the sampled-note stream. Digests of integer and
string columns, uniform draws and pairs are exact on any machine; ``freq_hz`` (``2 ** x``, whose
last bit depends on libm) is compared as values to 4 ulp.
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

import mvtutorial.data as data
from mvtutorial.data import dataset as dataset_mod
from mvtutorial.data import instruments as instruments_mod
from mvtutorial.data import tones as tones_mod
from mvtutorial.features import FeatureConfig

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from make_data_streams import FOLDER_CASES, folder_table, pair_streams  # noqa: E402
from stream_digest import digest  # noqa: E402

STREAMS = json.loads((Path(__file__).resolve().parent / "fixtures" / "data_streams.json").read_text())
FAST_TONES = data.ToneConfig.preset("fast")
TONE_CASES = {"fast/seed0": (FAST_TONES, 0), "n1000/seed3": (data.ToneConfig.preset("fast", n_clips=1000), 3),
              "small/seed7": (data.ToneConfig(n_freq_classes=3, n_clips=120, duration=0.5), 7), "full/seed0": (data.ToneConfig(), 0)}
NOTE_CASES = {"fast/seed0": (data.InstrumentConfig.preset("fast"), 0), "full/seed0": (data.InstrumentConfig.preset("full"), 0),
              "small/seed2": (data.InstrumentConfig(programs=(0, 40, 73), n_pitches=3, n_clips=90, duration=0.5, hold=0.4), 2),
              "heldout/seed0": (data.InstrumentConfig.preset("fast", test_soundfont="FluidR3_GM"), 0)}


def _without_features(module, factors: pd.DataFrame, config, seed: int) -> data.FactorDataset:
    """The source's dataset (as its cache restores it) with empty features: the pairs need none."""
    return module._dataset(torch.empty(len(factors), 1, 1), factors, config, FeatureConfig(), seed)


# --------------------------------------------------------------------------- #
# The streams of before the merge
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("case", sorted(TONE_CASES))
def test_tone_factors_splits_and_pairs_are_those_of_before(case):
    config, seed = TONE_CASES[case]
    expected = STREAMS["tones"][case]
    factors = data.sample_factors(config, seed)
    assert {c: digest(factors[c]) for c in factors.columns if c != "freq_hz"} == {
        k: v for k, v in expected.items() if k not in ("pairs", "freq_hz")}
    if "freq_hz" in expected:
        np.testing.assert_array_max_ulp(factors["freq_hz"].to_numpy(), np.array(expected["freq_hz"]), maxulp=4)
    ds = _without_features(tones_mod, factors, config, seed)
    assert ds.pair_draw == "joint" and ds.factor_columns == {"timbre": "waveform", "frequency": "freq_class"}
    assert pair_streams(ds.pairs) == expected["pairs"]


@pytest.mark.parametrize("case", sorted(NOTE_CASES))
def test_note_factors_splits_and_pairs_are_those_of_before(case):
    config, seed = NOTE_CASES[case]
    expected = STREAMS["instruments"][case]
    factors = data.sample_note_factors(config, seed)
    assert {c: digest(factors[c]) for c in factors.columns} == {k: v for k, v in expected.items() if k != "pairs"}
    ds = _without_features(instruments_mod, factors, config, seed)
    assert ds.pair_draw == "by_shared" and ds.factor_columns == {"timbre": "instrument", "frequency": "pitch"}
    assert pair_streams(ds.pairs) == expected["pairs"]


def _write_audio(folder: Path, table: pd.DataFrame, seconds: float = 0.1, rate: int = 16_000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    for i, name in enumerate(table["file"]):
        soundfile.write(folder / name, (0.3 * np.sin(2 * np.pi * (200 + 10 * i) * t)).astype(np.float32), rate)
    table.to_csv(folder / "factors.csv", index=False)


@pytest.mark.parametrize("case", sorted(FOLDER_CASES))
def test_folder_splits_and_pairs_are_those_of_before(case, tmp_path):
    instruments, pitches, per_cell, rest, split, seed = FOLDER_CASES[case]
    _write_audio(tmp_path, folder_table(instruments, pitches, per_cell))
    ds = data.load_audio_folder(tmp_path, "instrument", list(rest), duration=0.1, split=split, seed=seed, cache=False,
                                progress=False)
    assert digest(ds.factors["split"]) == STREAMS["folder"][case]["split"]
    assert pair_streams(ds.pairs) == STREAMS["folder"][case]["pairs"]


# --------------------------------------------------------------------------- #
# One pair sampler, one dataset class, one cache, one registry
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("draw", data.pairs.PAIR_DRAWS)
def test_both_draws_pair_within_an_incomplete_grid(draw):
    """Shared value 'a' lacks differ value 2 and 'b' has only 2 of them: partners stay inside what exists."""
    factors = pd.DataFrame({"s": ["a"] * 6 + ["b"] * 4, "d": [0, 0, 1, 1, 3, 3, 0, 0, 2, 2], "split": "train"})
    for seed in range(20):
        pairs = data.factor_pairs(factors, "s", "d", "train", seed, draw)
        a, b = factors.iloc[pairs[:, 0]], factors.iloc[pairs[:, 1]]
        assert (a.s.to_numpy() == b.s.to_numpy()).all() and (a.d.to_numpy() != b.d.to_numpy()).all()
        assert sorted(pairs[:, 0]) == list(range(10))
    with pytest.raises(ValueError, match="unknown pair draw 'random'"):
        data.factor_pairs(factors, "s", "d", "train", 0, "random")
    with pytest.raises(ValueError, match=r"a single value of 'd' for s='c'"):
        data.factor_pairs(pd.concat([factors, factors.iloc[:1].assign(s="c")]), "s", "d", "train", 0, draw)


def test_every_source_builds_the_same_dataset_class():
    assert all(getattr(m, "FactorDataset", data.FactorDataset) is data.FactorDataset
               for m in (tones_mod, instruments_mod, data.folder))
    ds = _without_features(tones_mod, data.sample_factors(FAST_TONES, 0), FAST_TONES, 0)
    assert type(ds) is data.FactorDataset and ds.shared_factor == "timbre" and ds.private_factors == ("frequency",)
    assert ds.spec() == data.tone_spec(FAST_TONES) and ds.input_shape == (1, 1) and len(ds) == 840
    assert ds.audio([0, 1]).shape == (2, 16_000)
    with pytest.raises(ValueError, match="gives no audio back"):
        data.FactorDataset(ds.features, ds.factors, ds.factor_columns, FeatureConfig(), {"source": "x"}).audio(0)


def test_one_cache_format_for_every_source_and_an_old_file_is_rebuilt(tmp_path):
    config = data.ToneConfig(n_freq_classes=2, n_clips=48, duration=0.1)
    first = data.load_tone_dataset(config, cache=tmp_path)
    (path,) = tmp_path.glob("tones-*.npz")
    with np.load(path) as z:
        meta = json.loads(z["meta"].tobytes())
        arrays = {k: z[k] for k in z.files}
    assert meta["format"] == dataset_mod.CACHE_FORMAT and meta["spec"] == first.spec()
    assert meta["columns"] == list(first.factors.columns)
    meta["format"] = 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.warns(UserWarning, match="has format 1, not 3; rebuilding it"):
        again = data.load_tone_dataset(config, cache=tmp_path)
    assert torch.equal(again.features, first.features) and again.factors.equals(first.factors)


def test_the_registry_holds_the_built_in_sources_by_its_own_imports():
    """In a fresh interpreter whose ``mvtutorial`` package runs no ``__init__``, importing the registry
    alone registers the three sources (they used to register only because ``__init__`` imported them)."""
    import subprocess

    root = Path(data.__file__).resolve().parents[1]
    code = ("import sys; sys.modules['mvtutorial'] = type(sys)('mvtutorial'); sys.modules['mvtutorial'].__path__ = [%r]\n"
            "from mvtutorial.data.sources import DATA_SOURCES\n"
            "print(sorted((name, f.__module__) for name, f in DATA_SOURCES.items()))" % str(root))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str([("folder", "mvtutorial.data.folder"), ("instruments", "mvtutorial.data.instruments"),
                               ("tones", "mvtutorial.data.tones")])
    with pytest.raises(ValueError, match="already registered"):
        data.register_data_source("tones", lambda spec: None)
    with pytest.raises(ValueError, match="unknown data source 'spectrograms'"):
        data.load_from_spec({"source": "spectrograms"})


# --------------------------------------------------------------------------- #
# Factor names come from the dataset
# --------------------------------------------------------------------------- #
def test_a_folder_with_its_own_factor_names_trains_and_evaluates(tmp_path, monkeypatch):
    """Factors named ``instrument`` and ``note``: one epoch of training, then evaluate_run (which
    rebuilds the data from the checkpoint's spec) and the results tables, with no KeyError."""
    from mvtutorial.config import TrainConfig
    from mvtutorial.evaluate import evaluate_run
    from mvtutorial.results import mi_frame, mi_table
    from mvtutorial.training import train

    monkeypatch.setenv("MVTUTORIAL_CACHE", str(tmp_path / "cache"))
    table = folder_table(("cello", "flute", "oboe"), ("C3", "D3", "E3", "F3"), 3).rename(columns={"pitch": "note"})
    (tmp_path / "audio").mkdir()
    _write_audio(tmp_path / "audio", table, seconds=0.25)
    ds = data.load_audio_folder(tmp_path / "audio", "instrument", ["note"], duration=0.25, progress=False)
    assert ds.factor_columns == {"instrument": "instrument_label", "note": "note_label"} and ds.shared_factor == "instrument"
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig.preset("fast", epochs=1, batch_size=4, hidden=(16,)), tmp_path / "run", dataset=ds, progress=False)
        out = evaluate_run(tmp_path / "run", probe="logistic", probe_seeds=(0,))
    finally:
        torch.set_num_threads(previous)
    assert set(out["chance"]) == {"instrument", "note"} and {"mi_ratio_instrument", "mi_ratio_note"} <= set(out)
    assert out["factors"] == {"instrument": {"column": "instrument_label", "belongs_in": "shared"},
                              "note": {"column": "note_label", "belongs_in": "private"}}
    summary = mi_table(mi_frame([out]))
    assert list(summary.index.get_level_values("factor").unique()) == ["instrument", "note"]


# --------------------------------------------------------------------------- #
# Size rules of the issue, for the data package
# --------------------------------------------------------------------------- #
def _code_lines(node: ast.AST, source: list[str]) -> int:
    """Lines of a function that hold code: not blank, not comments, not its docstring."""
    doc = set()
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        doc = set(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i in range(node.lineno, node.end_lineno + 1)
               if i not in doc and source[i - 1].strip() and not source[i - 1].strip().startswith("#"))


@pytest.mark.parametrize("path", sorted((Path(data.__file__).parent).glob("*.py")), ids=lambda p: p.name)
def test_data_modules_stay_small(path):
    source = path.read_text(encoding="utf-8").splitlines()
    assert len(source) <= 350, f"{path.name} has {len(source)} lines"
    long = {n.name: _code_lines(n, source) for n in ast.walk(ast.parse("\n".join(source)))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(n, source) > 60}
    assert not long, f"functions over 60 lines of code in {path.name}: {long}"
