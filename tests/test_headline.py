"""Chapter 3's study functions (mvtutorial.studies.headline): known answers on synthetic histories,
and behaviour on a tiny untrained model."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mvtutorial.dataset import load_tone_dataset
from mvtutorial.model import ModelConfig, MultiViewVAE
from mvtutorial.studies import headline

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
    assert list(table.index) == list(ds.tone_config.waveforms) and recs["recons"].shape == recs["inputs"].shape
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
