"""Everything the chapters and the package import is declared, so each chapter runs alone on Colab.

A chapter on Colab has only what the runtime ships plus what its first cell installs
(``mvtutorial[chapters]``, see ``tools.book.colab_cell_source``). Chapter 4 once failed there at
``import umap``: the package's dependencies did not include it and the cell installed no extra.
These tests parse every import statement (top level or nested) of every chapter and every package
module, map each top-level module to the distribution that provides it in this environment, and
require it to be the standard library, the package itself, Jupyter's own IPython, or a requirement
declared in ``pyproject.toml``: the core dependencies for the package, plus the extras the
chapter's install cell names for a chapter.
"""
from __future__ import annotations

import ast
import functools
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from tools import book

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
MODULES = sorted((ROOT / "mvtutorial").rglob("*.py"))
#: Provided by any Jupyter kernel the chapters run in (Colab included), not installed by the cell.
KERNEL_PROVIDED = {"IPython", "ipykernel"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _declared(extras: set[str]) -> set[str]:
    """Normalised names of the core dependencies plus those of ``extras``."""
    project = _pyproject()
    reqs = list(project["dependencies"])
    for extra in extras:
        assert extra in project.get("optional-dependencies", {}), f"pyproject.toml has no extra {extra!r}"
        reqs += project["optional-dependencies"][extra]
    return {_normalise(Requirement(r).name) for r in reqs}


def _names(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return {node.module.split(".")[0]}
    return set()


def _top_level_imports(source: str, where: str, module_level_only: bool = False) -> set[str]:
    """Top-level names of the modules ``source`` imports: every import statement, or with
    ``module_level_only`` only those run on import (statements of the module body itself, not
    inside functions, classes or ``try`` blocks)."""
    # IPython magics and shell escapes are not Python; drop them before parsing
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    tree = ast.parse("\n".join(lines), filename=where)
    nodes = tree.body if module_level_only else ast.walk(tree)
    return set().union(*(_names(node) for node in nodes))


@functools.lru_cache(maxsize=1)
def _providers() -> dict[str, list[str]]:
    return packages_distributions()  # top-level module -> distributions; slow, so computed once


def _undeclared(modules: set[str], declared: set[str]) -> list[str]:
    """The imported modules that no declared requirement provides, with what does provide them."""
    providers = _providers()
    missing = []
    for name in sorted(modules):
        if name in sys.stdlib_module_names or name == "mvtutorial" or name in KERNEL_PROVIDED or name == "__future__":
            continue
        dists = {_normalise(d) for d in providers.get(name, [])}
        if not dists & declared:
            missing.append(f"{name} (from {', '.join(sorted(dists)) or 'no installed distribution'})")
    return missing


def _install_extras(nb) -> set[str]:
    first = next(c for c in nb.cells if c.cell_type == "code")
    found = re.findall(r"mvtutorial\[([^\]]*)\] @ git\+", first.source)
    return {e.strip() for group in found for e in group.split(",") if e.strip()}


def test_colab_cell_installs_the_chapters_extra():
    assert _install_extras(nbformat.from_dict({"cells": [{"cell_type": "code", "source": book.colab_cell_source(ROOT / "_config.yml")}]})) \
        == {book.COLAB_EXTRA}
    assert book.COLAB_EXTRA in _pyproject()["optional-dependencies"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_chapter_imports_are_installed_by_its_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    extras = _install_extras(nb)
    imports = set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            imports |= _top_level_imports(cell.source, f"{path.name} cell {i}")
    missing = _undeclared(imports, _declared(extras))
    assert not missing, (f"{path.name} imports {missing}, which neither the package's dependencies nor the extras its "
                         f"Colab cell installs ({sorted(extras)}) provide: add them to the "
                         f"'{book.COLAB_EXTRA}' extra in pyproject.toml")


@pytest.mark.parametrize("path", MODULES, ids=[p.relative_to(ROOT).as_posix() for p in MODULES])
def test_package_imports_are_dependencies(path):
    """What a module imports on import is a core dependency; an optional import (inside a
    function or a ``try``) comes from a declared extra."""
    source, rel = path.read_text(encoding="utf-8"), path.relative_to(ROOT)
    missing = _undeclared(_top_level_imports(source, str(path), module_level_only=True), _declared(set()))
    assert not missing, f"{rel} imports {missing} on import: add them to [project] dependencies in pyproject.toml"
    optional = _undeclared(_top_level_imports(source, str(path)), _declared(set(_pyproject().get("optional-dependencies", {}))))
    assert not optional, f"{rel} imports {optional}, which no requirement or extra of pyproject.toml provides: declare an extra"


@pytest.mark.parametrize("path", MODULES, ids=[p.relative_to(ROOT).as_posix() for p in MODULES])
def test_progress_bars_come_from_the_progress_module(path):
    """tqdm.auto in a Jupyter kernel without ipywidgets prints a TqdmWarning with a local path on the
    page of every chapter that imports the package; mvtutorial._progress picks the bar without it."""
    if path.name == "_progress.py":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    direct = sorted({n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                     and n.module.startswith("tqdm.") and n.module != "tqdm.std"}
                    | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
                       if a.name.startswith(("tqdm.auto", "tqdm.notebook", "tqdm.autonotebook"))})
    assert not direct, f"{path.relative_to(ROOT)} imports {direct}: use `from ._progress import tqdm`"


def test_requirements_txt_installs_the_chapters_extra():
    """The local install (README) gets what Colab gets."""
    listed = {_normalise(Requirement(line.split("#")[0].strip()).name)
              for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
              if line.split("#")[0].strip() and not line.strip().startswith("-")}
    assert _declared({book.COLAB_EXTRA}) <= listed, sorted(_declared({book.COLAB_EXTRA}) - listed)


def test_the_check_catches_an_undeclared_import():
    """Known answer: umap without the extra is reported, with it is not."""
    imports = _top_level_imports("import numpy as np\nimport umap\n%matplotlib inline\nfrom librosa import display", "x")
    assert imports == {"numpy", "umap", "librosa"}
    assert _top_level_imports("import numpy\ndef f():\n    import umap\n", "x", module_level_only=True) == {"numpy"}
    assert _undeclared(imports, _declared(set())) == ["umap (from umap-learn)"]
    assert _undeclared(imports, _declared({"chapters"})) == []


def test_the_wheel_ships_every_asset():
    """Every file under ``mvtutorial/assets`` (the shipped checkpoints and results the chapters read in full mode)
    matches a package-data pattern, so ``pip install`` users get the chapters' results, not only editable installs."""
    import glob

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mvtutorial"]
    package = ROOT / "mvtutorial"
    shipped = {Path(f) for pattern in patterns for f in glob.glob(str(package / pattern), recursive=True) if Path(f).is_file()}
    assets = {f for f in (package / "assets").rglob("*") if f.is_file()}
    assert len(assets) > 200 and sorted(map(str, assets - shipped)) == []
