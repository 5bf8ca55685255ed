"""Bad input is one clear line at the door (issue 29): each case below names the bad value and what
to do, and fails before any long work (reading audio, rendering, training, fitting) starts.

The API cases call the public entry point; the command-line cases call the ``main`` functions of
``python -m mvtutorial`` and ``python -m mvtutorial.reproduce`` in-process, as ``tests/test_cli.py``
does for its error paths. Everything runs on tiny inputs in seconds: the folders of audio are
written here (1 s sine/square tones), the models are untrained or trained for one epoch.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

from mvtutorial.config import TrainConfig
from mvtutorial.data.folder import load_audio_folder

RATE = 16_000
TINY = TrainConfig.preset("fast", epochs=1, hidden=(16,))


@pytest.fixture(autouse=True)
def one_thread_and_own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(tmp_path / "cache"))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _write_folder(path: Path, instruments=("cello", "flute", "oboe"), pitches=("C3", "D3", "E3", "F3", "G3", "A3", "B3", "C4"),
                  per_cell: int = 1, duration: float = 0.25) -> Path:
    """The README's example: factors.csv (file,instrument,pitch) and ``per_cell`` file(s) per (instrument, pitch)."""
    path.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(duration * RATE)) / RATE
    rows = []
    for i, inst in enumerate(instruments):
        for j, pitch in enumerate(pitches):
            for k in range(per_cell):
                x = np.sin(2 * np.pi * 220 * 2 ** (j / 12) * t) * (1 - 0.1 * k)
                x = 0.3 * (np.sign(x) * np.abs(x) ** (1 / (i + 1)))  # a different timbre per instrument
                name = f"{inst}_{pitch}_{k}.wav"
                soundfile.write(path / name, x.astype(np.float32), RATE)
                rows.append({"file": name, "instrument": inst, "pitch": pitch})
    pd.DataFrame(rows).to_csv(path / "factors.csv", index=False)
    return path


def _load(folder, **kw):
    return load_audio_folder(folder, **{"shared": "instrument", "factors": ["pitch"], "duration": 0.25, "cache": False,
                                        "progress": False, **kw})


# -- your own audio (mvtutorial.data.folder) -----------------------------------------------------


def test_folder_low_sample_rate_says_to_pass_a_feature_config(tmp_path):
    folder = _write_folder(tmp_path / "notes")
    with pytest.raises(ValueError, match=r"sample_rate=8000 is too low .*pass feature_config=FeatureConfig\(sample_rate=8000, f_max=4000\)"):
        _load(folder, sample_rate=8000)
    from mvtutorial.features import FeatureConfig

    ds = _load(folder, sample_rate=8000, feature_config=FeatureConfig(sample_rate=8000, f_max=4000))  # what it says works
    assert ds.features.shape[1] == 128


def test_folder_factors_as_a_string_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"factors must be a list of CSV column names, e.g. \['pitch'\], got str 'pitch'"):
        _load(_write_folder(tmp_path / "notes"), factors="pitch")


def test_folder_without_possible_pairs_fails_at_load_time(tmp_path):
    folder = _write_folder(tmp_path / "notes", per_cell=3)
    table = pd.read_csv(folder / "factors.csv")
    table = table[(table.instrument != "cello") | (table.pitch == "C3")]  # cello: one pitch only
    table.to_csv(folder / "factors.csv", index=False)
    with pytest.raises(ValueError, match=r"has only pitch='C3' for instrument='cello', so no pair can be drawn"):
        _load(folder)


