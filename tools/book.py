"""Execute the book's chapters with papermill and build the website with Jupyter Book 1.x.

Usage (from the repository root)::

    python -m tools.book --mode fast            # execute every chapter, then build
    python -m tools.book --mode full --only 03_training --no-build
    python -m tools.book --sync-colab           # rewrite each chapter's Colab cell

``_toc.yml`` is the list of chapters: its ``.ipynb`` entries are executed in order, each
with ``MODE`` injected by papermill, into a staging copy of the book under
``_build/executed/`` (same layout as the repository). In fast mode each chapter runs with its
own empty cache folder; each executed copy is stamped with what it was run from
(:func:`fingerprint`), so the test suite can check a fresh copy instead of running it again.
The staging copy is then built with
``jupyter-book build --all _build/executed --path-output . -W``, so the website lands at
``_build/html/index.html``; launch (Colab) buttons point at the notebooks in the repository,
which are committed without outputs.

``_config.yml`` is the one place the repository URL and branch live; the Colab install
cell of every chapter is generated from it (:func:`colab_cell_source`).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

__all__ = [
    "BUILD_DIR",
    "STAGING_DIR",
    "load_yaml",
    "repository",
    "COLAB_EXTRA",
    "COLAB_APT",
    "colab_cell_source",
    "toc_entries",
    "chapters",
    "sync_colab",
    "check_kernel",
    "execute_chapter",
    "hide_injected_parameters",
    "fingerprint",
    "fresh_executed_copy",
    "stage_book",
    "build_html",
    "main",
]

BUILD_DIR = "_build"
STAGING_DIR = "_build/executed"
KERNEL_NAME = "python3"
MODES = ("fast", "full")
# Per-cell limit in seconds when --timeout is not given (None: no limit).
DEFAULT_CELL_TIMEOUT = {"fast": 900, "full": None}
# Files of the book folder that are never copied into the staging tree.
_SKIP_NAMES = {".ipynb_checkpoints", "__pycache__", ".DS_Store"}


class BookError(RuntimeError):
    """A problem that stops the run; its message is printed without a traceback."""


# --------------------------------------------------------------------------- #
# Configuration and table of contents
# --------------------------------------------------------------------------- #
def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a YAML file into a dict (empty file: empty dict)."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return data or {}


def repository(config_path: str | os.PathLike = "_config.yml") -> tuple[str, str]:
    """``(url, branch)`` of the repository as declared in ``_config.yml``."""
    repo = load_yaml(config_path).get("repository") or {}
    url = str(repo.get("url", "")).rstrip("/")
    branch = str(repo.get("branch", ""))
    if not url or not branch:
        raise BookError(f"{config_path}: repository.url and repository.branch must both be set")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    return url, branch


#: The package extra the Colab cell installs: what the chapters import beyond the package's own
#: dependencies (pyproject.toml); tests/test_dependencies.py checks every chapter's imports against it.
COLAB_EXTRA = "chapters"


#: Debian/Ubuntu packages a chapter's Colab cell installs with apt-get (Colab runs Ubuntu), by notebook
#: stem: chapter 9 renders notes with FluidSynth from a General MIDI SoundFont.
COLAB_APT: dict[str, tuple[str, ...]] = {"09_instruments": ("libfluidsynth3", "timgm6mb-soundfont")}


def colab_cell_source(config_path: str | os.PathLike = "_config.yml", apt: Sequence[str] = ()) -> str:
    """Canonical source of every chapter's first cell (tagged ``remove-cell``).

    On Colab it pip-installs the package with its ``chapters`` extra (:data:`COLAB_EXTRA`) from
    the repository URL and branch declared in ``_config.yml``; torch, torchaudio and numpy already
    in the runtime satisfy the requirements and are not reinstalled. ``apt``: system packages it
    installs first with apt-get (a chapter's entry in :data:`COLAB_APT`). Elsewhere it does nothing.
    """
    url, branch = repository(config_path)
    packages = " ".join(apt)
    apt_line = f'    subprocess.run("apt-get -qq update && apt-get -qq install -y {packages}", shell=True, check=True)\n' if apt else ""
    return (
        "# Colab only: install the package matching this page (no-op elsewhere).\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        f"{apt_line}"
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mvtutorial[{COLAB_EXTRA}] @ git+{url}@{branch}"], check=True)'
    )


def _walk_toc(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                yield str(node[key])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                yield from _walk_toc(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk_toc(child)


def _resolve(base: Path, entry: str) -> Path | None:
    path = base / entry
    if path.suffix in (".ipynb", ".md", ".rst"):
        return path if path.is_file() else None
    for suffix in (".ipynb", ".md", ".rst"):
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def toc_entries(toc_path: str | os.PathLike = "_toc.yml") -> list[tuple[str, Path | None]]:
    """Every file listed in ``_toc.yml`` (root first) with its resolved path, or ``None``
    when no ``.ipynb``/``.md``/``.rst`` file of that name exists."""
    toc_path = Path(toc_path)
    base = toc_path.parent
    return [(entry, _resolve(base, entry)) for entry in _walk_toc(load_yaml(toc_path))]


def chapters(toc_path: str | os.PathLike = "_toc.yml") -> list[Path]:
    """The notebook (``.ipynb``) chapters listed in ``_toc.yml``, in book order.

    Raises :class:`BookError` when an entry of the table of contents has no file.
    """
    missing = [entry for entry, path in toc_entries(toc_path) if path is None]
    if missing:
        raise BookError(f"{toc_path}: no file for {', '.join(missing)} (looked for .ipynb, .md, .rst)")
    return [path for _, path in toc_entries(toc_path) if path is not None and path.suffix == ".ipynb"]


# --------------------------------------------------------------------------- #
# Notebooks
# --------------------------------------------------------------------------- #
def _first_code_cell(nb) -> int | None:
    return next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"), None)


def sync_colab(notebooks: Iterable[Path], config_path: str | os.PathLike = "_config.yml") -> list[Path]:
    """Make the first code cell of each notebook the canonical Colab cell.

    A first code cell that already mentions ``google.colab`` is rewritten in place;
    otherwise the canonical cell is inserted at the top. Returns the notebooks changed.
    """
    import nbformat

    changed = []
    for path in notebooks:
        source = colab_cell_source(config_path, COLAB_APT.get(Path(path).stem, ()))
        nb = nbformat.read(path, as_version=4)
        i = _first_code_cell(nb)
        if i is not None and "google.colab" in nb.cells[i].source:
            cell = nb.cells[i]
            tags = list(cell.metadata.get("tags", []))
            if cell.source == source and "remove-cell" in tags and not cell.outputs and cell.execution_count is None:
                continue
            cell.source = source
            cell.outputs = []
            cell.execution_count = None
            if "remove-cell" not in tags:
                cell.metadata["tags"] = tags + ["remove-cell"]
        else:
            nb.cells.insert(0, nbformat.v4.new_code_cell(source, metadata={"tags": ["remove-cell"]}))
        nbformat.write(nb, path)
        changed.append(path)
    return changed


def check_kernel(name: str = KERNEL_NAME) -> str:
    """Make sure the Jupyter kernel ``name`` runs this interpreter; return its command.

    Jupyter replaces a bare ``python`` in a kernel spec with the interpreter that starts
    the kernel, which is this one. A spec pointing at another interpreter (for example a
    user-level spec shadowing the environment's) would run the chapters with other
    packages, so it is an error.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise BookError(
            f"no Jupyter kernel named {name!r}; install one for this environment with\n"
            f"  {sys.executable} -m ipykernel install --sys-prefix --name {name}"
        ) from None
    exe = spec.argv[0]
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    if exe not in bare and Path(exe).resolve() != Path(sys.executable).resolve():
        raise BookError(
            f"the Jupyter kernel {name!r} ({spec.resource_dir}) runs {exe}, not {sys.executable}.\n"
            f"Install a kernel spec for this environment with\n"
            f"  {sys.executable} -m ipykernel install --sys-prefix --name {name}\n"
            f"or remove the other spec (jupyter kernelspec list)."
        )
    return sys.executable if exe in bare else exe


def _check_parameters_cell(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise BookError(f"{path}: needs exactly one cell tagged 'parameters' (found {len(tagged)})")
    if "MODE" not in tagged[0].source:
        raise BookError(f"{path}: the 'parameters' cell does not define MODE")


def execute_chapter(src: Path, dst: Path, mode: str, timeout: float | None = None, isolate: bool = False) -> float:
    """Execute ``src`` with papermill into ``dst`` (``MODE`` injected, working directory
    the notebook's folder). Returns the wall time in seconds; a cell error raises
    :class:`BookError` naming the notebook and the cell.

    ``isolate``: the kernel gets its own empty cache folder (``MVTUTORIAL_CACHE``), removed
    afterwards, so the chapter cannot lean on files another chapter or an earlier run left (as
    when one chapter is opened on Colab). A successful run stamps ``dst``'s metadata with the
    mode, the isolation, the cell time limit and :func:`fingerprint`, which
    :func:`fresh_executed_copy` reads."""
    import tempfile

    import papermill
    from papermill.exceptions import PapermillExecutionError

    _check_parameters_cell(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()  # a failed run must not leave an earlier run's stamped copy behind
    inputs = fingerprint(src)  # before the run: an edit made while it runs makes the copy stale
    start = time.perf_counter()
    saved = os.environ.get("MVTUTORIAL_CACHE")
    cache = tempfile.TemporaryDirectory(prefix="mvtutorial-chapter-") if isolate else None
    try:
        if cache is not None:
            os.environ["MVTUTORIAL_CACHE"] = cache.name  # the kernel inherits the environment
        papermill.execute_notebook(
            str(src),
            str(dst),
            parameters={"MODE": mode},
            kernel_name=KERNEL_NAME,
            cwd=str(src.parent),
            progress_bar=False,
            execution_timeout=timeout,
        )
    except PapermillExecutionError as err:
        raise BookError(
            f"{src}: cell In[{err.exec_count}] failed with {err.ename}: {err.evalue}\n"
            f"(executed copy with the traceback: {dst})"
        ) from None
    except Exception as err:  # kernel died, timeout, ...
        raise BookError(f"{src}: execution failed: {type(err).__name__}: {err}") from None
    finally:
        if cache is not None:
            if saved is None:
                os.environ.pop("MVTUTORIAL_CACHE", None)
            else:
                os.environ["MVTUTORIAL_CACHE"] = saved
            cache.cleanup()
    seconds = time.perf_counter() - start
    hide_injected_parameters(dst, stamp={"mode": mode, "isolated": isolate, "timeout": timeout,
                                         "fingerprint": inputs, "seconds": round(seconds, 1)})
    return seconds


STAMP_KEY = "mvtutorial_execution"


def _root_of(src: Path) -> Path:
    """The repository root holding chapter ``src``: the nearest folder above it with a ``_toc.yml``."""
    for folder in Path(src).resolve().parents:
        if (folder / "_toc.yml").is_file():
            return folder
    raise BookError(f"{src} is not inside a book (no _toc.yml above it)")


def fingerprint(src: Path) -> str:
    """SHA-256 of everything a chapter's execution depends on here: the files of its folder (the
    chapter and its siblings), the package and ``tools/`` (code and shipped assets), and the
    versions of Python and the numerical libraries. Same fingerprint: same inputs to the run."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    src = Path(src).resolve()
    root = _root_of(src)
    h = hashlib.sha256()
    for folder in (src.parent, root / "mvtutorial", root / "tools"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not _SKIP_NAMES.intersection(p.parts)
                           and p.suffix != ".pyc"):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for package in ("torch", "torchaudio", "numpy", "scikit-learn", "papermill"):
        try:
            h.update(f"{package}=={version(package)};".encode())
        except PackageNotFoundError:
            h.update(f"{package} missing;".encode())
    h.update(sys.version.encode())
    return h.hexdigest()


def fresh_executed_copy(src: Path, mode: str, staging: Path | None = None, timeout: float | None = None) -> Path | None:
    """The executed copy of chapter ``src`` under ``staging`` (default ``_build/executed``) when
    it was run in ``mode`` with an isolated cache and the same cell time limit, finished without
    error, and its :func:`fingerprint` still matches; otherwise ``None``."""
    import nbformat

    src = Path(src).resolve()
    root = _root_of(src)
    dst = (Path(staging) if staging else root / STAGING_DIR) / src.relative_to(root)
    if not dst.exists():
        return None
    try:
        metadata = nbformat.read(dst, as_version=4).metadata
    except Exception:  # half-written or not a notebook: not fresh
        return None
    stamp = metadata.get(STAMP_KEY, {})
    ok = (stamp.get("mode") == mode and stamp.get("isolated") is True and stamp.get("timeout") == timeout
          and not metadata.get("papermill", {}).get("exception") and stamp.get("fingerprint") == fingerprint(src))
    return dst if ok else None


def hide_injected_parameters(path: Path, stamp: dict | None = None) -> int:
    """Tag the cell papermill injects after the ``parameters`` cell (tag ``injected-parameters``,
    a second ``# Parameters`` cell) ``remove-cell``, so the page shows the chapter's own parameters
    cell once; store ``stamp`` (if given) in the notebook metadata under ``mvtutorial_execution``.
    Returns the number of cells tagged."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    tagged = 0
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags", []))
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
            tagged += 1
    if stamp is not None:
        nb.metadata[STAMP_KEY] = stamp
    if tagged or stamp is not None:
        tmp = path.with_name(path.name + ".tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, path)  # atomic: a killed run leaves the old file or the new one
    return tagged


# --------------------------------------------------------------------------- #
# Staging tree and HTML build
# --------------------------------------------------------------------------- #
def stage_book(root: Path, staging: Path, notebooks: Iterable[Path]) -> None:
    """Copy the book sources (config, table of contents, every non-notebook file of the
    folders holding book pages) into ``staging``. Notebooks are written there by
    :func:`execute_chapter`; a listed notebook without an executed copy is copied as is.
    Staged files that no longer exist in the repository are removed."""
    root = root.resolve()
    staging.mkdir(parents=True, exist_ok=True)
    wanted: set[Path] = set()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, staging / name)
        wanted.add(staging / name)
    page_dirs = {p.parent.resolve() for _, p in toc_entries(root / "_toc.yml") if p is not None}
    for page_dir in sorted(page_dirs):
        for src in page_dir.rglob("*"):
            rel = src.relative_to(root)
            if not src.is_file() or src.suffix == ".ipynb" or _SKIP_NAMES.intersection(rel.parts):
                continue
            if page_dir == root and rel.parts[0] != src.name:
                continue  # a page at the repository root: copy its siblings, not the repository
            dst = staging / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            wanted.add(dst)
    for nb in notebooks:
        dst = staging / nb.resolve().relative_to(root)
        if not dst.exists():
            print(f"  note: {nb.relative_to(root)} was not executed; its unexecuted copy goes into the build")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(nb, dst)
        wanted.add(dst)
    for path in sorted(staging.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _jupyter_book_command() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        jb_version = version("jupyter-book")
    except PackageNotFoundError:
        raise BookError("jupyter-book is not installed (pip install 'jupyter-book>=1.0.4,<2')") from None
    if not jb_version.startswith("1."):
        raise BookError(f"jupyter-book {jb_version} is installed; this book needs 1.x ('jupyter-book>=1.0.4,<2')")
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())"]


def build_html(root: Path, staging: Path) -> float:
    """``jupyter-book build --all STAGING --path-output ROOT -W --keep-going``; returns the
    wall time. Any Sphinx warning fails the build."""
    cmd = _jupyter_book_command() + [
        "build", "--all", str(staging), "--path-output", str(root), "-W", "--keep-going",
    ]
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root)
    if proc.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit code {proc.returncode}); see the warnings above")
    return time.perf_counter() - start


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
@dataclass
class _Timing:
    name: str
    seconds: float


def _find_root(root: str | None) -> Path:
    if root is not None:
        candidates = [Path(root)]
    else:
        candidates = [Path.cwd(), Path(__file__).resolve().parents[1]]
    for cand in candidates:
        if (cand / "_toc.yml").is_file() and (cand / "_config.yml").is_file():
            return cand.resolve()
    raise BookError(f"no _toc.yml and _config.yml in {', '.join(str(c) for c in candidates)}; run from the repository root")


def _select(notebooks: list[Path], only: str, root: Path) -> Path:
    for nb in notebooks:
        rel = nb.relative_to(root).as_posix()
        if only in (nb.stem, nb.name, rel, rel[: -len(".ipynb")]):
            return nb
    names = ", ".join(nb.stem for nb in notebooks)
    raise BookError(f"--only {only}: not a notebook chapter of _toc.yml (chapters: {names})")


def _fmt(seconds: float) -> str:
    return f"{seconds:7.1f} s" if seconds < 120 else f"{seconds:7.1f} s ({seconds / 60:.1f} min)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.book",
        description="Execute the book's notebooks with papermill (MODE injected) into _build/executed/ "
        "and build the website into _build/html/ with Jupyter Book 1.x.",
    )
    parser.add_argument("--mode", choices=MODES, default="fast", help="value of MODE injected into every chapter (default: fast)")
    parser.add_argument("--only", metavar="CHAPTER", help="execute only this chapter (e.g. 01_data); others reuse earlier executed copies")
    parser.add_argument("--no-build", action="store_true", help="execute only, do not build the HTML")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="per-cell time limit in seconds (default: 900 in fast mode, none in full mode; 0: none)")
    parser.add_argument("--sync-colab", action="store_true",
                        help="rewrite the first (Colab install) cell of every notebook under the book folders from _config.yml, then exit")
    parser.add_argument("--root", default=None, help="repository root (default: the current directory)")
    args = parser.parse_args(argv)

    try:
        root = _find_root(args.root)
        config, toc = root / "_config.yml", root / "_toc.yml"
        notebooks = chapters(toc)
        if args.sync_colab:
            page_dirs = {p.parent for _, p in toc_entries(toc) if p is not None and p.parent != root}
            targets = sorted({*notebooks, *(nb for d in page_dirs for nb in d.glob("*.ipynb"))})
            changed = sync_colab(targets, config)
            for nb in targets:
                print(f"{'updated' if nb in changed else 'ok     '} {nb.relative_to(root)}")
            return 0

        staging = root / STAGING_DIR
        timeout = DEFAULT_CELL_TIMEOUT[args.mode] if args.timeout is None else (args.timeout or None)
        todo = [_select(notebooks, args.only, root)] if args.only else notebooks
        if os.environ.get("MPLBACKEND"):
            # A non-inline backend (e.g. Agg) in the kernel's environment drops every figure.
            print(f"note: ignoring MPLBACKEND={os.environ['MPLBACKEND']} for the chapters' kernel")
            os.environ.pop("MPLBACKEND")
        kernel_python = check_kernel()
        # Fast mode is the smoke run: each chapter gets its own empty cache, as when it is opened
        # alone on Colab (tests/test_notebooks.py then checks these copies instead of executing the
        # chapters again). Full mode shares the user cache: the full tone set is built once.
        isolate = args.mode == "fast"
        print(f"mode={args.mode}  kernel={KERNEL_NAME} ({kernel_python})  cell timeout={timeout or 'none'}  "
              f"cache={'one empty folder per chapter' if isolate else 'shared'}", flush=True)

        timings: list[_Timing] = []
        total_start = time.perf_counter()
        for nb in todo:
            rel = nb.relative_to(root)
            print(f"executing {rel} ...", flush=True)
            seconds = execute_chapter(nb, staging / rel, args.mode, timeout, isolate=isolate)
            timings.append(_Timing(rel.as_posix(), seconds))
            print(f"  done in {_fmt(seconds)}", flush=True)
        if not args.no_build:
            print("building the website ...", flush=True)
            stage_book(root, staging, notebooks)
            timings.append(_Timing("jupyter-book build", build_html(root, staging)))
        total = time.perf_counter() - total_start

        print("\nwall time")
        for t in timings:
            print(f"  {t.name:<32} {_fmt(t.seconds)}")
        print(f"  {'total':<32} {_fmt(total)}")
        if not args.no_build:
            print(f"\nwebsite: {root / BUILD_DIR / 'html' / 'index.html'}")
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
