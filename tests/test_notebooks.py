"""Checks of the book's notebooks and configuration, and a fast execution of every chapter.

The static checks encode the conventions of the book (see tools/book.py): notebooks are
committed without outputs, take one ``MODE`` parameter, start with the canonical Colab
install cell built from ``_config.yml``, and every page of ``_toc.yml`` exists. The slow
test executes each chapter in fast mode with papermill, as CI does.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from tools import book

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"
TOC = ROOT / "_toc.yml"
BOOK = ROOT / "book"
NOTEBOOKS = sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
NB_IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]
# Chapters of _toc.yml; computed lazily so a broken toc fails one test, not collection.
try:
    CHAPTERS = book.chapters(TOC)
except Exception:  # reported by test_toc_files_exist
    CHAPTERS = []
PINNED = ("torch", "torchaudio", "numpy")


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


# --------------------------------------------------------------------------- #
# Configuration and table of contents
# --------------------------------------------------------------------------- #
def test_config_settings():
    config = book.load_yaml(CONFIG)
    assert config["execute"]["execute_notebooks"] == "off", "papermill executes the chapters; JB must not"
    assert config["only_build_toc_files"] is True
    for pattern in (".*", ".venv", "_build", "tests", "mvtutorial", "README.md"):
        assert pattern in config["exclude_patterns"], pattern
    url, branch = book.repository(CONFIG)
    assert url.startswith("https://github.com/") and len(url.split("/")) == 5, url
    assert branch == "main"
    assert config["repository"].get("path_to_book", "") == ""
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    for bib in config["bibtex_bibfiles"]:
        assert (ROOT / bib).is_file(), bib


def test_custom_css_is_staged_and_loaded():
    """The CSS that wraps long outputs lives in a folder the book runner stages (a folder of book
    pages) and is listed in html_css_files, so every page loads it."""
    sphinx = book.load_yaml(CONFIG)["sphinx"]["config"]
    page_dirs = {p.parent.resolve() for _, p in book.toc_entries(TOC) if p is not None}
    static = [ROOT / d for d in sphinx["html_static_path"]]
    assert all(d.is_dir() and any(d.resolve().is_relative_to(p) for p in page_dirs) for d in static), static
    for css in sphinx["html_css_files"]:
        assert any((d / css).is_file() for d in static), css
    assert "white-space: pre-wrap" in (BOOK / "_static" / "mvtutorial.css").read_text()


def test_toc_files_exist():
    missing = [entry for entry, path in book.toc_entries(TOC) if path is None]
    assert not missing, f"_toc.yml lists pages with no file: {missing}"
    assert book.chapters(TOC), "_toc.yml lists no notebook chapter"


def test_every_notebook_is_in_the_toc():
    listed = {p.resolve() for _, p in book.toc_entries(TOC) if p is not None}
    orphans = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS if p.resolve() not in listed]
    assert not orphans, f"notebooks under book/ missing from _toc.yml (they would not be built): {orphans}"


def test_api_page_modules_import():
    api = (BOOK / "api.md").read_text(encoding="utf-8")
    modules = re.findall(r"^\.\. automodule:: ([\w.]+)", api, flags=re.M)
    assert modules, "book/api.md documents no module"
    for name in modules:
        assert importlib.util.find_spec(name) is not None, f"book/api.md documents {name}, which does not exist"


def test_api_page_documents_every_public_module():
    """A new module cannot be left out of the reference: every public module of the package is on the API
    page, except the package roots (their members are their modules'), the command line and the
    objective registry (documented through ``mvtutorial.objectives``)."""
    api = (BOOK / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. automodule:: ([\w.]+)", api, flags=re.M))
    package = ROOT / "mvtutorial"
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts[:-1] if p.name == "__init__.py"
                        else p.relative_to(ROOT).with_suffix("").parts) for p in package.rglob("*.py")}
    public = {m for m in modules if not any(part.startswith("_") for part in m.split("."))}
    exempt = {"mvtutorial", "mvtutorial.metrics", "mvtutorial.studies", "mvtutorial.reproduce", "mvtutorial.objectives.registry"}
    assert sorted(public - exempt - documented) == []


def test_citations_are_in_the_bibliography():
    bib = (BOOK / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bib, flags=re.M))
    texts = [p.read_text(encoding="utf-8") for p in BOOK.rglob("*.md")]
    texts += ["\n".join(c.source for c in _read(p).cells if c.cell_type == "markdown") for p in NOTEBOOKS]
    cited = {k.strip() for t in texts for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", t) for k in group.split(",")}
    assert cited <= keys, f"cited but not in book/references.bib: {sorted(cited - keys)}"


# --------------------------------------------------------------------------- #
# Notebook conventions
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_valid_notebook(path):
    json.loads(path.read_text(encoding="utf-8"))
    nbformat.validate(_read(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_no_committed_outputs(path):
    dirty = [i for i, c in enumerate(_read(path).cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"cells {dirty} have outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_parameters_cell(path):
    tagged = [c for c in _read(path).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    assert tagged[0].cell_type == "code"
    values = {}
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, (ast.Assign, ast.AnnAssign)), f"only assignments allowed in the parameters cell: {ast.dump(node)}"
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        assert all(isinstance(t, ast.Name) for t in targets), "assign plain names only"
        value = ast.literal_eval(node.value)  # raises on anything but a literal
        values.update({t.id: value for t in targets})
    assert values.get("MODE") in book.MODES, f"MODE must be one of {book.MODES}, got {values.get('MODE')!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_colab_cell(path):
    cells = _code_cells(_read(path))
    assert cells, "notebook has no code cell"
    first = cells[0]
    url, branch = book.repository(CONFIG)
    assert "remove-cell" in first.metadata.get("tags", []), "the Colab cell must be tagged remove-cell"
    assert "google.colab" in first.source
    assert f"git+{url}@{branch}" in first.source, f"the Colab cell must install from {url}@{branch} (_config.yml)"
    assert first.source == book.colab_cell_source(CONFIG, book.COLAB_APT.get(path.stem, ())), (
        "first code cell differs from the canonical Colab cell; run: python -m tools.book --sync-colab"
    )
    dead = [c for c in cells[1:] if not c.source.strip() or c.source.lstrip().startswith("# Colab cell (rewritten")]
    assert not dead, f"{len(dead)} empty or placeholder code cell(s) besides the Colab cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_no_hidden_or_pinned_installs(path):
    for cell in _code_cells(_read(path)):
        assert not cell.source.lstrip().startswith("%%capture"), "do not hide installs (or anything) with %%capture"
        for line in cell.source.splitlines():
            if "pip" in line and "install" in line:
                words = set(re.findall(r"[A-Za-z0-9_.-]+", line.split("install", 1)[1]))
                assert not words & set(PINNED), f"do not (re)install {PINNED} in a notebook: {line.strip()}"


def test_colab_cell_source_follows_config(tmp_path):
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/someone/fork.git\n  branch: dev\n")
    source = book.colab_cell_source(tmp_path / "_config.yml")
    assert "mvtutorial[chapters] @ git+https://github.com/someone/fork@dev" in source
    compile(source, "<colab cell>", "exec")


def test_colab_cell_installs_a_chapters_system_packages():
    source = book.colab_cell_source(CONFIG, ("libfluidsynth3", "timgm6mb-soundfont"))
    assert 'apt-get -qq install -y libfluidsynth3 timgm6mb-soundfont", shell=True, check=True)' in source
    assert source.index("apt-get") < source.index("pip")  # system libraries before the package that loads them
    compile(source, "<colab cell>", "exec")
    assert "apt-get" not in book.colab_cell_source(CONFIG)
    assert all((BOOK / f"{stem}.ipynb").is_file() for stem in book.COLAB_APT), "COLAB_APT names a chapter that does not exist"


def test_sync_colab_inserts_and_rewrites(tmp_path):
    v4 = nbformat.v4
    stale = v4.new_notebook(cells=[v4.new_code_cell('import sys\nif "google.colab" in sys.modules:\n    pass', execution_count=3)])
    bare = v4.new_notebook(cells=[v4.new_markdown_cell("# t"), v4.new_code_cell("x = 1")])
    paths = [tmp_path / "stale.ipynb", tmp_path / "bare.ipynb"]
    for nb, p in zip((stale, bare), paths):
        nbformat.write(nb, p)
    assert book.sync_colab(paths, CONFIG) == paths
    for p in paths:
        first = _code_cells(_read(p))[0]
        assert first.source == book.colab_cell_source(CONFIG)
        assert "remove-cell" in first.metadata["tags"] and first.execution_count is None
    assert len(_read(paths[1]).cells) == 3
    assert book.sync_colab(paths, CONFIG) == []  # idempotent


def test_isolated_execution_is_stamped_and_goes_stale_when_its_inputs_change(tmp_path, monkeypatch):
    """A toy book: an isolated run sees an empty cache of its own (and the caller's setting comes
    back), its copy is fresh for the same mode and time limit only, and it goes stale when the
    chapter or the package changes, or when the run failed."""
    for name in ("_toc.yml", "_config.yml"):
        (tmp_path / name).write_text("format: jb-book\nroot: book/ch\n" if name == "_toc.yml" else "title: t\n")
    (tmp_path / "mvtutorial").mkdir()
    (tmp_path / "mvtutorial" / "core.py").write_text("X = 1\n")
    v4 = nbformat.v4
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
              "language_info": {"name": "python"}}
    params = v4.new_code_cell('MODE = "full"', metadata={"tags": ["parameters"]})
    check = v4.new_code_cell("import os\ncache = os.environ['MVTUTORIAL_CACHE']\n"
                             "assert os.path.isdir(cache) and not os.listdir(cache), cache\nprint(MODE)")
    chapter = tmp_path / "book" / "ch.ipynb"
    chapter.parent.mkdir()
    nbformat.write(v4.new_notebook(cells=[params, check], metadata=kernel), chapter)
    staging = tmp_path / "_build" / "executed"
    dst = staging / "book" / "ch.ipynb"
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(tmp_path / "user-cache"))

    book.execute_chapter(chapter, dst, "fast", timeout=60, isolate=True)
    assert os.environ["MVTUTORIAL_CACHE"] == str(tmp_path / "user-cache")  # restored
    stamp = _read(dst).metadata[book.STAMP_KEY]
    assert stamp["mode"] == "fast" and stamp["isolated"] is True and stamp["fingerprint"] == book.fingerprint(chapter)
    assert book.fresh_executed_copy(chapter, "fast", staging, timeout=60) == dst
    assert book.fresh_executed_copy(chapter, "full", staging, timeout=60) is None
    assert book.fresh_executed_copy(chapter, "fast", staging, timeout=900) is None

    (tmp_path / "mvtutorial" / "core.py").write_text("X = 2\n")  # the package changed
    assert book.fresh_executed_copy(chapter, "fast", staging, timeout=60) is None
    book.execute_chapter(chapter, dst, "fast", timeout=60, isolate=True)
    assert book.fresh_executed_copy(chapter, "fast", staging, timeout=60) == dst
    nbformat.write(v4.new_notebook(cells=[params, check, v4.new_code_cell("x = 2")], metadata=kernel), chapter)  # the chapter changed
    assert book.fresh_executed_copy(chapter, "fast", staging, timeout=60) is None

    nbformat.write(v4.new_notebook(cells=[params, v4.new_code_cell("raise ValueError('boom')")], metadata=kernel), chapter)
    with pytest.raises(book.BookError, match="boom"):
        book.execute_chapter(chapter, dst, "fast", timeout=60, isolate=True)
    assert book.fresh_executed_copy(chapter, "fast", staging, timeout=60) is None  # a failed run is never reused


def _toy_book(tmp_path: Path, *cells) -> Path:
    """A one-chapter book in ``tmp_path`` (``_toc.yml``, ``_config.yml``, a package folder); returns
    the chapter, a notebook with a ``MODE`` parameters cell followed by ``cells`` (sources)."""
    for name in ("_toc.yml", "_config.yml"):
        (tmp_path / name).write_text("format: jb-book\nroot: book/ch\n" if name == "_toc.yml" else "title: t\n")
    (tmp_path / "mvtutorial").mkdir(exist_ok=True)
    (tmp_path / "mvtutorial" / "core.py").write_text("X = 1\n")
    v4 = nbformat.v4
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
              "language_info": {"name": "python"}}
    params = v4.new_code_cell('MODE = "full"', metadata={"tags": ["parameters"]})
    chapter = tmp_path / "book" / "ch.ipynb"
    chapter.parent.mkdir(exist_ok=True)
    nbformat.write(v4.new_notebook(cells=[params, *(v4.new_code_cell(c) for c in cells)], metadata=kernel), chapter)
    return chapter


def test_full_mode_chapter_sees_the_data_files_but_no_runs(tmp_path, monkeypatch, capfd):
    """Full mode (the book runner's ``share``): the chapter's cache holds the user cache's data files
    but none of its training runs; data files and runs the chapter creates land in the user cache; the
    stamp names what it trained, and the copy is fresh for full mode only. The kernel talks over IPC,
    so it prints no warning about TCP without encryption."""
    user = tmp_path / "user-cache"
    (user / "runs" / "old").mkdir(parents=True)
    (user / "runs" / "old" / "checkpoint.pt").write_text("earlier run")
    (user / "tones-abc.npz").write_text("tone set")
    monkeypatch.setenv("MVTUTORIAL_CACHE", str(user))
    chapter = _toy_book(tmp_path, "import os, pathlib\n"
                        "cache = pathlib.Path(os.environ['MVTUTORIAL_CACHE'])\n"
                        "assert cache.resolve() != pathlib.Path(%r).resolve()\n"
                        "assert sorted(p.name for p in cache.iterdir()) == ['tones-abc.npz'], list(cache.iterdir())\n"
                        "assert (cache / 'tones-abc.npz').read_text() == 'tone set'\n"
                        "(cache / 'instruments-new.npz').write_text('notes')\n"
                        "(cache / 'runs' / 'new').mkdir(parents=True)\n"
                        "(cache / 'runs' / 'new' / 'checkpoint.pt').write_text('trained here')" % str(user))
    staging = tmp_path / "_build" / "executed"
    dst = staging / "book" / "ch.ipynb"
    assert book.user_cache() == user
    book.execute_chapter(chapter, dst, "full", timeout=None, isolate=True, share=user)

    assert os.environ["MVTUTORIAL_CACHE"] == str(user)
    assert sorted(p.name for p in user.iterdir()) == ["instruments-new.npz", "runs", "tones-abc.npz"]  # no folder left behind
    assert (user / "runs" / "new" / "checkpoint.pt").read_text() == "trained here"
    assert (user / "runs" / "old" / "checkpoint.pt").read_text() == "earlier run"
    stamp = _read(dst).metadata[book.STAMP_KEY]
    assert stamp["cache"] == "data" and stamp["trained"] == ["new"]
    assert book.fresh_executed_copy(chapter, "full", staging, timeout=None) == dst
    assert book.fresh_executed_copy(chapter, "fast", staging, timeout=None) is None
    assert "without encryption" not in capfd.readouterr().err


def test_kernel_runs_over_ipc_in_a_private_folder():
    config = book.kernel_config("/tmp/x")
    assert config.KernelManager.transport == "ipc" and config.KernelManager.ip == "/tmp/x/kernel"
    assert "KernelManager" not in book.kernel_config(None)
    if os.name == "posix":
        sockets = book._socket_dir()
        assert sockets is not None and (os.stat(sockets.name).st_mode & 0o077) == 0  # only this user reaches the sockets
        sockets.cleanup()


# --------------------------------------------------------------------------- #
# Prerequisites, checked before any chapter runs
# --------------------------------------------------------------------------- #
def _stub_execution(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(book, "execute_chapter", lambda src, *a, **k: calls.append(Path(src).stem) or 0.0)
    monkeypatch.setattr(book, "check_kernel", lambda name=book.KERNEL_NAME: sys.executable)
    return calls


def _without_fluidsynth_and_soundfont(monkeypatch) -> None:
    """This machine as one without libfluidsynth3 and timgm6mb-soundfont: the package's loader raises
    what it raises when the library is missing, and no SoundFont folder holds TimGM6mb."""
    from mvtutorial.data import soundfont as instruments

    def missing_library():
        raise ImportError("rendering sampled notes needs FluidSynth (Couldn't find the FluidSynth library.)")

    monkeypatch.setattr(instruments, "_fluidsynth", missing_library)
    monkeypatch.setattr(instruments, "SOUNDFONT_DIRS", ())
    monkeypatch.delenv("MVTUTORIAL_SOUNDFONTS", raising=False)


def test_missing_system_packages_stop_the_book_before_any_chapter(monkeypatch, capsys):
    _without_fluidsynth_and_soundfont(monkeypatch)
    calls = _stub_execution(monkeypatch)
    assert book.main(["--mode", "full", "--root", str(ROOT)]) == 1
    err = capsys.readouterr().err
    assert calls == [], "a chapter was executed before the missing prerequisites were reported"
    assert "error: missing prerequisites; no chapter was executed:" in err
    assert "the FluidSynth library (Debian package libfluidsynth3), needed by 09_instruments" in err
    assert "the TimGM6mb General MIDI SoundFont (Debian package timgm6mb-soundfont), needed by 09_instruments" in err
    assert "the FluidR3Mono_GM SoundFont (Debian package fluidr3mono-gm-soundfont), needed by 10_banks" in err
    assert err.rstrip().endswith("sudo apt-get install -y libfluidsynth3 timgm6mb-soundfont fluidr3mono-gm-soundfont "
                                 "musescore-general-soundfont-small"), err
    assert "Traceback" not in err


def test_a_broken_library_is_reported_with_its_error(monkeypatch):
    from mvtutorial.data import soundfont as instruments

    def broken():
        raise OSError("libfluidsynth.so.3: invalid ELF header")

    monkeypatch.setattr(instruments, "_fluidsynth", broken)
    with pytest.raises(book.BookError, match=r"FluidSynth library: OSError: libfluidsynth.so.3: invalid ELF header "
                                             r"\(Debian package libfluidsynth3\)"):
        book.check_prerequisites([BOOK / "09_instruments.ipynb"], build=False)


def test_chapters_that_need_no_system_package_run_without_it(monkeypatch, capsys):
    _without_fluidsynth_and_soundfont(monkeypatch)
    calls = _stub_execution(monkeypatch)
    assert book.main(["--mode", "fast", "--only", "01_data", "--no-build", "--root", str(ROOT)]) == 0
    assert calls == ["01_data"]


def test_missing_python_modules_are_named_with_the_pip_line(tmp_path, monkeypatch):
    chapter = _toy_book(tmp_path, "import numpy\nfrom not_a_module_mvt.sub import x\n%matplotlib inline",
                        'import sys\nif "google.colab" in sys.modules:\n    import only_on_colab_mvt')
    assert book.chapter_imports(chapter) == {"numpy", "not_a_module_mvt"}  # not the Colab cell's
    missing = book.missing_prerequisites([chapter], build=False)
    assert missing == [book.Prerequisite("the Python module 'not_a_module_mvt'", ("ch",), pip=True)]
    with pytest.raises(book.BookError, match=r"(?s)'not_a_module_mvt', needed by ch\n.*-m pip install -r requirements.txt"):
        book.check_prerequisites([chapter], build=False)


def test_every_system_package_of_a_chapter_has_a_check():
    assert set(book.COLAB_APT) <= {p.stem for p in CHAPTERS}
    for packages in book.COLAB_APT.values():
        assert set(packages) <= set(book.SYSTEM_PACKAGES), "a chapter's Debian package has no prerequisite check"
    assert set(book.RUNTIME_MODULES) <= {p.stem for p in CHAPTERS}


# --------------------------------------------------------------------------- #
# Execution (slow; CI runs it)
# --------------------------------------------------------------------------- #
@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.relative_to(ROOT).as_posix() for p in CHAPTERS])
def test_chapter_executes_in_fast_mode(path, tmp_path):
    """Each chapter on its own: a fresh kernel and an empty cache, so it cannot lean on files
    that another chapter (or an earlier build) left behind.

    ``python -m tools.book --mode fast`` (CI's book step, just before the tests) runs every chapter
    exactly so and stamps its executed copy; a copy whose stamp still matches this tree
    (:func:`tools.book.fresh_executed_copy`: same chapter, package, tools and library versions,
    no error) is checked as it is instead of being executed a second time."""
    timeout = book.DEFAULT_CELL_TIMEOUT["fast"]
    fresh = book.fresh_executed_copy(path, "fast", timeout=timeout)
    if fresh is not None:
        executed = _read(fresh)
        seconds = executed.metadata[book.STAMP_KEY]["seconds"]
        how = f"checked the book step's executed copy {fresh.relative_to(ROOT)}"
    else:
        book.check_kernel()
        seconds = book.execute_chapter(path, tmp_path / path.name, "fast", timeout=timeout, isolate=True)
        executed = _read(tmp_path / path.name)
        how = "executed"
    assert any(c.outputs for c in _code_cells(executed)), "executed notebook has no output at all"
    _assert_clean_page(executed)
    print(f"{path.name}: {seconds:.1f} s ({how})")


def _assert_clean_page(executed) -> None:
    """What the page shows: papermill's injected parameters cell is hidden (the chapter's own
    parameters cell is shown once), no shown output carries a path of the machine that built it (a
    warning printed with its file name, a traceback) or the literal source of a MyST role, and a
    progress bar shows its final state only (:func:`tools.book.collapse_progress_streams`)."""
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and all("remove-cell" in c.metadata["tags"] for c in injected), "papermill's parameters cell is shown"
    shown = [c for c in _code_cells(executed) if not {"remove-cell", "remove-output"} & set(c.metadata.get("tags", []))]
    for cell in shown:
        for out in cell.outputs:
            text = out.get("text", "") + "".join(str(v) for k, v in out.get("data", {}).items() if k.startswith("text/"))
            for local in (str(ROOT), "site-packages", str(Path.home()) + "/"):
                assert local not in text, f"an output shows the local path {local!r}: {text[:300]!r}"
            # generated Markdown is not parsed as MyST: a role in it shows as its literal source
            for role in ("{func}`", "{cite}`", "{ref}`", "{doc}`"):
                assert role not in text, f"an output shows the literal role {role!r}: {text[:300]!r}"
        streams = [out for out in cell.outputs if out.get("output_type") == "stream"]
        assert not any("\r" in out["text"] for out in streams), "a progress bar shows each of its updates"


# Full mode reads the shipped checkpoints and results; a cell that takes this long is training.
FULL_CELL_TIMEOUT = 600


@pytest.fixture(scope="module")
def full_tone_set(tmp_path_factory):
    """A folder holding only the cache file of the full tone set (0.5 GB), built once for all
    full-mode chapters: the file is a pure function of its config and seed (checksummed when read),
    and building it in each chapter's empty cache would cost ~10 s a chapter. Fast mode still
    builds its data inside every chapter."""
    from mvtutorial.data import load_tone_dataset

    folder = tmp_path_factory.mktemp("full-tone-set")
    load_tone_dataset("full", cache=folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.relative_to(ROOT).as_posix() for p in CHAPTERS])
def test_chapter_executes_in_full_mode(path, tmp_path, monkeypatch, request):
    """The real book, one chapter at a time from a fresh kernel and a cache holding data files but no
    training run (:func:`full_tone_set`). Full mode must use the committed assets: no training run
    may appear in the cache, and no cell may take :data:`FULL_CELL_TIMEOUT` (it would be training).

    ``python -m tools.book --mode full`` (the README's quick start, just before the tests) runs every
    chapter exactly so (:data:`tools.book.CHAPTER_CACHE`) and stamps its copy with the runs it trained;
    a copy whose stamp still matches this tree is checked as it is instead of being executed again."""
    fresh = book.fresh_executed_copy(path, "full", timeout=book.DEFAULT_CELL_TIMEOUT["full"])
    if fresh is not None:
        executed = _read(fresh)
        stamp = executed.metadata[book.STAMP_KEY]
        seconds, trained = stamp["seconds"], stamp["trained"]
        slow = [(i, c.metadata["papermill"]["duration"]) for i, c in enumerate(executed.cells)
                if (c.metadata.get("papermill", {}).get("duration") or 0) > FULL_CELL_TIMEOUT]
        assert not slow, f"cells (index, seconds) ran longer than {FULL_CELL_TIMEOUT} s in the book's full run: {slow}"
        how = f"checked the book step's executed copy {fresh.relative_to(ROOT)}"
    else:
        full_tone_set = request.getfixturevalue("full_tone_set")  # built only when a chapter executes here
        book.check_kernel()
        cache = tmp_path / "cache"
        cache.mkdir()
        for data in full_tone_set.glob("tones-*.npz"):
            try:
                os.link(data, cache / data.name)  # no copy of 0.5 GB
            except OSError:
                shutil.copy2(data, cache / data.name)
        monkeypatch.setenv("MVTUTORIAL_CACHE", str(cache))
        try:
            seconds = book.execute_chapter(path, tmp_path / path.name, "full", timeout=FULL_CELL_TIMEOUT)
            trained = sorted(p.parent.name for p in cache.glob("runs/**/checkpoint.pt"))
        finally:
            shutil.rmtree(cache, ignore_errors=True)  # the full tone set is ~0.5 GB; pytest keeps tmp dirs
        executed = _read(tmp_path / path.name)
        how = "executed"
    outputs = [o for c in _code_cells(executed) for o in c.outputs]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for o in outputs), \
        "full-mode chapter shows no figure"
    text = "\n".join([o.get("text", "") for o in outputs]
                     + [o.get("data", {}).get(k, "") for o in outputs for k in ("text/plain", "text/markdown")])
    assert "fast mode:" not in text.lower(), "a full-mode chapter reports a fast-mode source"
    assert not trained, f"full mode trained {trained} instead of loading the shipped assets"
    print(f"{path.name}: {seconds:.1f} s ({how})")


def test_progress_bar_updates_collapse_to_their_final_state():
    """tqdm's text bar in a kernel without ipywidgets: one stream output per update, each starting
    with a carriage return; the page shows the final state once, other outputs untouched."""
    import nbformat

    from tools.book import collapse_progress_streams

    updates = [nbformat.v4.new_output("stream", name="stderr", text=f"\rrendering:  {k}%|" + "#" * (k // 10))
               for k in (0, 50, 100)]
    cell = nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="start\n"), *updates,
        nbformat.v4.new_output("stream", name="stderr", text="\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "figure"}),
        nbformat.v4.new_output("stream", name="stdout", text="a\rb\nc\n")])
    assert collapse_progress_streams(cell) == 3
    assert [o.get("text") for o in cell.outputs] == ["start\n", "rendering:  100%|##########\n", None, "b\nc\n"]
    assert collapse_progress_streams(cell) == 0  # idempotent
