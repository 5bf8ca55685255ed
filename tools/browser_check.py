"""Open every page of the built book in headless Chromium and check what a reader sees.

Usage (from the repository root, after ``python -m tools.book``)::

    python -m tools.browser_check [--html _build/html] [--screenshots _build/screenshots]

``_build/html`` is served on 127.0.0.1 (a free port, in a thread) and each page of
``_toc.yml`` is opened with selenium in Debian's Chromium (``/usr/bin/chromium`` and
``/usr/bin/chromedriver``; nothing is downloaded). Per page it checks: no page errors in the
console, every image of the article loads (non-zero natural size), ``<audio>`` players
wherever the executed notebook (``_build/executed/``) has audio outputs, every ``<audio>`` element
of the page plays (its source loads and its duration is that of a clip, :data:`AUDIO_SECONDS`,
or the element's ``data-seconds`` attribute within 50 %), every math element typeset by MathJax,
no printed output (``div.cell_output pre``) or displayed equation is wider than the page, no element
of the article (a table, an audio grid, a figure) reaches past the article's left or right edge
outside a horizontally scrollable box within the article (its end would be cut, or reachable only
by scrolling the whole page), no such box (code aside) hides the end of its content until scrolled
unless the book's CSS draws its scrollbar (:func:`wide_failures`), the article area is not
blank (it has text or images, and its part of the screenshot is not one flat colour), and, on notebook pages, the Colab launch link points at this repository's notebook
(``_config.yml``). A PNG of each whole page (full layout width, top to bottom) goes to
``--screenshots``: ``<page>.png``, or for a page taller than :data:`MAX_SHOT_HEIGHT` (Chromium's
limit for one capture) consecutive parts ``<page>-1of3.png``, ``<page>-2of3.png``, ... that
together cover it without gap or overlap.

MathJax 3 is loaded from a CDN by the pages. Machines without internet (like CI) cannot
reach it, so when a local copy is installed (the PyPI package ``django-static-mathjax``,
MathJax 3.2.2) the server rewrites that one URL to serve the copy; ``--mathjax cdn`` keeps
the pages untouched. The static half (:func:`static_check`) needs no browser.
"""
from __future__ import annotations

