"""The registry of training objectives: name -> function (see :mod:`mvtutorial.objectives`)."""
from __future__ import annotations

from typing import Callable

from ..losses import LossTerms

__all__ = ["OBJECTIVES", "register_objective"]

#: name -> objective function ``(model, x1, x2, config, dataset_size, generator) -> LossTerms``
OBJECTIVES: dict[str, Callable[..., LossTerms]] = {}


def register_objective(name: str):
    """Decorator: make ``fn`` available as ``TrainConfig(objective=name)``."""
    def deco(fn):
        if name in OBJECTIVES:
            raise ValueError(f"objective {name!r} is already registered")
        OBJECTIVES[name] = fn
        return fn
    return deco
