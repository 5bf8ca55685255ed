"""Chapter 2's toy estimator experiments (mvtutorial.studies.estimators) and model tour
(mvtutorial.studies.model_tour): known answers and the behaviour the chapter reads off them."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mvtutorial.losses import LossWeights, aggregate_decomposition, multiview_loss
from mvtutorial.model import ModelConfig, MultiViewVAE
from mvtutorial.studies import estimators, model_tour


def test_closed_form_known_answers():
    assert estimators.gaussian_tc_mi(estimators.equicorrelation(0.0), 0.25)[0] == pytest.approx(0.0, abs=1e-12)
    tc, mi = estimators.gaussian_tc_mi(estimators.equicorrelation(0.9), 0.25)
    assert tc == pytest.approx(0.827, abs=5e-4)
    # independent dimensions: MI = D/2 log(1 + 1/sigma^2)
    assert estimators.gaussian_tc_mi(torch.eye(3, dtype=torch.float64), 0.25)[1] == pytest.approx(1.5 * math.log(5))
    # one correlated pair among three dimensions = the TC of that pair alone
    assert estimators.gaussian_tc_mi(estimators.equicorrelation(0.9, dim=2), 0.25)[0] == pytest.approx(0.365, abs=5e-4)


def test_closed_form_matches_the_exact_decomposition_of_many_samples():
    c = estimators.equicorrelation(0.6)
    means = estimators.draw_means(c, 2000, seed=1).double()
    logvar = torch.full_like(means, math.log(0.25))
    z = means + 0.5 * torch.randn(means.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    exact = aggregate_decomposition(z, means, logvar, means, logvar)
    tc, mi = estimators.gaussian_tc_mi(c, 0.25)
    assert exact["tc"] == pytest.approx(tc, abs=0.05) and exact["mi"] == pytest.approx(mi, abs=0.05)


def test_weight_matrices_and_their_faults():
    matrices = estimators.weight_matrices(5, 20)
    facts = estimators.matrix_facts(matrices, 20)
    assert facts.loc["loo"].tolist() == ["all", []] and facts.loc["mss"].tolist() == ["all", []]
    assert facts.loc["column-0 mss", "rows with W_ii = 1/N"] == [0]  # the stride walks down column 0
    assert facts.loc["mws", "rows not summing to 1"] == "all"


def test_tc_experiment_tracks_the_closed_form_and_mws_is_offset(monkeypatch):
    monkeypatch.setitem(estimators.TOY_SIZES, "tiny", {"tc": {"n": 2000, "batch": 256, "n_batches": 2, "rhos": (0.0, 0.9)}})
    results, sizes = estimators.tc_experiment("tiny")
    assert set(results.weighting) == set(estimators.WEIGHTINGS) and len(results) == 8
    summary = estimators.tc_summary(results, sizes["n"])
    assert summary.loc[["loo", "mss"], "largest |TC - closed form|"].max() < 0.1
    # MWS minus (D - 1) log N gives every example the same weight, as the column-0 matrix nearly does
    assert summary.loc["mws - (D-1) log N", "largest |TC - column-0 TC|"] < 0.01


def test_narrow_posteriors_push_the_two_weightings_apart(monkeypatch):
    monkeypatch.setitem(estimators.TOY_SIZES, "tiny", {"narrow": {"n": 2000, "batch": 64, "n_batches": 1, "sigma2s": (0.25, 0.01)}})
    narrow, closed, sizes = estimators.narrow_experiment("tiny")
    assert closed.shape == (2, 2) and set(narrow.estimate) == {"loo", "column-0 mss", "exact (all N)"}
    last = estimators.narrow_summary(narrow)
    assert last.loc["loo", "tc - exact"] < 0 < last.loc["column-0 mss", "tc - exact"]
    assert last.loc["column-0 mss", "mi"] < math.log(sizes["batch"] - 1) < last.loc["loo", "mi"]


def test_output_table_and_untrained_readings():
    torch.manual_seed(0)
    model = MultiViewVAE(ModelConfig(input_shape=(16, 4), hidden=(8,)))
    x1, x2 = torch.rand(6, 16, 4), torch.rand(6, 16, 4)
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    table = model_tour.output_table(out)
    assert table.loc["out.recon[1]", "shape"] == (6, 16, 4)
    assert table.loc["out.private[0].logvar", "meaning"] == "private posterior of view 1: log-variance"
    loss = multiview_loss(out, x1, x2, LossWeights(alpha=0, beta=0, gamma=1), dataset_size=100)
    r = model_tour.untrained_readings(out, loss, x1, dataset_size=100)
    assert r["bins"] == 64 and r["log_n"] == pytest.approx(math.log(100))
    assert r["dwkl_per_shared_dim"] * 8 == pytest.approx(loss.terms["shared_dwkl"].item())
    assert r["recon_min"] <= r["recon_max"] and np.isfinite(list(r.values())).all()
