"""The mixing desk (book/mixing_desk.md): its exported data against PyTorch, and the built page in
headless Chromium against the Python decoder and the Python inversion.

The first tests need no browser: the exported forward pass (:func:`mvtutorial.export.decode_numpy`, the
page's arithmetic in numpy) against PyTorch's ``decode`` for every shipped model, the packed arrays, the
mel inversion against torchaudio's, the MI labels. The data-file test renders notes with FluidSynth.

The browser tests (``slow``) need the built site (``python -m tools.book`` writes
``_build/html/book/mixing_desk.html`` and ``_build/html/_static/mixing_desk_data.js``) and Debian's
``chromium`` + ``chromium-driver``; without them they are skipped, except under CI. They serve the site
from a local static server, as ``tools/browser_check.py`` does, and save two screenshots of the desk to
``_build/screenshots/`` (``mixing_desk-state1-tones-paper.png``, ``mixing_desk-state2-instruments-recommended.png``).

Tolerances (what was measured when they were set, in brackets):

* decoder: the page's decoded log-mel vs PyTorch's ``decode`` of the same code, max abs error < 1e-4 on
  the [0, 1] scale [<= 8e-7: PyTorch sums in float32, the page in float64];
* Griffin-Lim: given the same magnitudes and starting phases, the page's vs torchaudio's (float64),
  max abs difference < 1e-9 of the peak [<= 3e-14];
* the page's log-mel front end (the donors' thumbnails) vs :func:`mvtutorial.features.logmel` in
  float64, < 1e-6 [~3e-14];
* the page's sound vs :func:`mvtutorial.listening.to_audio` on the same decoded log-mel: started from
  to_audio's own phases, max abs difference < 0.05 of the peak [3e-3 to 1e-2: torchaudio's mel inversion
  runs in float32, and 64 iterations carry the difference along]; with the page's own random phases,
  correlation of the two sounds' time-averaged magnitude spectra > 0.99 [0.998-0.9996] and mean absolute
  difference of their log-mels < 0.04 [0.009-0.013]; the page's sound is no further from the decoded
  log-mel than to_audio's (by more than 0.05).
"""
from __future__ import annotations

import functools
import http.server
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from mvtutorial import export
from mvtutorial.studies import mixing_desk

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
PAGE = "book/mixing_desk.html"
DATA = HTML / "_static" / "mixing_desk_data.js"
SCREENSHOTS = ROOT / "_build" / "screenshots"
MODELS = [(d, m) for d in mixing_desk.DATA_SETS for m in mixing_desk.MODELS]
#: The page's budget (issue 27): every byte it loads, uncompressed, with both models on both data sets.
PAGE_BUDGET = 5_000_000


@functools.lru_cache(maxsize=None)
def _model(data_set: str, model: str):
    return mixing_desk.load_desk_model(data_set, model)


def _torch_decode(data_set: str, model: str, codes) -> np.ndarray:
    """PyTorch's decode of codes ``(N, 16)`` (private, shared): the first frame ``(N, n_mels)``."""
    m = _model(data_set, model)
    z = torch.as_tensor(np.atleast_2d(np.asarray(codes, dtype=np.float32)))
    with torch.no_grad():
        return m.decode(z[:, : m.config.private_dim], z[:, m.config.private_dim:])[:, :, 0].numpy()


# --------------------------------------------------------------------------- #
# No browser needed
# --------------------------------------------------------------------------- #
def test_z85_is_zeromq_z85():
    assert export.z85_encode(bytes.fromhex("864FD26FB559F75B")) == "HelloWorld"  # the RFC's test vector
    for n in (0, 1, 5, 1001):
        data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
        text = export.z85_encode(data)
        assert len(text) == 5 * ((n + 3) // 4) and '"' not in text and "\\" not in text
        assert export.z85_decode(text, n) == data
    with pytest.raises(ValueError, match="not Z85"):
        export.z85_decode("Hello~orld", 8)


@pytest.mark.parametrize("dtype", ["float32", "int16", "uint8", "int32"])
def test_pack_round_trips_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 5, 7)) * 1000).astype(dtype)
    if dtype == "float32":
        a.flat[:4] = [np.inf, -np.inf, -0.0, np.float32(1e-42)]
    b = export.unpack(export.pack(a))
    assert b.dtype == a.dtype and b.shape == a.shape and a.tobytes() == b.tobytes()
    assert export.unpack(export.pack(np.zeros((0, 4), np.float32))).shape == (0, 4)
    with pytest.raises(ValueError, match="cannot pack dtype float64"):
        export.pack(np.zeros(3))


