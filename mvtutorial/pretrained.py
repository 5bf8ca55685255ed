"""The project's own trained checkpoints and results, shipped inside the package.

``assets/`` holds what ``python -m mvtutorial.reproduce`` produced (see
``assets/README.md`` for the exact command): slim checkpoints of the headline
configuration for three seeds, their evaluation JSON, and the ablation sweep
results. Chapters in ``full`` mode read these instead of retraining; ``fast``
mode (CI) always trains a tiny model in seconds.
"""
from __future__ import annotations

from pathlib import Path

from .cache import cache_dir, read_json
from .checkpoint import load_checkpoint, load_model
from .config import TrainConfig
from .training import TrainResult, train

__all__ = ["ASSETS", "HEADLINE_SEEDS", "headline_run_dir", "headline_config", "headline_model", "headline_results", "asset_path", "recommended_model", "study_results", "baseline_results", "baseline_timing"]

ASSETS = Path(__file__).parent / "assets"
HEADLINE_SEEDS = (0, 1, 2)


def headline_config(mode: str = "full", seed: int = 0, **overrides) -> TrainConfig:
    """The headline configuration: reconstruction + gamma * DWKL (alpha = beta = 0), see chapter 3."""
    return TrainConfig.preset(mode, seed=seed, **overrides)


def headline_run_dir(seed: int) -> Path:
    """Run folder (in the cache) where the full headline run of ``seed`` trains; shared with
    ``python -m mvtutorial.reproduce`` so either resumes the other's run."""
    return cache_dir() / "runs" / f"headline-seed{seed}"


def asset_path(*parts: str) -> Path:
    return ASSETS.joinpath(*parts)


def _shipped_seeds(folder: str) -> list[int]:
    return sorted(int(p.stem[4:]) for p in asset_path(folder).glob("seed*.pt") if p.stem[4:].isdigit())


def _finished_in_cache(run_dir: Path, config: TrainConfig) -> bool:
    """Whether ``run_dir`` holds a finished run of ``config`` (loading it trains nothing)."""
    try:
        return bool(load_checkpoint(run_dir, config).get("finished"))
    except (ValueError, FileNotFoundError):  # none there, or of another config or version
        return False


def _refuse_training(folder: str, seed: int, run_dir: Path, config: TrainConfig) -> None:
    raise ValueError(f"no shipped {folder} checkpoint for seed {seed!r} (shipped seeds: {_shipped_seeds(folder)}) and no "
                     f"finished run in {run_dir}; pass train_if_missing=True to train the full preset there "
                     f"(up to {config.epochs} epochs, tens of minutes on a CPU), or use a shipped seed")


def headline_model(mode: str = "full", seed: int = 0, force_train: bool = False, progress: bool = True,
                   train_if_missing: bool = False):
    """``(model, history)`` of the headline configuration.

    ``fast``: trains the fast preset (seconds). ``full``: loads the shipped checkpoint for
    ``seed`` when present (and written by this package version; seeds :data:`HEADLINE_SEEDS` are
    shipped), else the finished run in the cache folder (:func:`headline_run_dir`). Otherwise
    it trains the full preset there (resumable) only when asked: ``train_if_missing=True``, or
    ``force_train`` (retrain even a shipped seed); else a ``ValueError`` names the shipped seeds.
    """
    config = headline_config(mode, seed=seed)
    shipped = asset_path("headline", f"seed{seed}.pt")
    if mode == "full" and not force_train and shipped.exists():
        ckpt = load_checkpoint(shipped, config)  # refuses another config or version, naming it
        return load_model(shipped), ckpt["history"]
    if mode == "fast":
        result: TrainResult = train(config, progress=progress)
        return result.model, result.history
    run_dir = headline_run_dir(seed)
    if not (force_train or train_if_missing or _finished_in_cache(run_dir, config)):
        _refuse_training("headline", seed, run_dir, config)  # a 30-epoch run must be asked for
    result = train(config, run_dir, resume=False if force_train else "auto", progress=progress)
    return result.model, result.history


def headline_results() -> list[dict]:
    """Evaluation JSON of the shipped headline runs (one dict per seed); empty list if none shipped."""
    return [read_json(p) for p in sorted(asset_path("headline").glob("seed*.json"))]


def recommended_model(mode: str = "full", seed: int = 0, progress: bool = True, train_if_missing: bool = False):
    """``(model, history)`` of the configuration the separation study recommends (chapter 6,
    :func:`mvtutorial.separation.recommended_config`).

    ``fast``: trains it on the fast preset (seconds). ``full``: loads the shipped checkpoint
    ``assets/recommended/seed{seed}.pt`` (written by ``python -m mvtutorial.reproduce separation``;
    seeds 0, 1, 2), else the finished run in the cache folder; it trains the full preset there
    (resumable) only with ``train_if_missing=True``, else a ``ValueError`` names the shipped seeds.
    """
    from .separation import recommended_config

    config = recommended_config(mode, seed=seed)
    shipped = asset_path("recommended", f"seed{seed}.pt")
    if mode == "full" and shipped.exists():
        ckpt = load_checkpoint(shipped, config)  # refuses another config or version, naming it
        return load_model(shipped), ckpt["history"]
    out = None if mode == "fast" else cache_dir() / "runs" / f"recommended-seed{seed}"
    if out is not None and not (train_if_missing or _finished_in_cache(out, config)):
        _refuse_training("recommended", seed, out, config)
    result = train(config, out, progress=progress)
    return result.model, result.history


def study_results() -> list[dict]:
    """Evaluation JSON of every shipped separation-study run (``assets/separation``); empty if none."""
    return [read_json(p) for p in sorted(asset_path("separation").glob("*.json"))]


def baseline_results() -> list[dict]:
    """Evaluation JSON of every shipped chapter 8 run (``assets/baselines``, timing file aside); empty if none."""
    return [read_json(p) for p in sorted(asset_path("baselines").glob("*.json")) if p.name != "timing.json"]


def baseline_timing() -> dict | None:
    """``assets/baselines/timing.json`` (seconds per epoch of each baseline, measured interleaved), or ``None``."""
    path = asset_path("baselines", "timing.json")
    return read_json(path) if path.exists() else None
