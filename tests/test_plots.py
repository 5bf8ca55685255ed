"""The figure functions draw what they are given (bar heights, cell texts, the paper's values)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # tests only: no display here (the book's kernels keep their inline backend)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mvtutorial import paper, plots
from mvtutorial.studies.ablation import ablation_cell


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _bar_heights(ax):
    return [p.get_height() for p in ax.patches]


def _barh_widths(ax):
    return [p.get_width() for p in ax.patches]


def test_architecture_has_every_block():
    fig = plots.draw_architecture()
    ids = {p.get_gid() for p in fig.axes[0].patches}
    assert {"x1", "x2", "enc1", "enc2", "p1", "s2", "prior", "poe", "zs", "dec1", "r2"} <= ids
    assert len(fig.axes[0].texts) >= 19


def test_fusion_figure_draws_each_rule_and_the_pointwise_product():
    experts = [(1.2, 0.7), (2.6, 1.1)]
    precision = 1 + sum(1 / sd**2 for _, sd in experts)
    product = (sum(m / sd**2 for m, sd in experts) / precision, precision**-0.5)  # closed form, with the prior
    fused = {"PoE with prior": product, "mean": (1.9, 0.9)}
    fig = plots.fusion_figure(experts, fused)
    left, right = fig.axes
    assert len(left.lines) == 5 and len(right.lines) == 2 + len(fused)  # prior, 2 experts, product, dots
    curve, dots = left.lines[3], left.lines[4]
    peak = curve.get_xdata()[np.argmax(curve.get_ydata())]
    assert peak == pytest.approx(product[0], abs=0.01)
    # the normalised pointwise product lies on the closed-form product curve
    on_curve = np.interp(dots.get_xdata(), curve.get_xdata(), curve.get_ydata())
    np.testing.assert_allclose(dots.get_ydata(), on_curve, atol=1e-3)
    assert [t.get_text() for t in right.get_legend().get_texts()][1].startswith("mean: $\\mu$=1.90")


def test_minibatch_tc_figure_offsets_mws():
    rows = [{"rho": r, "weighting": w, "tc": t + (2.0 if w == "mws" else 0.0), "tc_true": t}
            for r, t in ((0.0, 0.0), (0.5, 0.3)) for w in ("loo", "mss", "mws")]
    fig = plots.minibatch_tc_figure(pd.DataFrame(rows), offset=2.0)
    left, right = fig.axes
    assert [l.get_label() for l in left.lines] == ["closed form", "loo", "mss"]
    shifted, _, mws = right.lines
    np.testing.assert_allclose(shifted.get_ydata(), [2.0, 2.3])
    np.testing.assert_allclose(mws.get_ydata(), shifted.get_ydata())
    assert "2.0 nats" in right.get_title()


def test_narrow_posterior_figure_marks_the_ceilings():
    sig = [0.5, 0.1]
    narrow = pd.DataFrame([{"sigma": s, "estimate": e, "tc": 0.1 * i, "mi": 1.0 + i}
                           for s in sig for i, e in enumerate(("exact (all N)", "loo", "column-0 mss"))])
    fig = plots.narrow_posterior_figure(narrow, np.array([[0.2, 3.0], [0.3, 5.0]]), sig, n=1000, batch=65, rho=0.6)
    tc_ax, mi_ax = fig.axes
    assert len(tc_ax.lines) == 4 and tc_ax.xaxis_inverted()
    np.testing.assert_allclose(mi_ax.lines[0].get_ydata(), [3.0, 5.0])  # the closed form's MI column
    ceilings = sorted(l.get_ydata()[0] for l in mi_ax.lines[4:])
    np.testing.assert_allclose(ceilings, sorted([np.log(64), np.log(1000)]))
    assert "B = 65" in tc_ax.get_title()


def test_mi_matrix_figure_shows_means_and_paper_sums():
    rng = np.random.default_rng(0)
    mi = rng.uniform(0, 1, size=(3, 2, 8, 2))  # (run, subspace, dim, factor), only to build the labelled table
    frame = pd.DataFrame([(r, s, d + 1, f, {"timbre": "waveform", "frequency": "freq_class"}[f],
                           "shared" if f == "timbre" else "private", mi[r, i, d, k])
                          for r in range(3) for i, s in enumerate(("private", "shared")) for d in range(8)
                          for k, f in enumerate(("timbre", "frequency"))],
                         columns=["run", "subspace", "dim", "factor", "column", "belongs_in", "mi"])
    fig = plots.mi_matrix_figure(frame.sample(frac=1.0, random_state=0))  # row order of the table does not matter
    assert fig.axes[0].get_title().startswith("MI with timbre (waveform)")
    heat = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(heat, mi.mean(0)[:, :, 0])
    bars = _bar_heights(fig.axes[1])  # timbre sums: ours private, ours shared, paper private, paper shared
    np.testing.assert_allclose(bars[:2], mi.sum(2).mean(0)[:, 0])
    assert bars[2:] == [paper.MI_SUMS[("private", "timbre")], paper.MI_SUMS[("shared", "timbre")]]
    with pytest.raises(ValueError, match="no column"):
        plots.mi_matrix_figure(frame.drop(columns="belongs_in"))


def test_probe_bars_heights_and_chance():
    acc = {"private/timbre": [0.5, 0.7], "shared/timbre": [0.9, 0.9], "private/frequency": [0.8, 0.8], "shared/frequency": [0.1, 0.3]}
    fig = plots.probe_bars(acc, ["private", "shared"], {"timbre": 0.25, "frequency": 1 / 21})
    heights = _bar_heights(fig.axes[0])
    assert heights[:2] == pytest.approx([0.6, 0.9])
    assert heights[2:] == pytest.approx([paper.PROBES[("private", "timbre")], paper.PROBES[("shared", "timbre")]])
    assert fig.axes[1].lines[-1].get_ydata()[0] == pytest.approx(1 / 21)
    assert [ax.get_title() for ax in fig.axes] == ["probe accuracy: timbre", "probe accuracy: frequency"]
    other = {"private/instrument": [0.2], "shared/instrument": [0.95], "private/note": [0.9], "shared/note": [0.1]}
    fig = plots.probe_bars(other, ["private", "shared"], {"instrument": 0.125, "note": 0.1}, paper_probes=None,
                           factors=["instrument", "note"])
    assert _bar_heights(fig.axes[0]) == pytest.approx([0.2, 0.95]) and fig.axes[0].get_title() == "probe accuracy: instrument"
    with pytest.raises(ValueError, match="private/timbre"):
        plots.probe_bars(other, ["private", "shared"], {"instrument": 0.125, "note": 0.1})


def test_ablation_bars_draw_ours_and_the_papers():
    table = pd.DataFrame([
        {"alpha": 0.0, "beta": 0.0, "gamma": g, "seed": s, "latent": lat, "factor": f, "accuracy": acc}
        for g in (0.0, 1.0) for s in (0, 1) for lat, f, acc in
        (("private", "timbre", 0.8 + 0.1 * s), ("shared", "timbre", 0.5), ("private", "frequency", 0.7), ("shared", "frequency", 0.2))
    ])
    assert ablation_cell(table, "gamma", 1.0, "private", "timbre") == pytest.approx((0.85, np.std([0.8, 0.9], ddof=1), 2))
    assert ablation_cell(table, "alpha", 0.5, "private", "timbre") is None
    with pytest.raises(ValueError, match="unknown term 'delta'"):
        ablation_cell(table, "delta", 1.0, "private", "timbre")
    fig = plots.ablation_bars(lambda *a: ablation_cell(table, *a), title="t")
    gamma_timbre = fig.axes[2]
    heights = _bar_heights(gamma_timbre)  # 4 bar groups x (ours private, paper private, ours shared, paper shared)
    assert heights[0] == pytest.approx(0.85) and np.isnan(heights[1]) and heights[3] == pytest.approx(0.85)
    assert heights[4:8] == pytest.approx([paper.ABLATION["timbre"]["gamma"][v][0] for v in paper.ABLATION_VALUES])
    assert fig._suptitle.get_text() == "t"


def test_score_heatmap_annotates_cells():
    mean = pd.DataFrame([[0.2, np.nan], [0.1, -0.3]], index=[0.0, 1.0], columns=[0.0, 1.0])
    count = pd.DataFrame([[3, 0], [1, 3]], index=mean.index, columns=mean.columns)
    sd = pd.DataFrame([[0.05, np.nan], [np.nan, 0.01]], index=mean.index, columns=mean.columns)
    fig = plots.score_heatmap(mean, sd, count)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.20 ± 0.05\n(n=3)", "not run", "0.10\n(n=1)", "-0.30 ± 0.01\n(n=3)"]


def test_study_bars_one_bar_per_family_and_the_target():
    cols = pd.MultiIndex.from_tuples([("shared/timbre", "mean"), ("shared/timbre", "sd")])
    table = pd.DataFrame([[0.8, 0.01], [0.98, 0.0]], index=["a", "b"], columns=cols)
    fig = plots.study_bars(table, ["shared/timbre"], {"shared/timbre": (">=", 0.97)})
    assert _barh_widths(fig.axes[0]) == pytest.approx([0.8, 0.98])
    assert fig.axes[0].lines[-1].get_xdata()[0] == pytest.approx(0.97)
    with pytest.raises(ValueError, match="no column"):
        plots.study_bars(table, ["private/timbre"])


def test_study_bars_of_the_shipped_study_fit_without_a_layout_warning(recwarn):
    """Chapter 6's figure, drawn from the shipped study table as the chapter draws it: the recommendation's
    70-character label once took the left column's width, constrained layout collapsed the axes, and its
    warning (with the machine's path) reached the page. Long labels wrap; every family keeps its row."""
    from mvtutorial.studies.separation import study_results, study_table

    table = study_table(study_results(), "sample")
    keys = ["shared/timbre", "private/timbre", "private/frequency", "shared/frequency",
            "shared_fused/timbre", "shared_fused/frequency", "both/timbre", "both/frequency"]
    fig = plots.study_bars(table, keys, title="Probe accuracy on posterior samples, mean ± sd over training seeds")
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")  # as a notebook's inline backend draws it
    assert not [w for w in recwarn if "constrained_layout" in str(w.message)]
    left = fig.axes[0]
    assert left.get_position().width > 0.15 and left.get_position().height > 0.1
    shown = [t.get_text().replace("\n", " ") for t in left.get_yticklabels()]
    assert shown == list(table.index) and max(len(line) for t in left.get_yticklabels() for line in t.get_text().split("\n")) <= 32
    plt.close(fig)


def test_paper_module_known_values():
    assert paper.mi_ratio("timbre") == pytest.approx(10.56, abs=0.01)
    assert paper.mi_ratio("frequency") == pytest.approx(2.87, abs=0.01)
    assert paper.ablation_cell("gamma", 0.1, "shared", "timbre") == 0.97
    assert paper.ablation_cell("gamma", 0.2, "shared", "timbre") is None
    with pytest.raises(ValueError, match="unknown factor"):
        paper.mi_ratio("loudness")


def test_swap_bars_draw_the_means_and_the_chance_lines():
    from mvtutorial.listening import swap_table

    records = [{"config": c, "swap_timbre": t, "swap_frequency": f, "swap_both": t * f, "leak_timbre": 0.0, "leak_frequency": 0.0,
                "chance_timbre": 0.25, "chance_frequency": 0.05, "chance_both": 0.0125, "recon_timbre": 0.9, "recon_frequency": 0.8}
               for c, t, f in (("a", 0.1, 0.5), ("a", 0.3, 0.7), ("b", 0.9, 0.6))]
    records = [dict(sorted(r.items())) for r in records]  # as read back from JSON: keys in alphabetical order
    fig = plots.swap_bars(swap_table(records))
    timbre, pitch, both = fig.axes[:3]
    assert _barh_widths(timbre) == pytest.approx([0.2, 0.9])
    assert _barh_widths(pitch) == pytest.approx([0.6, 0.6])
    assert _barh_widths(both) == pytest.approx([(0.05 + 0.21) / 2, 0.54])
    chance = [line.get_xdata()[0] for line in timbre.lines if line.get_linestyle() == "--"]
    assert chance == pytest.approx([0.25, 0.25])
    assert "shared donor" in timbre.get_title() and "private donor" in pitch.get_title()


def test_per_class_figure_draws_each_row_and_dashes_the_ceilings():
    table = pd.DataFrame([[1.0, 0.9, 0.8], [0.7, 0.5, 0.2], [1.0, 1.0, 0.9]], columns=[0, 1, 2],
                         index=["ceiling", "model", "ceiling, other data"])
    fig = plots.per_class_figure(table, ceiling="ceiling", class_labels=["a", "b", "c"])
    lines = {l.get_label(): l for l in fig.axes[0].lines}
    np.testing.assert_allclose(lines["model"].get_ydata(), [0.7, 0.5, 0.2])
    assert lines["ceiling"].get_linestyle() == "--" and lines["ceiling, other data"].get_linestyle() == "--"
    assert lines["model"].get_linestyle() == "-"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]


