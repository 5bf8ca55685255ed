"""The decoder stage of a run (``TrainConfig.decoder_epochs``): the first stage is the run of the same
config without it (reused from its own folder), then the decoder alone trains on, the encoder frozen."""
from __future__ import annotations

import dataclasses
import shutil

import pytest
import torch

from mvtutorial.checkpoint import load_checkpoint, load_model
from mvtutorial.config import TrainConfig, config_to_dict, run_key
import mvtutorial.training as train_module
from mvtutorial.training import first_stage, train

CFG = TrainConfig.preset("fast", epochs=2, batch_size=32, hidden=(32, 32), decoder_epochs=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ds(fast_tones):
    return fast_tones


def _fit(config, ds, out, **kwargs):
    return train(config, out, dataset=ds, progress=False, threads=1, **kwargs)


@pytest.fixture(scope="module")
def staged(ds, tmp_path_factory):
    """A finished two-stage run in ``runs/<key>`` and its first stage in ``runs/<key of the first stage>``."""
    runs = tmp_path_factory.mktemp("runs")
    return _fit(CFG, ds, runs / run_key(CFG)), runs


def _encoder_state(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith("decoder_body.")}


def test_decoder_epochs_is_left_out_of_the_dict_at_zero_and_must_be_a_count():
    assert "decoder_epochs" not in config_to_dict(first_stage(CFG))
    assert config_to_dict(CFG)["decoder_epochs"] == 2
    assert run_key(first_stage(CFG)) == run_key(dataclasses.replace(CFG, decoder_epochs=0)) != run_key(CFG)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="decoder_epochs"):
            dataclasses.replace(CFG, decoder_epochs=bad)


def test_first_stage_is_its_own_run_and_the_second_changes_only_the_decoder(staged, ds):
    result, runs = staged
    first = load_checkpoint(runs / run_key(first_stage(CFG)), first_stage(CFG))
    assert first["finished"] and first["epoch"] == 2
    second = load_checkpoint(runs / run_key(CFG), CFG)
    assert second["finished"] and second["epoch"] == 4
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    assert [r.get("stage") for r in result.history] == [None, None, "decoder", "decoder"]
    # the encoder and its heads are the first stage's, bit for bit, in both saved weights
    for weights in ("model", "best_model"):
        a, b = _encoder_state(second[weights]), _encoder_state(first["best_model"])
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    changed = [k for k, v in second["model"].items() if k.startswith("decoder_body.") and not torch.equal(v, first["best_model"][k])]
    assert changed, "the decoder stage trained nothing"
    # the returned model is the checkpoint's best, and it encodes as the first stage does
    loaded, x = load_model(runs / run_key(CFG)), ds.features[:16]
    assert torch.equal(loaded.private_code(x), load_model(runs / run_key(first_stage(CFG))).private_code(x))
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in result.model.state_dict().items())
    assert result.best_epoch == second["best"]["epoch"]


@pytest.mark.parametrize("decoder_wins", [False, True])
def test_the_best_weights_are_chosen_among_the_first_stage_and_the_decoder_epochs(staged, ds, monkeypatch, tmp_path, decoder_wins):
    """Validation totals are shifted so that either the first stage's model (scored first) or the last decoder
    epoch is best; the checkpoint's best weights and epoch must follow."""
    runs = tmp_path  # a copy of the finished first stage, and a fresh second stage for each case
    shutil.copytree(staged[1] / run_key(first_stage(CFG)), runs / run_key(first_stage(CFG)))
    real, calls = train_module.run_epoch, []

    def shifted(model, opt, *args, **kwargs):
        terms = real(model, opt, *args, **kwargs)
        if opt is None:  # a validation pass: the first-stage candidate, then one per decoder epoch
            calls.append(1)
            terms["total"] += -1000.0 * len(calls) if decoder_wins else 1000.0 * (len(calls) > 1)
        return terms

    monkeypatch.setattr(train_module, "run_epoch", shifted)
    config = dataclasses.replace(CFG, decoder_epochs=3)
    result = _fit(config, ds, runs / run_key(config))
    assert len(calls) == 4  # the first stage was loaded, not trained: no validation of its own
    ckpt = load_checkpoint(runs / run_key(config), config)
    first = load_checkpoint(runs / run_key(first_stage(config)), first_stage(config))
    expected_epoch, expected_state = (5, ckpt["model"]) if decoder_wins else (first["best"]["epoch"], first["best_model"])
    assert ckpt["best"]["epoch"] == result.best_epoch == expected_epoch
    assert all(torch.equal(v, expected_state[k]) for k, v in ckpt["best_model"].items())
    assert all(torch.equal(v, expected_state[k]) for k, v in result.model.state_dict().items())


def test_a_finished_first_stage_is_reused_not_trained_again(staged, ds, tmp_path):
    _, runs = staged
    folder = runs / run_key(first_stage(CFG))
    before = (folder / "checkpoint.pt").stat().st_mtime_ns
    longer = dataclasses.replace(CFG, decoder_epochs=1)
    _fit(longer, ds, runs / run_key(longer))
    assert (folder / "checkpoint.pt").stat().st_mtime_ns == before