import argparse
import base64
import functools
import glob
import http.server
import importlib.util
import json
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from tools import book

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# --disable-background-networking & co.: Chromium's own connections (updates, sync, ...)
# are refused by a closed network and would otherwise stall or fail the start.
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--mute-audio", "--window-size=1280,900"]
# Scrollbars are drawn (no --hide-scrollbars), so that a screenshot shows which boxes scroll, as a
# reader sees them; the window's own scrollbar is hidden by WAIT_JS (scrollbar-width: none on the
# root), so that the layout is the full WINDOW_WIDTH both when checked and when captured.
MATHJAX_CDN = re.compile(rb"https://cdn\.jsdelivr\.net/npm/mathjax@3[^/\"']*/")
MATHJAX_ROUTE = "/__mathjax__/"
# Console errors of the toolchain itself, not of the book; ignored (but noted) by message.
KNOWN_NOISE = {
    # jupyter-book 1.0.4 + sphinx-thebe 0.3.1 put the thebe config <script> (const
    # THEBE_JS_URL = ...) into every page twice; the second copy throws, the first has
    # already defined everything (and Thebe is not enabled in _config.yml).
    "Identifier 'THEBE_JS_URL' has already been declared": "thebe config script included twice (jupyter-book 1.x)",
    # pydata-sphinx-theme console.error()s on a first visit (empty localStorage, as in a
    # fresh profile), then falls back to the "auto" light/dark mode.
    "Got invalid theme mode: . Resetting to auto.": "pydata-sphinx-theme first-visit theme mode",
}
MAX_SHOT_HEIGHT = 16384  # Chromium cannot capture taller pages in one piece
WINDOW_WIDTH = 1280      # CSS px, as --window-size: the desktop layout with both sidebars
#: Duration range in seconds every <audio> element must report: the book's clips are 1 s tones
#: (16 kHz); an element with a ``data-seconds`` attribute is held to that value within 50 %.
AUDIO_SECONDS = (0.5, 1.5)
#: An article area counts as blank when fewer than this fraction of its screenshot pixels differ
#: from its most common colour (a page of text has several percent).
MIN_INK = 0.002
WAIT_JS = """const done = arguments[arguments.length - 1];
document.documentElement.style.setProperty('scrollbar-width', 'none');  // the window's scrollbar only
const art = document.querySelector('article.bd-article') || document.body;
const imgs = [...art.querySelectorAll('img')], auds = [...document.querySelectorAll('audio')];
imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
auds.forEach(a => { if (a.preload === 'none') { a.preload = 'metadata'; a.load(); } });
const settle = (el, ok, evs) => ok ? null : new Promise(r => {
  evs.forEach(e => el.addEventListener(e, r)); setTimeout(r, 20000); });
const until = (test, ms) => new Promise(r => {  // poll: a failing <source> fires no event on the <audio>
  const t0 = Date.now(), poll = () => test() || Date.now() - t0 > ms ? r() : setTimeout(poll, 50); poll(); });
const math = () => !document.querySelector('.math') ? null : new Promise(r => {
  const t0 = Date.now(), poll = () => {  // MathJax may still be loading: poll, then await it
    const p = window.MathJax && MathJax.startup && MathJax.startup.promise;
    if (p) p.then(r, r); else if (Date.now() - t0 > 20000) r(); else setTimeout(poll, 100); };
  poll(); });
function wideElements() {  // outermost elements past the article's left/right edge, not in a scroll box inside it
  const box = art.getBoundingClientRect(), found = [];
  const unseen = el => {  // hidden, or clipped away on purpose (screen-reader-only text such as MathJax's)
    for (let a = el; a && a !== art; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.visibility === 'hidden' || s.display === 'none' || (s.clip && s.clip !== 'auto') || s.clipPath !== 'none') return true; }
    return false; };
  const scrolls = el => {  // a horizontally scrollable ancestor strictly inside the article
    for (let a = el.parentElement; a && a !== art; a = a.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return true;
    return false; };
  for (const el of art.querySelectorAll('*')) {  // document order: an ancestor comes before its descendants
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || (r.right <= box.right + 1 && r.left >= box.left - 1)) continue;
    if (found.some(f => f.contains(el)) || scrolls(el) || unseen(el)) continue;
    found.push(el); }
  return found.map(el => { const r = el.getBoundingClientRect();
    return {what: el.tagName.toLowerCase() + [...el.classList].slice(0, 2).map(c => '.' + c).join(''),
            width: Math.round(r.width), past: Math.round(Math.max(r.right - box.right, box.left - r.left)),
            article: Math.round(box.width), text: (el.innerText || el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60)}; }); }
function hiddenInScrollBoxes() {  // boxes of the article whose content must be scrolled sideways to be seen
  const code = 'pre, div.highlight, div.highlight *, div.cell_input, div.cell_input *, div.math, div.math *, mjx-container, mjx-container *';
  const boxes = [...art.querySelectorAll('*')].filter(b => ['auto', 'scroll'].includes(getComputedStyle(b).overflowX)
    && b.scrollWidth > b.clientWidth + 1 && b.clientWidth > 0 && !b.matches(code));
  return boxes.filter(b => getComputedStyle(b).getPropertyValue('--mvtutorial-scrollbar').trim() !== 'visible'
                          && !boxes.some(o => o !== b && o.contains(b)))
    .map(b => ({what: b.tagName.toLowerCase() + [...b.classList].slice(0, 2).map(c => '.' + c).join(''),
                content: b.scrollWidth, box: b.clientWidth,
                text: (b.innerText || b.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60)})); }
Promise.all([...imgs.map(i => settle(i, i.complete, ['load', 'error'])),
             ...auds.map(a => until(() => a.readyState >= 1 || a.error || a.networkState === 3, 20000)),
             math()]).then(() => done({
  images: imgs.map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight]),
  audio: auds.map(a => ({duration: a.duration, error: a.error ? a.error.code : 0, ready: a.readyState,
                         no_source: a.networkState === 3, seconds: parseFloat(a.dataset.seconds) || null,
                         src: (a.currentSrc || a.querySelector('source')?.getAttribute('src') || a.getAttribute('src') || '').slice(0, 60)})),
  clipped: [...document.querySelectorAll('div.cell_output pre')].filter(p => p.scrollWidth > p.clientWidth + 1)
             .map(p => p.textContent.trim().slice(0, 60)),
  wide: wideElements(),
  scrolled: hiddenInScrollBoxes(),
  wide_math: [...document.querySelectorAll('div.math, mjx-container[display="true"]')]
             .filter(m => m.scrollWidth > m.clientWidth + 1)
             .map(m => (m.closest('div.math') || m).textContent.trim().slice(0, 60)),
  mathjax: !!(window.MathJax && MathJax.startup),
  math: [...document.querySelectorAll('.math')].map(m =>
    m.querySelector('mjx-container') ? (m.querySelector('mjx-merror') ? 'error' : 'ok')
                                     : m.textContent.trim().slice(0, 40))}));"""
