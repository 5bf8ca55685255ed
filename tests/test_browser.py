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
    missing = browser_check.browser_unavailable()
    if missing:
        _unavailable(missing)
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


def _wav_uri(seconds: float, rate: int = 16_000) -> str:
    """data: URI of a WAV of ``seconds`` of a 440 Hz tone (what IPython.display.Audio embeds)."""
    import base64
    import io
    import math
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        n = int(rate * seconds)
        w.writeframes(struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n))))
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def _need_browser():
    for exe in (browser_check.CHROMIUM, browser_check.CHROMEDRIVER):
        if not Path(exe).is_file():
            _unavailable(f"no {exe}: apt-get install chromium chromium-driver")
    pytest.importorskip("selenium")


COLAB_LINK = "<a href='https://colab.research.google.com/github/acme/widgets/blob/dev/book/ch.ipynb'>Colab</a>"
TEXT = "<h1>Chapter</h1>" + "<p>" + "A paragraph a reader can see. " * 40 + "</p>"


def _browse(site: Path, body: str, tmp_path: Path) -> list[str]:
    (site / "_build/html/book/ch.html").write_text(_page(body, links=COLAB_LINK))
    result = browser_check.check_site(site, site / "_build/html", tmp_path / "shots", mathjax="cdn")
    assert all(not p.failures for p in result if p.entry == "book/index"), result[0].failures
    return next(p for p in result if p.entry == "book/ch").failures


def test_browser_check_passes_a_good_page_and_captures_the_whole_article(site: Path, tmp_path: Path):
    """A page with text, an image and a 1 s clip passes; its screenshot spans the full layout width
    and the article's text is in it (ink on both halves of the article box)."""
    _need_browser()
    from PIL import Image

    body = TEXT + f"<img src='../_images/ok.png' width='40' height='40'><audio controls><source src='{_wav_uri(1.0)}' type='audio/wav'></audio>"
    assert _browse(site, body, tmp_path) == []
    shot = tmp_path / "shots" / "book__ch.png"
    png = shot.read_bytes()
    assert Image.open(shot).size[0] == browser_check.WINDOW_WIDTH
    # the fake page's article starts at the left edge: its text fills both halves of the first 400 px rows
    assert browser_check.article_ink(png, (0, 0, 640, 400)) > 0.01 and browser_check.article_ink(png, (640, 0, 640, 400)) > 0.01


def test_browser_check_fails_a_blank_article(site: Path, tmp_path: Path):
    _need_browser()
    audio_count = "0 <audio> players, but the executed notebook shows 1"  # the fake notebook has one
    failures = _browse(site, "", tmp_path)  # nothing in the article
    assert len(failures) == 2 and audio_count in failures and "is empty or hidden" in failures[1], failures
    # text that renders invisibly (white on white): only the screenshot shows the page is blank
    failures = _browse(site, f"<div style='color:#fff;background:#fff'>{TEXT}</div>", tmp_path)
    assert len(failures) == 2 and audio_count in failures and "renders blank" in failures[1], failures


def test_browser_check_fails_audio_that_does_not_load_or_has_the_wrong_length(site: Path, tmp_path: Path):
    _need_browser()
    body = (TEXT + f"<audio controls><source src='{_wav_uri(1.0)}' type='audio/wav'></audio>"
            "<audio controls><source src='data:audio/wav;base64,AA==' type='audio/wav'></audio>"
            "<audio controls src='../_audio/missing.wav'></audio>"
            f"<audio controls><source src='{_wav_uri(3.0)}' type='audio/wav'></audio>"
            f"<audio controls data-seconds='3'><source src='{_wav_uri(3.0)}' type='audio/wav'></audio>")
    failures = _browse(site, body, tmp_path)
    assert failures[0].startswith("console: ") and "missing.wav" in failures[0]  # the 404 itself
    audio = failures[1:]
    assert len(audio) == 3, failures
    assert audio[0] == "<audio> 2/5 (data:audio/wav;base64,AA==) does not load: no playable source"
    assert audio[1].startswith("<audio> 3/5") and "missing.wav) does not load: media error 4" in audio[1]
    assert audio[2].startswith("<audio> 4/5") and "lasts 3 s, expected 0.5-1.5 s" in audio[2]


def test_browser_check_fails_clipped_outputs_and_the_book_css_wraps_them(site: Path, tmp_path: Path):
    _need_browser()
    output = "<div class='cell_output'><pre>" + " ".join(f"value{i}" for i in range(120)) + "</pre></div>"
    failures = _browse(site, TEXT + output, tmp_path)
    assert len(failures) == 2 and "1 printed output(s) wider than the page" in failures[1], failures
    css = (ROOT / "book" / "_static" / "mvtutorial.css").read_text()  # what _config.yml loads on every page
    assert _browse(site, f"<style>{css}</style>" + TEXT + output, tmp_path) == [failures[0]]  # only the audio count
    wide = "<div class='math' style='overflow-x:auto'><span style='white-space:nowrap'>" + "x + " * 400 + "y</span></div>"
    failures = _browse(site, TEXT + wide, tmp_path)  # (no MathJax on the fake page: reported too)
    assert sum("1 displayed equation(s) wider than the page" in f for f in failures) == 1, failures


