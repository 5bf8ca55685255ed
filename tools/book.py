"""Execute the book's chapters with papermill and build the website with Jupyter Book 1.x.

Usage (from the repository root)::

    python -m tools.book --mode fast            # execute every chapter, then build
    python -m tools.book --mode full --only 03_training --no-build
    python -m tools.book --sync-colab           # rewrite each chapter's Colab cell

``_toc.yml`` is the list of chapters: its ``.ipynb`` entries are executed in order, each
with ``MODE`` injected by papermill, into a staging copy of the book under
``_build/executed/`` (same layout as the repository). Before any chapter runs, everything the
chapters need is checked (:func:`check_prerequisites`: the modules they import, the system
packages of chapter 9, Jupyter Book), so a missing piece is one message, not a failure minutes in.
Each chapter runs with its own cache folder (:data:`CHAPTER_CACHE`: empty in fast mode, the user
cache's data files in full mode); each executed copy is stamped with what it was run from
(:func:`fingerprint`), so the test suite can check a fresh copy instead of running it again.
The staging copy gets the files a page loads but the repository does not hold
(:data:`GENERATED_FILES`: the mixing desk's data, exported from the shipped checkpoints) and is then built with
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
from typing import Any, Callable, Iterable, Sequence

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
    "SYSTEM_PACKAGES",
    "RUNTIME_MODULES",
    "Prerequisite",
    "chapter_imports",
    "missing_prerequisites",
    "check_prerequisites",
    "kernel_config",
    "CHAPTER_CACHE",
    "user_cache",
    "execute_chapter",
    "hide_injected_parameters",
    "collapse_progress_streams",
    "fingerprint",
    "fresh_executed_copy",
    "stage_book",
    "GENERATED_FILES",
    "write_generated_files",
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
COLAB_APT: dict[str, tuple[str, ...]] = {
    "09_instruments": ("libfluidsynth3", "timgm6mb-soundfont"),
    # chapter 10 plays notes from the small banks only (its results are shipped)
    "10_banks": ("libfluidsynth3", "timgm6mb-soundfont", "fluidr3mono-gm-soundfont", "musescore-general-soundfont-small"),
}


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


# --------------------------------------------------------------------------- #
# Prerequisites: checked before any chapter runs
# --------------------------------------------------------------------------- #
def _fluidsynth_loads() -> None:
    """Load FluidSynth as chapter 9 does, through the package's own loader (raises when it does not load)."""
    from mvtutorial.data import soundfont

    soundfont._fluidsynth()


def _timgm6mb_found() -> None:
    """Find the default SoundFont as chapter 9 does (raises ``FileNotFoundError`` when it is not installed)."""
    from mvtutorial.data import find_soundfont

    find_soundfont("TimGM6mb")


def _soundfont_found(stem: str) -> Callable[[], None]:
    """A check that finds SoundFont ``stem`` as chapter 10 does (raises ``FileNotFoundError`` when it is not installed)."""
    def check() -> None:
        from mvtutorial.data import find_soundfont

        find_soundfont(stem)

    return check


#: Debian/Ubuntu package -> (what it provides, a check that raises when it is missing here). Every
#: package a chapter needs (:data:`COLAB_APT`) has one; the book runner runs the checks of the chapters
#: it is about to execute before it executes any (a chapter that fails on a missing library after
#: the others ran for minutes builds no website).
SYSTEM_PACKAGES: dict[str, tuple[str, Callable[[], None]]] = {
    "libfluidsynth3": ("the FluidSynth library", _fluidsynth_loads),
    "timgm6mb-soundfont": ("the TimGM6mb General MIDI SoundFont", _timgm6mb_found),
    "fluidr3mono-gm-soundfont": ("the FluidR3Mono_GM SoundFont", _soundfont_found("FluidR3Mono_GM")),
    "musescore-general-soundfont-small": ("the MuseScore_General_Lite SoundFont", _soundfont_found("MuseScore_General_Lite")),
}
#: Python modules the package imports only while a chapter runs (so the chapter's cells do not name
#: them), by notebook stem: the renderer of chapters 9-10 loads FluidSynth through ``pyfluidsynth``,
#: and chapters 7 and 9 judge swaps with the pretrained pitch tracker (``pesto``, :mod:`mvtutorial.trackers`).
RUNTIME_MODULES: dict[str, tuple[str, ...]] = {"07_listening": ("pesto",), "09_instruments": ("fluidsynth", "pesto"),
                                               "10_banks": ("fluidsynth",)}


@dataclass(frozen=True)
class Prerequisite:
    """Something the chapters (or the build) need that is missing here: ``what`` (one line), the
    chapters that need it, and where it comes from: a Debian package (``apt``) or ``requirements.txt``
    (``pip``)."""

    what: str
    chapters: tuple[str, ...] = ()
    apt: str | None = None
    pip: bool = False