@pytest.mark.parametrize("data_set, model", MODELS)
def test_exported_forward_pass_equals_pytorch_decode(data_set, model):
    """The page's arithmetic (float64 sums over the checkpoint's float32 weights) against PyTorch's decode,
    over codes spanning twice the prior's range; every frame of PyTorch's output is the same frame."""
    m = _model(data_set, model)
    layers = export.decoder_layers(m)
    assert [l["activation"] for l in layers] == ["silu", "silu", "sigmoid"]
    assert sum(l["weight"].size + l["bias"].size for l in layers) == sum(p.numel() for p in m.decoder_body.parameters())
    z = np.random.default_rng(1).uniform(-6, 6, (256, m.config.private_dim + m.config.shared_dim)).astype(np.float32)
    ours = export.decode_numpy(layers, z)
    theirs = _torch_decode(data_set, model, z)
    assert np.abs(ours - theirs).max() < 1e-5
    with torch.no_grad():
        full = m.decode(torch.from_numpy(z[:4, :8]), torch.from_numpy(z[:4, 8:])).numpy()
    assert np.array_equal(full, np.repeat(full[:, :, :1], full.shape[-1], axis=-1))


def test_decoder_layers_refuse_a_decoder_that_is_not_the_pooled_mlp():
    from mvtutorial.model import MultiViewVAE

    with pytest.raises(ValueError, match="arch is 'mlp'"):
        export.decoder_layers(MultiViewVAE(arch="mlp", hidden=(8,)))
    assert len(export.decoder_layers(MultiViewVAE(arch="pooled", hidden=(8, 4)))) == 3


def test_dimension_labels_follow_the_mi_rule():
    def result(rows):
        return {"factors": {"timbre": {"column": "waveform", "belongs_in": "shared"},
                            "frequency": {"column": "freq_class", "belongs_in": "private"}},
                "mi_matrix": {k: {"timbre": t, "frequency": f} for k, (t, f) in rows.items()}}

    labels = mixing_desk.dimension_labels(result({"shared/1": (0.9, 0.1), "private/2": (0.2, 0.35), "private/1": (0.05, 0.8),
                                             "shared/2": (0.5, 0.3), "private/3": (0.29, 0.0)}))
    assert [(d["subspace"], d["dim"], d["label"]) for d in labels] == [
        ("private", 1, "pitch"), ("private", 2, ""), ("private", 3, ""), ("shared", 1, "timbre"), ("shared", 2, "")]
    assert labels[0]["mi"] == {"timbre": 0.05, "pitch": 0.8}
    # the shipped recommended tone model: the timbre lives in shared dims 3, 5, 6 and 7, and private dim 1, the
    # axis its transposition term moves by the interval (chapter 6.8), holds the most pitch of all
    shipped = mixing_desk.dimension_labels(mixing_desk.model_result("tones", "recommended"))
    assert [d["dim"] for d in shipped if d["label"] == "timbre"] == [3, 5, 6, 7]
    assert all(d["subspace"] == "shared" for d in shipped if d["label"] == "timbre")
    assert max(shipped, key=lambda d: d["mi"]["pitch"])["subspace"] == "private" and shipped[0]["label"] == "pitch"
    assert shipped[0]["mi"]["pitch"] == max(d["mi"]["pitch"] for d in shipped)
    assert len(shipped) == 16 and [d["subspace"] for d in shipped] == ["private"] * 8 + ["shared"] * 8


