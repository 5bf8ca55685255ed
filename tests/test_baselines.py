"""Chapter 8's baselines: known-answer tests of their losses and one training step of each objective."""
from __future__ import annotations

import math

import numpy as np

import pytest
import torch

from mvtutorial.studies.baselines import BASELINES
from mvtutorial.objectives.baselines import ada_gvae_average, info_nce, single_view_posterior
from mvtutorial.config import TrainConfig, config_to_dict
from mvtutorial.model import MultiViewVAE, Posterior
from mvtutorial.objectives import OBJECTIVES


@pytest.mark.parametrize("batch,temperature", [(2, 1.0), (4, 0.1), (8, 0.5)])
def test_info_nce_known_answer_identical_positives_orthogonal_negatives(batch, temperature):
    a = torch.eye(batch, 16)[:, torch.randperm(16, generator=torch.Generator().manual_seed(batch))].double() * 3.0  # unit after normalising
    expected = math.log(1 + (batch - 1) * math.exp(-1 / temperature))
    assert info_nce(a, a.clone(), temperature).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_is_low_for_matched_and_high_for_shuffled_pairs():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(32, 8, generator=g)
    matched = info_nce(a, a + 0.01 * torch.randn(32, 8, generator=g), 0.1)
    shuffled = info_nce(a, a[torch.randperm(32, generator=g)], 0.1)
    assert matched < 0.1 < math.log(32) - 1 < shuffled


def test_info_nce_bad_inputs():
    with pytest.raises(ValueError, match=r"one shape, got \(4, 3\) and \(4, 2\)"):
        info_nce(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        info_nce(torch.ones(4, 3), torch.ones(4, 3), 0)


def test_ada_gvae_averages_exactly_the_dimensions_below_the_threshold():
    # per-dimension KL(q1 || q2) with unit variances is (mu1 - mu2)^2 / 2: 0, 0.005, 2, 8, 0.5 -> threshold 4
    mu1 = torch.tensor([[0.0, 1.0, 2.0, 4.0, -1.0]])
    mu2 = torch.tensor([[0.0, 1.1, 0.0, 0.0, 0.0]])
    lv = torch.zeros(1, 5)
    q1, q2, shared = ada_gvae_average(Posterior(mu1, lv), Posterior(mu2, lv.clone()))
    assert shared.tolist() == [[True, True, True, False, True]]
    torch.testing.assert_close(q1.mu, torch.tensor([[0.0, 1.05, 1.0, 4.0, -0.5]]))
    torch.testing.assert_close(q2.mu, torch.tensor([[0.0, 1.05, 1.0, 0.0, -0.5]]))
    # averaged variance (1 + e^2) / 2 where the log-variances differ, own variance elsewhere
    lv2 = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0]])
    q1, q2, shared = ada_gvae_average(Posterior(mu1, lv), Posterior(mu1.clone(), lv2))
    assert shared.tolist() == [[False, True, True, True, True]]  # only dim 0 differs (KL 0.5*(2 + e^-2 - 1) ~ 0.57)
    torch.testing.assert_close(q1.logvar, lv)


def test_ada_gvae_bad_shapes():
    with pytest.raises(ValueError, match="one shape"):
        ada_gvae_average(Posterior(torch.zeros(2, 3), torch.zeros(2, 3)), Posterior(torch.zeros(2, 4), torch.zeros(2, 4)))


def test_single_view_posterior_is_private_then_prior_fused_shared():
    torch.manual_seed(0)
    model = MultiViewVAE(input_shape=(128, 32), private_dim=3, shared_dim=2, hidden=(16,))
    x = torch.rand(5, 128, 32)
    post = single_view_posterior(model, x)
    assert post.mu.shape == (5, 5)
    torch.testing.assert_close(post.mu[:, :3], model.private_code(x))
    torch.testing.assert_close(post.mu[:, 3:], model.shared_code(x))


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_takes_a_finite_gradient_step(name):
    overrides, _ = BASELINES[name]
    config = TrainConfig.preset("fast", **overrides)
    torch.manual_seed(0)
    model = MultiViewVAE(config.model_config((128, 32)))
    x1, x2 = torch.rand(8, 128, 32), torch.rand(8, 128, 32)
    terms = OBJECTIVES[config.objective](model, x1, x2, config, 1000, torch.Generator().manual_seed(0))
    assert torch.isfinite(terms.total)
    terms.total.backward()
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    decoder_grads = [p.grad for p in model.decoder_body.parameters() if p.grad is not None]
    assert bool(decoder_grads) == (config.objective != "contrastive_only")  # no decoder term, no decoder gradient