def chapter_imports(path: Path) -> set[str]:
    """Top-level names of the modules the code cells of notebook ``path`` import, leaving out its
    Colab install cell (it runs only on Colab) and IPython magics / shell escapes."""
    import ast

    import nbformat

    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    names: set[str] = set()
    for cell in cells:
        if "google.colab" in cell.source:
            continue
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines()]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue  # reported by the execution itself, with the cell
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def missing_prerequisites(notebooks: Sequence[Path], build: bool = True) -> list[Prerequisite]:
    """What executing ``notebooks`` (and, with ``build``, building the website) needs and this
    machine lacks; empty when nothing is missing. Checked without running a chapter: every module the
    chapters import and the modules of :data:`RUNTIME_MODULES` can be found (nothing is imported), the
    system packages of :data:`COLAB_APT` pass their :data:`SYSTEM_PACKAGES` check (run once each, only
    when no Python module is missing, since they import the package), and Jupyter Book 1.x is installed."""
    import importlib.util

    needed: dict[str, list[str]] = {}
    for nb in notebooks:
        for name in sorted(chapter_imports(nb) | set(RUNTIME_MODULES.get(nb.stem, ()))):
            needed.setdefault(name, []).append(nb.stem)
    missing = []
    for name, stems in needed.items():
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(Prerequisite(f"the Python module {name!r}", tuple(stems), pip=True))
    if not missing:
        packages: dict[str, list[str]] = {}
        for nb in notebooks:
            for package in COLAB_APT.get(nb.stem, ()):
                packages.setdefault(package, []).append(nb.stem)
        for package, stems in packages.items():
            what, check = SYSTEM_PACKAGES[package]
            try:
                check()
            except (ImportError, FileNotFoundError):
                missing.append(Prerequisite(what, tuple(stems), apt=package))
            except Exception as err:  # installed but broken (e.g. a library that does not load)
                missing.append(Prerequisite(f"{what}: {type(err).__name__}: {str(err).splitlines()[0][:200]}", tuple(stems), apt=package))
    if build:
        try:
            _jupyter_book_command()
        except BookError as err:
            missing.append(Prerequisite(str(err).split(" (")[0] + " (it builds the website)", pip=True))
    return missing


def check_prerequisites(notebooks: Sequence[Path], build: bool = True, root: Path | None = None) -> None:
    """Raise :class:`BookError` with one message naming everything :func:`missing_prerequisites`
    finds and the commands that install it (``apt-get`` for the system packages, ``pip install -r
    requirements.txt`` for Python packages)."""
    missing = missing_prerequisites(notebooks, build)
    if not missing:
        return
    lines = ["missing prerequisites; no chapter was executed:"]
    for item in missing:
        lines.append(f"  - {item.what}" + (f" (Debian package {item.apt})" if item.apt else "")
                     + (f", needed by {', '.join(item.chapters)}" if item.chapters else ""))
    apt = list(dict.fromkeys(item.apt for item in missing if item.apt))
    if apt:
        lines.append("Install the system packages (Debian/Ubuntu; in Colab prefix the line with `!`) with")
        lines.append(f"  sudo apt-get install -y {' '.join(apt)}")
    if any(item.pip for item in missing):
        python = Path(sys.executable)
        if root is not None and Path(sys.prefix).resolve().is_relative_to(Path(root).resolve()):
            python = Path(os.path.relpath(python, root))  # e.g. .venv/bin/python
        lines.append("Install the Python requirements into this environment with")
        lines.append(f"  {python} -m pip install -r requirements.txt")
    raise BookError("\n".join(lines))