#: Page geometry (CSS px, page coordinates) and what the article holds; run right before the screenshot.
ARTICLE_JS = """const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const r = art.getBoundingClientRect(), style = getComputedStyle(art);
return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height,
        text: (art.innerText || '').trim().length, images: art.querySelectorAll('img, svg, canvas, video').length,
        hidden: style.visibility === 'hidden' || style.display === 'none' || parseFloat(style.opacity) === 0,
        page_width: document.documentElement.scrollWidth, page_height: document.documentElement.scrollHeight,
        dpr: devicePixelRatio};"""


@dataclass
class Page:
    entry: str                   # entry of _toc.yml, e.g. "book/01_data"
    source: Path | None          # its .ipynb/.md file
    url: str                     # page path under the HTML root, e.g. "book/01_data.html"
    html: Path                   # built page
    colab: str | None = None     # expected Colab URL (notebook pages)
    audio: int = 0               # <audio> outputs shown by the executed notebook
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # KNOWN_NOISE seen on the page


class _Scan(HTMLParser):
    """What the static HTML holds: links, article images, audio players, math elements."""

    def __init__(self):
        super().__init__()
        self.links, self.images, self.audio, self.math, self._article = [], [], 0, 0, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "article":
            self._article += 1
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "img" and self._article:
            self.images.append(a.get("src") or "")
        elif tag == "audio":
            self.audio += 1
        elif tag in ("span", "div") and "math" in (a.get("class") or "").split():
            self.math += 1

    def handle_endtag(self, tag):
        if tag == "article":
            self._article -= 1


def colab_url(entry_path: str, root: Path) -> str:
    """The Colab launch URL sphinx-book-theme must build for the notebook ``entry_path``
    (relative to the repository root), from ``repository`` and ``launch_buttons``."""
    config = book.load_yaml(root / "_config.yml")
    url, branch = book.repository(root / "_config.yml")
    owner_repo = urlsplit(url).path.strip("/")
    base = str((config.get("launch_buttons") or {}).get("colab_url", "https://colab.research.google.com")).rstrip("/")
    prefix = str((config.get("repository") or {}).get("path_to_book") or "").strip("/")
    return f"{base}/github/{owner_repo}/blob/{branch}/{prefix + '/' if prefix else ''}{entry_path}"


def audio_outputs(executed: Path) -> int:
    """Number of ``<audio>`` players among the shown outputs of an executed notebook."""
    count = 0
    for cell in json.loads(executed.read_text(encoding="utf-8")).get("cells", []):
        if {"remove-output", "remove-cell"} & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html", "")
            count += ("".join(html) if isinstance(html, list) else html).count("<audio")
    return count


