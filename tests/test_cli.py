"""Tests of the command line, ``python -m mvtutorial train|evaluate``.

The entry point itself is run in subprocesses (help, one tiny training run, one bad value, one
evaluation); the remaining error paths call :func:`mvtutorial.__main__.main` in-process, which
is what the subprocess runs, to keep the file fast. Subprocesses get ``MVTUTORIAL_CACHE`` in a
temporary folder and one thread (``OMP_NUM_THREADS=1``).
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch

from mvtutorial import __version__
from mvtutorial.__main__ import main
from mvtutorial.checkpoint import CHECKPOINT, HISTORY, load_checkpoint
from mvtutorial.config import TrainConfig

TRAIN_ARGS = ["--preset", "fast", "--epochs", "1", "--hidden", "32,32", "--quiet"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def env(cache):
    return {**os.environ, "MVTUTORIAL_CACHE": str(cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture
def in_process(cache, monkeypatch):
    """Run ``main`` here with the same cache and one thread."""
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(cache))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield main
    torch.set_num_threads(previous)


def cli(args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "mvtutorial", *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, env):
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = cli(["train", *TRAIN_ARGS, "--out", str(out)], env)
    return proc, out


def test_top_level_help(env):
    proc = cli(["--help"], env)
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout and "evaluate" in proc.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == __version__


def test_train_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    options = ["--preset", "--out", "--resume", "--quiet"]
    options += ["--" + f.name.replace("_", "-") for f in dataclasses.fields(TrainConfig)]
    missing = [o for o in options if o not in text]
    assert missing == []
    assert "(default: None)" not in text  # config fields default to the preset, not None
    assert "pooled" in text  # the default arch is documented


def test_evaluate_help(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert all(o in text for o in ("--probe", "--probe-seeds", "metrics.json"))


def test_train_writes_checkpoint_and_history(trained):
    proc, out = trained
    assert proc.returncode == 0, proc.stderr
    assert (out / CHECKPOINT).exists() and (out / HISTORY).exists()
    history = json.loads((out / HISTORY).read_text())
    assert len(history["history"]) == 1 and history["finished"]
    assert history["config"]["hidden"] == [32, 32] and history["config"]["data_mode"] == "fast"
    summary = json.loads(proc.stdout)  # stdout is the JSON summary only (--quiet)
    assert summary["epochs"] == 1 and summary["best_epoch"] == 1
    assert summary["val_total"] == pytest.approx(history["history"][0]["val_total"])
    ckpt = load_checkpoint(out, TrainConfig.preset("fast", epochs=1, hidden=(32, 32)))
    assert ckpt["version"] == __version__
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_bad_value_is_one_error_line_without_traceback(env, tmp_path):
    proc = cli(["train", "--preset", "fast", "--gamma", "-1", "--out", str(tmp_path / "bad")], env)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "gamma" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bad" / CHECKPOINT).exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--arch", "transformer"], ["arch"]),
        (["--weighting", "mean"], ["weighting"]),
        (["--batch-size", "1"], ["batch_size"]),
        (["--lr", "0"], ["lr"]),
        (["--resume"], ["no checkpoint"]),
    ],
)
def test_other_bad_values_are_reported(in_process, tmp_path, capsys, args, words):
    rc = in_process(["train", "--preset", "fast", "--out", str(tmp_path / "run"), "--quiet", *args])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_unknown_device_is_one_error_line_exit_2(env, tmp_path):
    proc = cli(["train", "--preset", "fast", "--device", "tpu", "--out", str(tmp_path / "tpu")], env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("error: unknown device 'tpu'; choose 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"), proc.stderr
    assert not (tmp_path / "tpu").exists()


def test_cuda_without_a_gpu_fails_before_training(in_process, tmp_path, capsys, monkeypatch):
    import mvtutorial.training as train_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("training started"))
    rc = in_process(["train", "--preset", "fast", "--device", "cuda", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: device 'cuda' asked for, but torch sees no CUDA GPU")
    assert not (tmp_path / "run").exists()


def test_non_integer_batch_size_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:  # argparse: --batch-size takes an int
        main(["train", "--out", str(tmp_path), "--batch-size", "2.5"])
    assert info.value.code == 2 and "--batch-size" in capsys.readouterr().err


def test_reproduce_bad_value_is_one_error_line_exit_2(capsys):
    from mvtutorial import reproduce

    rc = reproduce.main(["headline", "--seeds", "-1"])  # refused by TrainConfig before any training
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == "error: seed must be an integer >= 0, got -1", err


def test_unparsable_value_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", str(tmp_path), "--epochs", "two"])
    assert info.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_resume_with_another_config_names_the_field(trained, in_process, capsys):
    _, out = trained
    rc = in_process(["train", *TRAIN_ARGS, "--gamma", "0.5", "--out", str(out), "--resume"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "gamma" in err


def test_resume_of_a_finished_run_is_a_no_op(trained, in_process, capsys):
    _, out = trained
    before = (out / CHECKPOINT).read_bytes()
    assert in_process(["train", *TRAIN_ARGS, "--out", str(out), "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1
    assert (out / CHECKPOINT).read_bytes() == before


def test_non_finite_loss_is_an_error_line(in_process, tmp_path, capsys, monkeypatch):
    from mvtutorial.losses import LossTerms
    from mvtutorial.objectives import OBJECTIVES

    real = OBJECTIVES["multiview"]

    def nan_loss(*args, **kwargs):
        t = real(*args, **kwargs)
        return LossTerms(t.total * float("nan"), t.reconstruction * float("nan"), t.terms)

    monkeypatch.setitem(OBJECTIVES, "multiview", nan_loss)
    rc = in_process(["train", *TRAIN_ARGS, "--out", str(tmp_path / "nan")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: epoch 1") and "reconstruction" in err and "Traceback" not in err


def test_evaluate_writes_metrics(trained, env):
    proc, out = trained
    assert proc.returncode == 0, proc.stderr
    ev = cli(["evaluate", str(out), "--probe", "logistic", "--probe-seeds", "1"], env)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    probes = json.loads(ev.stdout)
    assert probes == metrics["probes"]
    for latent in ("private", "shared", "both"):
        for factor in ("timbre", "frequency"):
            assert 0.0 <= probes[f"{latent}/{factor}"] <= 1.0
    assert metrics["probe"] == "logistic" and metrics["probe_seeds"] == [0]
    assert metrics["config"]["hidden"] == [32, 32] and metrics["best_epoch"] == 1


def test_evaluate_missing_run_is_an_error_line(in_process, tmp_path, capsys):
    assert in_process(["evaluate", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no checkpoint")
