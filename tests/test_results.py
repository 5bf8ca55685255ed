"""Labelled results (mvtutorial.results) tested as a chain: planted codes -> the evaluation's MI
entries -> JSON written and read back as the pipeline does -> the tidy table -> the figure and
chapter 4's table. A panel is found by its title (the factor's name), never by position, so a
swap of factors anywhere in the chain (the JSON's sorted keys, say) fails these tests.
"""
from __future__ import annotations

import json
from collections import defaultdict

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mvtutorial import paper, plots  # noqa: E402
from mvtutorial.cache import atomic_write_json, read_json  # noqa: E402
from mvtutorial.config import config_from_dict  # noqa: E402
from mvtutorial.evaluate import SplitCodes, mi_matrix, mi_summary  # noqa: E402
from mvtutorial.studies.headline import headline_results  # noqa: E402
from mvtutorial.studies.separation import study_results
from mvtutorial.results import mi_frame, mi_sums, mi_table, result_factors  # noqa: E402
from mvtutorial.studies.separation import family_of  # noqa: E402
from mvtutorial.studies.transfer import heldout_results, transfer_results  # noqa: E402


def _planted_codes(names=("timbre", "frequency"), columns=("waveform", "freq_class"), seed=0, per_cell=12):
    """The shared factor (4 classes) only in the shared code, the other (21 classes) only in the private
    code; every other dimension is noise."""
    rng = np.random.default_rng(seed)
    a, b = (v.ravel() for v in np.meshgrid(np.arange(4), np.arange(21), indexing="ij"))
    a, b = np.repeat(a, per_cell), np.repeat(b, per_cell)
    n = a.size
    private = rng.standard_normal((n, 4))
    private[:, 1] = b + 0.2 * rng.standard_normal(n)
    shared = rng.standard_normal((n, 4))
    shared[:, 2] = 3 * a + 0.2 * rng.standard_normal(n)
    zeros = np.zeros((n, 4))
    factors = pd.DataFrame({columns[0]: a, columns[1]: b})
    return SplitCodes(private, shared, shared.copy(), zeros, zeros, factors, zeros, dict(zip(names, columns)))


def _saved_result(tmp_path, codes, name="seed0.json", seed=0, reverse_keys=False):
    """The MI entries of a result as evaluate_model writes them, saved and read back as JSON.

    ``reverse_keys``: write the JSON by hand with every mapping in reverse key order (a writer that
    does not sort), instead of :func:`atomic_write_json` (which sorts)."""
    result = {"seed": seed, "factors": codes.factor_info(), **mi_summary(mi_matrix(codes), codes.factor_info())}
    path = tmp_path / name
    if reverse_keys:
        def rev(obj):
            return {k: rev(obj[k]) for k in reversed(list(obj))} if isinstance(obj, dict) else obj
        path.write_text(json.dumps(rev(result)))
    else:
        atomic_write_json(result, path)
    return read_json(path)