def pages(root: Path, html_dir: Path) -> list[Page]:
    """The pages of ``_toc.yml`` with what each must show."""
    found = []
    for entry, source in book.toc_entries(root / "_toc.yml"):
        page = Page(entry, source, f"{entry}.html", html_dir / f"{entry}.html")
        if source is not None and source.suffix == ".ipynb":
            page.colab = colab_url(source.resolve().relative_to(root.resolve()).as_posix(), root)
            executed = root / book.STAGING_DIR / f"{entry}.ipynb"
            if executed.is_file():
                page.audio = audio_outputs(executed)
            else:
                page.notes.append(f"no {executed.relative_to(root)}: audio not checked")
        found.append(page)
    return found


def static_check(page: Page) -> _Scan | None:
    """Checks on the HTML file alone (appended to ``page.failures``): it exists, the local
    images it references exist and are non-empty, it has the audio players the notebook
    shows, and its Colab launch link is exactly the expected one."""
    if not page.html.is_file():
        page.failures.append(f"page not built: {page.html}")
        return None
    scan = _Scan()
    scan.feed(page.html.read_text(encoding="utf-8"))
    for src in scan.images:
        if not src or src.startswith(("data:", "http:", "https:")):
            continue
        target = (page.html.parent / unquote(src.split("#")[0].split("?")[0])).resolve()
        if not target.is_file() or target.stat().st_size == 0:
            page.failures.append(f"image {src}: no such file (or empty) in the build")
    if scan.audio < page.audio:
        page.failures.append(f"{scan.audio} <audio> players, but the executed notebook shows {page.audio}")
    if page.colab is not None:
        colab_base = page.colab.split("/github/")[0]
        hrefs = sorted({h for h in scan.links if h.startswith(colab_base)})
        if hrefs != [page.colab]:
            page.failures.append(f"Colab launch link {hrefs or 'missing'}, expected {page.colab}")
    return scan


def console_errors(entries: list[dict], origin: str) -> tuple[list[str], list[str]]:
    """``(errors, ignored)`` among browser log entries. Only SEVERE entries matter. Failed
    requests (source "network", message "URL - Failed to load resource ...") count only for
    this server's own URLs, minus favicon.ico: requests to other hosts fail on a closed
    network and say nothing about the book. Everything else that is SEVERE counts (uncaught
    JavaScript exceptions of any script, console.error calls, security errors), except the
    toolchain's own KNOWN_NOISE, which is returned as ``ignored``."""
    errors, ignored = [], []
    for e in entries:
        if e.get("level") != "SEVERE":
            continue
        msg = e.get("message", "")
        url = msg.split(" ", 1)[0]
        if e.get("source") == "network" and (not url.startswith(origin) or url.endswith("/favicon.ico")):
            continue
        known = [why for text, why in KNOWN_NOISE.items() if text in msg]
        (ignored if known else errors).append(known[0] if known else msg)
    return errors, ignored


def _mathjax_dir() -> Path | None:
    spec = importlib.util.find_spec("mathjax")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        if (Path(loc) / "static/mathjax/es5/tex-mml-chtml.js").is_file():
            return Path(loc) / "static/mathjax"
    return None


