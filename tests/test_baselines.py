"""Chapter 8's baselines: known-answer tests of their losses and one training step of each objective."""
from __future__ import annotations

import math

import numpy as np

import pytest
import torch

from mvtutorial.studies.baselines import BASELINES
from mvtutorial.objectives.baselines import ada_gvae_average, info_nce, single_view_posterior
from mvtutorial.config import TrainConfig, config_to_dict
from mvtutorial.cache import atomic_write_json
from mvtutorial.experiments import run_key
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
    overrides = BASELINES[name].overrides
    config = TrainConfig.preset("fast", **overrides)
    torch.manual_seed(0)
    model = MultiViewVAE(config.model_config((128, 32)))
    x1, x2 = torch.rand(8, 128, 32), torch.rand(8, 128, 32)
    interval = {"interval": torch.rand(8)} if config.transposition > 0 else {}  # the recommended one's transposition term
    terms = OBJECTIVES[config.objective](model, x1, x2, config, 1000, torch.Generator().manual_seed(0), **interval)
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
    configs = {n: baseline_config(n, "fast") for n in ("paper", "recommended", "contrastive-only")}  # recommended: the transposition term's intervals
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
    configs = [dataclasses.replace(baseline_config(n, "fast"), epochs=1, hidden=(16,)) for n in ("ada-gvae", "contrastive-only")]
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


def _record(row, seed, shared_timbre, swap=None):
    """A run result of the baseline of row ``row`` with known probe values (samples), ratios, scores and timing."""
    from mvtutorial.studies.baselines import baseline_config

    [name] = [n for n, b in BASELINES.items() if b.label == row]
    probes = {"private/timbre": 0.5, "shared/timbre": shared_timbre, "both/timbre": 0.9, "private/frequency": 0.8,
              "shared/frequency": 0.1, "both/frequency": 0.85}
    record = {"config": config_to_dict(baseline_config(name, "full", seed)), "seed": seed, "train_seconds_per_epoch": 10.0 + seed,
              "samples": {"probes": probes, "mi_ratio_timbre": 2.0, "mi_ratio_frequency": 3.0},
              "scores": {"mig": 0.1, "dci_disentanglement": 0.2, "sap": 0.3}}
    return {**record, "swap": swap} if swap else record


def test_comparison_table_known_answer_with_timing_and_missing_swaps():
    from mvtutorial.studies.baselines import (COLUMNS, CONTRASTIVE_ONLY, PAPER, RECOMMENDED_OBJECTIVE, comparison_frame,
                                              comparison_table, incomplete_rows)

    swap = {"swap_timbre": 0.5, "swap_frequency": 0.6, "swap_both": 0.3}
    records = [_record(CONTRASTIVE_ONLY, 0, 0.7), _record(PAPER, 0, 0.6, swap), _record(PAPER, 1, 0.8, swap),
               _record(RECOMMENDED_OBJECTIVE, 2, 0.9, swap), _record(CONTRASTIVE_ONLY, 1, 0.9)]
    frame = comparison_frame(records)
    assert list(frame.columns) == ["configuration", "seed", *COLUMNS] and len(frame) == 5
    assert frame.S.iloc[1] == pytest.approx((0.6 - 0.5) + (0.8 - 0.1))  # chapter 6's separation score per run
    table = comparison_table(records, timing={PAPER: 6.5, "not a row": 1.0})
    assert list(table.index) == [PAPER, RECOMMENDED_OBJECTIVE, CONTRASTIVE_ONLY]  # the order of BASELINES
    assert table.loc[PAPER, ("shared/timbre", "mean")] == pytest.approx(0.7)
    assert table.loc[PAPER, ("shared/timbre", "sd")] == pytest.approx(0.1414, abs=1e-4) and table.loc[PAPER, ("shared/timbre", "n")] == 2
    assert table.loc[PAPER, ("train_seconds_per_epoch", "mean")] == 6.5 and np.isnan(table.loc[PAPER, ("train_seconds_per_epoch", "sd")])
    assert table.loc[CONTRASTIVE_ONLY, ("train_seconds_per_epoch", "mean")] == 10.5  # no timing: the sweep's wall clock
    assert np.isnan(table.loc[CONTRASTIVE_ONLY, ("swap_both", "mean")]) and table.loc[CONTRASTIVE_ONLY, ("swap_both", "n")] == 0
    assert incomplete_rows(table) == {RECOMMENDED_OBJECTIVE: (1, 2)}
    assert comparison_table([]).empty
    with pytest.raises(ValueError, match="codes must be 'sample' or 'mean'"):
        comparison_frame(records, codes="median")


