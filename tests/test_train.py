"""Tests of the training loop (mvtutorial.training): steps, determinism, resume, checkpoints, guards.

Every run is tiny (fast preset: 840 clips, hidden (32, 32), batch 32, one torch thread), so
nothing here is about what the model learns; it is about the loop's contract: the same seed
gives the same run bit for bit, a killed run resumes to exactly the weights an uninterrupted
run reaches, checkpoints are atomic and refuse to load into the wrong config or version, and a
non-finite loss stops training with a message that says where, keeping the last good checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys

import pytest
import torch

from mvtutorial.data import load_tone_dataset
from mvtutorial.losses import LossTerms
from mvtutorial.objectives import OBJECTIVES
import mvtutorial.checkpoint as checkpoint_module
import mvtutorial.training as train_module
from mvtutorial.checkpoint import CHECKPOINT, HISTORY, load_checkpoint, load_model
from mvtutorial.config import TrainConfig
from mvtutorial.training import NonFiniteLossError, epoch_generators, run_epoch, train

CFG = TrainConfig.preset("fast", epochs=2, batch_size=32, hidden=(32, 32))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return load_tone_dataset("fast", cache=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def run(ds, tmp_path_factory):
    """One finished 2-epoch run with its folder (shared by the read-only tests)."""
    out = tmp_path_factory.mktemp("run")
    return train(CFG, out, dataset=ds, progress=False, threads=1), out


def _fit(config, ds, out=None, **kwargs):
    return train(config, out, dataset=ds, progress=False, threads=1, **kwargs)


def _strip_seconds(history):
    return [{k: v for k, v in rec.items() if k != "seconds"} for rec in history]


def _assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _assert_same_optimizer(a: dict, b: dict):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        _assert_same_state(a["state"][i], b["state"][i])


# -- the loop ---------------------------------------------------------------------------------


def test_adversary_head_is_trained_saved_and_loaded(ds, tmp_path):
    """With ``private_adversary`` the model owns the head: one optimiser trains it, the checkpoint keeps
    it, :func:`load_model` rebuilds it with the trained weights."""
    config = dataclasses.replace(CFG, epochs=1, private_adversary=10.0, rate_private=1.5)
    torch.manual_seed(config.seed)
    init = train_module.MultiViewVAE(config.model_config(ds.input_shape)).adversary.state_dict()
    result = _fit(config, ds, tmp_path)
    assert "train_private_adversary" in result.history[0]
    trained = result.model.adversary.state_dict()
    assert all(not torch.equal(init[k], trained[k]) for k in init)
    loaded = load_model(tmp_path)
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, result.model.state_dict()[k]), k
    assert "adversary.0.weight" in loaded.state_dict()


def test_one_optimiser_step_changes_every_parameter_and_validation_changes_none(ds):
    torch.manual_seed(0)
    model = train_module.MultiViewVAE(CFG.model_config(ds.input_shape))
    opt = torch.optim.Adam(model.parameters(), lr=CFG.lr)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pairs = ds.pairs("train", rng=0)[: CFG.batch_size]  # exactly one batch: one step
    rng, gen = epoch_generators(0, 1, torch.device("cpu"))
    terms = run_epoch(model, opt, ds.features, pairs, CFG, len(ds.split_indices("train")), gen, rng)
    assert math.isfinite(terms["total"]) and terms["reconstruction"] > 0
    assert opt.state_dict()["state"][0]["step"].item() == 1
    after = model.state_dict()
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert unchanged == []
    # a validation pass (no optimiser) leaves the weights alone
    frozen = {k: v.clone() for k, v in after.items()}
    with torch.no_grad():
        run_epoch(model, None, ds.features, ds.pairs("val", rng=0), CFG, len(ds.split_indices("val")), gen)
    _assert_same_state(frozen, model.state_dict())


def test_history_records_every_term_per_epoch(run):
    result, _ = run
    assert [r["epoch"] for r in result.history] == [1, 2]
    terms = ("total", "reconstruction", "shared_mi", "private_mi", "shared_tc", "private_tc", "shared_dwkl", "private_dwkl")
    for rec in result.history:
        for split in ("train", "val"):
            for t in terms:
                assert math.isfinite(rec[f"{split}_{t}"]), f"{split}_{t}"
        # total = reconstruction + gamma * (2 shared DWKL + private DWKL) (alpha = beta = 0), per batch, so also on average
        expected = rec["val_reconstruction"] + CFG.gamma * (2 * rec["val_shared_dwkl"] + rec["val_private_dwkl"])
        assert rec["val_total"] == pytest.approx(expected, rel=1e-5)
    assert result.best_epoch == min(result.history, key=lambda r: r["val_total"])["epoch"]
    assert result.history[-1]["train_reconstruction"] < result.history[0]["train_reconstruction"]


def test_same_seed_is_bit_identical_and_another_seed_differs(ds, run):
    first, _ = run
    threads = torch.get_num_threads()
    second = _fit(CFG, ds)
    assert torch.get_num_threads() == threads  # threads=1 is restored afterwards
    assert _strip_seconds(second.history) == _strip_seconds(first.history)
    _assert_same_state(first.model.state_dict(), second.model.state_dict())
    other = _fit(dataclasses.replace(CFG, seed=1), ds)
    assert _strip_seconds(other.history) != _strip_seconds(first.history)
    assert any(not torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), other.model.state_dict().values()))


def test_kill_and_resume_is_bit_identical_to_an_uninterrupted_run(ds, tmp_path):
    cfg = dataclasses.replace(CFG, epochs=3)
    killed = _fit(cfg, ds, tmp_path / "a", stop_after=1)
    assert len(killed.history) == 1
    ckpt = load_checkpoint(tmp_path / "a", cfg)
    assert ckpt["epoch"] == 1 and not ckpt["finished"]
    resumed = _fit(cfg, ds, tmp_path / "a", resume=True)
    straight = _fit(cfg, ds, tmp_path / "b")
    assert len(resumed.history) == len(straight.history) == 3
    assert _strip_seconds(resumed.history) == _strip_seconds(straight.history)
    assert resumed.best_epoch == straight.best_epoch
    _assert_same_state(resumed.model.state_dict(), straight.model.state_dict())
    a, b = load_checkpoint(tmp_path / "a", cfg), load_checkpoint(tmp_path / "b", cfg)
    assert a["finished"] and b["finished"] and a["epoch"] == b["epoch"] == 3
    _assert_same_state(a["model"], b["model"])
    _assert_same_state(a["best_model"], b["best_model"])
    _assert_same_optimizer(a["optimizer"], b["optimizer"])
    # history.json on disk tells the same story
    on_disk = json.loads((tmp_path / "a" / HISTORY).read_text())
    assert on_disk["finished"] and _strip_seconds(on_disk["history"]) == _strip_seconds(straight.history)
    # resuming a finished run trains nothing and returns the same best weights
    again = _fit(cfg, ds, tmp_path / "a", resume=True)
    assert again.history == resumed.history
    _assert_same_state(again.model.state_dict(), straight.model.state_dict())


def test_resume_in_two_interrupted_steps(ds, tmp_path):
    cfg = dataclasses.replace(CFG, epochs=3)
    _fit(cfg, ds, tmp_path, stop_after=1)
    mid = _fit(cfg, ds, tmp_path, resume=True, stop_after=1)
    assert [r["epoch"] for r in mid.history] == [1, 2]
    assert load_checkpoint(tmp_path, cfg)["epoch"] == 2
    done = _fit(cfg, ds, tmp_path, resume=True)
    assert [r["epoch"] for r in done.history] == [1, 2, 3]


# -- checkpoints ------------------------------------------------------------------------------


def test_resume_refuses_another_config_naming_the_field(ds, run):
    _, out = run
    with pytest.raises(ValueError, match="gamma"):
        _fit(dataclasses.replace(CFG, gamma=0.5), ds, out, resume=True)
    with pytest.raises(ValueError, match="hidden"):
        load_checkpoint(out, dataclasses.replace(CFG, hidden=(64, 32)))


def test_resume_refuses_another_package_version(ds, run, monkeypatch):
    _, out = run
    monkeypatch.setattr(checkpoint_module, "__version__", "99.0.0")
    with pytest.raises(ValueError, match=r"written by mvtutorial '0\.|99\.0\.0"):
        _fit(CFG, ds, out, resume=True)
    with pytest.raises(ValueError, match="retrain"):
        load_model(out)


def test_resume_needs_a_folder_with_a_checkpoint(ds, tmp_path):
    with pytest.raises(ValueError, match="out_dir"):
        _fit(CFG, ds, None, resume=True)
    with pytest.raises(FileNotFoundError):
        _fit(CFG, ds, tmp_path, resume=True)


def test_load_checkpoint_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path)  # a folder without checkpoint.pt
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path)


def test_truncated_or_garbage_checkpoint_is_a_value_error(run, tmp_path):
    _, out = run
    blob = (out / CHECKPOINT).read_bytes()
    (tmp_path / "truncated.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path / "truncated.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path / "garbage.pt")


def _flip_bytes_inside_the_weights(src, dst, n=64):
    """Copy ``src`` to ``dst`` with ``n`` bytes XOR-ed inside the largest tensor record of the zip
    (torch stores tensors uncompressed, so this changes weights and nothing else)."""
    import zipfile

    blob = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    assert info.compress_type == zipfile.ZIP_STORED and info.file_size > 4 * n
    name_len, extra_len = int.from_bytes(blob[info.header_offset + 26 : info.header_offset + 28], "little"), \
        int.from_bytes(blob[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    blob[start : start + n] = bytes(b ^ 0xFF for b in blob[start : start + n])
    dst.write_bytes(bytes(blob))


def test_flipped_bytes_in_the_weights_are_refused_naming_the_file(run, tmp_path):
    _, out = run
    bad = tmp_path / "flipped.pt"
    _flip_bytes_inside_the_weights(out / CHECKPOINT, bad)
    with pytest.raises(ValueError, match="corrupt: its weights do not match the checksum") as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(ValueError, match="corrupt"):
        load_model(bad)
    # the same weights re-saved (another file, same tensors) keep their checksum
    ckpt = load_checkpoint(out)
    assert checkpoint_module.weights_checksum(ckpt) == ckpt["checksum"]
    resaved = tmp_path / "resaved.pt"
    torch.save(ckpt, resaved)
    assert load_checkpoint(resaved)["checksum"] == ckpt["checksum"]


def test_checksum_covers_every_weight_and_exported_checkpoints_carry_one(run, tmp_path):
    _, out = run
    ckpt = load_checkpoint(out)
    for key in checkpoint_module.WEIGHT_KEYS:
        name = sorted(ckpt[key])[-1]
        changed = {**ckpt, key: {**ckpt[key], name: ckpt[key][name].clone()}}
        changed[key][name].view(-1)[0] += 1e-6
        assert checkpoint_module.weights_checksum(changed) != ckpt["checksum"], (key, name)
    slim = checkpoint_module.export_checkpoint(out, tmp_path / "slim.pt")
    loaded = load_checkpoint(slim)
    assert loaded["checksum"] == checkpoint_module.weights_checksum(loaded)


def test_checkpoint_without_checksum_loads_with_a_warning(run, tmp_path):
    """Files written before checksums were stored still load (nothing to verify), with a warning."""
    _, out = run
    ckpt = load_checkpoint(out)
    del ckpt["checksum"]
    torch.save(ckpt, tmp_path / "old.pt")
    with pytest.warns(UserWarning, match="stores no weights checksum"):
        model = load_model(tmp_path / "old.pt")
    _assert_same_state(model.state_dict(), ckpt["best_model"])


def test_checkpoint_contents_and_no_temp_files(run):
    result, out = run
    assert sorted(p.name for p in out.iterdir()) == sorted([CHECKPOINT, HISTORY])
    ckpt = load_checkpoint(out, CFG)
    assert ckpt["epoch"] == 2 and ckpt["finished"] and not ckpt["stopped_early"]
    assert ckpt["history"] == result.history
    assert ckpt["best"]["epoch"] == result.best_epoch
    _assert_same_state(ckpt["best_model"], result.model.state_dict())
    on_disk = json.loads((out / HISTORY).read_text())
    assert on_disk["history"] == result.history  # JSON floats round-trip exactly
    assert on_disk["config"]["hidden"] == [32, 32] and on_disk["best_epoch"] == result.best_epoch


def test_load_model_gives_the_same_codes(run, ds):
    result, out = run
    loaded = load_model(out)
    assert not loaded.training and loaded.config == result.model.config
    x = ds.features[ds.split_indices("test")]
    assert torch.equal(loaded.private_code(x), result.model.private_code(x))
    assert torch.equal(loaded.shared_code(x), result.model.shared_code(x))
    assert torch.equal(loaded.fused_shared_code(x, x.flip(0)), result.model.fused_shared_code(x, x.flip(0)))
    last = load_model(out, which="last")
    _assert_same_state(last.state_dict(), load_checkpoint(out)["model"])


# -- guards -----------------------------------------------------------------------------------


def test_non_finite_loss_stops_with_epoch_and_term_and_keeps_last_good_checkpoint(ds, tmp_path, monkeypatch):
    real_loss, real_generators = OBJECTIVES["multiview"], train_module.epoch_generators
    state = {"epoch": 0}

    def spy_generators(seed, epoch, device):
        if epoch < 2**32:  # training streams (validation uses 2**32 + epoch)
            state["epoch"] = epoch
        return real_generators(seed, epoch, device)

    def poisoned_loss(*args, **kwargs):
        terms = real_loss(*args, **kwargs)
        if state["epoch"] == 2:
            bad = {**terms.terms, "private_dwkl": torch.tensor(float("nan"))}
            return LossTerms(terms.total * float("nan"), terms.reconstruction, bad)
        return terms

    monkeypatch.setattr(train_module, "epoch_generators", spy_generators)
    monkeypatch.setitem(OBJECTIVES, "multiview", poisoned_loss)
    cfg = dataclasses.replace(CFG, epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"epoch 2\b.*private_dwkl") as info:
        _fit(cfg, ds, tmp_path)
    assert "shared_dwkl" not in str(info.value)
    monkeypatch.undo()
    ckpt = load_checkpoint(tmp_path, cfg)
    assert ckpt["epoch"] == 1 and not ckpt["finished"] and len(ckpt["history"]) == 1
    assert load_model(tmp_path).private_code(ds.features[:4]).isfinite().all()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # the run can be resumed once the cause is gone
    assert [r["epoch"] for r in _fit(cfg, ds, tmp_path, resume=True).history] == [1, 2, 3]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"gamma": -1.0}, "gamma"),
        ({"alpha": float("nan")}, "alpha"),
        ({"beta": float("inf")}, "beta"),
        ({"batch_size": 1}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"patience": -1}, "patience"),
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"weighting": "mean"}, "weighting"),
        ({"reconstruction": "l1"}, "reconstruction"),
        ({"arch": "transformer"}, "arch"),
        ({"fusion": "sum"}, "fusion"),
        ({"data_mode": "medium"}, "data_mode"),
        ({"private_dim": 0}, "private_dim"),
        ({"hidden": ()}, "hidden"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 2, got 2.5"),
        ({"batch_size": 64.0}, "batch_size must be an integer"),
        ({"batch_size": -4}, "batch_size"),
        ({"epochs": "3"}, "epochs must be an integer"),
        ({"epochs": True}, "epochs must be an integer"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"private_dim": 1.5}, "private_dim"),
        ({"hidden": (32, 16.5)}, "hidden layer sizes must be integers"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"device": "gpu"}, "unknown device 'gpu'"),
        ({"device": 0}, "unknown device 0"),
    ],
)
def test_bad_config_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**overrides)
    with pytest.raises(ValueError, match=field):
        TrainConfig.preset("fast", **overrides)


def test_devices_this_machine_lacks_fail_before_any_data_is_loaded(monkeypatch, tmp_path):
    """device="cuda" on a machine without a GPU (here: torch told it has none) is refused by
    resolved_device, which train calls first: no dataset is loaded, no folder written. The config
    itself stays valid, so a run trained on a GPU can still be loaded and evaluated on a CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    loaded = []
    monkeypatch.setattr(train_module, "load_tone_dataset", lambda *a, **k: loaded.append(a) or pytest.fail("data loaded"))
    for device in ("cuda", "cuda:1", "mps"):
        cfg = TrainConfig.preset("fast", device=device)  # valid config...
        with pytest.raises(ValueError, match=f"device '{device}' asked for, but") as info:
            train(cfg, tmp_path / "run", progress=False)  # ...that this machine cannot run
        assert "use device='cpu' or 'auto'" in str(info.value)
    assert not loaded and not (tmp_path / "run").exists()
    assert TrainConfig(device="auto").resolved_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert TrainConfig(device="cuda").resolved_device() == torch.device("cuda")
    with pytest.raises(ValueError, match=r"has 1 CUDA GPU\(s\) \(cuda:0 to cuda:0\)"):
        TrainConfig(device="cuda:1").resolved_device()