class _Handler(http.server.SimpleHTTPRequestHandler):
    mathjax: Path | None = None  # local MathJax 3 served at MATHJAX_ROUTE, CDN URL rewritten

    def log_message(self, *args):  # quiet
        pass

    def translate_path(self, path):
        if self.mathjax and path.startswith(MATHJAX_ROUTE):
            return str(self.mathjax / unquote(urlsplit(path).path[len(MATHJAX_ROUTE):]))
        return super().translate_path(path)

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not (self.mathjax and path.suffix == ".html" and path.is_file()):
            return super().do_GET()
        body = MATHJAX_CDN.sub(MATHJAX_ROUTE.encode(), path.read_bytes())
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def browser_check(driver, base: str, page: Page, scan: _Scan, shots: Path) -> dict:
    """Open ``page`` in ``driver``; append failures; save a screenshot; return counts."""
    driver.get_log("browser")  # drop late entries of the previous page
    driver.get(urljoin(base, page.url))
    got = driver.execute_async_script(WAIT_JS)
    errors, ignored = console_errors(driver.get_log("browser"), base.rstrip("/"))
    page.failures += [f"console: {err}" for err in errors]
    page.ignored += ignored
    for src, width, height in got["images"]:
        if not (width and height):
            page.failures.append(f"image {src} did not load (natural size {width}x{height})")
    page.failures += audio_failures(got["audio"])
    if got["wide_math"]:
        page.failures.append(f"{len(got['wide_math'])} displayed equation(s) wider than the page, their ends hidden, "
                             f"e.g. {got['wide_math'][0]!r} (break them over lines: aligned)")
    page.failures += wide_failures(got["wide"], got["scrolled"])
    if got["clipped"]:
        page.failures.append(f"{len(got['clipped'])} printed output(s) wider than the page, their ends hidden "
                             f"behind a scrollbar, e.g. {got['clipped'][0]!r}")
    if len(got["audio"]) < page.audio <= scan.audio:  # (fewer in the HTML: static_check said so)
        page.failures.append(f"{len(got['audio'])} <audio> players in the page, the executed notebook shows {page.audio}")
    if scan.math and not got["mathjax"]:
        page.failures.append("page has math but MathJax did not load")
    elif any(m != "ok" for m in got["math"]):
        bad = [m for m in got["math"] if m != "ok"]
        page.failures.append(f"{len(bad)}/{len(got['math'])} math elements not typeset, e.g. {bad[:3]}")
    parts, article = full_page_screenshot(driver)
    names = save_screenshots(parts, shots, page.entry.replace("/", "__"))
    if len(names) > 1:
        page.notes.append(f"screenshot in {len(names)} parts ({article['page_height']:.0f} px tall page): "
                          f"{names[0]} ... {names[-1]}")
    page.failures += blank_article_failures(parts, article)
    return {"images": len(got["images"]), "audio": f"{len(got['audio'])} (notebook {page.audio})",
            "math": len(got["math"])}


def audio_failures(players: list[dict], seconds: tuple[float, float] = AUDIO_SECONDS) -> list[str]:
    """Failures among the ``<audio>`` elements of a page (as :data:`WAIT_JS` reports them): a
    source that does not load (media error, no usable source, no metadata) or a duration outside
    ``seconds`` (or, for an element with ``data-seconds``, outside 50-150 % of it)."""
    failures = []
    for i, a in enumerate(players, 1):
        where = f"<audio> {i}/{len(players)} ({a.get('src') or 'no src'})"
        if a["error"] or a["no_source"] or a["ready"] < 1:
            why = f"media error {a['error']}" if a["error"] else "no playable source" if a["no_source"] else "no metadata"
            failures.append(f"{where} does not load: {why}")
            continue
        lo, hi = (0.5 * a["seconds"], 1.5 * a["seconds"]) if a.get("seconds") else seconds
        duration = a["duration"]
        if not (isinstance(duration, (int, float)) and lo <= duration <= hi):
            failures.append(f"{where} lasts {duration} s, expected {lo:g}-{hi:g} s")
    return failures


