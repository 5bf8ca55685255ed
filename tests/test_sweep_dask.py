"""Sweeps on a real Dask distributed cluster (``run_sweep(..., backend="dask")``).

A ``distributed.LocalCluster`` of 2 worker processes with 1 thread each runs a small sweep of
fast-preset runs; one worker is killed (SIGKILL) while it is in the middle of a run. Every run
must still finish, its result must be written exactly once (by the client), and the numbers must
equal those of the same sweep on the local joblib backend; a resumed sweep has nothing left to
do. Also: workers writing into a shared folder, on a LocalCluster that ``run_sweep`` starts
itself. Cluster start-up (spawned workers importing torch) dominates the time (marked slow).
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

import mvtutorial.sweeps as ex  # noqa: E402  (the client writes records through this module)
from mvtutorial.checkpoint import CHECKPOINT  # noqa: E402
from mvtutorial.config import TrainConfig  # noqa: E402
from mvtutorial.data import load_tone_dataset  # noqa: E402
from mvtutorial.experiments import expand_grid, run_key  # noqa: E402
from mvtutorial.sweeps import run_sweep

# 3 epochs: long enough that a run is caught between its first checkpoint and its end
TINY = TrainConfig.preset("fast", epochs=3, batch_size=32, hidden=(32, 32))
EVAL = {"probe": "logistic", "max_probe_train": 500}
CONFIGS = expand_grid({"gamma": [0.0, 1.0]}, seeds=(0, 1), base=TINY)  # 4 runs


def _numbers(frame):
    """The results without wall times, in a fixed order."""
    return frame.drop(columns="seconds").sort_values(["key", "latent", "factor"]).reset_index(drop=True)


def _executing(dask_worker) -> list[str]:
    return [str(ts.key) for ts in dask_worker.state.executing]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    load_tone_dataset("fast", cache=cache)
    return cache


@pytest.fixture(scope="module")
def local(cache, tmp_path_factory):
    """The same sweep on the local (joblib) backend, 1 thread per run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MVTUTORIAL_CACHE", str(cache))
        return _numbers(run_sweep(CONFIGS, tmp_path_factory.mktemp("local"), n_jobs=1, threads=1, eval_kwargs=EVAL))


@pytest.fixture
def cluster(cache, monkeypatch):
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(cache))  # the spawned workers inherit it
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.mark.slow  # two spawned workers importing torch: ~1 min on 2 busy cores
def test_worker_killed_mid_run_every_run_finishes_once_with_local_numbers(cluster, cache, local, tmp_path, monkeypatch):
    client = cluster
    results = tmp_path / "dask"
    runs = cache / "runs" / results.name  # where the workers keep checkpoints (their cache folder)
    written = []
    real_write = ex.atomic_write_json

    def counting_write(obj, path):
        written.append(os.path.basename(path))
        real_write(obj, path)

    monkeypatch.setattr(ex, "atomic_write_json", counting_write)  # the client writes every record
    killed = {}

    def kill_a_worker_mid_run():
        # wait until a worker executes a run whose first epoch is checkpointed, then SIGKILL it
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not killed:
            for address, keys in client.run(_executing).items():
                for key in keys:
                    if (runs / key.removeprefix("mvtutorial-run-") / CHECKPOINT).exists():
                        pid = client.run(os.getpid, workers=[address])[address]
                        os.kill(pid, signal.SIGKILL)
                        killed.update(address=address, key=key, pid=pid)
                        return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker_mid_run, daemon=True)
    killer.start()
    frame = run_sweep(CONFIGS, results, eval_kwargs=EVAL, threads=1, backend="dask", scheduler=client)
    killer.join(timeout=5)

    assert killed, "no worker was killed during a run"
    # every run finished, and its record was written exactly once
    expected = sorted(f"{run_key(c)}.json" for c in CONFIGS)
    assert sorted(written) == expected
    assert sorted(p.name for p in results.glob("*.json")) == expected
    # the same numbers as the local backend (probes, MI sums, per run), the killed run included,
    # which resumed from its checkpoint on whichever worker took it over
    assert _numbers(frame).equals(local)
    # the workers came back: the cluster still has 2 (the nanny restarted the killed one)
    client.wait_for_workers(2, timeout=120)
    # a resumed sweep has nothing to do and returns the same table
    written.clear()
    assert _numbers(run_sweep(CONFIGS, results, eval_kwargs=EVAL, threads=1, backend="dask", scheduler=client)).equals(local)
    assert written == []


@pytest.mark.slow
def test_workers_write_into_a_shared_folder_of_a_cluster_run_sweep_starts(cache, local, tmp_path, monkeypatch):
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(cache))
    written = []
    monkeypatch.setattr(ex, "atomic_write_json", lambda obj, path: written.append(path))  # the client must not write
    shared = tmp_path / "shared"
    configs = CONFIGS[:2]
    frame = run_sweep(configs, shared, n_jobs=2, threads=1, eval_kwargs=EVAL, backend="dask", write_on="workers")
    assert written == []
    assert sorted(p.name for p in shared.glob("*.json")) == sorted(f"{run_key(c)}.json" for c in configs)
    assert not (shared / "runs").exists() and (cache / "runs" / "shared").is_dir()  # checkpoints: the workers' cache
    keys = [run_key(c) for c in configs]
    assert _numbers(frame).equals(local[local.key.isin(keys)].reset_index(drop=True))


def test_bad_backend_options_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="'spark'"):
        run_sweep(CONFIGS, tmp_path, backend="spark")
    with pytest.raises(ValueError, match="'disk'"):
        run_sweep(CONFIGS, tmp_path, backend="dask", write_on="disk")
    with pytest.raises(ValueError, match="backend='dask'"):
        run_sweep(CONFIGS, tmp_path, scheduler="tcp://127.0.0.1:8786")


def test_cli_sends_a_sweep_to_a_scheduler(monkeypatch, capsys):
    """``python -m mvtutorial.reproduce ablation --scheduler ADDRESS`` reaches run_sweep as the dask backend."""
    import pandas as pd

    import mvtutorial.reproduce as rp
    import mvtutorial.studies.store as store

    calls = []

    def fake_run_sweep(configs, results_dir, **kwargs):
        calls.append(kwargs)
        return pd.DataFrame(columns=["key", "alpha", "beta", "gamma", "seed", "latent", "factor", "accuracy"])

    monkeypatch.setattr(store, "run_sweep", fake_run_sweep)  # the one place studies start a sweep
    assert rp.main(["ablation", "--seeds", "0", "--scheduler", "tcp://10.0.0.5:8786", "--write-on", "workers"]) == 0
    assert calls[-1]["backend"] == "dask" and calls[-1]["scheduler"] == "tcp://10.0.0.5:8786"
    assert calls[-1]["write_on"] == "workers" and calls[-1]["runs_dir"] is None  # each worker's own cache folder
    assert rp.main(["retest", "--seeds", "0", "--scheduler", "local", "--n-jobs", "3"]) == 0
    assert calls[-1]["backend"] == "dask" and calls[-1]["scheduler"] is None and calls[-1]["n_jobs"] == 3
    assert rp.main(["ablation", "--seeds", "0"]) == 0
    assert calls[-1]["backend"] == "joblib" and calls[-1]["scheduler"] is None
    assert rp.main(["headline", "--scheduler", "local"]) == 2
    assert "--scheduler applies to the sweep commands" in capsys.readouterr().err
