"""Chapter 9's study: the tone configurations unchanged, the shipped instrument results and checkpoints
consistent with their configs, data and package version, and a result for other data refused."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from mvtutorial.checkpoint import load_checkpoint
from mvtutorial.config import TrainConfig, config_from_dict, config_to_dict
from mvtutorial.experiments import run_key
from mvtutorial.studies.store import asset_path
from mvtutorial.studies.headline import headline_config
from mvtutorial.studies.separation import RECOMMENDED_STANDARD as RECOMMENDED_ID, family_config, label, recommended_config

RECOMMENDED = label(RECOMMENDED_ID)  # its row in the tables
from mvtutorial.studies.transfer import FAMILY, STUDY_CONFIGS, TRANSFER_SEEDS, heldout_config, heldout_input_ceiling, heldout_results, instrument_spec, transfer_config, transfer_grid, transfer_markdown, transfer_results, transfer_swap_records


def test_configurations_are_the_tone_sets_unchanged():
    for seed in (0, 2):
        assert transfer_config("headline", seed) == headline_config("full", seed=seed)
        # the recommended objective at the preset's schedule: the tones' decoder stage is not carried over
        assert transfer_config("recommended", seed) == family_config(RECOMMENDED_ID, seed) == dataclasses.replace(
            recommended_config("full", seed=seed), epochs=30, patience=TrainConfig().patience, decoder_epochs=0, swap_consistency=0.0,
            swap_pitch_consistency=0.0)
    assert STUDY_CONFIGS["recommended"][0] == RECOMMENDED_ID
    assert len(transfer_grid()) == 2 * len(TRANSFER_SEEDS)
    with pytest.raises(ValueError, match="unknown configuration 'paper'"):
        transfer_config("paper")


def test_heldout_preset_tests_on_the_other_bank():
    config = heldout_config()
    assert config.soundfonts == ("TimGM6mb",) and config.test_soundfont == "FluidR3_GM"
    from mvtutorial.data import spec_difference
    from mvtutorial.data.instruments import instrument_spec as spec_of

    assert spec_difference(spec_of(config), instrument_spec("full")) == ["config.test_soundfont: 'FluidR3_GM' != None"]


@pytest.mark.skipif(not asset_path("instruments").is_dir(), reason="no shipped instrument results")
def test_shipped_results_and_checkpoints_match_their_configs():
    records = transfer_results()
    assert {(r["name"], r["seed"]) for r in records} == {(n, s) for n in STUDY_CONFIGS for s in TRANSFER_SEEDS}
    for r in records:
        config = transfer_config(r["name"], r["seed"])
        assert r["config"] == config_to_dict(config) and r["key"] == run_key(config)
        assert r["data"] == instrument_spec("full")
        assert {"probes", "samples", "scores", "mi_matrix"} <= set(r)
        ckpt = load_checkpoint(asset_path("instruments", f"{r['name']}-seed{r['seed']}.pt"), config)
        assert ckpt["data"] == instrument_spec("full") and ckpt["best"]["epoch"] == r["best_epoch"]
    swaps = transfer_swap_records()
    assert {(s["name"], s["train_seed"]) for s in swaps} == {(n, s) for n in STUDY_CONFIGS for s in TRANSFER_SEEDS}
    assert all(s["data"] == instrument_spec("full") and s["n_pairs"] == 2000 for s in swaps)
    assert all(s["config"] == FAMILY[s["name"]] for s in swaps)  # the row label, as the tone records carry it
    held = heldout_results()
    assert sorted(r["seed"] for r in held) == list(TRANSFER_SEEDS)
    for r in held:
        assert r["data"]["config"]["test_soundfont"] == "FluidR3_GM" and r["config"] == config_to_dict(transfer_config("recommended", r["seed"]))
    ceiling = heldout_input_ceiling()
    assert set(ceiling) == {"timbre", "frequency"} and all(0 <= v <= 1 for v in ceiling.values())
    table = transfer_markdown()
    assert "| paper (headline) | TimGM6mb | 3 |" in table and f"| {RECOMMENDED} | TimGM6mb | 3 |" in table


def test_a_result_for_other_data_is_refused(tmp_path):
    config = transfer_config("recommended", 0)
    record = {"key": run_key(config), "config": config_to_dict(config), "data": {**instrument_spec("full"), "seed": 7}}
    (tmp_path / f"{run_key(config)}.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="trained on other data than the 'full' instrument preset"):
        transfer_results(folder=tmp_path)


def test_note_names_known_answers():
    from mvtutorial.studies.transfer import note_name

    assert [note_name(n) for n in (60, 61, 69, 80, 21, 127)] == ["C4", "C#4", "A4", "G#5", "A0", "G9"]


def test_note_grid_picks_the_loudest_test_note_of_each_cell():
    from types import SimpleNamespace

    from mvtutorial.studies.transfer import note_grid

    rows = [(i, 60 + p, v, split) for i in range(2) for p in range(5) for v, split in ((40, "test"), (90, "test"), (120, "train"))]
    factors = pd.DataFrame(rows, columns=["instrument", "midi_note", "velocity", "split"])
    ds = SimpleNamespace(config=SimpleNamespace(pitch_low=60, n_pitches=5, programs=(0, 40)), factors=factors,
                         split_indices=lambda split: np.flatnonzero(factors.split.to_numpy() == split))
    grid, notes = note_grid(ds, n_notes=3)
    assert notes == [60, 62, 64] and grid.shape == (2, 3)
    picked = factors.loc[grid.ravel()]
    assert (picked.velocity == 90).all() and (picked.split == "test").all()  # the loudest *test* note
    assert picked.instrument.tolist() == [0, 0, 0, 1, 1, 1] and picked.midi_note.tolist() == [60, 62, 64] * 2


def test_swap_stats_means_over_seeds_per_family():
    from mvtutorial.studies.transfer import SWAP_ROWS, swap_stats

    records = [{"config": "a", **{k: 0.5 for k in SWAP_ROWS}, "swap_both": b} for b in (0.2, 0.4)] + [{"config": "b", **{k: 1.0 for k in SWAP_ROWS}}]
    table = swap_stats(records)
    assert list(table.index) == ["a", "b"] and table.loc["a", ("swap_both", "mean")] == pytest.approx(0.3)
    assert table.loc["a", ("swap_both", "n")] == 2 and np.isnan(table.loc["b", ("swap_both", "sd")])
    assert list(table.columns.get_level_values(0).unique()) == SWAP_ROWS


@pytest.mark.skipif(not asset_path("instruments").is_dir(), reason="no shipped instrument results")
def test_chapter_tables_of_the_shipped_runs():
    from mvtutorial.studies.separation import study_table
    from mvtutorial.studies.transfer import FAMILY, LABELS, chapter_swaps, probe_table, runs_of, tone_results

    records = transfer_results()
    table = probe_table(records)
    assert list(table.index) == list(LABELS) == [FAMILY["headline"], FAMILY["recommended"]]
    pd.testing.assert_frame_equal(table.drop(columns=["chance/timbre", "chance/frequency"], level=0), study_table(records))
    assert table.loc[RECOMMENDED, ("chance/timbre", "mean")] == pytest.approx(1 / 8)  # 8 instruments
    assert table.loc[RECOMMENDED, ("chance/frequency", "mean")] == pytest.approx(1 / 21)
    assert len(runs_of(records, RECOMMENDED)) == len(TRANSFER_SEEDS)
    tones = tone_results()
    assert {(r.get("data") or {}).get("source", "tones") for r in tones} == {"tones"}  # chapter 6's runs: tones
    assert len(runs_of(tones, RECOMMENDED)) == len(TRANSFER_SEEDS)
    assert chapter_swaps("full", None, {}) == transfer_swap_records()


def test_before_after_known_answer_and_reading():
    from mvtutorial.studies import transfer_previous as tp
    from mvtutorial.studies.separation import PREVIOUS, RECOMMENDED_STANDARD as RECOMMENDED, family_config, label

    def run(family, seed, pitch, instrument):
        probes = {"private/frequency": pitch, "shared/timbre": 1.0, "private/timbre": instrument, "shared/frequency": 0.2}
        return {"config": config_to_dict(family_config(family, seed)),
                "samples": {"probes": probes, "mi_ratio_timbre": 1.0, "mi_ratio_frequency": 1.0}}

    rows = [label(PREVIOUS), label(RECOMMENDED)]
    before = {"runs": [run(PREVIOUS, 0, 0.98, 0.2), run(PREVIOUS, 1, 0.96, 0.3)], "heldout": [run(PREVIOUS, 0, 0.9, 0.2)],
              "swaps": [{"config": rows[0], "swap_both": 0.97, "swap_frequency": 0.98}]}
    after = {"runs": [run(RECOMMENDED, 0, 0.96, 0.1)], "heldout": [run(RECOMMENDED, 0, 0.8, 0.1)],
             "swaps": [{"config": rows[1], "swap_both": 0.9, "swap_frequency": 0.9}, {"config": rows[0], "swap_both": 0.0, "swap_frequency": 0.0}]}
    table = tp.before_after(before, after, rows)
    assert table.loc[rows[0], "private -> pitch"] == pytest.approx(0.97) and table.loc[rows[0], "private -> instrument"] == pytest.approx(0.25)
    assert table.loc[rows[1], "swap: both right"] == pytest.approx(0.9)  # only the records of its own row
    assert table.loc[rows[1], "other bank: private -> pitch"] == pytest.approx(0.8)
    text = tp.before_after_reading(table)
    assert "private → pitch 0.97 → 0.96" in text and "cost some here (swap: both right, other bank: private -> pitch" in text
    with pytest.raises(ValueError, match="two configurations"):
        tp.before_after(before, after, rows[:1])


@pytest.mark.skipif(not asset_path("instruments", "previous").is_dir(), reason="no kept previous results")
def test_kept_previous_results_are_the_previous_configuration():
    from mvtutorial.studies import transfer_previous as tp
    from mvtutorial.studies.separation import PREVIOUS, family_config, label

    kept = tp.previous_records()
    assert sorted(r["seed"] for r in kept["runs"]) == sorted(r["seed"] for r in kept["heldout"]) == list(TRANSFER_SEEDS)
    for r in kept["runs"] + kept["heldout"]:
        assert r["config"] == config_to_dict(family_config(PREVIOUS, r["seed"]))
    assert sorted(s["train_seed"] for s in kept["swaps"]) == list(TRANSFER_SEEDS)
    assert all(s["config"] == label(PREVIOUS) and "tracker" in s["judges"] for s in kept["swaps"])
    assert not tp.shipped_before_after().isna().any().any()


def _schedule_run(family, seed, pitch, instrument):
    from mvtutorial.studies.separation import family_config

    probes = {"private/frequency": pitch, "shared/timbre": 1.0, "private/timbre": instrument, "shared/frequency": 0.1}
    return {"config": config_to_dict(family_config(family, seed)), "seed": seed,
            "samples": {"probes": probes, "mi_ratio_timbre": 1.0, "mi_ratio_frequency": 1.0}}


def test_schedule_table_known_answer_and_reading():
    """Runs are placed by their config's family, swaps by their row label and seed; means, sd and n over seeds; wins
    are paired by seed, a factor in the wrong code counting as a win when it falls; the reading applies the rule."""
    from mvtutorial.studies import transfer_schedule as ts
    from mvtutorial.studies.separation import DECODER_STAGE, RECOMMENDED_STANDARD, label

    old, new = label(RECOMMENDED_STANDARD), label(DECODER_STAGE)
    swap = lambda config, seed, timbre, pitch: {"config": config, "train_seed": seed, "swap_timbre": timbre,  # noqa: E731
                                                "swap_frequency": pitch, "swap_both": timbre * pitch}
    standard = {"runs": [_schedule_run(RECOMMENDED_STANDARD, 0, 0.96, 0.16), _schedule_run(RECOMMENDED_STANDARD, 1, 0.94, 0.16)],
                "swaps": [swap(old, 0, 0.97, 0.93), swap(old, 1, 0.99, 0.91)]}
    staged = {"runs": [_schedule_run(DECODER_STAGE, 1, 0.90, 0.10), _schedule_run(DECODER_STAGE, 0, 0.97, 0.22)],
              "swaps": [swap(new, 1, 0.995, 0.95), swap(new, 0, 0.98, 0.92)]}
    frame = ts.schedule_frame(standard, staged)
    assert frame.loc[(frame.configuration == new) & (frame.seed == 0), "swap: both right"].item() == pytest.approx(0.98 * 0.92)
    table = ts.schedule_table(frame)
    assert list(table.index) == [old, new]
    assert table.loc[old, ("private -> pitch", "mean")] == pytest.approx(0.95)
    assert table.loc[old, ("private -> pitch", "sd")] == pytest.approx(np.std([0.96, 0.94], ddof=1))
    assert table.loc[new, ("private -> instrument", "mean")] == pytest.approx(0.16)
    assert (table.xs("n", axis=1, level=1) == 2).all().all()
    wins = ts.seed_wins(frame)
    assert wins["private -> pitch"] == "1/2"  # 0.97 > 0.96 (seed 0), 0.90 < 0.94 (seed 1)
    assert wins["private -> instrument"] == "1/2"  # lower is better: 0.10 < 0.16 (seed 1) only
    assert wins["swap: instrument follows shared donor"] == "2/2" and wins["swap: pitch follows private donor"] == "1/2"
    text = ts.schedule_reading(table, wins)
    assert "private -> pitch 0.950 → 0.935 (wins in 1/2 seeds)" in text
    assert "carries over" in ts.schedule_reading(table, wins)  # it wins the swap-timbre column in both seeds
    lost = wins.copy()
    lost["swap: instrument follows shared donor"] = "1/2"
    assert "rises in 1 of 2 seeds only" in ts.schedule_reading(table, lost) and "keep the preset's schedule" in ts.schedule_reading(table, lost)


def test_shipped_schedule_study_is_the_tones_staged_schedules_on_the_notes():
    """The shipped runs of the tones' two staged schedules on the notes, three seeds each: each family's config (decoder
    stage included), chapter 9's data, a swap record per family and seed under the family's row label; the table has
    the preset's row and both staged rows, with n = 3 in every column."""
    from mvtutorial.studies import transfer_schedule as ts
    from mvtutorial.studies.separation import DECODER_STAGE, RECOMMENDED_STANDARD, SWAP_CONSISTENCY, family_of, label

    shipped = ts.schedule_records()
    assert ts.SCHEDULES == (DECODER_STAGE, SWAP_CONSISTENCY)
    runs = sorted((family_of(config_from_dict(r["config"])), r["seed"]) for r in shipped["runs"])
    assert runs == sorted((f, s) for f in ts.SCHEDULES for s in TRANSFER_SEEDS)
    for r in shipped["runs"]:
        family = family_of(config_from_dict(r["config"]))
        assert r["config"] == config_to_dict(ts.schedule_config(r["seed"], family=family)) and r["data"] == instrument_spec("full")
        assert r["config"]["decoder_epochs"] == 60
    swaps = sorted((s["config"], s["train_seed"]) for s in shipped["swaps"])
    assert swaps == sorted((label(f), s) for f in ts.SCHEDULES for s in TRANSFER_SEEDS)
    assert all(s["data"] == instrument_spec("full") for s in shipped["swaps"])
    table = ts.schedule_table(ts.schedule_frame(ts.standard_records(), shipped))
    assert list(table.index) == [label(RECOMMENDED_STANDARD), label(DECODER_STAGE), label(SWAP_CONSISTENCY)]
    with pytest.raises(ValueError, match="unknown schedule 'paper'"):
        ts.schedule_config(0, family="paper")
    assert (table.xs("n", axis=1, level=1) == len(TRANSFER_SEEDS)).all().all()