def wide_failures(wide: list[dict], scrolled: list[dict] = ()) -> list[str]:
    """Failures for what does not fit the article (as :data:`WAIT_JS` reports it, outermost only):

    * ``wide``: elements that reach past the article's left or right edge outside any horizontally
      scrollable box within the article: their ends are cut at the article's edge, or reachable
      only by scrolling the whole page sideways;
    * ``scrolled``: boxes of the article (other than code, printed outputs and equations, which have
      their own rules) whose content is wider than the box, so that its end shows only when the box
      is scrolled sideways, and which the book does not style as a box that shows it scrolls
      (``--mvtutorial-scrollbar: visible``, as ``book/_static/mvtutorial.css`` does for cell
      outputs: a scrollbar that is always drawn). Elsewhere (an overlay scrollbar, as on macOS, or a
      screenshot) such a box looks cut."""
    failures = []
    if wide:
        shown = "; ".join(f"{w['what']} {w['width']} px, {w['past']} px past the edge ({w['text']!r})" for w in wide[:3])
        failures.append(f"{len(wide)} element(s) wider than the {wide[0]['article']} px article, their ends cut: {shown}"
                        f"{' ...' if len(wide) > 3 else ''} (make them fit, or put them in a box that scrolls and "
                        "shows it, as book/_static/mvtutorial.css does for cell outputs)")
    if scrolled:
        shown = "; ".join(f"{b['what']} ({b['content']} px of content in {b['box']} px, {b['text']!r})" for b in scrolled[:3])
        failures.append(f"{len(scrolled)} box(es) of the article hide the end of their content until scrolled sideways, "
                        f"with no scrollbar styled to show it: {shown}{' ...' if len(scrolled) > 3 else ''} (make the "
                        "content fit, or style the box as book/_static/mvtutorial.css does for cell outputs)")
    return failures


#: Makes ``position: sticky`` elements (the theme's header bar, its sidebars) scroll with the page
#: while a tall page is captured in parts: they keep their place in the layout, and are not
#: painted again over the top of every later part.
UNSTICK_JS = """const stuck = [...document.querySelectorAll('*')].filter(e => getComputedStyle(e).position === 'sticky');
stuck.forEach(e => e.style.setProperty('position', 'relative', 'important'));
return stuck.length;"""


def screenshot_parts(height: int, max_height: int | None = None) -> list[tuple[int, int]]:
    """``(top, height)`` of the consecutive captures covering a page ``height`` CSS px tall, each at
    most ``max_height`` (default :data:`MAX_SHOT_HEIGHT`) tall: no gap, no overlap."""
    max_height = max_height or MAX_SHOT_HEIGHT
    height = max(1, int(height))
    return [(top, min(max_height, height - top)) for top in range(0, height, max_height)]


def full_page_screenshot(driver) -> tuple[list[tuple[int, bytes]], dict]:
    """PNGs of the whole page at the window's layout width, as ``[(top, png), ...]`` (``top``: the
    page y, CSS px, of the part's first row), and the article's geometry (:data:`ARTICLE_JS`),
    measured under the same layout.

    The viewport is resized (device-metrics override) to the page's full width and height, so the
    capture needs no clip beyond the viewport: a clipped ``captureBeyondViewport`` capture of a
    taller page came out shifted, the left of the article cut off and a third of the image blank.
    Chromium captures at most :data:`MAX_SHOT_HEIGHT` px at once, so a taller page is captured in
    parts (:func:`screenshot_parts`): the viewport is made as tall as the part and the page is
    scrolled to its top, with sticky elements unstuck (:data:`UNSTICK_JS`)."""
    width = max(WINDOW_WIDTH, int(driver.execute_script("return document.documentElement.scrollWidth")))
    height = int(driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"] + 0.5)
    parts = screenshot_parts(height)
    if len(parts) > 1:
        driver.execute_script(UNSTICK_JS)
    shots = []
    try:
        for i, (top, part_height) in enumerate(parts):
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": part_height, "deviceScaleFactor": 1, "mobile": False})
            driver.execute_script("window.scrollTo(0, arguments[0])", top)
            if i == 0:
                article = driver.execute_script(ARTICLE_JS)
            scrolled = driver.execute_script("return scrollY")
            if abs(scrolled - top) > 1:
                raise RuntimeError(f"screenshot part {i + 1}/{len(parts)}: could not scroll to y = {top} (at {scrolled})")
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "fromSurface": True})
            shots.append((top, base64.b64decode(shot["data"])))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return shots, article


