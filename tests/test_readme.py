"""The README and the book's front page agree with the book: the chapter lists are the ones
``python -m tools.chapters --write`` generates from ``_toc.yml``, and the quick start installs what
the book runner checks for, in an order that works on a clean machine."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tools import book, chapters

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
INDEX = ROOT / "book" / "index.md"


# --------------------------------------------------------------------------- #
# Chapter lists
# --------------------------------------------------------------------------- #
def test_chapter_lists_are_up_to_date():
    stale = chapters.stale(ROOT)
    assert not stale, f"chapter lists out of date in {sorted(stale)}; run: python -m tools.chapters --write"


def test_chapter_lists_name_every_chapter_of_the_toc():
    toc = book.chapters(ROOT / "_toc.yml")
    listed = chapters.book_chapters(ROOT)
    assert [c.path for c in listed] == [p.relative_to(ROOT).as_posix() for p in toc]
    assert [c.number for c in listed] == list(range(1, len(toc) + 1))
    readme, index = README.read_text(encoding="utf-8"), INDEX.read_text(encoding="utf-8")
    for c in listed:
        assert f"\n{c.number}. **{c.title}** ([`{c.path}`]" in readme
        assert f"| [{c.number}. {c.title}]({Path(c.path).name}) |" in index


def _toy_book(root: Path, titles: dict[str, str]) -> None:
    (root / "book").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/index\nchapters:\n"
                                   + "".join(f"  - file: book/{stem}\n" for stem in titles))
    for stem, title in titles.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"{title}\n\nText.")])
        nbformat.write(nb, root / "book" / f"{stem}.ipynb")
    block = f"{chapters.BEGIN}\n1. **old**\n{chapters.END}\n"
    (root / "README.md").write_text(f"# Toy\n\n## Chapters\n\n{block}\nAfter the list.\n")
    (root / "book" / "index.md").write_text(f"# Toy\n\n{block}")


def test_write_fixes_a_list_that_leaves_a_chapter_out(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(chapters, "SUMMARIES", {"01_a": "first", "02_b": "second"})
    _toy_book(tmp_path, {"01_a": "# 1. Alpha", "02_b": "# 2. Beta: the second"})
    assert chapters.main(["--root", str(tmp_path)]) == 1
    assert "out of date: README.md" in capsys.readouterr().err
    assert chapters.main(["--root", str(tmp_path), "--write"]) == 0
    assert chapters.main(["--root", str(tmp_path)]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert readme == (f"# Toy\n\n## Chapters\n\n{chapters.BEGIN}\n"
                      "1. **Alpha** ([`book/01_a.ipynb`](book/01_a.ipynb)): first.\n"
                      "2. **Beta: the second** ([`book/02_b.ipynb`](book/02_b.ipynb)): second.\n"
                      f"{chapters.END}\n\nAfter the list.\n")
    assert "| [2. Beta: the second](02_b.ipynb) | second |" in (tmp_path / "book" / "index.md").read_text()


@pytest.mark.parametrize("titles, summaries, message", [
    ({"01_a": "# 1. Alpha", "02_b": "# 9. Beta"}, {"01_a": "x", "02_b": "y"}, "numbered 9, but it is chapter 2"),
    ({"01_a": "# Alpha"}, {"01_a": "x"}, "does not start with its chapter number"),
    ({"01_a": "# 1. Alpha"}, {}, "has no summary; add one line for '01_a'"),
    ({"01_a": "# 1. Alpha"}, {"01_a": "x", "07_gone": "y"}, "SUMMARIES names 07_gone, not a chapter"),
])
def test_a_chapter_the_list_cannot_describe_is_an_error(tmp_path, monkeypatch, capsys, titles, summaries, message):
    monkeypatch.setattr(chapters, "SUMMARIES", summaries)
    _toy_book(tmp_path, titles)
    assert chapters.main(["--root", str(tmp_path), "--write"]) == 1
    assert message in capsys.readouterr().err


def test_missing_markers_are_an_error(tmp_path):
    with pytest.raises(book.BookError, match="needs the chapter list's markers"):
        chapters.replace_block("no markers here", "x", "README.md")


# --------------------------------------------------------------------------- #
# Quick start
# --------------------------------------------------------------------------- #
def _bash_blocks(text: str) -> list[list[str]]:
    return [[line.strip() for line in block.strip().splitlines()] for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def _quick_start(text: str, heading: str) -> list[str]:
    section = text.split(heading, 1)[1]
    return _bash_blocks(section)[0]


def test_quick_start_installs_what_the_book_runner_checks_in_a_working_order():
    """System packages first, then PyTorch's CPU-only wheels, then the requirements (which keep
    them), then the full book; the apt line names every Debian package a chapter needs."""
    readme = README.read_text(encoding="utf-8")
    lines = _quick_start(readme, "## Quick start")
    assert lines == _quick_start(INDEX.read_text(encoding="utf-8"), "**Locally.**"), "README and book/index.md quick starts differ"
    apt = next(i for i, line in enumerate(lines) if line.startswith("sudo apt-get install -y "))
    assert set(lines[apt].split()[4:]) == {p for ps in book.COLAB_APT.values() for p in ps} == set(book.SYSTEM_PACKAGES)
    cpu = lines.index(".venv/bin/pip install torch torchaudio --index-url https://download.pytorch.org/whl/cpu")
    reqs = lines.index(".venv/bin/pip install -r requirements.txt")
    assert apt < cpu < reqs < len(lines) - 1
    assert lines[-1] == ".venv/bin/python -m tools.book --mode full"


def test_the_test_command_follows_the_quick_start():
    readme = README.read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = _bash_blocks(quick)
    assert blocks[1] == [".venv/bin/python -m pytest -q"]
