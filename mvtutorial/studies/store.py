"""Where the studies' results live: the shipped ``assets/`` folder, the output folder of
``python -m mvtutorial.reproduce``, and the cache folders runs train in.

The library below knows no assets folder; every study reads and writes through this module.
A run trains in :func:`mvtutorial.experiments.run_dir` ``(config, study)``, one folder per
configuration, so a chapter that trains a configuration and the ``reproduce`` command that trains
the same one resume each other.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from ..cache import cache_dir, read_json
from ..checkpoint import load_checkpoint
from ..config import TrainConfig
from ..experiments import run_dir
from ..sweeps import run_sweep

__all__ = ["ASSETS", "asset_path", "shipped_seeds", "read_records", "in_checkout", "output_root", "shipped_input", "where",
           "finished_in_cache", "refuse_training", "sweep_into"]

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def asset_path(*parts: str) -> Path:
    """``assets/<parts>`` (the package's shipped results)."""
    return ASSETS.joinpath(*parts)


def shipped_seeds(folder: str) -> list[int]:
    """Seeds with a shipped slim checkpoint ``assets/<folder>/seed{S}.pt``, sorted."""
    return sorted(int(p.stem[4:]) for p in asset_path(folder).glob("seed*.pt") if p.stem[4:].isdigit())


def read_records(folder: str | Path, pattern: str = "*.json", skip: Sequence[str] = ()) -> list[dict]:
    """Every JSON record of ``folder`` (a path, or a name under ``assets/``), sorted by file name; empty if none."""
    folder = Path(folder) if isinstance(folder, Path) or Path(folder).is_absolute() else asset_path(folder)
    return [read_json(p) for p in sorted(folder.glob(pattern)) if p.name not in skip]


def in_checkout() -> bool:
    """Whether the package runs from a source checkout (``pyproject.toml`` and ``.git`` beside it,
    e.g. ``pip install -e .``), where ``reproduce`` regenerates the shipped ``assets/`` in place."""
    root = ASSETS.parent.parent
    return (root / "pyproject.toml").is_file() and (root / ".git").exists()


def output_root(out: str | Path | None = None, into_assets: bool = False) -> Path:
    """The folder ``reproduce`` writes into (``<root>/<what>/...``): ``out`` when given; the package's
    ``assets/`` with ``into_assets`` or in a source checkout (:func:`in_checkout`); else
    ``cache_dir()/reproduce``, so an installed package is never written into."""
    if out is not None and into_assets:
        raise ValueError("give either an output folder (--out) or --into-assets, not both")
    if out is not None:
        return Path(out).expanduser()
    return ASSETS if into_assets or in_checkout() else cache_dir() / "reproduce"


def shipped_input(root: Path, *parts: str) -> Path:
    """An earlier step's output: ``root/parts`` when this output folder has it, else the shipped one."""
    mine = Path(root).joinpath(*parts)
    return mine if mine.exists() else ASSETS.joinpath(*parts)


def where(root: Path, folder: str) -> str:
    """``assets/<folder>`` for the shipped folder, else the full path (for messages)."""
    return f"assets/{folder}" if Path(root) == ASSETS else str(Path(root) / folder)


def finished_in_cache(folder: Path, config: TrainConfig) -> bool:
    """Whether ``folder`` holds a finished run of ``config`` (loading it trains nothing)."""
    try:
        return bool(load_checkpoint(folder, config).get("finished"))
    except (ValueError, FileNotFoundError):  # none there, or of another config or version
        return False


def refuse_training(folder: str, seed: int, run_folder: Path, config: TrainConfig) -> None:
    """The ``ValueError`` of a model getter asked for a seed that is neither shipped nor trained."""
    raise ValueError(f"no shipped {folder} checkpoint for seed {seed!r} (shipped seeds: {shipped_seeds(folder)}) and no "
                     f"finished run in {run_folder}; pass train_if_missing=True to train the full preset there "
                     f"(up to {config.epochs} epochs, tens of minutes on a CPU), or use a shipped seed")


def sweep_into(configs, folder: str, n_jobs: int, threads: int | None, eval_kwargs: dict | None = None,
               by=("alpha", "beta", "gamma"), scheduler: str | None = None, write_on: str = "client",
               out: str | Path | None = None):
    """Run ``configs`` into ``<root>/<folder>`` (:func:`output_root` of ``out``; training state in
    ``run_dir(config, folder)``), print the mean probe accuracies by ``by`` and the wall time;
    returns the tidy results table.

    ``scheduler``: a Dask scheduler address (``tcp://host:8786``), or ``"local"`` for a LocalCluster of
    ``n_jobs`` worker processes, sends the runs to Dask (:func:`~mvtutorial.sweeps.run_sweep` with
    ``backend="dask"``): by default the results come back here and are written into ``<root>/<folder>``;
    ``write_on="workers"`` has the workers write them (a checkout they share). Each worker keeps training
    checkpoints in its own cache folder (the same place as here)."""
    t0 = time.perf_counter()
    dask = scheduler is not None
    table = run_sweep(configs, output_root(out) / folder, n_jobs=n_jobs, verbose=10,
                      runs_dir=None if dask else run_dir(None, folder), threads=threads, eval_kwargs=eval_kwargs,
                      backend="dask" if dask else "joblib", scheduler=None if scheduler in (None, "local") else scheduler,
                      **({"write_on": write_on} if dask else {}))
    print(table.groupby([*by, "latent", "factor"]).accuracy.mean().round(3).to_string())
    print(f"sweep wall time {time.perf_counter() - t0:.0f} s (n_jobs={n_jobs}, threads={threads})", flush=True)
    return table
