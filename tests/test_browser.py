"""The built website in headless Chromium (tools.browser_check), plus browser-free
checks of the checker itself on a tiny fake site.

The browser test needs ``_build/html`` (``.ci/run`` builds the book before the tests) and
Debian's ``chromium`` + ``chromium-driver``. Without them it is skipped locally and fails
under CI (``CI`` set), so CI cannot pass without having looked at the pages.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tools import browser_check

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error)")
    pytest.skip(reason)


def test_book_in_browser():
    if not (HTML / "index.html").is_file():
        _unavailable(f"no {HTML / 'index.html'}: .ci/run must build the book "
                     "(python -m tools.book --mode fast) before the tests")
    for exe in (browser_check.CHROMIUM, browser_check.CHROMEDRIVER):
        if not Path(exe).is_file():
            _unavailable(f"no {exe}: apt-get install chromium chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("selenium is not installed (pip install -r requirements.txt)")
    result = browser_check.check_site(ROOT, HTML, SCREENSHOTS)
    failures = [f"{page.url}: {failure}" for page in result for failure in page.failures]
    assert not failures, "browser check failed:\n" + "\n".join(failures)
    assert len(list(SCREENSHOTS.glob("*.png"))) >= len(result)


# --------------------------------------------------------------------------- #
# No browser needed
# --------------------------------------------------------------------------- #
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000000000500010d0a2db40000000049454e44ae426082")


def _notebook(outputs: list) -> str:
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "x", "outputs": outputs}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _page(body: str, links: str = "") -> str:
    return (f"<html><head></head><body><div class='dropdown-launch-buttons'>{links}</div>"
            f"<main id='main-content'><article class='bd-article'>{body}</article></main></body></html>")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A one-chapter book: _config.yml, _toc.yml, sources, executed notebook, HTML."""
    (tmp_path / "_config.yml").write_text(
        "repository:\n  url: https://github.com/acme/widgets\n  branch: dev\n"
        "launch_buttons:\n  colab_url: https://colab.research.google.com\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/index\nchapters:\n  - file: book/ch\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "index.md").write_text("# Home\n")
    (tmp_path / "book" / "ch.ipynb").write_text(_notebook([]))
    audio = {"output_type": "display_data", "metadata": {},
             "data": {"text/html": ["<audio controls><source src='data:audio/wav;base64,AA=='></audio>"]}}
    (tmp_path / "_build" / "executed" / "book").mkdir(parents=True)
    (tmp_path / "_build" / "executed" / "book" / "ch.ipynb").write_text(_notebook([audio]))
    html = tmp_path / "_build" / "html"
    (html / "book").mkdir(parents=True)
    (html / "_images").mkdir()
    (html / "_images" / "ok.png").write_bytes(PNG)
    (html / "index.html").write_text("<meta http-equiv='Refresh' content='0; url=book/index.html' />")
    (html / "book" / "index.html").write_text(_page("<p>Home</p>"))
    return tmp_path


def _check(root: Path) -> dict[str, list[str]]:
    found = browser_check.pages(root, root / "_build" / "html")
    for page in found:
        browser_check.static_check(page)
    return {page.entry: page.failures for page in found}


def test_expected_colab_url_and_audio(site: Path):
    page = browser_check.pages(site, site / "_build" / "html")[1]
    assert page.colab == "https://colab.research.google.com/github/acme/widgets/blob/dev/book/ch.ipynb"
    assert page.audio == 1


def test_static_check_passes_a_good_page(site: Path):
    good = ("<a href='https://colab.research.google.com/github/acme/widgets/blob/dev/book/ch.ipynb' "
            "title='Launch on Colab'>Colab</a>")
    (site / "_build/html/book/ch.html").write_text(
        _page("<img src='../_images/ok.png'><audio controls></audio>", links=good))
    assert _check(site) == {"book/index": [], "book/ch": []}


def test_static_check_reports_broken_page(site: Path):
    wrong = "<a href='https://colab.research.google.com/github/acme/widgets/blob/main/ch.ipynb'>Colab</a>"
    (site / "_build/html/book/ch.html").write_text(
        _page("<img src='../_images/ok.png'><img src='../_images/missing.png'>", links=wrong))
    failures = "\n".join(_check(site)["book/ch"])
    assert "missing.png" in failures and "ok.png" not in failures
    assert "Colab launch link" in failures and "blob/dev/book/ch.ipynb" in failures
    assert "<audio> players" in failures

    (site / "_build/html/book/ch.html").write_text(_page("<audio controls></audio>"))  # no link at all
    assert _check(site)["book/ch"] == [
        "Colab launch link missing, expected https://colab.research.google.com/github/acme/widgets/blob/dev/book/ch.ipynb"]

    (site / "_build/html/book/ch.html").unlink()
    assert _check(site)["book/ch"][0].startswith("page not built")


def test_console_filter():
    origin = "http://127.0.0.1:8000"
    entries = [
        {"level": "SEVERE", "source": "network", "message": "https://cdn.example.org/x.js - Failed to load resource: net::ERR_NAME_NOT_RESOLVED"},
        {"level": "SEVERE", "source": "network", "message": f"{origin}/favicon.ico - Failed to load resource: 404"},
        {"level": "SEVERE", "source": "network", "message": f"{origin}/_images/a.png - Failed to load resource: 404"},
        {"level": "SEVERE", "source": "javascript", "message": f"{origin}/book/ch.html 3:1 Uncaught TypeError: x is undefined"},
        {"level": "SEVERE", "source": "javascript", "message": f"{origin}/book/ch.html 61:12 Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared"},
        {"level": "WARNING", "source": "console-api", "message": "just a warning"},
    ]
    errors, ignored = browser_check.console_errors(entries, origin)
    assert [e.split(" ", 1)[0] for e in errors] == [f"{origin}/_images/a.png", f"{origin}/book/ch.html"]
    assert len(ignored) == 1