@pytest.mark.parametrize("value, words", [(0.0, r"silent \(all samples 0\)"), (0.5, r"constant \(every sample 0.5\)")])
def test_folder_constant_audio_is_named(tmp_path, value, words):
    folder = _write_folder(tmp_path / "notes")
    soundfile.write(folder / "flute_E3_0.wav", np.full(RATE // 4, value, np.float32), RATE)
    with pytest.raises(ValueError, match=rf"flute_E3_0.wav is {words}"):
        _load(folder)


def test_folder_split_without_val_or_test_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"split \(1.0, 0.0, 0.0\) leaves val or test empty"):
        _load(_write_folder(tmp_path / "notes"), split=(1, 0, 0))


@pytest.mark.parametrize("per_cell", [1, 5])
def test_folder_readme_example_splits_small_cells(tmp_path, per_cell):
    """One file (or 5) per (instrument, pitch) cell, no split column: val and test get whole clips,
    each instrument there with 2+ pitches, and the README's next line trains and evaluates."""
    from mvtutorial.evaluate import evaluate_model
    from mvtutorial.training import train

    ds = _load(_write_folder(tmp_path / "notes", per_cell=per_cell))
    counts = ds.factors.split.value_counts()
    assert counts["val"] >= 4 and counts["test"] >= 4 and counts["train"] >= 0.6 * len(ds)
    for split in ("train", "val", "test"):
        ds.pairs(split, rng=0)  # every split can be paired
    assert ds.factors[ds.factors.split == "test"].instrument.nunique() >= 2
    result = train(TrainConfig.preset("fast", epochs=1, hidden=(16,), batch_size=8), tmp_path / "run", dataset=ds, progress=False)
    out = evaluate_model(result.model, ds, probe="logistic", probe_seeds=(0,), scores=False)
    assert {"shared/instrument", "private/pitch"} <= set(out["probes"])


def test_folder_too_few_clips_to_split_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match=r"split 'val' is empty \(train/val/test 4/0/0\); the 4 clips are too few .*add a `split` column"):
        _load(_write_folder(tmp_path / "notes", instruments=("a", "b"), pitches=("C3", "D3")))


def test_folder_split_column_leaving_val_empty_is_named(tmp_path):
    folder = _write_folder(tmp_path / "notes", per_cell=2)
    table = pd.read_csv(folder / "factors.csv")
    table["split"] = np.where(np.arange(len(table)) % 4 == 0, "test", "train")
    table.to_csv(folder / "factors.csv", index=False)
    with pytest.raises(ValueError, match=r"split 'val' is empty \(train/val/test 36/0/12\); edit the `split` column of .*factors.csv"):
        _load(folder)


# -- sampled instruments (mvtutorial.data.instruments) -------------------------------------------


@pytest.mark.parametrize("programs, words", [
    (("piano", "violin"), r"got 'piano' in \('piano', 'violin'\); use 0 for 'piano'"),
    ((0, 40.7), r"got 40.7 in \(0, 40.7\); e.g. 0 = piano"),
    ("piano", r"programs must be a sequence of GM program numbers, e.g. \(0, 40\), got 'piano'"),
])
def test_instrument_programs_must_be_gm_numbers(programs, words):
    from mvtutorial.data.instruments import InstrumentConfig

    with pytest.raises(ValueError, match=words):
        InstrumentConfig.preset("fast", programs=programs)


def _soundfont_header(size: int) -> bytes:
    return b"RIFF" + (size - 8).to_bytes(4, "little") + b"sfbk"


@pytest.mark.parametrize("content, words", [
    (b"this is not a soundfont" * 10, r"is not a SoundFont 2 file \(no RIFF 'sfbk' header\)"),
    (_soundfont_header(10_000) + bytes(100), r"is truncated \(112 of 10,000 bytes\)"),
])
def test_corrupt_soundfont_is_named_before_rendering(tmp_path, content, words):
    from mvtutorial.data.instruments import InstrumentConfig, load_instrument_dataset

    bank = tmp_path / "broken.sf2"
    bank.write_bytes(content)
    config = InstrumentConfig.preset("fast", soundfonts=(str(bank),))
    with pytest.raises(ValueError, match=rf"SoundFont .*broken.sf2 {words}"):
        load_instrument_dataset(config, cache=False, progress=False)


