"""Chapter 9's study: the tone configurations unchanged, the shipped instrument results and checkpoints
consistent with their configs, data and package version, and a result for other data refused."""
from __future__ import annotations

import json

import pytest

from mvtutorial.checkpoint import load_checkpoint
from mvtutorial.config import config_to_dict
from mvtutorial.experiments import run_key
from mvtutorial.studies.store import asset_path
from mvtutorial.studies.headline import headline_config
from mvtutorial.studies.separation import RECOMMENDED, recommended_config
from mvtutorial.studies.transfer import STUDY_CONFIGS, TRANSFER_SEEDS, heldout_config, heldout_input_ceiling, heldout_results, instrument_spec, transfer_config, transfer_grid, transfer_markdown, transfer_results, transfer_swap_records


def test_configurations_are_the_tone_sets_unchanged():
    for seed in (0, 2):
        assert transfer_config("headline", seed) == headline_config("full", seed=seed)
        assert transfer_config("recommended", seed) == recommended_config("full", seed=seed)
    assert STUDY_CONFIGS["recommended"][0] == RECOMMENDED
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