def test_bad_preset_and_unknown_override():
    with pytest.raises(ValueError, match="preset 'medium'"):
        TrainConfig.preset("medium")
    with pytest.raises(ValueError, match="gama"):
        TrainConfig.preset("fast", gama=0.1)


def test_presets():
    fast, full = TrainConfig.preset("fast"), TrainConfig.preset("full")
    assert full == TrainConfig()
    assert fast.data_mode == "fast" and fast.epochs == 2 and fast.patience == 0
    assert (full.alpha, full.beta, full.gamma) == (0.0, 0.0, 0.1)
    assert TrainConfig(hidden=[64, 32]).hidden == (64, 32)  # lists are frozen into tuples


def test_resume_auto_continues_a_matching_run_and_restarts_another(ds, tmp_path):
    cfg = dataclasses.replace(CFG, epochs=3)
    _fit(cfg, ds, tmp_path, stop_after=1)  # interrupted after epoch 1
    resumed = _fit(cfg, ds, tmp_path)  # default resume="auto"
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    _assert_same_state(resumed.model.state_dict(), _fit(cfg, ds).model.state_dict())
    other = dataclasses.replace(cfg, gamma=0.5)
    with pytest.warns(UserWarning, match="another config.*starting the run afresh"):
        fresh = _fit(other, ds, tmp_path)
    assert [r["epoch"] for r in fresh.history] == [1, 2, 3]
    assert load_checkpoint(tmp_path, other)["finished"]


def test_resume_rejects_unknown_modes(ds, tmp_path):
    with pytest.raises(ValueError, match="resume must be True, False or 'auto', got 'maybe'"):
        _fit(CFG, ds, tmp_path, resume="maybe")


def test_resume_with_another_dataset_fails_loudly(ds, tmp_path):
    """The data spec is part of a run's identity: resuming on other data is refused (True) or
    restarted with a warning ("auto"), never continued silently."""
    import dataclasses as dc

    from mvtutorial.data import build_tone_dataset

    other = build_tone_dataset(ds.config, ds.feature_config, seed=1)
    _fit(CFG, ds, tmp_path, stop_after=1)
    assert load_checkpoint(tmp_path)["data"] == ds.spec()
    with pytest.raises(ValueError, match="another dataset") as info:
        _fit(CFG, other, tmp_path, resume=True)
    assert "seed: 0 != 1" in str(info.value) and "resume=False" in str(info.value)  # names what differs, and the way out
    with pytest.warns(UserWarning, match="another dataset.*afresh"):
        fresh = _fit(CFG, other, tmp_path)
    assert len(fresh.history) == CFG.epochs and load_checkpoint(tmp_path)["data"] == other.spec()
