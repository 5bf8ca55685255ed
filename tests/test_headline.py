"""Chapters 3-4's study functions (mvtutorial.studies.headline, headline_analysis): known answers on
synthetic histories and evaluation results, and behaviour on a tiny untrained model."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mvtutorial import paper
from mvtutorial.data import load_tone_dataset
from mvtutorial.model import ModelConfig, MultiViewVAE
from mvtutorial.studies import headline, headline_analysis
from mvtutorial.studies.separation import TARGETS, check_targets

N = {"train": 1000, "val": 100}


def _history(mi_train=(3.0, 6.9, 6.905, 6.9), dwkl=-1.0) -> pd.DataFrame:
    rows = []
    for e, mi in enumerate(mi_train, 1):
        row = {"epoch": e}
        for split in ("train", "val"):
            row.update({f"{split}_reconstruction": 100.0 / e, f"{split}_total": 100.0 / e - 1, f"{split}_shared_mi": mi,
                        f"{split}_private_mi": 2 * mi, f"{split}_shared_tc": 30.0, f"{split}_private_tc": 60.0,
                        f"{split}_shared_dwkl": dwkl, f"{split}_private_dwkl": 2 * dwkl})
        rows.append(row)
    return pd.DataFrame(rows).set_index("epoch")


def test_saturation_table_puts_the_estimates_beside_their_ceilings():
    table = headline.saturation_table(_history(), N, shared_dim=8)
    assert table.loc["log N", "train"] == pytest.approx(math.log(1000))
    assert table.loc["(D - 1) log N", "validation"] == pytest.approx(7 * math.log(100))
    assert table.loc["MI private (per view), last epoch", "train"] == pytest.approx(6.9)


def test_training_reading_states_what_the_history_measured():
    text = headline.training_reading(_history(), N, shared_dim=8, gamma=0.1)
    assert "100 after epoch 1, 25 after epoch 4" in text
    assert f"log N = {math.log(1000):.2f}; within 0.1 nats of it from epoch 2 on." in text  # log 1000 = 6.91
    assert "every one lies below zero" in text and "+" not in text.split("DWKL**")[1].split("nats")[0]
    late = headline.training_reading(_history(mi_train=(6.9, 3.0, 6.9, 3.0), dwkl=0.5), N, 8, 0.1)
    assert "in 2 of 4 epochs, not the last" in late and "below zero" not in late


@pytest.fixture(scope="module")
def ds():
    return load_tone_dataset("fast", cache=False)


@pytest.fixture(scope="module")
def model(ds):
    torch.manual_seed(0)
    return MultiViewVAE(ModelConfig(input_shape=ds.input_shape, hidden=(16,)))


def test_reconstruction_examples_pick_one_clip_per_waveform(ds, model):
    recs = headline.reconstruction_examples(model, ds, target_class=5)
    table = recs["table"]
    assert list(table.index) == list(ds.config.waveforms) and recs["recons"].shape == recs["inputs"].shape
    assert (ds.factors.waveform.to_numpy()[recs["pairs"][:, 0]] == np.arange(4)).all()
    assert ((table["share in dim bins"] >= 0) & (table["share in dim bins"] <= 1)).all()
    np.testing.assert_allclose(table["ratio"], table["squared error"] / table["average spectrum's error"], rtol=1e-5)


def test_inversions_of_a_perfect_reconstruction_match_the_inverted_input(ds):
    clip = int(np.flatnonzero((ds.factors.waveform_name == "sine").to_numpy())[0])
    x = ds.features[clip]
    audio, table = headline.inversions(ds, clip, x, x.clone(), n_iter=4)
    assert len(audio) == 4 and table.index[0] == "original audio"
    assert table.iloc[0]["strongest partial (Hz)"] == pytest.approx(ds.factors.freq_hz[clip], abs=1.5)  # a sine's one partial
    assert table.iloc[3]["spectral centroid (Hz)"] == pytest.approx(table.iloc[1]["spectral centroid (Hz)"], rel=0.05)


def _run(seed: int, shift: float) -> dict:
    probes = {f"{lat}/{f}": 0.5 + shift for lat in headline_analysis.LATENTS for f in ("timbre", "frequency")}
    probes["shared/timbre"], probes["private/frequency"] = 0.99, 0.95
    mi_matrix = {f"{s}/{d}": {"timbre": 0.1 * d, "frequency": 0.2} for s in ("private", "shared") for d in range(1, 3)}
    return {"seed": seed, "probes": probes, "chance": {"timbre": 0.25, "frequency": 1 / 21}, "mi_ratio_timbre": 20.0,
            "mi_ratio_frequency": 6.0 + shift, "mi_matrix": mi_matrix, "version": "test",
            "factors": {"timbre": {"column": "waveform", "belongs_in": "shared"},
                        "frequency": {"column": "freq_class", "belongs_in": "private"}},
            "scores": {"mig": 0.1, "dci_disentanglement": 0.6, "dci_completeness": 0.2, "dci_informativeness": 0.9, "sap": 0.1},
            "decomposition": {s: {"mi": 5.0, "tc": 1.0 + shift, "dwkl": 2.0, "kl": 8.0 + shift} for s in ("private", "shared")}}


RUNS = [_run(0, 0.0), _run(1, 0.02)]


def test_probe_table_formats_mean_and_sd_beside_the_paper():
    table = headline_analysis.probe_table(RUNS)
    assert table.loc["private", ("timbre", "ours")] == f"0.510 ± {np.std([0.5, 0.52], ddof=1):.3f}"
    assert table.loc["shared", ("timbre", "paper")] == f"{paper.PROBES[('shared', 'timbre')]:.3f}"
    assert table.loc["shared_fused", ("frequency", "paper")] == "-"


def test_targets_table_is_check_targets_on_the_means_and_on_the_paper():
    table = headline_analysis.targets_table(RUNS)
    assert len(table) == len(check_targets({})) >= len(TARGETS)
    assert table.loc["shared/timbre >= 0.97", "met"] and not table.loc["private/timbre <= 0.5", "met"]  # 0.51
    assert table.loc["mi_ratio_frequency >= 5", "ours"] == pytest.approx(6.01)
    assert np.isnan(table.loc["shared_fused/timbre >= 0.97", "paper"]) and not table.loc["shared_fused/timbre >= 0.97", "paper met"]


def test_scores_decomposition_and_the_comparison_with_the_paper():
    scores, source = headline_analysis.score_table(RUNS)
    assert source == "evaluation results" and scores.loc["dci_disentanglement", "mean"] == 0.6 and "sd" in scores
    decomp = headline_analysis.decomposition_table(RUNS)
    assert decomp.loc["shared", "total correlation"] == pytest.approx(1.01)
    verdicts = headline_analysis.paper_comparison(RUNS)["ours vs the paper"]
    assert verdicts["shared → timbre"] == "beats"  # 0.99 against 0.974, higher is better
    assert verdicts["private → timbre"] == "beats"  # 0.51 against 0.743, lower is better
    assert verdicts["shared → frequency"] == "falls short of"  # 0.51 against 0.298, lower is better


def test_discussion_reads_the_numbers_and_picks_its_verdicts_from_them():
    scores, _ = headline_analysis.score_table(RUNS)
    text = headline_analysis.discussion_markdown(RUNS, scores, n_test=100)
    assert "The subspaces separate the factors" in text and "MIG and SAP are much lower" in text
    assert f"Reproduction targets met: {int(headline_analysis.targets_table(RUNS).met.sum())} of" in text
    assert "Fusion does not lower the frequency accuracy here." in text  # fused = single-view here
    assert f"log N = {math.log(100):.2f}" in text
    tangled = [dict(r, mi_ratio_timbre=1.5) for r in RUNS]
    assert "At least one MI ratio is below 3 (1.5," in headline_analysis.discussion_markdown(tangled, scores, 100)
