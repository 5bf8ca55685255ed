"""Figures of chapters 1-5 added with the chapters' move into the package: each draws what it is given."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests only: no display here

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mvtutorial import plots
from mvtutorial.features import FeatureConfig


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_alias_spectra_figure_puts_naive_on_top_and_marks_the_fundamental():
    freq = np.linspace(0, 8000, 9)
    spectra = {(w, m): (freq, np.full(9, -10.0 if m == "naive" else -50.0)) for w in ("sine", "square") for m in ("naive", "bandlimited")}
    fig = plots.alias_spectra_figure(spectra, 5000.0, 8000.0)
    axes = np.array(fig.axes).reshape(2, 2)
    assert axes[0, 1].get_title() == "square, naive" and axes[1, 0].get_title() == "band-limited"
    np.testing.assert_allclose(axes[1, 1].lines[0].get_ydata(), -50.0)
    assert axes[0, 0].lines[1].get_xdata()[0] == 5.0  # the fundamental, in kHz


def test_harmonics_figure_draws_one_line_per_waveform():
    counts = pd.DataFrame({"sine": [1, 1, 1], "sawtooth": [9, 3, 1]})
    fig = plots.harmonics_figure(counts, [440.0, 2000.0, 6000.0], 8000.0)
    ax = fig.axes[0]
    assert [l.get_label() for l in ax.lines] == ["sine", "sawtooth"]
    assert ax.lines[1].get_ydata().tolist() == [9, 3, 1] and ax.get_ylabel() == "harmonics < 8 kHz"


def test_logmel_figures_draw_each_panel_with_its_title():
    fc = FeatureConfig()
    img = np.random.default_rng(0).random((128, 32))
    fig = plots.logmel_steps_figure(np.random.default_rng(1).random((1025, 32)) + 1e-3, img, img * 80 - 40, img, fc)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["power (shown in dB)\n1025 × 32", "mel power (linear)\n128 × 32", "dB, floored at peak - 80", "min-max to [0, 1]"]
    grid = plots.logmel_grid([[img, img, img], [img, img, img]], [["a", "b", "c"], ["d", "e", "f"]], fc, "suptitle")
    assert [ax.get_title() for ax in grid.axes] == list("abcdef") and grid._suptitle.get_text() == "suptitle"
    np.testing.assert_allclose(grid.axes[4].collections[0].get_array().reshape(128, 32), img)


def test_weight_matrices_figure_annotates_each_weight_and_its_row_sums():
    w = np.full((3, 3), 0.25)
    fig = plots.weight_matrices_figure({"uniform": w, "identity": np.eye(3)})
    assert fig.axes[0].get_title() == "uniform\nrow sums: 0.75, 0.75, 0.75"
    assert [t.get_text() for t in fig.axes[1].texts][:3] == ["1.000", "0.000", "0.000"]
    assert len(fig.axes[0].patches) == 3  # the diagonal outlined


def _history() -> pd.DataFrame:
    terms = ["total", "reconstruction", "shared_mi", "private_mi", "shared_tc", "private_tc", "shared_dwkl", "private_dwkl"]
    rows = {f"{s}_{t}": [10.0, 4.0, 3.0] for s in ("train", "val") for t in terms}
    return pd.DataFrame(rows, index=pd.Index([1, 2, 3], name="epoch"))


def test_loss_terms_figure_draws_every_term_and_the_mi_ceilings():
    fig = plots.loss_terms_figure(_history(), {"train": 1000, "val": 100}, best=3, title="t")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == list(plots.training.LOSS_TERMS.values())
    mi_private = axes[3]
    ceilings = sorted(l.get_ydata()[0] for l in mi_private.lines if l.get_linestyle() == "--")
    assert ceilings == pytest.approx([2 * np.log(100), 2 * np.log(1000)])  # 2 log N: two views' private codes
    assert axes[0].get_yscale() == "log"  # 10 > 2 x 3: the total falls by more than half
    assert axes[1].lines[0].get_ydata().tolist() == [10.0, 4.0, 3.0]


def test_reconstruction_figure_shows_input_reconstruction_and_profiles():
    x = np.zeros((2, 8, 4))
    x[:, 3] = 1.0
    r = np.full((2, 8, 4), 0.5)
    fig = plots.reconstruction_figure(x, r, ["sine, 440 Hz", "square, 880 Hz"], [12.0, 3.4])
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[1, 0].get_title() == "square, 880 Hz: input" and axes[0, 2].get_title() == "mel profile, squared error 12"
    np.testing.assert_allclose(axes[0, 2].lines[0].get_ydata(), x[0].mean(-1))
    np.testing.assert_allclose(axes[0, 1].images[0].get_array(), r[0])