def test_unloadable_fluidsynth_library_is_an_import_error_naming_the_package(tmp_path, monkeypatch):
    """pyfluidsynth raises a raw OSError when libfluidsynth is found but cannot be loaded."""
    from mvtutorial.data.instruments import InstrumentConfig, load_instrument_dataset

    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fluidsynth.py").write_text("raise OSError('libfluidsynth.so.3: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(fake))
    monkeypatch.delitem(sys.modules, "fluidsynth", raising=False)
    bank = tmp_path / "ok.sf2"
    bank.write_bytes(_soundfont_header(64) + bytes(52))  # a well-formed header: the library is what fails
    with pytest.raises(ImportError, match=r"needs FluidSynth \(libfluidsynth.so.3: cannot open .*apt-get install libfluidsynth3"):
        load_instrument_dataset(InstrumentConfig.preset("fast", soundfonts=(str(bank),)), cache=False, progress=False)


# -- sweeps (mvtutorial.sweeps, python -m mvtutorial.reproduce) ----------------------------


def test_unreachable_scheduler_fails_fast_in_one_line(tmp_path, monkeypatch):
    import mvtutorial.sweeps as ex

    monkeypatch.setattr(ex, "SCHEDULER_TIMEOUT", 1.0)  # 10 s by default, Dask's own 30 s
    with pytest.raises(ConnectionError, match=r"^no Dask scheduler answered at 'tcp://127.0.0.1:1' within 1 s; start one"):
        ex.run_sweep([TINY], tmp_path, backend="dask", scheduler="tcp://127.0.0.1:1")


def test_unreachable_scheduler_cli_is_one_error_line(tmp_path, monkeypatch, capsys):
    import mvtutorial.sweeps as ex
    from mvtutorial import reproduce

    monkeypatch.setattr(ex, "SCHEDULER_TIMEOUT", 1.0)
    rc = reproduce.main(["ablation", "--seeds", "0", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: no Dask scheduler answered at 'tcp://127.0.0.1:1' within 1 s")


def test_scheduler_that_is_not_an_address(tmp_path, capsys):
    from mvtutorial import reproduce
    from mvtutorial.sweeps import run_sweep

    with pytest.raises(ValueError, match=r"scheduler 'nonsense-address' is not a Dask scheduler address .*tcp://HOST:PORT"):
        run_sweep([TINY], tmp_path, backend="dask", scheduler="nonsense-address")
    with pytest.raises(TypeError, match=r"scheduler must be a Dask scheduler address .*got int 8786"):
        run_sweep([TINY], tmp_path, backend="dask", scheduler=8786)
    assert reproduce.main(["ablation", "--scheduler", "nonsense-address", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: scheduler 'nonsense-address' is not a Dask scheduler address")


@pytest.mark.parametrize("kwargs, error, words", [
    ({"n_jobs": 0}, ValueError, r"n_jobs must be an integer >= 1 \(parallel runs\), or -1 for one per core, got 0"),
    ({"n_jobs": -5}, ValueError, r"n_jobs must be .* got -5"),
    ({"n_jobs": 1.5}, ValueError, r"n_jobs must be .* got 1.5"),
    ({"threads": 0}, ValueError, r"threads must be an integer >= 1 \(torch/BLAS threads per run\), got 0"),
])
def test_sweep_options_are_checked_before_any_run(tmp_path, monkeypatch, kwargs, error, words):
    import mvtutorial.sweeps as ex

    monkeypatch.setattr(ex, "run_one", lambda *a, **k: pytest.fail("a run started"))
    with pytest.raises(error, match=words):
        ex.run_sweep([TINY], tmp_path, **kwargs)


@pytest.mark.parametrize("configs, words", [
    (["full"], r"configs must be TrainConfig objects \(e.g. TrainConfig.preset\('full', gamma=0.5\)\), got str 'full' at position 0"),
    ("full", r"configs must be a list of TrainConfig objects, got str 'full'"),
    ([TINY, {"gamma": 1.0}], r"got dict \{'gamma': 1.0\} at position 1"),
])
def test_sweep_configs_given_as_strings(tmp_path, configs, words):
    from mvtutorial.sweeps import run_sweep

    with pytest.raises(TypeError, match=words):
        run_sweep(configs, tmp_path)


@pytest.mark.parametrize("args, words", [
    (["--n-jobs", "-5"], "n_jobs must be an integer >= 1 (parallel runs), or -1 for one per core, got -5"),
    (["--n-jobs", "0"], "n_jobs must be an integer >= 1 (parallel runs), or -1 for one per core, got 0"),
    (["--threads", "0"], "threads must be an integer >= 1 (torch/BLAS threads per run), got 0"),
])
def test_reproduce_cli_checks_jobs_and_threads_first(tmp_path, monkeypatch, capsys, args, words):
    from mvtutorial import reproduce
    from mvtutorial.studies import store

    monkeypatch.setattr(store, "run_sweep", lambda *a, **k: pytest.fail("the sweep started"))
    assert reproduce.main(["ablation", "--out", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err.strip() == f"error: {words}"


def test_reproduce_swap_checks_seeds_before_fitting(tmp_path, monkeypatch, capsys):
    import mvtutorial.listening as listening
    from mvtutorial import reproduce

    monkeypatch.setattr(listening, "fit_feature_classifier", lambda *a, **k: pytest.fail("a classifier was fitted"))
    assert reproduce.main(["swap", "--seeds", "0,5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: no headline checkpoint for seed(s) [5] in ") and "(shipped seeds: [0, 1, 2])" in err
    assert not any(tmp_path.iterdir())  # nothing written


# -- listening (mvtutorial.listening) -----------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    from mvtutorial.model import MultiViewVAE

    torch.manual_seed(0)
    return MultiViewVAE(input_shape=(128, 32), private_dim=2, shared_dim=2, hidden=(16,))


def _with_nan() -> torch.Tensor:
    x = torch.rand(3, 128, 32)
    x[1, 5, 7] = float("nan")
    return x


def test_to_audio_of_nan_features():
    from mvtutorial.listening import to_audio

    with pytest.raises(ValueError, match=r"features holds 1 NaN/inf value\(s\) in clip\(s\) \[1\]; log-mels must be finite"):
        to_audio(_with_nan(), n_iter=2)


def test_reconstruct_and_swap_of_nan_input(model):
    from mvtutorial.listening import reconstruct, swap

    with pytest.raises(ValueError, match=r"x holds 1 NaN/inf value\(s\) in clip\(s\) \[1\]"):
        reconstruct(model, _with_nan())
    with pytest.raises(ValueError, match=r"shared_from holds 1 NaN/inf value"):
        swap(model, torch.rand(3, 128, 32), _with_nan())


# -- training (mvtutorial.training, python -m mvtutorial train) ---------------------------------


def test_run_folder_that_cannot_be_created(tmp_path, monkeypatch, capsys):
    from mvtutorial.__main__ import main
    from mvtutorial.training import train

    blocker = tmp_path / "a-file"
    blocker.write_text("")  # like --out /dev/null/x: a file where a folder should be
    with pytest.raises(ValueError, match=r"cannot create the run folder '.*a-file/x' \(Not a directory\); pass a folder you can write to"):
        train(TINY, blocker / "x", progress=False)
    assert main(["train", "--preset", "fast", "--out", str(blocker / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --out '") and err.endswith("cannot create the run folder (Not a directory); pass a folder you can write to")


def test_diverged_run_says_what_happened_and_what_is_kept(tmp_path, capsys):
    from mvtutorial.__main__ import main
    from mvtutorial.training import NonFiniteLossError, train

    config = TrainConfig.preset("fast", epochs=2, hidden=(16,), lr=1e10)
    with pytest.raises(NonFiniteLossError, match=r"^epoch 1: the run diverged, non-finite loss in training: .*try a lower lr than 1e\+10\); "
                                                 r"no checkpoint is kept \(train was called without out_dir\)$"):
        train(config, progress=False)
    assert main(["train", "--preset", "fast", "--epochs", "2", "--hidden", "16", "--lr", "1e10", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "None" not in err, err
    assert err.startswith("error: epoch 1: the run diverged") and err.endswith(f"nothing was saved in {tmp_path / 'run'} (no epoch finished)")


def test_batch_larger_than_the_training_split_is_refused(monkeypatch):
    import mvtutorial.training as training

    monkeypatch.setattr(training, "run_epoch", lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(ValueError, match=r"batch_size 1000000000 is larger than the training split \(672 clips, so 672 pairs an epoch\)"
                                         r": every epoch would be a single step; use batch_size <= 672"):
        training.train(TrainConfig.preset("fast", epochs=1, hidden=(16,), batch_size=10**9), progress=False)


def test_threads_below_one_is_refused():
    from mvtutorial.training import train

    with pytest.raises(ValueError, match=r"threads must be an integer >= 1 \(torch CPU threads\).*got 0"):
        train(TINY, threads=0, progress=False)


# -- surprises: unshipped seeds, where reproduce writes ----------------------------------------


@pytest.mark.parametrize("module, name", [("headline", "headline_model"), ("separation", "recommended_model")])
def test_unshipped_seed_does_not_train_silently(monkeypatch, module, name):
    import importlib

    study = importlib.import_module(f"mvtutorial.studies.{module}")
    monkeypatch.setattr(study, "train", lambda *a, **k: pytest.fail("a 30-epoch training started"))
    folder = name.split("_")[0]
    with pytest.raises(ValueError, match=rf"no shipped {folder} checkpoint for seed 7 \(shipped seeds: \[0, 1, 2\]\) and no finished run "
                                         r"in .*; pass train_if_missing=True to train the full preset there"):
        getattr(study, name)("full", seed=7)


def test_unshipped_seed_trains_when_asked_in_the_folder_reproduce_uses(monkeypatch):
    import mvtutorial.studies.headline as headline
    import mvtutorial.studies.separation as separation
    from mvtutorial.experiments import run_dir

    calls = []
    fake = lambda config, out, **k: calls.append((config.seed, out)) or headline.TrainResult(None, config, [{"epoch": 1}])
    monkeypatch.setattr(headline, "train", fake)
    monkeypatch.setattr(separation, "train", fake)
    assert headline.headline_model("full", seed=7, train_if_missing=True, progress=False)[1] == [{"epoch": 1}]
    assert separation.recommended_model("full", seed=7, train_if_missing=True, progress=False)[1] == [{"epoch": 1}]
    # the folders reproduce headline / reproduce separation train the same configurations in, so each resumes the other
    assert calls == [(7, run_dir(headline.headline_config("full", seed=7), "headline")),
                     (7, run_dir(separation.recommended_config("full", seed=7), "separation"))]


def test_reproduce_writes_outside_an_installed_package(tmp_path, monkeypatch, capsys):
    """Installed (not a source checkout): results go to the cache folder, never into the package;
    ``--out`` and ``--into-assets`` choose explicitly, and not both at once."""
    import pandas as pd

    from mvtutorial import reproduce
    from mvtutorial.studies import store
    from mvtutorial.studies.store import ASSETS

    seen = []
    monkeypatch.setattr(store, "run_sweep", lambda configs, results_dir, **k: seen.append(Path(results_dir)) or pd.DataFrame(
        columns=["alpha", "beta", "gamma", "latent", "factor", "accuracy"]))
    monkeypatch.setattr(store, "in_checkout", lambda: False)
    assert reproduce.main(["ablation", "--seeds", "0"]) == 0
    assert seen[-1] == tmp_path / "cache" / "reproduce" / "ablation"
    assert capsys.readouterr().out.startswith(f"writing results into {tmp_path / 'cache' / 'reproduce'}\n")
    assert reproduce.main(["ablation", "--seeds", "0", "--out", str(tmp_path / "mine")]) == 0
    assert seen[-1] == tmp_path / "mine" / "ablation"
    assert reproduce.main(["ablation", "--seeds", "0", "--into-assets"]) == 0
    assert seen[-1] == ASSETS / "ablation"
    monkeypatch.setattr(store, "in_checkout", lambda: True)  # a source checkout regenerates the shipped results
    assert reproduce.main(["ablation", "--seeds", "0"]) == 0
    assert seen[-1] == ASSETS / "ablation"
    with pytest.raises(SystemExit):
        reproduce.main(["ablation", "--out", str(tmp_path), "--into-assets"])
    assert "not allowed with argument" in capsys.readouterr().err