def test_per_class_figure_fits_two_dozen_long_rows_without_a_layout_warning(recwarn):
    """Chapter 6.8 draws every pitch family (24 rows, names over 100 characters): the legend once sat
    inside the axes, constrained layout collapsed them, and the warning it printed (with the
    machine's path) reached the page. Every line must also look unlike every other."""
    rng = np.random.default_rng(0)
    names = ["ceiling"] + [f"+ transposition equivariance, freq-conv encoder, 60 epochs, variant {i:02d}" for i in range(23)]
    table = pd.DataFrame(rng.uniform(size=(24, 21)), index=names, columns=range(21))
    fig = plots.per_class_figure(table, ceiling="ceiling", class_labels=[f"{100 * c} Hz" for c in range(21)])
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")  # as a notebook's inline backend draws it
    layout = [w for w in recwarn if "constrained_layout" in str(w.message) or "tight" in str(w.message)]
    assert not layout, [str(w.message) for w in layout]
    box = fig.axes[0].get_position()
    assert box.height > 0.3 and box.width > 0.7  # the axes keep most of the figure
    solid = [l for l in fig.axes[0].lines if l.get_linestyle() == "-"]
    looks = {(tuple(matplotlib.colors.to_rgba(l.get_color())), l.get_marker()) for l in solid}
    assert len(solid) == 23 and len(looks) == 23
    plt.close(fig)