def test_audio_failures_rules():
    ok = {"duration": 1.0, "error": 0, "ready": 4, "no_source": False, "seconds": None, "src": "data:"}
    assert browser_check.audio_failures([ok, {**ok, "duration": 0.6}, {**ok, "duration": 2.4, "seconds": 2}]) == []
    bad = browser_check.audio_failures([{**ok, "error": 4}, {**ok, "ready": 0}, {**ok, "duration": None},
                                        {**ok, "duration": 0.2}, {**ok, "duration": 1.0, "seconds": 4}])
    assert [b.split(":", 1)[0] for b in bad] == [f"<audio> {i}/5 (data" for i in range(1, 6)]
    assert "media error 4" in bad[0] and "no metadata" in bad[1] and "lasts None s" in bad[2] and "expected 2-6 s" in bad[4]


def test_blank_article_rules():
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(img).text((120, 20), "some text " * 5, fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    png = buf.getvalue()
    article = {"x": 100, "y": 0, "width": 300, "height": 300, "text": 50, "images": 0, "hidden": False, "dpr": 1}
    assert browser_check.article_ink(png, (100, 0, 300, 300)) > browser_check.MIN_INK
    assert browser_check.blank_article_failures(png, article) == []
    assert "renders blank" in browser_check.blank_article_failures(png, {**article, "y": 100, "height": 200})[0]
    assert "outside" in browser_check.blank_article_failures(png, {**article, "x": 300})[0]
    assert "empty or hidden" in browser_check.blank_article_failures(png, {**article, "text": 0})[0]
    assert "empty or hidden" in browser_check.blank_article_failures(png, {**article, "hidden": True})[0]


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


def test_browser_check_fails_elements_wider_than_the_article(site: Path, tmp_path: Path):
    """A table or a box that reaches past the article's edge is cut there (or reachable only by
    scrolling the whole page sideways): a failure. In a box that scrolls within the article, it
    passes only where that box is styled to show that it scrolls (its scrollbar always drawn): a
    bare ``overflow-x: auto`` box looks cut wherever scrollbars overlay (macOS) or are hidden."""
    _need_browser()
    audio_count = "0 <audio> players, but the executed notebook shows 1"  # the fake notebook has one
    row = "<tr>" + "".join(f"<td style='white-space:nowrap'>column {i}: 0.95 ± 0.01</td>" for i in range(20)) + "</tr>"
    table = f"<table class='dataframe'><thead><tr><th>config</th></tr></thead>{row}</table>"
    failures = _browse(site, TEXT + table, tmp_path)
    assert failures[0] == audio_count and len(failures) == 2, failures
    assert failures[1].startswith("1 element(s) wider than the ") and "table.dataframe" in failures[1], failures
    assert "column 0: 0.95" in failures[1]
    # in a bare scroll box: its end is hidden; in a box that shows it scrolls: fine
    failures = _browse(site, TEXT + f"<div class='box' style='overflow-x:auto'>{table}</div>", tmp_path)
    assert len(failures) == 2 and failures[1].startswith("1 box(es) of the article hide the end"), failures
    assert "div.box (" in failures[1] and "px of content in 1264 px" in failures[1], failures
    shown = "overflow-x:auto;--mvtutorial-scrollbar:visible"
    assert _browse(site, TEXT + f"<div style='{shown}'>{table}</div>", tmp_path) == [audio_count]
    # cut by a box that does not scroll: fails
    failures = _browse(site, TEXT + f"<div style='overflow:hidden'>{table}</div>", tmp_path)
    assert len(failures) == 2 and "1 element(s) wider than the " in failures[1], failures
    # code scrolls by convention; a printed output has its own rule (it must wrap)
    code = "<div class='highlight'><pre style='overflow-x:auto'>" + "x = 1; " * 400 + "</pre></div>"
    assert _browse(site, TEXT + code, tmp_path) == [audio_count]
    # a box sticking out on the left; a fixed-width figure; only the outermost element is named
    failures = _browse(site, TEXT + "<div style='margin-left:-300px'><p>left</p></div>"
                       "<div class='figure'><img src='../_images/ok.png' style='width:3000px;height:10px'></div>", tmp_path)
    assert "2 element(s) wider than the " in failures[1], failures
    assert "img 3000 px" in failures[1] and "300 px past the edge ('left')" in failures[1], failures
    # visually hidden text (clipped on purpose, as MathJax's assistive copy) is not a reader's problem
    hidden = "<span style='position:absolute;clip:rect(1px,1px,1px,1px)'>" + "x" * 2000 + "</span>"
    assert _browse(site, TEXT + hidden, tmp_path) == [audio_count]


def test_book_css_lets_wide_tables_scroll_within_the_article(site: Path, tmp_path: Path):
    """The book's CSS puts a wide pandas table of a cell output in a box that scrolls within the
    article and shows that it does (a drawn scrollbar), its row labels in view while it scrolls;
    the check passes on it, and the screenshot shows the scrollbar."""
    _need_browser()
    from PIL import Image

    audio_count = "0 <audio> players, but the executed notebook shows 1"
    cells = "".join(f"<td>0.{i:02d} ± 0.01</td>" for i in range(25))
    output = ("<div class='cell_output docutils container'><div class='output text_html'><div>"
              "<table border='1' class='dataframe'><thead><tr><th>config</th>"
              + "".join(f"<th>column {i}</th>" for i in range(25)) + f"</tr></thead><tbody><tr><th>a</th>{cells}</tr>"
              "</tbody></table></div></div></div>")
    failures = _browse(site, TEXT + output, tmp_path)
    assert len(failures) == 2 and "element(s) wider than the " in failures[1], failures
    css = (ROOT / "book" / "_static" / "mvtutorial.css").read_text()  # what _config.yml loads on every page
    body = f"<style>{css} body {{ margin: 0 }}</style>" + TEXT + output
    assert _browse(site, body, tmp_path) == [audio_count]
    shot = Image.open(tmp_path / "shots" / "book__ch.png").convert("RGB")
    thumb = (0xC9, 0xC9, 0xC9)  # the scrollbar's thumb: --pst-color-border's fallback on this theme-less page
    assert sum(shot.getpixel((5, y)) == thumb for y in range(shot.height)) >= 8


def test_screenshot_parts_cover_the_page():
    limit = browser_check.MAX_SHOT_HEIGHT
    assert browser_check.screenshot_parts(900) == [(0, 900)]
    assert browser_check.screenshot_parts(limit) == [(0, limit)]
    assert browser_check.screenshot_parts(2 * limit + 5) == [(0, limit), (limit, limit), (2 * limit, 5)]
    assert browser_check.screenshot_parts(2500, max_height=1000) == [(0, 1000), (1000, 1000), (2000, 500)]


def test_browser_check_captures_a_page_taller_than_one_screenshot_in_parts(site: Path, tmp_path: Path):
    """A page taller than Chromium's 16,384 px capture limit is saved as consecutive parts that
    cover it without gap or overlap: marks drawn at known page heights are found in the right part
    at the right row, the last one near the bottom; the sticky header is not painted over later
    parts; the single-file screenshot of an earlier run is removed."""
    _need_browser()
    from PIL import Image

    limit = browser_check.MAX_SHOT_HEIGHT
    mark = "<div style='position:absolute;left:0;top:{}px;width:300px;height:20px;background:{}'></div>"
    body = ("<style>body { margin: 0 }</style>"  # marks at page coordinates, inside the article
            "<div style='position:sticky;top:0;height:40px;background:#00f;z-index:9'></div>" + TEXT
            + "<div style='height:20000px'></div>"
            + mark.format(limit - 20, "#f00") + mark.format(limit, "#0f0") + mark.format(limit + 3000, "#f0f"))
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / "book__ch.png").write_bytes(PNG)  # from an earlier run, when the page was short
    (site / "_build/html/book/ch.html").write_text(_page(body, links=COLAB_LINK))
    result = browser_check.check_site(site, site / "_build/html", shots, mathjax="cdn")
    page = next(p for p in result if p.entry == "book/ch")
    assert page.failures == ["0 <audio> players, but the executed notebook shows 1"], page.failures
    assert any("screenshot in 2 parts" in n for n in page.notes), page.notes
    assert sorted(p.name for p in shots.glob("book__ch*.png")) == ["book__ch-1of2.png", "book__ch-2of2.png"]
    first, second = (Image.open(shots / f"book__ch-{i}of2.png").convert("RGB") for i in (1, 2))
    assert first.size == (browser_check.WINDOW_WIDTH, limit)
    assert second.size[0] == browser_check.WINDOW_WIDTH and 20000 < limit + second.size[1] < 22000
    assert first.getpixel((150, limit - 10)) == (255, 0, 0)  # the red mark ends the first part ...
    assert second.getpixel((150, 10)) == (0, 255, 0)  # ... the green one starts the second (no gap, no overlap)
    assert second.getpixel((150, 3010)) == (255, 0, 255)
    assert first.getpixel((600, 20)) == (0, 0, 255) and second.getpixel((600, 30)) != (0, 0, 255)  # header once


def test_blank_article_rules_over_screenshot_parts():
    import io

    from PIL import Image, ImageDraw

    def png(text: bool) -> bytes:
        img = Image.new("RGB", (400, 300), "white")
        if text:
            ImageDraw.Draw(img).text((120, 20), "some text " * 5, fill="black")
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    article = {"x": 100, "y": 0, "width": 300, "height": 600, "text": 50, "images": 0, "hidden": False, "dpr": 1}
    assert browser_check.blank_article_failures([(0, png(False)), (300, png(True))], article) == []
    assert "renders blank" in browser_check.blank_article_failures([(0, png(False)), (300, png(False))], article)[0]
    assert "outside" in browser_check.blank_article_failures([(0, png(True)), (300, png(True))], {**article, "y": 600})[0]