def _panel(fig, factor):
    """The heat map axis whose title names ``factor``, and its image rows by subspace label."""
    hits = [ax for ax in fig.axes if ax.get_title().startswith(f"MI with {factor}")]
    assert len(hits) == 1, [ax.get_title() for ax in fig.axes]
    ax = hits[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    image = np.asarray(ax.images[0].get_array())
    return {row: image[i] for i, row in enumerate(rows)}


def test_planted_result_draws_timbre_in_the_shared_row(tmp_path):
    result = _saved_result(tmp_path, _planted_codes())
    assert list(result["mi_matrix"]["private/1"]) == ["frequency", "timbre"]  # sorted keys: the old trap
    frame = mi_frame([result])
    fig = plots.mi_matrix_figure(frame)
    timbre, frequency = _panel(fig, "timbre"), _panel(fig, "frequency")
    assert timbre["shared"].sum() > 1.0 > 20 * timbre["private"].sum()
    assert frequency["private"].sum() > 2.0 > 20 * frequency["shared"].sum()
    assert timbre["shared"].argmax() == 2 and frequency["private"].argmax() == 1  # dims 3 and 2
    # the sums beside each map, the table and the ratios say the same
    table = mi_table(frame, paper.MI_SUMS)
    assert table.loc[("timbre", "shared"), "sum"] == pytest.approx(timbre["shared"].sum())
    assert table.loc[("frequency", "private"), "sum"] == pytest.approx(frequency["private"].sum())
    assert table.loc[("timbre", "shared"), "belongs_in"] == "shared"
    assert table.loc[("timbre", "shared"), "paper sum"] == paper.MI_SUMS[("shared", "timbre")]
    assert list(table.index) == [("timbre", "private"), ("timbre", "shared"), ("frequency", "private"), ("frequency", "shared")]
    assert result["mi_ratio_timbre"] == pytest.approx(table.loc[("timbre", "shared"), "sum"] / table.loc[("timbre", "private"), "sum"])
    assert result["mi_ratio_frequency"] > 20 and result["mi_ratio_timbre"] > 20
    bars = {ax.get_title(): [p.get_height() for p in ax.patches] for ax in fig.axes if ax.get_title().startswith("sum over")}
    assert bars["sum over dims: timbre"][:2] == pytest.approx([timbre["private"].sum(), timbre["shared"].sum()])
    assert bars["sum over dims: timbre"][2:] == [paper.MI_SUMS[("private", "timbre")], paper.MI_SUMS[("shared", "timbre")]]
    plt.close(fig)


def test_other_factor_names_and_either_key_order(tmp_path):
    codes = _planted_codes(names=("instrument", "note"), columns=("instrument_label", "note_label"))
    sorted_keys = _saved_result(tmp_path, codes, "a.json")
    reversed_keys = _saved_result(tmp_path, codes, "b.json", reverse_keys=True)
    assert list(reversed_keys["mi_matrix"]["private/1"]) == ["note", "instrument"]
    frames = [mi_frame([r]) for r in (sorted_keys, reversed_keys)]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert set(frames[0].factor) == {"instrument", "note"}
    assert result_factors(reversed_keys)["instrument"]["belongs_in"] == "shared"
    fig = plots.mi_matrix_figure(frames[1], paper_sums=paper.MI_SUMS)  # the paper has no bars for these names
    inst = _panel(fig, "instrument (instrument_label)")
    note = _panel(fig, "note (note_label)")
    assert inst["shared"].sum() > 20 * inst["private"].sum() and note["private"].sum() > 20 * note["shared"].sum()
    assert all(len(ax.patches) == 2 for ax in fig.axes if ax.get_title().startswith("sum over"))
    assert reversed_keys["mi_ratio_instrument"] > 20 and reversed_keys["mi_ratio_note"] > 20
    plt.close(fig)


def test_mi_frame_refuses_what_it_cannot_label():
    with pytest.raises(ValueError, match="no results"):
        mi_frame([])
    unnamed = {"mi_matrix": {"private/1": {"loudness": 0.1, "colour": 0.2}}, "chance": {"loudness": 0.5, "colour": 0.5}}
    with pytest.raises(ValueError, match="names no factor roles.*'loudness'"):
        mi_frame([unnamed])
    with pytest.raises(TypeError, match="bare array has no factor names"):
        plots.mi_matrix_figure(np.zeros((3, 2, 8, 2)))


def _families():
    """Every shipped family of results that a chapter draws an MI figure or table for."""
    families = {"headline (chapter 4)": headline_results()}
    by_family = defaultdict(list)
    for r in study_results():
        by_family[family_of(config_from_dict(r["config"]))].append(r)
    families.update({f"separation {k} (chapter 6)": v for k, v in by_family.items()})
    by_name = defaultdict(list)
    for r in transfer_results():
        by_name[r["name"]].append(r)
    families.update({f"instruments {k} (chapter 9)": v for k, v in by_name.items()})
    families["instruments, held-out bank (chapter 9)"] = heldout_results()
    return families


def test_every_shipped_family_table_equals_its_json_sums():
    families = _families()
    assert len(families) >= 6 and all(len(runs) >= 1 for runs in families.values())
    for name, runs in families.items():
        table = mi_table(mi_frame(runs))
        for (factor, subspace), row in table.iterrows():
            expected = np.mean([r["mi_sums"][f"{subspace}/{factor}"] for r in runs])
            assert row["sum"] == pytest.approx(expected, rel=1e-9), (name, factor, subspace)
            assert row["n"] == len(runs)
        for r in runs:  # and the ratios stored beside them read the same way
            s = r["mi_sums"]
            assert r["mi_ratio_timbre"] == pytest.approx(s["shared/timbre"] / max(s["private/timbre"], 1e-12)), name
            assert r["mi_ratio_frequency"] == pytest.approx(s["private/frequency"] / max(s["shared/frequency"], 1e-12)), name


def test_shipped_headline_figure_puts_each_factor_under_its_own_title():
    """The issue's numbers: averaged over seeds, private/frequency 3.17 and private/timbre 0.83 nats."""
    runs = headline_results()
    fig = plots.mi_matrix_figure(mi_frame(runs))
    timbre, frequency = _panel(fig, "timbre"), _panel(fig, "frequency")
    for factor, panel in (("timbre", timbre), ("frequency", frequency)):
        for subspace in ("private", "shared"):
            expected = np.mean([r["mi_sums"][f"{subspace}/{factor}"] for r in runs])
            assert panel[subspace].sum() == pytest.approx(expected, rel=1e-9)
    assert frequency["private"].sum() == pytest.approx(3.17, abs=0.01) and timbre["private"].sum() == pytest.approx(0.83, abs=0.01)
    plt.close(fig)


def _runs():
    """Three seeds of 'a' (1, 2, 3; 10, 20, 30), two of 'b' (one value missing), one of 'c'."""
    return pd.DataFrame({"row": ["b", "a", "a", "b", "a", "c"], "seed": [0, 0, 1, 1, 2, 0],
                         "x": [4.0, 1.0, 2.0, np.nan, 3.0, 7.0], "y": [0.5, 10.0, 20.0, 0.7, 30.0, 0.1]})


def test_seed_stats_known_answer():
    from mvtutorial.results import seed_stats

    stats = seed_stats(_runs(), "row", ["x", "y"])
    assert list(stats.index) == ["b", "a", "c"]  # order of first appearance
    assert list(stats.columns) == [(v, s) for v in ("x", "y") for s in ("mean", "sd", "n")]
    assert stats.loc["a", ("x", "mean")] == 2.0 and stats.loc["a", ("x", "sd")] == 1.0 and stats.loc["a", ("x", "n")] == 3
    assert stats.loc["a", ("y", "sd")] == 10.0
    assert stats.loc["b", ("x", "mean")] == 4.0 and stats.loc["b", ("x", "n")] == 1 and np.isnan(stats.loc["b", ("x", "sd")])
    assert stats.loc["b", ("y", "mean")] == pytest.approx(0.6) and stats.loc["b", ("y", "n")] == 2
    assert np.isnan(stats.loc["c", ("y", "sd")])
    assert list(seed_stats(_runs(), ["row"]).columns.get_level_values(0).unique()) == ["seed", "x", "y"]
    assert seed_stats(_runs().iloc[:0], "row").empty


def test_format_stats_and_side_by_side():
    from mvtutorial.results import format_stats, seed_stats, side_by_side

    stats = seed_stats(_runs(), "row", ["x", "y"])
    text = format_stats(stats, digits={"y": 1})
    assert text.loc["a", "x"] == "2.00\u00a0±\u00a01.00" and text.loc["a", "y"] == "20.0\u00a0±\u00a010.0"
    assert text.loc["b", "x"] == "4.00" and text.loc["c", "y"] == "0.1"  # one run: no sd
    gap = stats.copy()
    gap.loc["a", ("x", "mean")] = np.nan
    assert format_stats(gap).loc["a", "x"] == "–"
    two = side_by_side({"first": stats, "second": stats.loc[["a"]]}, {"y": "why", "x": "ex", "z": "missing"},
                       rows={"a": "A", "c": "C"}, digits=0)
    assert list(two.index) == ["why", "ex"]
    assert list(two.columns) == [("A", "first"), ("A", "second"), ("C", "first")]
    assert two.loc["ex", ("A", "second")] == "2\u00a0±\u00a01"
    partial = side_by_side({"first": stats, "second": stats[["y"]]}, {"x": "ex"}, rows={"a": "A"})
    assert partial.loc["ex", ("A", "second")] == "–"  # a value one table lacks


def test_stats_reader_ranks_and_spreads():
    from mvtutorial.results import StatsReader, seed_stats

    read = StatsReader(seed_stats(_runs(), "row", ["x", "y"]))
    assert read("a", "x") == "2.00" and read("a", "y", 0) == "20" and read("zz", "x") == "n/a"
    assert read.mean_sd("a", "x") == "2.00\u00a0±\u00a01.00" and read.mean_sd("b", "x", 1) == "4.0" and read.mean_sd("zz", "x") == "n/a"
    assert read.pct("c", "y") == "10 %" and read.pct("b", "y", 1) == "60.0 %" and read.n("b", "x") == 1 and read.n("zz", "x") == 0
    assert list(read.ranking("x").index) == ["c", "b", "a"] and list(read.ranking("x", rows=["a", "b"], largest=False).index) == ["a", "b"]
    assert read.rank_word("c", "x") == "the highest" and read.rank_word("b", "x") == "the second highest"
    assert read.rank_word("a", "x") == "the third highest" and read.rank_word("a", "x", largest=False) == "the lowest"
    assert read.rank_word("zz", "x") == "n/a"
    assert read.best("x") == "c" and read.best("x", rows=["a", "b"], largest=False) == "a" and read.best("x", rows=["zz"]) is None
    assert read.best_other("c", "x") == "b, 4.00" and read.best_other("a", "x") == "c, 7.00"
    assert read.best_other("a", "x", rows=["a"]) == "n/a"
    assert not read.within_spread("a", "b", "x")  # |2 - 4| > 1 + 0 (one run of b: no sd)
    close = StatsReader(seed_stats(pd.DataFrame({"row": list("aaabb"), "x": [1.0, 2.0, 3.0, 2.5, 3.5]}), "row"))
    assert close.within_spread("a", "b", "x") and not close.within_spread("a", "zz", "x")  # |2 - 3| <= 1 + 0.71; NaN never


def test_stats_reader_says_which_codes_hold_a_factor():
    from mvtutorial.results import StatsReader, seed_stats

    runs = pd.DataFrame({"row": ["m", "m"], "shared/timbre": [0.9, 0.8], "private/timbre": [0.5, 0.7], "private/pitch": [0.2, 0.2],
                         "shared/pitch": [0.5, 0.6]})
    read = StatsReader(seed_stats(runs, "row"))
    assert read.holds("m", "shared/timbre", 0.25) and read.holds("m", "private/timbre", 0.2)  # 0.6 >= 0.6
    assert not read.holds("m", "private/timbre", 0.25) and not read.holds("zz", "shared/timbre", 0.0)
    assert read.held_in("m", "timbre", 0.25) == "in the shared code only"
    assert read.held_in("m", "timbre", 0.2) == "in every code" and read.held_in("m", "pitch", 0.3) == "in no code"
    assert read.held_in("m", "timbre", 0.25, codes=("private",)) == "in no code"



def test_wins_by_seed_pairs_by_seed_and_counts_falls_where_lower_is_better():
    from mvtutorial.results import wins_by_seed

    challenger = pd.DataFrame({"accuracy": [0.9, 0.7, 0.8, 0.99], "leak": [0.1, 0.3, 0.2, 0.0]}, index=[2, 0, 1, 5])
    baseline = pd.DataFrame({"leak": [0.2, 0.2, 0.2], "accuracy": [0.8, 0.8, 0.8]}, index=[0, 1, 2])  # seed 5 has no partner
    wins = wins_by_seed(challenger, baseline, lower_is_better=("leak",))
    # seed 2 wins both (0.9 > 0.8, 0.1 < 0.2); seed 0 loses both (0.7, 0.3); seed 1 ties both, and a tie is no win
    assert wins.to_dict() == {"accuracy": "1/3", "leak": "1/3"}
    assert wins_by_seed(challenger, baseline).to_dict() == {"accuracy": "1/3", "leak": "1/3"}  # leak rising wins then: seed 0 only