def save_screenshots(parts: list[tuple[int, bytes]], shots: Path, stem: str) -> list[str]:
    """Write ``<stem>.png`` (one part) or ``<stem>-1of<n>.png`` ... (several) into ``shots``,
    removing the files of an earlier run of this page first; returns the file names."""
    shots.mkdir(parents=True, exist_ok=True)
    for old in [shots / f"{stem}.png", *shots.glob(f"{glob.escape(stem)}-*of*.png")]:
        old.unlink(missing_ok=True)
    names = [f"{stem}.png"] if len(parts) == 1 else [f"{stem}-{i}of{len(parts)}.png" for i in range(1, len(parts) + 1)]
    for name, (_, png) in zip(names, parts):
        (shots / name).write_bytes(png)
    return names


def article_ink(png: bytes, box: tuple[float, float, float, float]) -> float:
    """Fraction of the pixels of ``box`` (x, y, width, height in image pixels) in the PNG that
    differ from the box's most common colour by more than 24 in some channel: 0 for a flat
    (blank) area, a few percent for a page of text."""
    import io

    import numpy as np
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    x, y, w, h = (int(round(v)) for v in box)
    left, top, right, bottom = max(x, 0), max(y, 0), min(x + w, img.width), min(y + h, img.height)
    if right <= left or bottom <= top:
        return 0.0
    area = np.asarray(img.crop((left, top, right, bottom)), dtype=np.int16).reshape(-1, 3)
    sample = area[:: max(1, len(area) // 200_000)]  # the background colour from <= 200k pixels (np.unique sorts)
    packed = (sample[:, 0].astype(np.int32) << 16) | (sample[:, 1].astype(np.int32) << 8) | sample[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    mode = int(values[counts.argmax()])
    background = np.array([mode >> 16, (mode >> 8) & 255, mode & 255], dtype=np.int16)
    return float((np.abs(area - background).max(axis=1) > 24).mean())


def blank_article_failures(png: bytes | list[tuple[int, bytes]], article: dict, min_ink: float = MIN_INK) -> list[str]:
    """Failures when the article area is missing from the screenshot or renders blank: no text
    and no images, hidden, a zero-size box, a box outside the captured image, or (the
    rendered truth) almost no pixel of its area differs from the background. ``png``: one
    screenshot of the page from its top, or its parts ``[(top, png), ...]`` (top in CSS px),
    whose ink is pooled over the article's area in each."""
    from PIL import Image
    import io

    parts = [(0, png)] if isinstance(png, bytes) else list(png)
    scale = article.get("dpr") or 1
    sizes = [Image.open(io.BytesIO(p)).size for _, p in parts]
    shot_w = max(w for w, _ in sizes)
    shot_h = max(top * scale + h for (top, _), (_, h) in zip(parts, sizes))
    x, y, w, h = (article[k] * scale for k in ("x", "y", "width", "height"))
    where = f"article area {article['width']:.0f}x{article['height']:.0f} px at ({article['x']:.0f}, {article['y']:.0f})"
    if article.get("hidden") or w < 1 or h < 1 or not (article["text"] or article["images"]):
        return [f"{where} is empty or hidden ({article['text']} characters, {article['images']} images)"]
    if x < 0 or x + w > shot_w + 1 or y >= shot_h:
        return [f"{where} lies outside the {shot_w:.0f}x{shot_h:.0f} screenshot (cropped capture)"]
    inked = area = 0.0
    for (top, part), (part_w, part_h) in zip(parts, sizes):
        y0, y1 = max(y - top * scale, 0), min(y + h - top * scale, part_h)  # the article's rows in this part
        if y1 > y0:
            inked += article_ink(part, (x, y0, w, y1 - y0)) * (y1 - y0)
            area += y1 - y0
    ink = inked / area if area else 0.0
    if ink < min_ink:
        return [f"{where} renders blank: {100 * ink:.2f} % of its pixels differ from the background "
                f"(at least {100 * min_ink:.1f} % expected)"]
    return []


def browser_unavailable() -> str | None:
    """Why the headless browser cannot run here (no Chromium, no ChromeDriver, no selenium), with the
    line that installs it; ``None`` when it can."""
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).is_file():
            return f"no {exe}: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements.txt)"
    return None


def _driver(chromium: str, chromedriver: str, profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium-manager download a browser
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_script_timeout(90)
    driver.set_page_load_timeout(120)
    return driver


def check_site(root: Path, html_dir: Path, shots: Path, mathjax: str = "auto",
               chromium: str = CHROMIUM, chromedriver: str = CHROMEDRIVER) -> list[Page]:
    """Run every check on every page of ``_toc.yml``, printing one line per page."""
    todo = pages(root, html_dir)
    scans = [static_check(page) for page in todo]
    handler = type("Handler", (_Handler,), {"mathjax": _mathjax_dir() if mathjax == "auto" else None})
    if mathjax == "auto":
        print(f"MathJax: {'local copy ' + str(handler.mathjax) if handler.mathjax else 'CDN (no local copy installed)'}")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(html_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    with tempfile.TemporaryDirectory(prefix="mvtutorial-chromium-") as profile:
        driver = _driver(chromium, chromedriver, profile)
        try:
            for page, scan in zip(todo, scans):
                start, counts = time.perf_counter(), {}
                if scan is not None:
                    try:
                        counts = browser_check(driver, base, page, scan, shots)
                    except Exception as err:  # timeouts, a crashed tab, ...
                        page.failures.append(f"browser: {type(err).__name__}: {str(err).strip()[:300]}")
                detail = "  ".join(f"{k} {v}" for k, v in counts.items())
                colab = "  colab ok" if scan and page.colab and not any("Colab" in f for f in page.failures) else ""
                print(f"{'FAIL' if page.failures else 'ok  '} {page.url:<28} {detail}{colab}"
                      f"  ({time.perf_counter() - start:.1f} s)", flush=True)
                for line in page.failures + [f"note: {n}" for n in page.notes]:
                    print(f"       {line}", flush=True)
        finally:
            driver.quit()
            server.shutdown()
            server.server_close()
    return todo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.browser_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", default="_build/html", help="built website (default: _build/html)")
    parser.add_argument("--screenshots", default="_build/screenshots", help="where the PNGs go (default: _build/screenshots)")
    parser.add_argument("--root", default=".", help="repository root with _toc.yml and _config.yml (default: .)")
    parser.add_argument("--mathjax", choices=("auto", "cdn"), default="auto",
                        help="auto: serve a locally installed MathJax 3 in place of the CDN when there is one")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--chromedriver", default=CHROMEDRIVER)
    args = parser.parse_args(argv)
    root, html_dir = Path(args.root), Path(args.html)
    problems = [f"no {html_dir / 'index.html'}: build the book first (python -m tools.book --mode fast)"
                ] if not (html_dir / "index.html").is_file() else []
    problems += [f"no {exe}: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
                 for exe in (args.chromium, args.chromedriver) if not Path(exe).is_file()]
    if problems:
        print("error: " + "\nerror: ".join(problems), file=sys.stderr)
        return 2
    start = time.perf_counter()
    result = check_site(root, html_dir, Path(args.screenshots), args.mathjax, args.chromium, args.chromedriver)
    failed = [(p.url, f) for p in result for f in p.failures]
    for why in sorted({w for p in result for w in p.ignored}):
        print(f"ignored known console error on {sum(why in p.ignored for p in result)} page(s): {why}")
    print(f"\n{len(result)} pages in {time.perf_counter() - start:.1f} s; screenshots in {args.screenshots}/")
    if failed:
        print(f"{len(failed)} failure(s):", file=sys.stderr)
        for url, failure in failed:
            print(f"  {url}: {failure}", file=sys.stderr)
        return 1
    print("all browser checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