def test_swap_timbre_figure_pairs_each_config_with_its_reconstructions():
    swaps = pd.DataFrame([[0.9, 0.6], [0.95, 0.8]], columns=[3, 7], index=["old", "new"])
    recon = pd.DataFrame([[0.99, 0.9], [0.97, 0.85]], columns=[7, 3], index=["new", "old"])  # another column/row order
    real = pd.Series([1.0, 0.95], index=[7, 3])
    fig = plots.swap_timbre_figure(swaps, recon, real, class_labels=["x", "y"], target=0.95)
    lines = {l.get_label(): l for l in fig.axes[0].lines}
    np.testing.assert_allclose(lines["new: swaps"].get_ydata(), [0.95, 0.8])
    np.testing.assert_allclose(lines["old: reconstructions"].get_ydata(), [0.85, 0.97])  # read by class, not by position
    np.testing.assert_allclose(lines["real clips (classifier)"].get_ydata(), [0.95, 1.0])
    assert lines["new: swaps"].get_color() == lines["new: reconstructions"].get_color() != lines["old: swaps"].get_color()
    assert lines["old: reconstructions"].get_linestyle() == ":" and lines["real clips (classifier)"].get_linestyle() == "--"
    np.testing.assert_allclose(lines["target 0.95"].get_ydata(), [0.95, 0.95])