def test_mel_inversion_equals_torchaudio_inverse_mel_scale():
    """The page's mel inversion (minimum-norm least squares through a Cholesky factorisation) against
    torchaudio's InverseMelScale (lstsq, gels), on decoded frames as to_audio receives them."""
    import torchaudio

    from mvtutorial.features import FeatureConfig

    fc = FeatureConfig()
    fb = export.mel_filterbank_matrix(fc)
    frames = _torch_decode("tones", "recommended", np.random.default_rng(2).normal(size=(8, 16)))
    power = 10.0 ** ((frames - 1.0) * fc.top_db / 10.0)  # (8, n_mels)
    ours = export.mel_to_linear_power(power.T, fb)  # (n_freq, 8)
    inv = torchaudio.transforms.InverseMelScale(n_stft=fc.n_fft // 2 + 1, n_mels=fc.n_mels, sample_rate=fc.sample_rate,
                                                f_min=fc.f_min, f_max=fc.f_max, norm="slaney", mel_scale="slaney")
    theirs = inv(torch.from_numpy(power.T.astype(np.float32))[None])[0].numpy()
    assert np.abs(ours - theirs).max() < 1e-5 * theirs.max()


def test_the_chapter_lists_show_the_page_after_chapter_7():
    from tools import book, chapters

    pages = chapters.book_pages(ROOT)
    assert [(p.path, p.after) for p in pages] == [("book/mixing_desk.md", 7)]
    assert "book/_static/mixing_desk_data.js" in book.GENERATED_FILES


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """A data file written by the build's function (renders 72 tones and 72 notes: needs FluidSynth)."""
    try:
        from mvtutorial.data.soundfont import _fluidsynth, find_soundfont

        _fluidsynth()
        find_soundfont("TimGM6mb")
    except (ImportError, FileNotFoundError) as err:
        if os.environ.get("CI"):
            pytest.fail(f"FluidSynth or TimGM6mb missing under CI: {err}")
        pytest.skip(f"FluidSynth or TimGM6mb missing: {err}")
    return mixing_desk.write_desk_data(tmp_path_factory.mktemp("desk") / "mixing_desk_data.js")


@pytest.mark.slow
def test_data_file_decodes_as_pytorch_and_its_clips_give_its_codes(data_file):
    from mvtutorial.features import logmel
    from mvtutorial.listening import encode_means

    data = mixing_desk.read_desk_data(data_file)
    assert data["format"] == mixing_desk.FORMAT and oct(data_file.stat().st_mode)[-3:] == "644"
    assert data_file.stat().st_size < 2_600_000
    assert [d["key"] for d in data["data_sets"]] == list(mixing_desk.DATA_SETS)
    for ds in data["data_sets"]:
        audio = export.unpack(ds["audio"])
        assert audio.shape == (8, 16000) and np.abs(audio).max(axis=1).min() == 32767
        assert len({d["timbre"] for d in ds["donors"]}) == (4 if ds["key"] == "tones" else 8)
        assert len({d["pitch_class"] for d in ds["donors"]}) == 8
        for entry in ds["models"]:
            codes = np.concatenate([export.unpack(entry["codes"]["private"]), export.unpack(entry["codes"]["shared"])], axis=1)
            layers = [{"weight": export.unpack(l["weight"]), "bias": export.unpack(l["bias"]), "activation": l["activation"]}
                      for l in entry["layers"]]
            assert np.abs(export.decode_numpy(layers, codes) - _torch_decode(ds["key"], entry["key"], codes)).max() < 1e-5
            low, high = np.array(entry["range"]["low"]), np.array(entry["range"]["high"])
            assert np.all((low < codes) & (codes < high))
            # what the players play is what was encoded: the 16-bit clips give the same codes
            again = encode_means(_model(ds["key"], entry["key"]), logmel(torch.from_numpy(audio / 32767.0).float()))
            assert np.abs(np.concatenate([again.private, again.shared], axis=1) - codes).max() < 0.01  # (measured 1e-3)


# --------------------------------------------------------------------------- #
# The built page in headless Chromium
# --------------------------------------------------------------------------- #
def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error)")
    pytest.skip(reason)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    """``(driver, base URL)`` with the built page open and the desk ready."""
    from tools import browser_check

    if not (HTML / PAGE).is_file() or not DATA.is_file():
        _unavailable(f"no {HTML / PAGE} or {DATA}: build the book first (python -m tools.book --mode fast)")
    built = (HTML / "_static" / "mixing_desk.js").read_bytes()
    if built != (ROOT / "book" / "_static" / "mixing_desk.js").read_bytes() or mixing_desk.read_desk_data(DATA).get("format") != mixing_desk.FORMAT:
        pytest.fail(f"{HTML} holds an older mixing desk than book/_static/mixing_desk.js and mvtutorial/studies/mixing_desk.py; "
                    "rebuild the book (python -m tools.book --mode fast)")
    missing = browser_check.browser_unavailable()
    if missing:
        _unavailable(missing)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    with tempfile.TemporaryDirectory(prefix="mvtutorial-desk-") as profile:
        driver = browser_check._driver(browser_check.CHROMIUM, browser_check.CHROMEDRIVER, profile)
        try:
            driver.get(base + PAGE)
            assert _ready(driver) == "true"
            yield driver, base
        finally:
            driver.quit()
            server.shutdown()
            server.server_close()


