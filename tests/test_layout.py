"""The package's import structure, drawn from its source: the library below knows no study, and no
import (top level or inside a function) closes a circle.

Library modules (everything outside ``mvtutorial/studies/`` and the ``reproduce`` / ``__main__``
entry points) may not import a study: the library knows no chapter, family label or assets folder.
Studies import the library and each other without circles; nothing imports the package's
``__init__`` (it imports everything).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "mvtutorial"
ENTRY_POINTS = {"mvtutorial.reproduce", "mvtutorial.__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """Package modules ``name`` imports, anywhere in its file (``from .x import y`` -> ``x.y`` when that is a module)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    base = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mvtutorial"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = base.split(".")
                pkg = pkg[: len(pkg) - (node.level - 1)]
                module = ".".join(pkg + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "mvtutorial":
                continue
            subs = {f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES}
            found |= subs if subs and len(subs) == len(node.names) else {module} | subs
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _is_study(name: str) -> bool:
    return name.startswith("mvtutorial.studies")


def test_the_graph_is_drawn_from_real_imports():
    """A known edge of each kind, so the checks below cannot pass on an empty graph."""
    assert "mvtutorial.training" in GRAPH["mvtutorial.experiments"]  # top level
    assert "mvtutorial.objectives.registry" in GRAPH["mvtutorial.objectives.baselines"]  # relative, inside a package
    assert "mvtutorial.studies.separation" in GRAPH["mvtutorial.studies.ablation"]
    assert "mvtutorial.studies.swaps" in GRAPH["mvtutorial.reproduce"]


def test_the_library_imports_no_study():
    upward = {(name, dep) for name, deps in GRAPH.items() if not _is_study(name) and name not in ENTRY_POINTS
              for dep in deps if _is_study(dep) or dep in ENTRY_POINTS}
    assert not upward, f"library modules importing a study or an entry point (an upward arrow): {sorted(upward)}"


def test_nothing_imports_the_package_init():
    offenders = sorted(name for name, deps in GRAPH.items() if "mvtutorial" in deps)
    assert not offenders, f"modules importing mvtutorial/__init__ (which imports everything): {offenders}"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_planted_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    # a package's __init__ importing its own submodules (to register them) is not a circle unless one imports it back
    found = _cycle({n: {d for d in deps if d != "mvtutorial"} for n, deps in GRAPH.items() if n != "mvtutorial"})
    assert found is None, "import circle: " + " -> ".join(found)


def test_importing_the_objectives_alone_registers_every_objective():
    """In a fresh interpreter, ``mvtutorial.objectives`` registers the paper's and chapter 8's objectives
    (they used to register only because a study module happened to be imported)."""
    import subprocess
    import sys

    code = "import sys; sys.modules['mvtutorial'] = type(sys)('mvtutorial'); sys.modules['mvtutorial'].__path__ = [%r]\n" \
           "from mvtutorial.objectives import OBJECTIVES; print(sorted(OBJECTIVES))" % str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(sorted(["multiview", "single_view", "all_private", "all_shared", "ada_gvae", "contrastive_only"]))


def _code_lines(path: Path, node: ast.AST) -> int:
    """Non-blank, non-comment lines of a function's body, its docstring left out."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:] or body
    lines = path.read_text(encoding="utf-8").splitlines()[body[0].lineno - 1: node.end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_modules_and_functions_stay_short():
    """Files you can read top to bottom: no module over 350 lines, no function over 60 lines of code."""
    long_modules = {name: n for name, path in MODULES.items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > 350}
    assert not long_modules, f"modules over 350 lines: {long_modules}"
    long_functions = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (n := _code_lines(path, node)) > 60:
                long_functions[f"{name}.{node.name}"] = n
    assert not long_functions, f"functions over 60 lines of code: {long_functions}"


#: The only imports allowed inside function bodies: each defers an optional or slow dependency until
#: it is needed (the README's layout section names them).
DEFERRED_IMPORTS = {
    "umap": "evaluate: UMAP maps only (about 1.5 s to import, numba)",
    "fluidsynth": "data.soundfont: needs Debian's libfluidsynth3",
    "distributed": "sweeps: Dask sweeps only (the cluster extra)",
    "distributed.comm": "sweeps: Dask sweeps only (the cluster extra)",
    "IPython.display": "players: notebooks only (IPython is not a dependency)",
    "pesto": "trackers: the optional pitch-tracker extra",
}


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import statement inside a function body of ``path``."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    found += [(node.lineno, a.name) for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_function_imports_finder_sees_a_planted_one(tmp_path):
    planted = tmp_path / "m.py"
    planted.write_text("import os\n\ndef f():\n    import json\n    from .data import x\n    return json\n")
    assert _function_imports(planted) == [(4, "json"), (5, ".data")]


def test_imports_inside_functions_only_defer_named_optional_dependencies():
    found = {f"{MODULES[name].relative_to(ROOT.parent)}:{line}": module
             for name in MODULES for line, module in _function_imports(MODULES[name])}
    assert {k: m for k, m in found.items() if m not in DEFERRED_IMPORTS} == {}
    assert len(found) <= 8, found  # "a handful"