def test_alias_comb_figure_reads_each_band_by_name_and_puts_noise_zero_at_the_left():
    ceiling = pd.DataFrame([[0.99, 0.98, 0.97], [0.96, 0.95, 0.93]], index=["low", "high"], columns=[0.0, 0.01, 0.02])
    recon = pd.Series({"high": 0.91, "low": 0.97})  # another order than the ceiling's rows
    fig = plots.alias_comb_figure(np.linspace(0, 1, 8), np.full(8, 0.5), "a square", ceiling, recon, noise=0.015)
    left, right = fig.axes
    spectra = {l.get_label(): l for l in left.lines}
    np.testing.assert_allclose(spectra["reconstruction"].get_ydata(), np.full(8, 0.5))
    lines = {l.get_label(): l for l in right.lines}
    np.testing.assert_allclose(lines["high: real clips averaged over the noise"].get_ydata(), [0.96, 0.95, 0.93])
    np.testing.assert_allclose(lines["high: real clips averaged over the noise"].get_xdata(), [0.005, 0.01, 0.02])
    np.testing.assert_allclose(lines["high: the model's reconstructions"].get_ydata(), [0.91, 0.91])
    np.testing.assert_allclose(lines["the model's pitch noise (0.015 octave)"].get_xdata(), [0.015, 0.015])
    assert [t.get_text() for t in right.get_xticklabels()] == ["0", "0.01", "0.02"]


def test_code_maps_colour_each_class_and_grade_under_its_code():
    maps = {"private": np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]), "shared": np.array([[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]])}
    fig = plots.code_maps(maps, classes=[0, 1, 1], class_names=["piano", "violin"], grades=[0, 10, 20], grade_label="pitch class",
                          factors=("instrument", "pitch"), n_grades=21, title="t")
    top_private, top_shared, bottom_private, bottom_shared = fig.axes[:4]
    assert [a.get_title() for a in (top_private, top_shared, bottom_private, bottom_shared)] == [
        "private code: instrument", "shared code: instrument", "private code: pitch", "shared code: pitch"]
    violin = top_shared.collections[1]
    np.testing.assert_allclose(violin.get_offsets(), [[6.0, 6.0], [7.0, 7.0]])  # class 1's points, in the shared map
    graded = bottom_private.collections[0]
    np.testing.assert_allclose(graded.get_array(), [0, 10, 20])
    assert graded.get_clim() == (0, 20)
    assert [t.get_text() for t in top_private.get_legend().get_texts()] == ["piano", "violin"]
    assert fig.axes[-1].get_ylabel() == "pitch class"  # the colour bar
