"""The package's progress bar: tqdm's notebook widget where one can be drawn, its text bar elsewhere.

``tqdm.auto`` chooses the widget bar inside Jupyter; when ``ipywidgets`` is not installed it warns
(``TqdmWarning: IProgress not found``, printed with a path of the machine that ran it) and falls
back to the text bar. Choosing the text bar directly in that case gives the same bar without the
warning, which otherwise shows on every executed page of the book that imports the package.
"""
from __future__ import annotations

import importlib.util

if importlib.util.find_spec("ipywidgets") is None:
    from tqdm.std import tqdm
else:  # Colab and most Jupyter installs: the widget bar in notebooks, the text bar in terminals
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