def test_killed_in_either_stage_and_resumed_is_bit_identical(staged, ds, tmp_path):
    straight, _ = staged
    out = tmp_path / run_key(CFG)
    mid_first = _fit(CFG, ds, out, stop_after=1)  # stops inside the first stage
    assert [r["epoch"] for r in mid_first.history] == [1] and not (out / "checkpoint.pt").exists()
    _fit(CFG, ds, out, stop_after=1)  # finishes the first stage, one decoder epoch
    assert load_checkpoint(out, CFG)["epoch"] == 3
    resumed = _fit(CFG, ds, out, resume=True)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in straight.history]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history] == strip
    a, b = resumed.model.state_dict(), straight.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_true_continues_an_interrupted_first_stage_and_needs_one(ds, tmp_path):
    out = tmp_path / run_key(CFG)
    with pytest.raises(FileNotFoundError, match=run_key(first_stage(CFG))):  # nothing to continue, in either stage
        _fit(CFG, ds, out, resume=True)
    with pytest.raises(ValueError, match="out_dir"):
        _fit(CFG, ds, None, resume=True)
    _fit(CFG, ds, out, stop_after=1)  # one epoch of the first stage, nothing in out yet
    done = _fit(CFG, ds, out, resume=True)
    assert [r["epoch"] for r in done.history] == [1, 2, 3, 4]


def test_freeze_encoder_leaves_only_the_decoder_trainable(toy_vae):
    import copy

    from mvtutorial.training import decoder_parameters, freeze_encoder

    model = copy.deepcopy(toy_vae)
    freeze_encoder(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith("decoder_body.")} != set()
    assert [id(p) for p in decoder_parameters(model)] == [id(p) for p in model.decoder_body.parameters()]


def test_decoder_codes_names_what_the_stage_decodes_and_only_a_stage_takes_it():
    means = dataclasses.replace(CFG, decoder_codes="mean")
    assert "decoder_codes" not in config_to_dict(CFG) and config_to_dict(means)["decoder_codes"] == "mean"
    assert run_key(means) != run_key(CFG) and first_stage(means) == first_stage(CFG)  # one first stage for both
    with pytest.raises(ValueError, match="unknown decoder_codes 'median'"):
        dataclasses.replace(CFG, decoder_codes="median")
    with pytest.raises(ValueError, match="set decoder_epochs > 0"):
        dataclasses.replace(CFG, decoder_codes="mean", decoder_epochs=0)


def test_decode_means_makes_the_forward_pass_decode_posterior_means(toy_vae):
    import copy

    from mvtutorial.objectives.multiview import cross_reconstruction_error

    model = copy.deepcopy(toy_vae).eval().requires_grad_(False)
    x1, x2 = torch.rand(4, *model.config.input_shape), torch.rand(4, *model.config.input_shape)
    model.decode_means = True
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.z_shared, out.shared.mu) and torch.equal(out.z_private[0], out.private[0].mu)
    assert torch.equal(out.recon[1], model.decode(out.private[1].mu, out.shared.mu))
    # the cross-view term decodes each view's private mean with the other view's single-view shared mean
    single = [model.fuse([e]).mu for e in out.shared_experts]
    expected = sum(((model.decode(out.private[j].mu, single[1 - j]) - x) ** 2).sum((1, 2)).mean() for j, x in enumerate((x1, x2)))
    assert cross_reconstruction_error(model, out, x1, x2) == pytest.approx(expected.item(), rel=1e-6)
    model.decode_means = False  # samples again: two generators, two different draws
    a, b = (model(x1, x2, generator=torch.Generator().manual_seed(s)).z_shared for s in (0, 1))
    assert not torch.equal(a, b)


def test_a_decoder_stage_on_means_shares_the_first_stage_and_trains_the_decoder_differently(staged, ds, tmp_path):
    result, runs = staged
    means = dataclasses.replace(CFG, decoder_codes="mean")
    folder = tmp_path / "runs"
    shutil.copytree(runs / run_key(first_stage(CFG)), folder / run_key(first_stage(CFG)))  # the finished first stage
    staged_on_means = _fit(means, ds, folder / run_key(means))
    assert [r["val_total"] for r in staged_on_means.history[:2]] == [r["val_total"] for r in result.history[:2]]
    assert [r["val_total"] for r in staged_on_means.history[2:]] != [r["val_total"] for r in result.history[2:]]
    assert staged_on_means.model.decode_means is False  # returned (and loaded) models sample in forward again
    x = ds.features[:16]
    assert torch.equal(staged_on_means.model.private_code(x), result.model.private_code(x))  # the codes are unchanged


def test_a_decoder_stage_with_swap_consistency_reads_swaps_back_through_the_unchanged_encoder(staged, ds, tmp_path):
    result, runs = staged
    consistent = dataclasses.replace(CFG, swap_consistency=1.0)
    folder = tmp_path / "runs"
    shutil.copytree(runs / run_key(first_stage(CFG)), folder / run_key(first_stage(CFG)))  # one first stage for both
    staged_consistent = _fit(consistent, ds, folder / run_key(consistent))
    assert ["val_swap_consistency" in r for r in staged_consistent.history] == [False, False, True, True]
    first_read = staged_consistent.history[2]["val_swap_consistency"]
    assert staged_consistent.history[3]["val_swap_consistency"] < first_read  # the stage lowers what it prices
    assert [r["val_reconstruction"] for r in staged_consistent.history[2:]] != [r["val_reconstruction"] for r in result.history[2:]]
    x = ds.features[:16]
    assert torch.equal(staged_consistent.model.shared_code(x), result.model.shared_code(x))  # the codes are unchanged
