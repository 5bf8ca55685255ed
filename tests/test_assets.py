"""Every shipped checkpoint and result must load with this package version (a checkpoint that drifted from the code must fail here, not in a reader's notebook)."""
import json

import pytest
import torch

from mvtutorial.studies.ablation import ablation_grid, gamma_beta_grid
from mvtutorial.experiments import pending_runs
from mvtutorial.studies.store import ASSETS
from mvtutorial.studies.headline import headline_config
from mvtutorial.checkpoint import load_checkpoint, load_model
from mvtutorial.config import config_to_dict

CHECKPOINTS = sorted((ASSETS / "headline").glob("*.pt"))
RECOMMENDED_CHECKPOINTS = sorted((ASSETS / "recommended").glob("*.pt"))
RESULTS = sorted(p for p in ASSETS.glob("**/*.json") if p.parent.name not in ("swap", "per_class", "diverged", "axis", "comb", "alias_comb")
                 # swap scores, checked below; per-class tables, diverged runs, pitch axes and combs of the pitch study
                 # (tests/test_pitch_study.py); chapter 7.6's pitch-blur ceiling (tests/test_alias_comb.py)
                 and p.name not in ("input_ceiling.json", "timing.json")  # input classifier (test_transfer), baseline timing
                 and not p.name.startswith("extras-"))  # swaps, judges and confusion of chapter 10's runs (tests/test_banks.py)


def test_assets_are_shipped():
    assert CHECKPOINTS, "no shipped headline checkpoints: run python -m mvtutorial.reproduce headline"


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.name)
def test_checkpoint_loads_and_matches_headline_preset(path):
    ckpt = load_checkpoint(path)  # refuses another package version
    seed = ckpt["config"]["seed"]
    assert ckpt["config"] == config_to_dict(headline_config("full", seed=seed))
    model = load_model(path)
    x = torch.rand(3, *ckpt["input_shape"])
    assert model.private_code(x).shape == (3, model.config.private_dim)
    result = json.loads(path.with_suffix(".json").read_text())
    assert result["config"] == ckpt["config"] and result["seed"] == seed


@pytest.mark.parametrize("path", CHECKPOINTS + RECOMMENDED_CHECKPOINTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_checkpoint_carries_a_checksum_of_its_weights(path):
    """Every shipped checkpoint is verified on load (no 'stores no weights checksum' warning)."""
    import warnings

    from mvtutorial.checkpoint import weights_checksum

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ckpt = load_checkpoint(path)
    assert len(ckpt["checksum"]) == 64 and ckpt["checksum"] == weights_checksum(ckpt)


@pytest.mark.parametrize("path", RECOMMENDED_CHECKPOINTS, ids=lambda p: p.name)
def test_recommended_checkpoint_loads_and_matches_its_config(path):
    from mvtutorial.studies.separation import recommended_config

    ckpt = load_checkpoint(path)
    seed = ckpt["config"]["seed"]
    assert ckpt["config"] == config_to_dict(recommended_config("full", seed=seed))
    assert load_model(path).shared_code(torch.rand(2, *ckpt["input_shape"])).shape == (2, 8)
    result = json.loads(path.with_suffix(".json").read_text())
    assert result["config"] == ckpt["config"] and "samples" in result


def test_shipped_study_covers_chapter_6():
    """Chapters 4-6 in full mode read these: every study family x 3 seeds, the re-test of chapter 5,
    the estimator runs and the recommended checkpoints."""
    from mvtutorial.studies.ablation import estimator_grid, recommended_ablation_grid
    from mvtutorial.studies.separation import study_grid

    for grid, folder, command in ((study_grid(), "separation", "separation"), (recommended_ablation_grid(), "retest", "retest"),
                                  (estimator_grid(), "estimator", "estimator")):
        missing = pending_runs(grid, ASSETS / folder)
        assert not missing, f"{len(missing)} run(s) missing in assets/{folder}: python -m mvtutorial.reproduce {command}"
    assert [p.name for p in RECOMMENDED_CHECKPOINTS] == ["seed0.pt", "seed1.pt", "seed2.pt"]


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_result_json_is_complete(path):
    result = json.loads(path.read_text())
    assert result["version"]
    assert result["probes"] and all(0.0 <= v <= 1.0 for v in result["probes"].values())
    assert set(result["mi_sums"]) == {"private/timbre", "private/frequency", "shared/timbre", "shared/frequency"}


def test_shipped_sweeps_cover_chapter_5():
    """Chapter 5 in full mode reads these; a version bump or config change must regenerate them."""
    missing = pending_runs(ablation_grid(seeds=(0, 1, 2)), ASSETS / "ablation")
    assert not missing, f"{len(missing)} ablation run(s) missing: python -m mvtutorial.reproduce ablation"
    interior = [c for c in gamma_beta_grid(seeds=(0, 1, 2)) if c.gamma > 0 and c.beta > 0]
    missing = pending_runs(interior, ASSETS / "sweep2d")
    assert not missing, f"{len(missing)} gamma x beta run(s) missing: python -m mvtutorial.reproduce sweep2d"


def test_readme_tables_match_the_shipped_results():
    """The README's numbers are printed by ``reproduce table`` from the shipped files, never typed in."""
    from pathlib import Path

    from mvtutorial.reproduce import README_TABLES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name, make in README_TABLES.items():
        table = make()
        assert table in readme, f"README's {name} table differs from `python -m mvtutorial.reproduce table`"


def test_shipped_swap_scores_cover_both_configurations():
    from mvtutorial import __version__
    from mvtutorial.studies.listening import SWAP_CONFIGS, swap_records
    from mvtutorial.studies.separation import label

    records = swap_records()  # each names its family by its display label
    assert sorted((r["config"], r["train_seed"]) for r in records) == sorted((label(c), s) for c in SWAP_CONFIGS for s in (0, 1, 2))
    for r in records:
        assert r["n_pairs"] == 2000 and 0 <= r["swap_both"] <= min(r["swap_timbre"], r["swap_frequency"])
        assert r["version"] == __version__, f"{r['checkpoint']}: swap score of another package version"


def test_shipped_baselines_cover_chapter_8():
    from mvtutorial.studies.baselines import baseline_grid
    from mvtutorial.studies.baselines import baseline_timing

    missing = pending_runs(baseline_grid(seeds=(0, 1, 2)), ASSETS / "baselines")
    # contrastive only, seed 2 diverged (NaN loss in epoch 10): reported in chapter 8 and the README
    assert [(c.objective, c.seed) for c in missing] == [("contrastive_only", 2)]
    timing = baseline_timing()
    assert timing is not None and len(timing["seconds_per_epoch"]) == 8


def test_every_asset_folder_is_described():
    """The assets README says, for every shipped folder, what it holds and which command regenerates it."""
    readme = (ASSETS / "README.md").read_text()
    folders = sorted(p.name for p in ASSETS.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    assert folders and [f for f in folders if f"`{f}/" not in readme] == []