def _ready(driver, wait_s: float = 30.0) -> str:
    """The desk's ``data-ready`` once it has started; ``'no mixingDesk'`` if its script has not run within ``wait_s``
    (on a loaded machine the page's scripts can still be running when ``driver.get`` returns)."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1], until = Date.now() + arguments[0] * 1000;"
        "(function poll() {"
        "  if (window.mixingDesk && window.mixingDesk.ready) {"
        "    window.mixingDesk.ready.then(() => done(document.getElementById('mixing-desk').dataset.ready)); return; }"
        "  if (Date.now() > until) { done('no mixingDesk'); return; }"
        "  setTimeout(poll, 50); })();", wait_s)


def _js(driver, expr: str, *args):
    return driver.execute_script(f"const d = window.mixingDesk; return {expr};", *args)


def _slide(driver, index: int, value: float) -> None:
    """Move slider ``index`` as a reader does: set the range input's value and fire its input event."""
    driver.execute_script(
        "const s = document.querySelector(`#mixing-desk input[type=range][data-index='${arguments[0]}']`);"
        "s.value = String(arguments[1]); s.dispatchEvent(new Event('input', {bubbles: true}));", index, value)


def _click(driver, selector: str) -> None:
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _select(driver, data_set: str, model: str) -> None:
    _click(driver, f"#mixing-desk .md-choices [aria-label='data set'] button[data-key='{data_set}']")
    _click(driver, f"#mixing-desk .md-choices [aria-label='model'] button[data-key='{model}']")
    info = _js(driver, "d.info()")
    assert (info["dataSet"], info["model"]) == (data_set, model)


def _console_errors(driver, base: str) -> list[str]:
    from tools import browser_check

    errors, _ = browser_check.console_errors(driver.get_log("browser"), base.rstrip("/"))
    return errors


@pytest.mark.slow
def test_page_loads_without_errors_within_its_budget(browser):
    """Every byte the page loads (the document, the theme, the desk's code and data), uncompressed, is
    under 5 MB; nothing fails to load and nothing reaches the console."""
    import gzip

    driver, base = browser
    assert _console_errors(driver, base) == []
    # the desk was built while the page loaded: its eight donor players hold 1 s clips
    players = driver.execute_script(
        "return Promise.all([...document.querySelectorAll('#mixing-desk audio')].map(a => new Promise(r => {"
        "  const t0 = Date.now(), poll = () => a.readyState >= 1 || a.error || Date.now() - t0 > 20000 ? r([a.readyState, a.duration,"
        "  a.error ? a.error.code : 0]) : setTimeout(poll, 50); poll(); })))")
    assert len(players) == 8 and all(ready >= 1 and error == 0 and abs(seconds - 1.0) < 1e-3 for ready, seconds, error in players), players
    entries = driver.execute_script(
        "return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
        ".map(e => [e.name, e.decodedBodySize])")
    local = [(name, size) for name, size in entries if name.startswith(base)]
    total = sum(size for _, size in local)
    paths = {name[len(base):].split("?")[0].split("#")[0] for name, _ in local}
    gzipped = sum(len(gzip.compress((HTML / p).read_bytes(), 6)) for p in paths if (HTML / p).is_file())
    desk = sum(size for name, size in local if "mixing_desk" in name)
    print(f"\npage weight: {total / 1e6:.2f} MB uncompressed ({gzipped / 1e6:.2f} MB gzipped) in {len(local)} files, "
          f"of which the desk's code and data {desk / 1e6:.2f} MB")
    assert any(name.endswith("_static/mixing_desk_data.js") for name, _ in local)
    assert 0 < total < PAGE_BUDGET


