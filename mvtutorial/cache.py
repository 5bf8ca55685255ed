"""Atomic writes, content hashes and the on-disk cache folder.

Everything the package writes (datasets, checkpoints, results) goes through
:func:`atomic_write`, so a run killed mid-write leaves either the old file or
the new one, never half of one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["cache_dir", "config_hash", "atomic_write", "atomic_write_json", "read_json"]


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Folder for cached datasets: ``path``, else ``$MVTUTORIAL_CACHE``, else ``~/.cache/mvtutorial``."""
    if path is None:
        path = os.environ.get("MVTUTORIAL_CACHE") or Path.home() / ".cache" / "mvtutorial"
    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def config_hash(*objs: Any, length: int = 16) -> str:
    """Stable hex digest of dataclasses / plain values (key order independent)."""
    blob = json.dumps([_jsonable(o) for o in objs], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    If the body raises (or the process dies), ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_write(path, "w") as fh:
        json.dump(_jsonable(obj), fh, indent=2, sort_keys=True)
        fh.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read JSON, raising ``ValueError`` naming the file if it is truncated or corrupt."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"corrupt JSON file {path}: {err}") from err
