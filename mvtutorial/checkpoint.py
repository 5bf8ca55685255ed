"""Checkpoints: one file per run folder, written atomically, checked on load.

A run folder holds ``checkpoint.pt`` (model, best weights, optimiser, RNG, history; rewritten
after every epoch) and ``history.json``. Every file stores a SHA-256 checksum of its weights
(:func:`weights_checksum`); :func:`load_checkpoint` refuses a file whose weights do not match it
(bytes flipped on disk or in transfer), one written by another package version, or one for another
config, naming the file and the difference; :func:`resume_state` is the one place that decides
whether a run folder can be resumed.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch

from ._version import __version__
from .cache import atomic_write, atomic_write_json
from .config import TrainConfig, config_from_dict, config_to_dict
from .data import spec_difference
from .model import MultiViewVAE

__all__ = ["CHECKPOINT", "HISTORY", "WEIGHT_KEYS", "weights_checksum", "save_checkpoint", "load_checkpoint", "load_model",
           "export_checkpoint", "resume_state"]

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
#: The state dicts of a checkpoint that :func:`weights_checksum` covers.
WEIGHT_KEYS = ("model", "best_model")


def weights_checksum(state: dict) -> str:
    """SHA-256 (hex) of the weights of a checkpoint dict: for each of :data:`WEIGHT_KEYS` present,
    every tensor in key order, hashed as its name, dtype, shape and raw bytes.

    Independent of where the tensors live (they are hashed from CPU copies) and of how the file was
    serialised, so re-saving the same weights gives the same checksum.
    """
    h = hashlib.sha256()
    for key in WEIGHT_KEYS:
        weights = state.get(key)
        if weights is None:
            continue
        h.update(f"[{key}]".encode())
        for name in sorted(weights):
            t = weights[name].detach().to("cpu").contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(out: str | Path, state: dict) -> None:
    """Write ``state`` (see :func:`mvtutorial.training.train`) to ``out/checkpoint.pt`` and a JSON
    summary to ``out/history.json``, each atomically (a killed write leaves the previous file).
    The file also stores ``checksum``, the :func:`weights_checksum` of the state."""
    out = Path(out)
    with atomic_write(out / CHECKPOINT) as fh:
        torch.save({**state, "checksum": weights_checksum(state)}, fh)
    atomic_write_json({"config": state["config"], "version": state["version"], "history": state["history"],
                       "best_epoch": state["best"]["epoch"], "finished": state["finished"]}, out / HISTORY)


def load_checkpoint(path: str | Path, config: TrainConfig | None = None, map_location="cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``) and check that its weights match the
    checksum stored with them, that it was written by this package version and (if given) for
    ``config``. Raises ``FileNotFoundError`` / ``ValueError`` naming the file.

    A file without a stored checksum (written before checksums were stored) still loads, with a
    warning that its weights cannot be verified; every file this package writes now has one, and
    so do the checkpoints shipped in ``mvtutorial/assets/``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"unreadable checkpoint {path}: {err}") from err
    if not isinstance(ckpt, dict) or not all(k in ckpt for k in ("version", "config", *WEIGHT_KEYS)):
        raise ValueError(f"unreadable checkpoint {path}: not a mvtutorial checkpoint (no version, config and weights)")
    stored = ckpt.get("checksum")
    if stored is None:
        warnings.warn(f"checkpoint {path} stores no weights checksum (written before checksums were stored); "
                      "its weights cannot be verified", stacklevel=2)
    elif weights_checksum(ckpt) != stored:
        raise ValueError(f"checkpoint {path} is corrupt: its weights do not match the checksum stored with them "
                         "(the file changed after it was written); retrain the run or copy the file again")
    if ckpt.get("version") != __version__:
        raise ValueError(
            f"checkpoint {path} was written by mvtutorial {ckpt.get('version')!r}, this is {__version__!r}; retrain it"
        )
    if config is not None and ckpt["config"] != config_to_dict(config):
        want = config_to_dict(config)
        diff = {k: (ckpt["config"].get(k), want.get(k)) for k in sorted(set(want) | set(ckpt["config"])) if ckpt["config"].get(k) != want.get(k)}
        raise ValueError(f"checkpoint {path} is for another config (field: (checkpoint, requested)): {diff}")
    return ckpt


def load_model(path: str | Path, which: str = "best", map_location="cpu") -> MultiViewVAE:
    """Rebuild the model of a run folder or checkpoint file (``which``: ``"best"`` or ``"last"`` weights)."""
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    ckpt = load_checkpoint(path, map_location=map_location)
    model = MultiViewVAE(config_from_dict(ckpt["config"]).model_config(tuple(ckpt["input_shape"])))
    model.load_state_dict(ckpt["best_model" if which == "best" else "model"])
    return model.eval()


def export_checkpoint(run_dir: str | Path, dest: str | Path) -> Path:
    """Write a slim copy of a finished run (best weights, config, version, history; no optimiser)."""
    ckpt = load_checkpoint(run_dir)
    slim = {k: ckpt[k] for k in ("version", "config", "input_shape", "epoch", "best", "history", "finished", "stopped_early")}
    slim["best_model"] = slim["model"] = ckpt["best_model"]
    if "data" in ckpt:
        slim["data"] = ckpt["data"]
    slim["checksum"] = weights_checksum(slim)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(dest) as fh:
        torch.save(slim, fh)
    return dest


def resume_state(out: str | Path | None, config: TrainConfig, resume: bool | str, map_location="cpu",
                 data: dict | None = None) -> dict | None:
    """The checkpoint to continue from, or None to start afresh.

    ``resume``: ``False`` starts afresh (an existing checkpoint is overwritten epoch by epoch);
    ``True`` requires a checkpoint of this config, version and data (``data``: the dataset's spec)
    in ``out``, else raises ``ValueError`` naming what differs; ``"auto"`` resumes when there is
    one, starts afresh when there is none, and starts afresh with a warning when the one there is
    for another config, version or dataset.
    """
    if resume not in (True, False, "auto"):
        raise ValueError(f"resume must be True, False or 'auto', got {resume!r}")
    if resume is False:
        return None
    if out is None:
        if resume == "auto":
            return None
        raise ValueError("resume=True needs out_dir")
    path = Path(out) / CHECKPOINT
    if resume == "auto" and not path.exists():
        return None
    try:
        ckpt = load_checkpoint(path, config, map_location=map_location)
        if data is not None and ckpt.get("data", data) != data:
            raise ValueError(f"checkpoint {path} was trained on another dataset (checkpoint != given: "
                             f"{'; '.join(spec_difference(ckpt['data'], data))}); pass the dataset it was trained on, "
                             "or resume=False to start afresh")
    except ValueError as err:
        if resume is True:
            raise
        warnings.warn(f"{err}; starting the run afresh", stacklevel=3)
        return None
    return ckpt
