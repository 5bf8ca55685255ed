"""Every shipped checkpoint and result must load with this package version (BOOK.md pitfall 5)."""
import json

import pytest
import torch

from mvtutorial.pretrained import ASSETS, headline_config
from mvtutorial.train import _config_dict, load_checkpoint, load_model

CHECKPOINTS = sorted((ASSETS / "headline").glob("*.pt"))
RESULTS = sorted(ASSETS.glob("**/*.json"))


def test_assets_are_shipped():
    assert CHECKPOINTS, "no shipped headline checkpoints: run python -m mvtutorial.reproduce headline"


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.name)
def test_checkpoint_loads_and_matches_headline_preset(path):
    ckpt = load_checkpoint(path)  # refuses another package version
    seed = ckpt["config"]["seed"]
    assert ckpt["config"] == _config_dict(headline_config("full", seed=seed))
    model = load_model(path)
    x = torch.rand(3, *ckpt["input_shape"])
    assert model.private_code(x).shape == (3, model.config.private_dim)
    result = json.loads(path.with_suffix(".json").read_text())
    assert result["config"] == ckpt["config"] and result["seed"] == seed


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_result_json_is_complete(path):
    result = json.loads(path.read_text())
    assert result["version"]
    assert result["probes"] and all(0.0 <= v <= 1.0 for v in result["probes"].values())
    assert set(result["mi_sums"]) == {"private/timbre", "private/frequency", "shared/timbre", "shared/frequency"}
