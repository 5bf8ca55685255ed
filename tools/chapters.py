"""The book's chapter list, written into ``README.md`` and ``book/index.md`` from one source.

Usage (from the repository root)::

    python -m tools.chapters            # exit 1 naming each file whose list is out of date
    python -m tools.chapters --write    # rewrite the lists in README.md and book/index.md

The chapters are the notebook entries of ``_toc.yml`` (:func:`tools.book.chapters`), in book order;
each is named by its title, the first markdown heading of the notebook (``# 7. Listening to the
codes``), and described by its line in :data:`SUMMARIES`. A page of ``_toc.yml`` that is not a numbered
chapter but belongs in the list (an interactive Markdown page, :data:`PAGES`) is listed unnumbered
under the chapter it follows (:func:`book_pages`). Each file holds the list between two
marker comments (:data:`BEGIN`, :data:`END`); everything outside them is left as it is.
``tests/test_readme.py`` fails while either file differs from what ``--write`` would write.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.book import BookError, chapters, toc_entries

__all__ = ["SUMMARIES", "PAGES", "BEGIN", "END", "TARGETS", "Chapter", "Page", "book_chapters", "book_pages", "render",
           "replace_block", "stale", "main"]

#: One line per chapter (notebook stem -> what it covers), shown after the title in both lists.
SUMMARIES: dict[str, str] = {
    "01_data": "the synthetic tone set, its factors (timbre, pitch), log-mel spectrograms and same-timbre pairs",
    "02_model": "the shared encoder, private and shared latents, product-of-experts fusion, the decomposed KL objective",
    "03_training": "the training loop, fast and full modes, checkpoints, every term of the loss over the epochs",
    "04_analysis": "mutual-information matrices, probe accuracies, latent maps, comparison with the paper",
    "05_ablations": "the effect of each KL weight on what ends up in the private and shared codes, and the paper's claims re-tested",
    "06_separation": "why the paper's objective does not separate here, and the mechanisms that do: cross-view "
                     "reconstruction, a rate priced per pair, a reverse cycle; the copied estimator; where pitch is lost, class by class, "
                     "and the pitch study, whose transposition equivariance and frequency-convolving encoder the recommended "
                     "configuration now adds",
    "07_listening": "codes turned back into sound: reconstructions, swaps of the shared and private codes, traversals, "
                    "and the swap score, a disentanglement measure that needs no probe",
    "08_baselines": "the paper's objective and the recommended one beside a single-view beta-TCVAE, no split, "
                    "Ada-GVAE and contrastive objectives, on one evaluation",
    "09_instruments": "sampled General MIDI notes (FluidSynth and a Debian SoundFont) in place of the tones: "
                      "which findings carry over, and a SoundFont bank the model never heard",
    "10_banks": "a leave-one-bank-out benchmark over Debian's General MIDI banks: does the shared code learn the "
                "instrument or one bank's recordings of it, and do pairs across banks help",
}

#: Pages of ``_toc.yml`` that are not numbered chapters but belong in both lists (stem -> summary): each is
#: listed unnumbered under the chapter before it in ``_toc.yml``, named by its first ``# `` heading. A page
#: named here that ``_toc.yml`` does not list is left out.
PAGES: dict[str, str] = {
    "mixing_desk": "set every latent dimension of the shipped models with a slider, starting from two real clips, "
                   "and hear the decoded sound; runs in the browser, on the static page",
}

BEGIN = "<!-- chapters: generated from _toc.yml by `python -m tools.chapters --write`; edit tools/chapters.py or the chapters' titles, not this list -->"
END = "<!-- /chapters -->"
#: Files that hold the list, relative to the repository root, and how each writes it.
TARGETS = {"README.md": "readme", "book/index.md": "index"}
_TITLE = re.compile(r"^(\d+)\.\s+(.+?)\s*$")


@dataclass(frozen=True)
class Chapter:
    number: int
    title: str  # without its number
    path: str  # relative to the repository root, e.g. book/01_data.ipynb
    summary: str


@dataclass(frozen=True)
class Page:
    title: str
    path: str  # relative to the repository root, e.g. book/mixing_desk.md
    summary: str
    after: int  # the number of the chapter it follows (0: before the first)


def _heading(path: Path) -> str:
    import nbformat

    if path.suffix == ".md":
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
        raise BookError(f"{path}: no title (a first-level heading '# Title')")

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise BookError(f"{path}: no title (a first-level markdown heading '# N. Title')")


def book_chapters(root: str | Path = ".") -> list[Chapter]:
    """The notebook chapters of ``_toc.yml`` in book order, with number, title and summary.

    Raises :class:`~tools.book.BookError` when a title is not ``N. Title``, the numbers are not 1, 2,
    3, ... in book order, or a chapter has no summary (or a summary names no chapter)."""
    root = Path(root).resolve()
    out = []
    for i, path in enumerate(chapters(root / "_toc.yml"), start=1):
        heading = _heading(path)
        match = _TITLE.match(heading)
        if not match:
            raise BookError(f"{path.relative_to(root)}: its title {heading!r} does not start with its chapter number ('{i}. ')")
        if int(match.group(1)) != i:
            raise BookError(f"{path.relative_to(root)}: its title {heading!r} is numbered {match.group(1)}, "
                            f"but it is chapter {i} of _toc.yml")
        if path.stem not in SUMMARIES:
            raise BookError(f"{path.relative_to(root)} has no summary; add one line for {path.stem!r} to SUMMARIES in tools/chapters.py")
        out.append(Chapter(i, match.group(2), path.relative_to(root).as_posix(), SUMMARIES[path.stem]))
    extra = sorted(set(SUMMARIES) - {Path(c.path).stem for c in out})
    if extra:
        raise BookError(f"tools/chapters.py: SUMMARIES names {', '.join(extra)}, not a chapter of _toc.yml")
    return out


def book_pages(root: str | Path = ".") -> list[Page]:
    """The pages of :data:`PAGES` that ``_toc.yml`` lists, in book order, each with the number of the
    notebook chapter before it."""
    root = Path(root).resolve()
    out, chapter = [], 0
    for _, path in toc_entries(root / "_toc.yml"):
        if path is None:
            continue
        if path.suffix == ".ipynb":
            chapter += 1
        elif path.stem in PAGES:
            out.append(Page(_heading(path), path.relative_to(root).as_posix(), PAGES[path.stem], chapter))
    return out


def render(items: list[Chapter], style: str, pages: list[Page] = ()) -> str:
    """The list as written between the markers: ``"readme"`` a numbered list with each notebook's
    path, ``"index"`` (the book's front page) a table linking each chapter's page. ``pages``
    (:func:`book_pages`) go unnumbered after the chapter each follows."""
    if style not in ("readme", "index"):
        raise ValueError(f"unknown style {style!r}")
    lines = [] if style == "readme" else ["| Chapter | What it covers |", "|---|---|"]

    def add_pages(after: int) -> None:
        for p in pages:
            if p.after == after:
                lines.append(f"   - **{p.title}** ([`{p.path}`]({p.path})): {p.summary}." if style == "readme"
                             else f"| [{p.title}]({Path(p.path).name}) | {p.summary} |")

    add_pages(0)
    for c in items:
        lines.append(f"{c.number}. **{c.title}** ([`{c.path}`]({c.path})): {c.summary}." if style == "readme"
                     else f"| [{c.number}. {c.title}]({Path(c.path).name}) | {c.summary} |")
        add_pages(c.number)
    return "\n".join(lines)


def replace_block(text: str, block: str, where: str = "the file") -> str:
    """``text`` with what lies between :data:`BEGIN` and :data:`END` replaced by ``block``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise BookError(f"{where}: needs the chapter list's markers, once each and in this order:\n  {BEGIN}\n  {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def stale(root: str | Path = ".") -> dict[str, str]:
    """File (relative to ``root``) -> the text it should have, for each target file that differs."""
    root = Path(root).resolve()
    items, pages = book_chapters(root), book_pages(root)
    out = {}
    for rel, style in TARGETS.items():
        text = (root / rel).read_text(encoding="utf-8")
        wanted = replace_block(text, render(items, style, pages), rel)
        if wanted != text:
            out[rel] = wanted
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.chapters",
                                     description="Check (default) or --write the chapter lists of README.md and "
                                                 "book/index.md, generated from _toc.yml and the chapters' titles.")
    parser.add_argument("--write", action="store_true", help="rewrite the lists that are out of date")
    parser.add_argument("--root", default=".", help="repository root (default: the current directory)")
    args = parser.parse_args(argv)
    try:
        changes = stale(args.root)
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    root = Path(args.root)
    for rel, text in changes.items():
        if args.write:
            (root / rel).write_text(text, encoding="utf-8")
            print(f"updated {rel}")
        else:
            print(f"out of date: {rel} (run: python -m tools.chapters --write)", file=sys.stderr)
    if not changes:
        print("chapter lists up to date: " + ", ".join(TARGETS))
    return 1 if changes and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