def test_contrastive_adds_exactly_its_weighted_term_to_the_paper_loss():
    torch.manual_seed(0)
    model = MultiViewVAE(input_shape=(128, 32), private_dim=3, shared_dim=2, hidden=(16,))
    x1, x2 = torch.rand(8, 128, 32), torch.rand(8, 128, 32)
    base = OBJECTIVES["multiview"](model, x1, x2, TrainConfig.preset("fast"), 1000, torch.Generator().manual_seed(0))
    withc = OBJECTIVES["multiview"](model, x1, x2, TrainConfig.preset("fast", contrastive=0.5), 1000, torch.Generator().manual_seed(0))
    assert (withc.total - base.total).item() == pytest.approx(0.5 * withc.terms["contrastive"].item(), rel=1e-5)


def test_new_fields_stay_out_of_old_run_keys_and_are_validated():
    assert "contrastive" not in config_to_dict(TrainConfig()) and "temperature" not in config_to_dict(TrainConfig())
    assert config_to_dict(TrainConfig(contrastive=1, temperature=0.5))["temperature"] == 0.5
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got -1"):
        TrainConfig(temperature=-1)
    with pytest.raises(ValueError, match="contrastive must be a finite number >= 0"):
        TrainConfig(contrastive=-0.5)


def test_seconds_per_epoch_measures_every_config():
    from mvtutorial.studies.baselines import baseline_config, seconds_per_epoch
    from mvtutorial.data import load_tone_dataset

    ds = load_tone_dataset("fast")
    configs = {n: baseline_config(n, "fast") for n in ("paper (headline)", "contrastive only")}
    out = seconds_per_epoch(configs, ds, steps=2, rounds=1)
    assert set(out) == set(configs) and all(np.isfinite(v) and v > 0 for v in out.values())
    with pytest.raises(ValueError, match="steps and rounds must be >= 1"):
        seconds_per_epoch(configs, ds, steps=0)


def test_contrastive_only_needs_a_positive_weight():
    config = TrainConfig.preset("fast", objective="contrastive_only")  # contrastive left at 0
    model = MultiViewVAE(config.model_config((128, 32)))
    with pytest.raises(ValueError, match=r"'contrastive_only' needs contrastive > 0 \(its only term\), got 0.0"):
        OBJECTIVES["contrastive_only"](model, torch.rand(4, 128, 32), torch.rand(4, 128, 32), config, 100)


def test_add_swap_scores_scores_decoder_runs_once(tmp_path, monkeypatch):
    import dataclasses

    from mvtutorial.studies.baselines import add_swap_scores, baseline_config
    from mvtutorial.data import load_tone_dataset
    from mvtutorial.experiments import run_one, run_key
    from mvtutorial.listening import fit_feature_classifier

    ds = load_tone_dataset("fast")
    configs = [dataclasses.replace(baseline_config(n, "fast"), epochs=1, hidden=(16,)) for n in ("Ada-GVAE", "contrastive only")]
    for c in configs:
        run_one(c, tmp_path, threads=1, eval_kwargs={"probe": "logistic", "max_probe_train": 200, "latents": ("both",)})
    missing = dataclasses.replace(configs[0], seed=5)  # no result: skipped
    records = add_swap_scores([*configs, missing], tmp_path, tmp_path / "runs", ds, fit_feature_classifier(ds), n_pairs=50)
    assert len(records) == 2 and records[0]["swap"]["n_pairs"] == 50 and "swap" not in records[1]
    stamp = (tmp_path / f"{run_key(configs[0])}.json").stat().st_mtime_ns
    def no_fit(*args, **kwargs):
        raise AssertionError("nothing left to score: the classifier must not be fitted")

    monkeypatch.setattr("mvtutorial.listening.fit_feature_classifier", no_fit)
    add_swap_scores(configs, tmp_path, tmp_path / "runs", ds, n_pairs=50)
    assert (tmp_path / f"{run_key(configs[0])}.json").stat().st_mtime_ns == stamp  # already scored: not rewritten