def _check_parameters_cell(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise BookError(f"{path}: needs exactly one cell tagged 'parameters' (found {len(tagged)})")
    if "MODE" not in tagged[0].source:
        raise BookError(f"{path}: the 'parameters' cell does not define MODE")


#: The cache each chapter's kernel gets from the book runner, by mode (recorded in the stamp as
#: ``cache``): fast mode an empty folder (each chapter builds its own small data, as when it is
#: opened alone on Colab); full mode an empty folder holding links to the data files of the user's
#: cache (the tone set, the rendered notes: pure functions of their configs, checksummed when read),
#: so that no chapter can lean on a training run another chapter or an earlier session left there.
CHAPTER_CACHE = {"fast": "empty", "full": "data"}


def user_cache() -> Path:
    """The package's cache folder as the chapters see it: ``$MVTUTORIAL_CACHE``, else
    ``~/.cache/mvtutorial`` (what :func:`mvtutorial.cache.cache_dir` returns), created if absent."""
    path = Path(os.environ.get("MVTUTORIAL_CACHE") or Path.home() / ".cache" / "mvtutorial").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same file system: no copy of the 0.5 GB tone set
    except OSError:
        os.symlink(src.resolve(), dst)


def _merge_into(src: Path, dst: Path) -> None:
    """Move what ``src`` holds into ``dst`` where ``dst`` has nothing of that name (folders merged)."""
    for path in sorted(src.iterdir()):
        target = dst / path.name
        if path.is_dir() and not path.is_symlink():
            if not target.exists():
                os.replace(path, target)
            elif target.is_dir():
                _merge_into(path, target)
        elif path.is_file() and not path.is_symlink() and not target.exists() and not path.name.startswith("."):
            os.replace(path, target)


def kernel_config(socket_dir: str | os.PathLike | None):
    """The traitlets config of the kernel manager papermill starts each chapter with.

    With ``socket_dir`` (a private folder, mode 0700) the kernel and papermill talk over IPC, Unix
    sockets in that folder, instead of TCP ports on localhost: ipykernel 7 prints "Kernel is running
    over TCP without encryption" (a warning meant for kernels reachable by other users of the
    machine) at every TCP start, once per chapter. ``None``: the default TCP transport (Windows, or
    a temporary folder whose path is too long for a socket name)."""
    from traitlets.config import Config

    if socket_dir is None:
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(os.fspath(socket_dir), "kernel")}})


def _socket_dir():
    """A private temporary folder for the kernel's IPC sockets, or ``None`` where IPC cannot be used."""
    import tempfile

    if os.name != "posix":
        return None
    folder = tempfile.TemporaryDirectory(prefix="mvtutorial-kernel-")
    if len(os.path.join(folder.name, "kernel-99")) > 100:  # a socket path holds at most 104-108 bytes
        folder.cleanup()
        return None
    return folder


