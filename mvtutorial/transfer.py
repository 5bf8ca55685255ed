"""From tones to instruments (chapter 9): the tone set's two configurations trained on sampled notes.

The paper's configuration (the headline, :func:`mvtutorial.pretrained.headline_config`) and the one
the separation study recommends (:func:`mvtutorial.separation.recommended_config`) are trained,
unchanged, on the sampled-instrument set (:mod:`mvtutorial.instruments`), 3 seeds each, and scored
with the separation study's evaluation (:data:`mvtutorial.separation.STUDY_EVAL`), so every number
sits beside its tone-set counterpart. ``python -m mvtutorial.reproduce instruments`` (resumable)
writes ``assets/instruments/<key>.json`` and the slim checkpoints
``assets/instruments/{headline,recommended}-seed{S}.pt``; chapters in full mode read them and never
train.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from .cache import cache_dir, read_json
from .checkpoint import export_checkpoint, load_checkpoint, load_model
from .config import TrainConfig
from .features import FeatureConfig
from .instruments import CACHE_FORMAT, InstrumentConfig, load_instrument_dataset
from .pretrained import asset_path, headline_config
from .separation import RECOMMENDED, STUDY_EVAL, recommended_config

__all__ = ["STUDY_CONFIGS", "TRANSFER_SEEDS", "transfer_config", "transfer_grid", "instrument_spec",
           "run_transfer_study", "transfer_results", "transfer_model"]

#: Short name -> (separation-study family, builder of its TrainConfig(mode, seed)).
STUDY_CONFIGS = {
    "headline": ("paper (headline)", lambda mode, seed: headline_config(mode, seed=seed)),
    "recommended": (RECOMMENDED, lambda mode, seed: recommended_config(mode, seed=seed)),
}
TRANSFER_SEEDS = (0, 1, 2)
FOLDER = "instruments"


def transfer_config(name: str, seed: int = 0, mode: str = "full") -> TrainConfig:
    """The :class:`TrainConfig` of ``name`` (``"headline"`` or ``"recommended"``): the tone set's own, unchanged."""
    if name not in STUDY_CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; choose from {list(STUDY_CONFIGS)}")
    return STUDY_CONFIGS[name][1](mode, seed)


def transfer_grid(seeds: Sequence[int] = TRANSFER_SEEDS, mode: str = "full") -> list[tuple[str, TrainConfig]]:
    """Every (name, config) of the study, configuration-major."""
    return [(name, transfer_config(name, s, mode)) for name in STUDY_CONFIGS for s in seeds]


def instrument_spec(mode: str = "full", seed: int = 0) -> dict:
    """The data spec of the instrument preset ``mode`` (what shipped runs must have been trained on), without rendering."""
    config = InstrumentConfig.preset(mode)
    return {"source": "instruments", "format": CACHE_FORMAT, "config": asdict(config),
            "feature_config": asdict(FeatureConfig(sample_rate=config.sample_rate)), "seed": seed}


def run_transfer_study(seeds: Sequence[int] = TRANSFER_SEEDS, out: str | Path | None = None, threads: int | None = 1,
                       mode: str = "full", progress: bool = True) -> list[dict]:
    """Train and evaluate every run of :func:`transfer_grid` that has no valid result in ``out``
    (default ``assets/instruments``), export its slim checkpoint beside it, return all results.

    Resumable: finished runs are skipped, an interrupted run continues from its last epoch
    (run folders in the cache, ``runs/instruments/<key>``).
    """
    from .experiments import pending_runs, run_key, run_one

    out = Path(out) if out is not None else asset_path(FOLDER)
    ds = load_instrument_dataset(mode, progress=progress)
    runs = cache_dir() / "runs" / FOLDER
    grid = transfer_grid(seeds, mode)
    todo = {run_key(c) for c in pending_runs([c for _, c in grid], out)}
    for name, config in grid:
        if run_key(config) in todo:
            if progress:
                print(f"training {name} seed {config.seed} on the instrument set", flush=True)
            record = run_one(config, out, threads=threads, eval_kwargs=STUDY_EVAL, runs_dir=runs, dataset=ds)
            if progress:
                print(f"  done in {record['seconds']:.0f} s ({record['epochs']} epochs)", flush=True)
        checkpoint = out / f"{name}-seed{config.seed}.pt"
        if not checkpoint.exists() and (runs / run_key(config)).exists():
            export_checkpoint(runs / run_key(config), checkpoint)
    return transfer_results(seeds, out, mode)


def transfer_results(seeds: Sequence[int] = TRANSFER_SEEDS, folder: str | Path | None = None, mode: str = "full") -> list[dict]:
    """The shipped (or ``folder``'s) results of the study that exist, each with a ``"name"`` key.

    Raises ``ValueError`` when a result was trained on other data than the instrument preset ``mode``.
    """
    from .experiments import run_key

    folder = Path(folder) if folder is not None else asset_path(FOLDER)
    expected = instrument_spec(mode)
    out = []
    for name, config in transfer_grid(seeds, mode):
        path = folder / f"{run_key(config)}.json"
        if path.exists():
            record = read_json(path)
            if record.get("data") != expected:
                raise ValueError(f"{path} was trained on other data than the {mode!r} instrument preset; "
                                 "regenerate it with `python -m mvtutorial.reproduce instruments`")
            out.append({**record, "name": name})
    return out


def transfer_model(name: str, seed: int = 0, folder: str | Path | None = None):
    """``(model, history)`` of a shipped run of the study (``assets/instruments/{name}-seed{seed}.pt``);
    refuses a checkpoint of another config, package version or data set, naming the difference."""
    config = transfer_config(name, seed)
    path = (Path(folder) if folder is not None else asset_path(FOLDER)) / f"{name}-seed{seed}.pt"
    ckpt = load_checkpoint(path, config)
    if ckpt.get("data") != instrument_spec("full"):
        raise ValueError(f"checkpoint {path} was trained on other data than the full instrument preset; "
                         "regenerate it with `python -m mvtutorial.reproduce instruments`")
    return load_model(path), ckpt["history"]