@pytest.mark.slow
@pytest.mark.parametrize("data_set, model", MODELS)
def test_browser_decoder_equals_pytorch(browser, data_set, model):
    """Donors and sliders set in the page; the page's decoded log-mel against PyTorch's decode of the
    code the page shows; the starting code is the donors' (the data file's codes, bit for bit)."""
    driver, _ = browser
    _select(driver, data_set, model)
    data = mixing_desk.read_desk_data(DATA)
    entry = next(m for ds in data["data_sets"] if ds["key"] == data_set for m in ds["models"] if m["key"] == model)
    private, shared = export.unpack(entry["codes"]["private"]), export.unpack(entry["codes"]["shared"])
    rng = np.random.default_rng(3)
    worst = 0.0
    for timbre, pitch in [(0, 7), (5, 2), (3, 3)]:
        _js(driver, "d.setDonor('timbre', arguments[0])", timbre)
        _js(driver, "d.setDonor('pitch', arguments[0])", pitch)
        code = np.array(_js(driver, "d.code()"))
        assert np.array_equal(code.astype(np.float32), np.concatenate([private[pitch], shared[timbre]]))
        low, high = np.array(entry["range"]["low"]), np.array(entry["range"]["high"])
        for i in rng.choice(16, 5, replace=False):
            _slide(driver, int(i), float(rng.uniform(low[i], high[i])))
        code = np.array(_js(driver, "d.code()"))
        decoded = np.array(_js(driver, "d.decoded()"))
        logmel = np.array(_js(driver, "d.logmel()")).reshape(128, 32)
        assert np.array_equal(logmel, np.repeat(decoded[:, None], 32, axis=1))
        theirs = _torch_decode(data_set, model, code[None])[0]
        worst = max(worst, float(np.abs(decoded - theirs).max()))
        assert np.abs(decoded - export.decode_numpy(export.decoder_layers(_model(data_set, model)), code)[0]).max() < 1e-12
    print(f"\n{data_set}/{model}: browser vs PyTorch decode, max abs error {worst:.2e}")
    assert worst < 1e-4


@pytest.mark.slow
def test_a_slider_redraws_and_changes_the_sound_reset_and_swap(browser):
    driver, _ = browser
    _select(driver, "tones", "recommended")
    _js(driver, "d.setDonor('timbre', 1)")
    _js(driver, "d.setDonor('pitch', 6)")
    start_code, start_png = _js(driver, "d.code()"), _js(driver, "d.spectrogramPng()")
    start_decoded, start_audio = _js(driver, "d.decoded()"), np.array(_js(driver, "d.audio()"))
    info = _js(driver, "d.info()")
    i = next(k for k, dim in enumerate(info["dims"]) if dim["label"] == "timbre")  # a shared dim tied to timbre
    _slide(driver, i, info["range"]["low"][i] if start_code[i] > 0 else info["range"]["high"][i])
    assert _js(driver, "d.code()")[i] != start_code[i]
    assert _js(driver, "d.spectrogramPng()") != start_png
    moved = np.array(_js(driver, "d.audio()"))
    assert moved.shape == start_audio.shape and np.abs(moved - start_audio).max() > 0.01
    _click(driver, "#mixing-desk button.md-reset")
    assert _js(driver, "d.code()") == start_code and _js(driver, "d.decoded()") == start_decoded
    assert _js(driver, "d.spectrogramPng()") == start_png
    assert np.array_equal(np.array(_js(driver, "d.audio()")), start_audio)
    _click(driver, "#mixing-desk button.md-swap")
    swapped = _js(driver, "d.info()")
    assert (swapped["timbre"], swapped["pitch"]) == (6, 1)
    data = mixing_desk.read_desk_data(DATA)
    entry = next(m for ds in data["data_sets"] if ds["key"] == "tones" for m in ds["models"] if m["key"] == "recommended")
    expected = np.concatenate([export.unpack(entry["codes"]["private"])[1], export.unpack(entry["codes"]["shared"])[6]])
    assert np.array_equal(np.array(_js(driver, "d.code()"), dtype=np.float32), expected)
    # the donor buttons set the donors too
    _click(driver, "#mixing-desk .md-card[data-index='4'] button[data-role='pitch']")
    assert _js(driver, "d.info()")["pitch"] == 4


