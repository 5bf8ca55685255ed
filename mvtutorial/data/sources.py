"""The registry of data sources: a checkpoint's data spec back to its dataset.

Every dataset says where it came from (:meth:`~mvtutorial.data.dataset.FactorDataset.spec`,
``{"source": name, ...}``), and checkpoints store that spec. :func:`load_from_spec` turns it back
into the dataset (from the cache when it is there), so a run is evaluated or resumed on the data it
was trained on. The built-in sources (``"tones"``, ``"instruments"``, ``"folder"``) are registered
here, by this module's own imports; :func:`register_data_source` adds another.
"""
from __future__ import annotations

from typing import Callable

from . import folder, instruments, tones
from .dataset import FactorDataset, spec_difference

__all__ = ["DATA_SOURCES", "register_data_source", "load_from_spec", "spec_difference"]

#: Data sources by name: ``spec -> dataset``.
DATA_SOURCES: dict[str, Callable[[dict], FactorDataset]] = {
    "tones": tones.from_spec,
    "instruments": instruments.from_spec,
    "folder": folder.from_spec,
}


def register_data_source(name: str, loader: Callable[[dict], FactorDataset]) -> None:
    """Make ``load_from_spec({"source": name, ...})`` call ``loader(spec)``.

    Raises ``ValueError`` if ``name`` is already registered.
    """
    if name in DATA_SOURCES:
        raise ValueError(f"data source {name!r} is already registered")
    DATA_SOURCES[name] = loader


def load_from_spec(spec: dict) -> FactorDataset:
    """Rebuild (or load from the cache) the dataset a checkpoint was trained on.

    Raises ``ValueError`` naming the registered sources when the spec's source is not one of them.
    """
    source = spec.get("source") if isinstance(spec, dict) else None
    if source not in DATA_SOURCES:
        raise ValueError(f"unknown data source {source!r} in {spec!r}; registered: {sorted(DATA_SOURCES)} "
                         "(pass the dataset explicitly, or register its source with register_data_source)")
    return DATA_SOURCES[source](spec)
