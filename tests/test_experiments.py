"""Tests of the sweep machinery (mvtutorial.experiments): grids, result files, skip / re-run, backends.

One real sweep of two tiny runs (fast preset, 1 epoch, hidden (32, 32), logistic probes on 500
training codes) is run once per module; the tests about skipping and re-running work on copies
of its results folder. The backend tests replace ``run_one`` by a stub that records where it ran
(thread, process) and writes a minimal valid result, so they take no training time.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading

import joblib
import pandas as pd
import pytest
import torch

import mvtutorial.config as config_module
import mvtutorial.sweeps as ex  # run_sweep calls run_one through this module
from mvtutorial import __version__
from mvtutorial.cache import atomic_write_json
from mvtutorial.data import load_tone_dataset
from mvtutorial.studies.ablation import ABLATION_EPOCHS, ablation_base, ablation_grid, gamma_beta_grid
from mvtutorial.experiments import expand_grid, load_results, pending_runs, run_key
from mvtutorial.sweeps import run_sweep
from mvtutorial.config import TrainConfig, config_to_dict

TINY = TrainConfig.preset("fast", epochs=1, batch_size=32, hidden=(32, 32))
EVAL = {"probe": "logistic", "max_probe_train": 500}
#: load_results: the run key, every field of the run's configuration (generic: no study's columns), then the measurements.
COLUMNS = ["key", *config_to_dict(TrainConfig()).keys() - {"seed"}, "seed", "latent", "factor", "accuracy", "mi_sum", "seconds"]


# -- grids ------------------------------------------------------------------------------------


def test_expand_grid_2x2_by_2_seeds():
    configs = expand_grid({"gamma": [0.1, 1.0], "lr": [1e-3, 2e-3]}, seeds=(0, 1), base=TINY)
    assert len(configs) == 8
    assert {(c.gamma, c.lr, c.seed) for c in configs} == {
        (g, lr, s) for g in (0.1, 1.0) for lr in (1e-3, 2e-3) for s in (0, 1)
    }
    assert len({run_key(c) for c in configs}) == 8
    # everything not in the grid comes from the base
    assert all(dataclasses.replace(c, gamma=TINY.gamma, lr=TINY.lr, seed=TINY.seed) == TINY for c in configs)


def test_expand_grid_presets_and_duplicates():
    assert expand_grid({"gamma": [0.5]}, base="fast")[0] == TrainConfig.preset("fast", gamma=0.5)
    assert expand_grid({"gamma": [0.5]})[0].data_mode == "full"  # default base: the full preset
    assert len(expand_grid({"gamma": [0.1, 0.1]}, seeds=(0, 0), base=TINY)) == 1


@pytest.mark.parametrize(
    "grid, seeds, match",
    [
        ({"gama": [0.1]}, (0,), "gama"),
        ({"seed": [0, 1]}, (0,), "seed"),  # seeds go through ``seeds``
        ({"gamma": []}, (0,), "gamma"),
        ({"gamma": [0.1, -0.5]}, (0,), "gamma"),
        ({"alpha": [float("nan")]}, (0,), "alpha"),
        ({"arch": ["pooled", "rnn"]}, (0,), "arch"),
        ({"gamma": [0.1]}, (), "seeds"),
    ],
)
def test_bad_grids_raise(grid, seeds, match):
    with pytest.raises(ValueError, match=match):
        expand_grid(grid, seeds=seeds, base=TINY)


def test_ablation_grid_is_the_papers_protocol():
    per_seed = ablation_grid(seeds=(0,))
    # {0, 0.1, 0.5, 1} for one of alpha, beta, gamma at a time: 3 x 3 non-zero settings plus the
    # all-zero run that the three columns of the paper's figure share = 10 distinct configs
    assert len(per_seed) == 10
    weights = {(c.alpha, c.beta, c.gamma) for c in per_seed}
    assert len(weights) == 10 and (0.0, 0.0, 0.0) in weights
    for w in weights:
        assert sum(v != 0 for v in w) <= 1
    assert {max(w) for w in weights} == {0.0, 0.1, 0.5, 1.0}
    every = ablation_grid()
    assert len(every) == 30 and len({run_key(c) for c in every}) == 30
    assert sorted({c.seed for c in every}) == [0, 1, 2]
    base = ablation_base()
    assert base.epochs == ABLATION_EPOCHS and base.data_mode == "full"
    assert all(dataclasses.replace(c, alpha=base.alpha, beta=base.beta, gamma=base.gamma, seed=base.seed) == base for c in every)
    small = ablation_grid(values=(0.0, 1.0), seeds=(3,), base=TINY)
    assert len(small) == 4 and {c.seed for c in small} == {3} and all(c.hidden == (32, 32) for c in small)


def test_gamma_beta_grid_reuses_the_ablation_edges():
    grid = gamma_beta_grid(seeds=(0,))
    assert {(c.gamma, c.beta, c.alpha) for c in grid} == {(g, b, 0.0) for g in (0.0, 0.1, 1.0) for b in (0.0, 0.1, 1.0)}
    ablation_keys = {run_key(c) for c in ablation_grid(seeds=(0,))}
    shared = [c for c in grid if run_key(c) in ablation_keys]
    # the edges (gamma = 0 or beta = 0) are ablation configs with identical keys; the 4 interior cells are new
    assert {(c.gamma, c.beta) for c in shared} == {(g, b) for g in (0.0, 0.1, 1.0) for b in (0.0, 0.1, 1.0) if g == 0 or b == 0}
    assert len(grid) - len(shared) == 4
    assert len(gamma_beta_grid(seeds=(0, 1, 2))) == 27
    small = gamma_beta_grid((0.0, 1.0), (0.0, 1.0), seeds=(5,), base=TINY)
    assert len(small) == 4 and all(c.hidden == (32, 32) and c.seed == 5 for c in small)
    with pytest.raises(ValueError, match="beta"):
        gamma_beta_grid(betas=(0.1, -1.0), base=TINY)


def test_run_key_depends_on_config_seed_and_version(monkeypatch):
    assert run_key(TINY) == run_key(dataclasses.replace(TINY))
    # an int weight is the same config as its float: expand_grid({"gamma": [0, 1]}) reuses float-keyed results
    assert run_key(dataclasses.replace(TINY, gamma=1, alpha=0)) == run_key(dataclasses.replace(TINY, gamma=1.0, alpha=0.0))
    assert run_key(TINY) != run_key(dataclasses.replace(TINY, seed=1))
    assert run_key(TINY) != run_key(dataclasses.replace(TINY, gamma=0.2))
    key = run_key(TINY)
    monkeypatch.setattr(config_module, "__version__", "99.0.0")  # where run_key is defined
    assert run_key(TINY) != key


def test_empty_sweep_raises(tmp_path):
    with pytest.raises(ValueError, match="no configs"):
        run_sweep([], tmp_path)


# -- a real sweep ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    load_tone_dataset("fast", cache=cache)  # the runs load it from here
    return cache


@pytest.fixture
def env(cache, monkeypatch):
    """Runs find the cached tones."""
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(cache))


@pytest.fixture(scope="module")
def sweep(cache, tmp_path_factory):
    configs = expand_grid({"gamma": [0.0, 0.1]}, seeds=(0,), base=TINY)
    results = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MVTUTORIAL_CACHE", str(cache))
        threads = torch.get_num_threads()
        frame = run_sweep(configs, results, eval_kwargs=EVAL, threads=1)
        assert torch.get_num_threads() == threads  # restored after each run
    return configs, results, frame


def test_sweep_writes_one_json_per_run_and_a_tidy_frame(sweep):
    configs, results, frame = sweep
    assert sorted(p.name for p in results.glob("*.json")) == sorted(f"{run_key(c)}.json" for c in configs)
    for c in configs:
        record = json.loads((results / f"{run_key(c)}.json").read_text())
        assert record["config"] == config_to_dict(c) and record["version"] == __version__
        assert record["epochs"] == 1 and record["probe"] == "logistic"
        assert (results / "runs" / run_key(c) / "checkpoint.pt").exists()  # resumable training state
    assert list(frame.columns[:1]) + sorted(frame.columns[1:-5]) == ["key", *sorted(COLUMNS[1:-5])]
    assert list(frame.columns[-5:]) == COLUMNS[-5:]
    assert set(frame.columns) == set(COLUMNS) and frame.hidden.map(type).eq(tuple).all()
    # runs x latents x factors; sweeps probe the latents the ablation plots (run_one's default)
    assert len(frame) == 2 * 3 * 2
    assert set(frame.latent) == {"private", "shared", "shared_fused"}
    assert set(frame.factor) == {"timbre", "frequency"}
    assert frame.accuracy.between(0, 1).all()
    assert frame.groupby(["key", "latent", "factor"]).size().eq(1).all()
    assert sorted(frame.gamma.unique()) == [0.0, 0.1]
    assert frame.loc[frame.latent.isin(["private", "shared"]), "mi_sum"].notna().all()
    assert frame.loc[frame.latent == "shared_fused", "mi_sum"].isna().all()
    # without configs, every result file in the folder is read: the same rows
    by_key = ["key", "latent", "factor"]
    pd.testing.assert_frame_equal(load_results(results).sort_values(by_key).reset_index(drop=True),
                                  frame.sort_values(by_key).reset_index(drop=True))


def test_second_sweep_skips_finished_runs(sweep, env, monkeypatch):
    configs, results, frame = sweep

    def must_not_run(*args, **kwargs):
        raise AssertionError("run_one called for a finished run")

    monkeypatch.setattr(ex, "run_one", must_not_run)
    assert pending_runs(configs, results) == []
    again = run_sweep(configs, results, eval_kwargs=EVAL, threads=1)
    pd.testing.assert_frame_equal(again, frame)


def test_corrupt_or_foreign_result_is_rerun_with_a_warning(sweep, env, tmp_path, monkeypatch):
    configs, results, frame = sweep
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    broken, foreign = (copy / f"{run_key(c)}.json" for c in configs)
    original = json.loads(broken.read_text())
    text = broken.read_text()
    broken.write_text(text[: len(text) // 2])  # a run killed mid-write without atomic writes
    record = json.loads(foreign.read_text())
    foreign.write_text(json.dumps({**record, "config": {**record["config"], "gamma": 7.0}}))

    calls = []
    real = ex.run_one

    def counting(config, *args, **kwargs):
        calls.append(run_key(config))
        return real(config, *args, **kwargs)

    monkeypatch.setattr(ex, "run_one", counting)
    with pytest.warns(UserWarning) as record_warnings:
        again = run_sweep(configs, copy, eval_kwargs=EVAL, threads=1)
    messages = " ".join(str(w.message) for w in record_warnings)
    assert "corrupt" in messages and "does not match" in messages
    assert sorted(calls) == sorted(run_key(c) for c in configs)
    # the re-run resumed the finished checkpoint: same model, same (seeded) evaluation
    rerun = json.loads(broken.read_text())
    assert rerun["probes"] == original["probes"] and rerun["mi_sums"] == original["mi_sums"]
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), frame.drop(columns="seconds"))
    assert pending_runs(configs, copy) == []


# -- joblib backends -------------------------------------------------------------------------


def _stub_run_one(log):
    """A ``run_one`` that records where it ran and writes a minimal valid result."""

    def run_one(config, results_dir, threads=None, eval_kwargs=None, runs_dir=None):
        log.append({"thread": threading.current_thread().name, "main": threading.current_thread() is threading.main_thread(),
                    "pid": os.getpid(), "threads": threads})
        record = {"key": run_key(config), "config": config_to_dict(config), "seed": config.seed, "seconds": 0.0,
                  "probes": {"private/timbre": 0.5}, "mi_sums": {"private/timbre": 0.1}}
        atomic_write_json(record, f"{results_dir}/{run_key(config)}.json")
        return record

    return run_one


@pytest.fixture
def four_configs():
    return expand_grid({"gamma": [0.0, 0.1, 0.5, 1.0]}, base=TINY)


def test_threading_backend_is_honoured(four_configs, tmp_path, monkeypatch):
    log = []
    monkeypatch.setattr(ex, "run_one", _stub_run_one(log))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    with joblib.parallel_config(backend="threading"):
        frame = run_sweep(four_configs, tmp_path, n_jobs=2)
    assert len(log) == 4 and len(frame) == 4
    assert not any(entry["main"] for entry in log)  # every run in a worker thread...
    assert {entry["pid"] for entry in log} == {os.getpid()}  # ...of this process
    assert {entry["threads"] for entry in log} == {2}  # cpu_count // n_jobs torch threads each
    log.clear()
    with joblib.parallel_config(backend="threading"):
        run_sweep(four_configs, tmp_path / "explicit", n_jobs=2, threads=1)
    assert {entry["threads"] for entry in log} == {1}


def test_sequential_backend_is_honoured(four_configs, tmp_path, monkeypatch):
    log = []
    monkeypatch.setattr(ex, "run_one", _stub_run_one(log))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    with joblib.parallel_config(backend="sequential"):
        run_sweep(four_configs, tmp_path, n_jobs=2)
    assert len(log) == 4
    assert all(entry["main"] for entry in log)  # n_jobs=2 asked, but the active backend runs them here, in order
    assert {entry["pid"] for entry in log} == {os.getpid()}


def test_active_backend_reaches_the_parallel_call(four_configs, tmp_path, monkeypatch):
    """Spy on ``joblib.Parallel`` itself: the backend it resolves is the one configured around the sweep."""
    seen = []
    real_call = joblib.Parallel.__call__

    def spy(self, iterable):
        seen.append(type(self._backend).__name__)
        return real_call(self, iterable)

    monkeypatch.setattr(joblib.Parallel, "__call__", spy)
    monkeypatch.setattr(ex, "run_one", _stub_run_one([]))
    for backend, name in (("threading", "ThreadingBackend"), ("sequential", "SequentialBackend")):
        with joblib.parallel_config(backend=backend):
            run_sweep(four_configs, tmp_path / backend, n_jobs=2)
        assert seen[-1] == name


def test_reproduce_sweep2d_runs_only_the_interior_cells(monkeypatch, capsys):
    import mvtutorial.reproduce as rp
    import mvtutorial.studies.store as store

    calls = []

    def fake_run_sweep(configs, results_dir, **kwargs):
        calls.append((list(configs), results_dir, kwargs))
        return pd.DataFrame(columns=COLUMNS)

    monkeypatch.setattr(store, "run_sweep", fake_run_sweep)  # the one place studies start a sweep
    assert rp.main(["sweep2d", "--seeds", "0,1", "--n-jobs", "2", "--threads", "1"]) == 0
    (configs, results_dir, kwargs), = calls
    # the shipped ablation holds the grid's edges, so only beta > 0 and gamma > 0 remain
    assert sorted((c.gamma, c.beta, c.seed) for c in configs) == sorted(
        (g, b, s) for g in (0.1, 1.0) for b in (0.1, 1.0) for s in (0, 1))
    assert results_dir.name == "sweep2d" and kwargs["n_jobs"] == 2 and kwargs["threads"] == 1
    assert "10 already in assets/ablation, 8 for assets/sweep2d" in capsys.readouterr().out


def test_a_failing_run_raises_its_own_error_in_a_verbose_sequential_sweep(four_configs, tmp_path, monkeypatch):
    """joblib's sequential path with ``verbose`` turns a run's exception into an AttributeError of its own
    (joblib 1.6); the sweep shows the run's error, which callers catch (a diverged run: NonFiniteLossError)."""
    from mvtutorial.training import NonFiniteLossError

    finish = _stub_run_one([])

    def diverge_second(config, *args, **kwargs):  # the first run finishes, the second diverges
        if config == four_configs[1]:
            raise NonFiniteLossError("epoch 3: the run diverged")
        return finish(config, *args, **kwargs)

    monkeypatch.setattr(ex, "run_one", diverge_second)
    with pytest.raises(NonFiniteLossError, match="diverged"):
        run_sweep(four_configs[:2], tmp_path, n_jobs=1, verbose=10)