@pytest.mark.slow
def test_browser_griffin_lim_and_front_end_equal_torchaudio_and_the_book(browser):
    """Given the same magnitudes and starting phases, the page's Griffin-Lim is torchaudio's (float64);
    the page's log-mel front end (the donors' thumbnails) is :func:`mvtutorial.features.logmel`'s."""
    import torchaudio

    from mvtutorial.features import FeatureConfig, logmel

    driver, _ = browser
    fc = FeatureConfig()
    rng = np.random.default_rng(4)
    magnitude = rng.random((32, fc.n_fft // 2 + 1)) * (rng.random((32, fc.n_fft // 2 + 1)) < 0.5)  # frames x bins
    torch.manual_seed(0)
    angles = torch.rand((1, fc.n_fft // 2 + 1, 32), dtype=torch.complex128)[0].T.numpy()
    for n_iter in (0, 1, 8):
        ours = np.array(_js(driver, "d.griffinLim(arguments[0], 32, {init: {re: arguments[1], im: arguments[2]}, nIter: arguments[3]})",
                            magnitude.ravel().tolist(), angles.real.ravel().tolist(), angles.imag.ravel().tolist(), n_iter))
        torch.manual_seed(0)  # griffinlim draws the same starting phases
        theirs = torchaudio.functional.griffinlim(torch.from_numpy(magnitude.T.copy())[None], torch.hann_window(fc.n_fft, dtype=torch.float64),
                                                  fc.n_fft, fc.hop_length, fc.n_fft, 1.0, n_iter, 0.99, None, True)[0].numpy()
        assert ours.shape == theirs.shape == (31 * fc.hop_length,)
        print(f"\nGriffin-Lim, {n_iter} iterations, same magnitudes and phases: max |page - torchaudio| / peak "
              f"{np.abs(ours - theirs).max() / np.abs(theirs).max():.1e}", end="")
        assert np.abs(ours - theirs).max() < 1e-9 * np.abs(theirs).max()
    _select(driver, "instruments", "recommended")
    data = mixing_desk.read_desk_data(DATA)
    audio = export.unpack(next(ds for ds in data["data_sets"] if ds["key"] == "instruments")["audio"]) / 32767.0
    for i in (0, 5):
        ours = np.array(_js(driver, "d.donorLogmel(arguments[0])", i)).reshape(fc.n_mels, 32)
        theirs = logmel(torch.from_numpy(audio[i]), fc, dtype=torch.float64).numpy()
        print(f"\nfront end, donor {i}: max |page - logmel| {np.abs(ours - theirs).max():.1e}", end="")
        assert np.abs(ours - theirs).max() < 1e-6


@pytest.mark.slow
def test_browser_sound_matches_the_python_inversion(browser):
    """The page's sound against :func:`mvtutorial.listening.to_audio` on the same decoded log-mel: started
    from to_audio's own phases, the waveforms agree; with the page's own phases, the spectra do."""
    from mvtutorial.features import FeatureConfig, logmel
    from mvtutorial.listening import to_audio

    driver, _ = browser
    fc = FeatureConfig()
    window = torch.hann_window(fc.n_fft)
    spectrum = lambda y: torch.stft(torch.from_numpy(np.asarray(y, np.float32)), fc.n_fft, fc.hop_length, window=window,
                                    return_complex=True).abs().mean(-1).numpy()
    report = []
    for data_set, model, timbre, pitch in [("tones", "recommended", 2, 5), ("instruments", "recommended", 0, 6),
                                           ("tones", "headline", 7, 0), ("instruments", "headline", 3, 1)]:
        _select(driver, data_set, model)
        _js(driver, "d.setDonor('timbre', arguments[0])", timbre)
        _js(driver, "d.setDonor('pitch', arguments[0])", pitch)
        features = np.array(_js(driver, "d.logmel()")).reshape(fc.n_mels, 32)
        ours = np.array(_js(driver, "d.audio()"))
        # the clip's length, finite, not silent, peak-normalised
        assert ours.shape == ((32 - 1) * fc.hop_length,) and np.isfinite(ours).all()
        assert np.isclose(np.abs(ours).max(), 1.0) and np.sqrt(np.mean(ours ** 2)) > 0.05
        theirs = to_audio(features, fc, n_iter=64)
        # 1. from to_audio's starting phases (seed 0, drawn as its Griffin-Lim draws them)
        torch.manual_seed(0)
        angles = torch.rand((1, fc.n_fft // 2 + 1, 32), dtype=torch.complex64)[0].T.numpy().astype(np.complex128)
        same = np.array(_js(driver, "d.audioOf(arguments[0], 32, {init: {re: arguments[1], im: arguments[2]}})",
                            features.ravel().tolist(), angles.real.ravel().tolist(), angles.imag.ravel().tolist()))
        waveform = float(np.abs(same - theirs).max())
        # 2. the sound the page plays (its own phases): different waveforms, the same spectrum
        corr = float(np.corrcoef(spectrum(ours), spectrum(theirs))[0, 1])
        mel_ours, mel_theirs = (logmel(torch.from_numpy(np.asarray(y, np.float32)), fc).numpy() for y in (ours, theirs))
        distance = float(np.abs(mel_ours - mel_theirs).mean())
        to_target = [float(np.abs(m[:, 2:-2] - features[:, 2:-2]).mean()) for m in (mel_ours, mel_theirs)]
        report.append(f"{data_set}/{model}: from to_audio's phases max |diff| {waveform:.1e}; own phases: spectrum "
                      f"correlation {corr:.4f}, log-mel distance {distance:.3f}, to the decoded log-mel {to_target[0]:.3f} "
                      f"(page) / {to_target[1]:.3f} (to_audio)")
        assert waveform < 0.05
        assert corr > 0.99 and distance < 0.04 and to_target[0] < to_target[1] + 0.05
    print("\n" + "\n".join(report))


@pytest.mark.slow
def test_play_button_plays_a_buffer_of_the_clips_length(browser):
    from selenium.webdriver.support.ui import WebDriverWait

    driver, _ = browser
    _select(driver, "instruments", "headline")
    _click(driver, "#mixing-desk button.md-play")
    played = WebDriverWait(driver, 30).until(lambda d: _js(d, "d.lastPlayed()"))
    assert played["length"] == 31 * 512 and played["sampleRate"] == 16000 and played["finite"]
    assert played["peak"] > 0.99 and played["rms"] > 0.05 and played["code"] == _js(driver, "d.code()")


def _screenshot(driver, element, path: Path) -> None:
    """A PNG of the whole ``element`` (the window made tall enough to show it, then restored)."""
    size = driver.get_window_size()
    height = driver.execute_script("return Math.ceil(arguments[0].getBoundingClientRect().height)", element)
    driver.set_window_size(size["width"], max(size["height"], height + 200))
    try:
        driver.execute_script("arguments[0].scrollIntoView()", element)
        path.write_bytes(element.screenshot_as_png)
    finally:
        driver.set_window_size(size["width"], size["height"])


@pytest.mark.slow
def test_desk_works_offline_after_loading_and_screenshots(browser):
    """With the network cut off after the page loaded, every data set and model still decodes and
    sounds; two screenshots of the desk go to _build/screenshots/; no console error."""
    driver, base = browser
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _select(driver, "tones", "headline")
    _js(driver, "d.setDonor('timbre', 0)")
    _js(driver, "d.setDonor('pitch', 7)")
    desk = driver.find_element("id", "mixing-desk")
    _screenshot(driver, desk, SCREENSHOTS / "mixing_desk-state1-tones-paper.png")
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                           {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    try:
        for data_set, model in MODELS:
            _select(driver, data_set, model)
            _js(driver, "d.setDonor('timbre', 3)")
            _slide(driver, 2, _js(driver, "d.info()")["range"]["high"][2])
            code = np.array(_js(driver, "d.code()"))
            assert np.abs(np.array(_js(driver, "d.decoded()")) - _torch_decode(data_set, model, code[None])[0]).max() < 1e-4
            assert len(_js(driver, "d.audio()")) == 31 * 512
        _screenshot(driver, desk, SCREENSHOTS / "mixing_desk-state2-instruments-recommended.png")
        assert _console_errors(driver, base) == []
        # (the network was indeed cut: a request fails, logging an error of its own)
        assert driver.execute_script("return fetch('../_static/mixing_desk.js?' + Date.now()).then(() => 'online', () => 'offline')") == "offline"
        driver.get_log("browser")
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                               {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