def execute_chapter(src: Path, dst: Path, mode: str, timeout: float | None = None, isolate: bool = False,
                    share: Path | None = None) -> float:
    """Execute ``src`` with papermill into ``dst`` (``MODE`` injected, working directory
    the notebook's folder). Returns the wall time in seconds; a cell error raises
    :class:`BookError` naming the notebook and the cell.

    ``isolate``: the kernel gets its own empty cache folder (``MVTUTORIAL_CACHE``), removed
    afterwards, so the chapter cannot lean on files another chapter or an earlier run left (as
    when one chapter is opened on Colab). ``share`` (with ``isolate``; full mode): a cache folder,
    the user's, whose data files (its top-level files) are linked into that folder before the run;
    the data files and training runs the chapter creates are moved into ``share`` afterwards, so a
    later chapter or run finds the data built once. A successful run stamps ``dst``'s metadata with
    the mode, the isolation and cache (:data:`CHAPTER_CACHE`), the run folders that hold a checkpoint
    afterwards (``trained``, with ``isolate``), the cell time limit and :func:`fingerprint`, which
    :func:`fresh_executed_copy` reads. The kernel runs over IPC where it can (:func:`kernel_config`)."""
    import tempfile

    import papermill
    from papermill.exceptions import PapermillExecutionError

    if share is not None and not isolate:
        raise ValueError("share needs isolate=True")
    _check_parameters_cell(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()  # a failed run must not leave an earlier run's stamped copy behind
    inputs = fingerprint(src)  # before the run: an edit made while it runs makes the copy stale
    start = time.perf_counter()
    saved = os.environ.get("MVTUTORIAL_CACHE")
    cache = None
    if isolate:  # inside the shared folder when there is one: same file system, so links and moves are cheap
        cache = tempfile.TemporaryDirectory(prefix=".chapter-" if share else "mvtutorial-chapter-",
                                            dir=None if share is None else str(share))
    sockets = _socket_dir()
    trained = None
    try:
        if cache is not None:
            if share is not None:
                for data in sorted(Path(share).iterdir()):
                    if data.is_file() and not data.name.startswith("."):
                        _link(data, Path(cache.name) / data.name)
            os.environ["MVTUTORIAL_CACHE"] = cache.name  # the kernel inherits the environment
        papermill.execute_notebook(
            str(src),
            str(dst),
            parameters={"MODE": mode},
            kernel_name=KERNEL_NAME,
            cwd=str(src.parent),
            progress_bar=False,
            execution_timeout=timeout,
            config=kernel_config(None if sockets is None else sockets.name),
        )
        if cache is not None:
            trained = sorted(p.parent.relative_to(Path(cache.name) / "runs").as_posix()
                             for p in Path(cache.name).glob("runs/**/checkpoint.pt"))
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
            try:
                if share is not None:
                    _merge_into(Path(cache.name), Path(share))  # keep what the chapter built, also when it failed
            finally:
                cache.cleanup()
        if sockets is not None:
            sockets.cleanup()
    seconds = time.perf_counter() - start
    hide_injected_parameters(dst, stamp={"mode": mode, "isolated": isolate,
                                         "cache": ("data" if share is not None else "empty") if isolate else "user",
                                         "trained": trained, "timeout": timeout,
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
    it was run in ``mode`` as the book runner runs that mode (an isolated cache of the kind
    :data:`CHAPTER_CACHE` names) with the same cell time limit, finished without error, and its
    :func:`fingerprint` still matches; otherwise ``None``."""
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
    ok = (stamp.get("mode") == mode and stamp.get("isolated") is True and stamp.get("cache") == CHAPTER_CACHE.get(mode)
          and stamp.get("timeout") == timeout and not metadata.get("papermill", {}).get("exception")
          and stamp.get("fingerprint") == fingerprint(src))
    return dst if ok else None


def collapse_progress_streams(cell) -> int:
    """Show a code cell's text streams as a terminal would: consecutive outputs of one stream
    (``stdout`` or ``stderr``) merged, and of each line only what follows its last carriage return.

    A progress bar with no widget to draw in (tqdm's text bar in a kernel without ipywidgets)
    rewrites its line with ``\\r`` at every update, and papermill stores each update as an output
    of its own: a page would show one box per update (30 for chapter 9's renderer). After this the
    page shows the bar's final state once. Returns the number of outputs removed."""
    merged: list = []
    for out in cell.get("outputs", []):
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                and prev.get("name") == out.get("name")):
            prev["text"] = prev["text"] + out["text"]
        else:
            merged.append(out)
    removed = len(cell.get("outputs", [])) - len(merged)
    changed = removed
    for out in merged:
        if out.get("output_type") == "stream" and "\r" in out["text"]:
            lines = out["text"].replace("\r\n", "\n").split("\n")
            text = "\n".join(next((part for part in reversed(line.split("\r")) if part), "") for line in lines)
            changed += text != out["text"]
            out["text"] = text
    if changed:
        cell["outputs"] = merged
    return removed


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
    collapsed = sum(collapse_progress_streams(cell) for cell in nb.cells if cell.cell_type == "code")
    if stamp is not None:
        nb.metadata[STAMP_KEY] = stamp
    if tagged or collapsed or stamp is not None:
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


#: Files the build writes into the staging tree after :func:`stage_book` (path relative to it -> the
#: ``module:function`` called with the file's path): data a page loads that is too large to commit,
#: made from the shipped checkpoints. The mixing desk page (book/mixing_desk.md) loads its decoders,
#: donor clips and MI labels from this one (it renders 72 notes, so it needs chapter 9's system packages).
GENERATED_FILES = {"book/_static/mixing_desk_data.js": "mvtutorial.studies.mixing_desk:write_desk_data"}


def write_generated_files(staging: Path) -> list[Path]:
    """Write each of :data:`GENERATED_FILES` into ``staging``; a missing prerequisite is a :class:`BookError`."""
    import importlib

    written = []
    for rel, target in GENERATED_FILES.items():
        module, function = target.split(":")
        try:
            written.append(getattr(importlib.import_module(module), function)(staging / rel))
        except (ImportError, FileNotFoundError) as err:
            packages = " ".join(p for ps in COLAB_APT.values() for p in ps)
            raise BookError(f"cannot write {rel} ({target}): {str(err).splitlines()[0]}\n"
                            f"Install the system packages with\n  sudo apt-get install -y {packages}") from None
    return written


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
        check_prerequisites(todo, build=not args.no_build, root=root)  # before anything runs
        # Each chapter gets its own cache folder (CHAPTER_CACHE). Fast mode is the smoke run: an empty
        # one, as when a chapter is opened alone on Colab. Full mode: one holding links to the data
        # files of the user cache (the full tone set is built once), no training runs, so full mode
        # shows the shipped results. tests/test_notebooks.py checks these stamped copies instead of
        # executing the chapters again in the same mode.
        share = user_cache() if CHAPTER_CACHE[args.mode] == "data" else None
        print(f"mode={args.mode}  kernel={KERNEL_NAME} ({kernel_python})  cell timeout={timeout or 'none'}  "
              f"cache={'one empty folder per chapter' if share is None else f'one folder per chapter with the data files of {share}'}",
              flush=True)

        timings: list[_Timing] = []
        total_start = time.perf_counter()
        for nb in todo:
            rel = nb.relative_to(root)
            print(f"executing {rel} ...", flush=True)
            seconds = execute_chapter(nb, staging / rel, args.mode, timeout, isolate=True, share=share)
            timings.append(_Timing(rel.as_posix(), seconds))
            print(f"  done in {_fmt(seconds)}", flush=True)
        if not args.no_build:
            print("building the website ...", flush=True)
            stage_book(root, staging, notebooks)
            start = time.perf_counter()
            write_generated_files(staging)
            timings.append(_Timing("generated files", time.perf_counter() - start))
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