def test_comparison_display_has_every_part_and_digit_rule():
    from mvtutorial.studies.baselines import COLUMNS, PARTS, PAPER, comparison_display, comparison_table

    table = comparison_table([_record(PAPER, 0, 0.6), _record(PAPER, 1, 0.8)])
    shown = comparison_display(table)
    assert list(shown.columns.get_level_values(0).unique()) == list(PARTS)
    assert sorted(k for keys in PARTS.values() for k in keys) == sorted(COLUMNS)  # every column in one part
    assert shown.loc[PAPER, ("probe accuracy", "shared timbre")] == "0.70\u00a0±\u00a00.14"
    assert shown.loc[PAPER, ("MI ratios and disentanglement scores", "MI ratio timbre")] == "2.0\u00a0±\u00a00.0"
    assert shown.loc[PAPER, ("swap scores and cost", "swap both")] == "–"


def test_decoder_rows_leave_out_the_objectives_without_a_decoder():
    from mvtutorial.studies.baselines import CONTRASTIVE_ONLY, decoder_rows

    assert CONTRASTIVE_ONLY not in decoder_rows() and len(decoder_rows()) == len(BASELINES) - 1
    assert set(decoder_rows()) < {b.label for b in BASELINES.values()}  # rows, not identifiers


def test_seed_values_are_ordered_by_seed():
    from mvtutorial.studies.baselines import PAPER, comparison_frame, seed_values

    frame = comparison_frame([_record(PAPER, 2, 0.9), _record(PAPER, 0, 0.6), _record("Ada-GVAE", 1, 0.1)])
    assert seed_values(frame, PAPER, "shared/timbre").to_dict() == {0: 0.6, 2: 0.9}
    assert seed_values(frame, "contrastive only", "shared/timbre").empty


def test_a_diverging_run_does_not_stop_the_others(tmp_path, monkeypatch):
    """The sweep stops every run beside a diverging one (joblib raises for the whole batch): reproduce_baselines
    then finishes the pending runs one at a time, so only the diverging run stays without a result."""
    from mvtutorial.studies import baselines
    from mvtutorial.training import NonFiniteLossError

    configs = baselines.baseline_grid(seeds=(0,), names=("paper", "contrastive-only", "recommended"), mode="fast")
    bad = run_key(configs[1])
    calls = []

    def fake_sweep(todo, folder, n_jobs, threads, eval_kwargs, **backend):
        calls.append([run_key(c) for c in todo])
        if any(run_key(c) == bad for c in todo):
            raise NonFiniteLossError("non-finite loss in training")
        for c in todo:  # the contract of the real sweep: one result file per finished run
            atomic_write_json({"config": config_to_dict(c), "probes": {}}, tmp_path / "baselines" / f"{run_key(c)}.json")

    monkeypatch.setattr(baselines, "baseline_grid", lambda seeds: configs)
    monkeypatch.setattr(baselines, "sweep_into", fake_sweep)
    monkeypatch.setattr(baselines, "load_tone_dataset", lambda mode: None)
    monkeypatch.setattr(baselines, "add_swap_scores", lambda *a, **k: None)
    monkeypatch.setattr(baselines, "reproduce_baseline_timing", lambda **k: None)
    baselines.reproduce_baselines(seeds=(0,), n_jobs=2, threads=1, out=tmp_path)
    keys = [run_key(c) for c in configs]
    assert calls == [keys, [keys[0]], [keys[1]], [keys[2]]]
    assert sorted(p.stem for p in (tmp_path / "baselines").glob("*.json")) == sorted([keys[0], keys[2]])
