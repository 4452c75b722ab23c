"""The phone app (`heartsound web`): its build, its quality gate's JavaScript port (in Node),
and the page itself in a real browser (headless Chromium driven by Playwright for Python).

Browser checks: the page's labels equal `heartsound predict`'s on 25 PASCAL test files (16
of set B with pascal-b-light, 9 of set A with pascal-a-light, spread over each set's sorted
test files so that every label turns up; `unusable` included) and on 8 PhysioNet 2016
records with the whole-recording physionet-light (WAV copies; up to 60 s read, the first
7.5 s gated), and its
probabilities are within 0.02 of predict's without the gate; the `?url=&model=` contract;
the microphone path with Chromium's fake capture fed by a real recording; no console errors;
no request leaves the app's origin; after the first visit the app works with the server
gone; a phone-width screenshot is kept in tests/artifacts/web-phone.png.

Needs Debian's chromium (`make chromium`), onnxruntime-web (`make web-deps`: npm ci in web/),
Node (the gate's port) and the raw-audio models; each check is skipped with the reason when
its part is missing. `playwright install` is never run: the system Chromium is used. The
browser checks are marked slow (about 60 s together): `make test` runs them, test-fast not.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, ROOT, heart_like

from heartsound.web import (
    MARKER,
    ORT_FILES,
    WebBuildError,
    app_size,
    build_app,
    default_ort_dir,
)

WEBAPP = ROOT / "src" / "heartsound" / "webapp"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream"]
TOLERANCE = 0.02  # the bound on |p_page - p_predict|
DONE = "#result[data-state=done], #result[data-state=error]"
BROWSER = pytest.mark.slow  # the browser checks (~60 s together); make test-fast skips them
SHOWN = DATA / "set_b" / "Bunlabelledtest__103_1305031931979_C.wav"  # in the screenshot


# ------------------------------------------------------------------------------ fixtures
def ort_dir_or_skip() -> Path:
    d = default_ort_dir()
    if not all((d / f).is_file() for f in ORT_FILES):
        pytest.skip(f"onnxruntime-web not installed in {d}: run `make web-deps`")
    return d


def models_or_skip() -> None:
    from heartsound.registry import models_dir

    if not list(models_dir().glob("*-audio.onnx")):
        pytest.skip("no raw-audio models (*-audio.onnx): python -m heartsound.training.audio_model")


def chromium_or_skip() -> str:
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if path is None:
        pytest.skip("chromium not found (install it with `make chromium` as root, or "
                    "apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    ort_dir_or_skip()
    models_or_skip()
    return build_app(tmp_path_factory.mktemp("web") / "app")


PHYSIONET = DATA.parent / "physionet2016"


def parity_files() -> list[tuple[Path, str]]:
    """A spread of each set's sorted test files; every one of them under
    ``HEARTSOUND_WEB_PARITY=all`` (docs/web.md's table: ``HEARTSOUND_WEB_PARITY=all
    .venv/bin/pytest tests/runtime/test_web.py -k page_matches -s``, under a minute here)."""
    b = sorted((DATA / "set_b").glob("Bunlabelledtest*.wav"))
    a = sorted((DATA / "set_a").glob("Aunlabelledtest*.wav"))
    if os.environ.get("HEARTSOUND_WEB_PARITY") != "all":
        b, a = b[::12][:16], a[::6][:9]
    return [(p, "pascal-b-light") for p in b] + [(p, "pascal-a-light") for p in a]


def screening_records() -> list[Path]:
    """PhysioNet 2016 records for the whole-recording screening model: two of each large
    database, one of c and d (2 kHz FLAC; 6.6 to 41 s: both the gate's paths)."""
    out = []
    for db, n in (("a", 2), ("b", 2), ("c", 1), ("d", 1), ("f", 2)):
        flacs = sorted((PHYSIONET / f"training-{db}").glob("*.flac"))
        out += flacs[:: max(1, len(flacs) // n)][:n]
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request lines on stderr
        pass


class Server:
    """The built app over http://127.0.0.1:PORT/ (a secure context for service workers),
    in a thread; stop() takes it away, as a lost network would."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def served(app, data_dir) -> dict:
    """The app with the parity recordings in rec/ and a capture file for the fake mic."""
    rec = app / "rec"
    rec.mkdir()
    files = parity_files()
    for path, _ in files:
        shutil.copyfile(path, rec / path.name)
    # The screening model's records as 16-bit WAV (the page reads WAV itself; the samples
    # are the FLAC's, so predict reads the same copy)
    from heartsound.registry import models_dir

    if (models_dir() / "physionet-light-audio.onnx").is_file():
        for path in screening_records():
            x, rate = sf.read(str(path), dtype="int16")
            sf.write(str(rec / f"{path.stem}.wav"), x, rate, subtype="PCM_16")
            files.append((rec / f"{path.stem}.wav", "physionet-light"))
    # Chromium's fake capture plays a WAV, looped: 4 s of a real recording, at 48 kHz (a
    # 7-s recording of it holds a loop)
    import soxr

    mic_source = DATA / "set_b" / "Bunlabelledtest__103_1305031931979_A.wav"
    shutil.copyfile(SHOWN, rec / SHOWN.name)
    x, rate = sf.read(str(mic_source), dtype="float64")
    sf.write(str(rec / "_mic.wav"), soxr.resample(x[: 4 * rate], rate, 48000), 48000,
             subtype="PCM_16")
    server = Server(app)
    yield {"app": app, "server": server, "files": files, "mic": rec / "_mic.wav"}
    server.stop()


@pytest.fixture(scope="module")
def browser(served):
    chromium = chromium_or_skip()
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright not installed (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={served['mic']}"])
        yield b
        b.close()


class Watch:
    """Console errors, page errors and every URL a page requests."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("request", lambda r: self.urls.append(r.url))

    def check(self, base: str) -> None:
        assert self.errors == [], self.errors
        foreign = [u for u in self.urls if not u.startswith((base, "blob:", "data:"))]
        assert foreign == [], foreign


def result_of(page) -> dict:
    page.wait_for_selector(DONE, state="attached", timeout=60_000)
    return page.evaluate("Object.assign({}, document.getElementById('result').dataset)")


# ------------------------------------------------------------------------------ build
def test_build_writes_a_self_contained_app(app):
    info = json.loads((app / "models.json").read_text())
    assert info["default_model"] == "pascal-b-light"
    assert info["ort_version"] == json.loads(
        (ROOT / "web" / "package.json").read_text())["dependencies"]["onnxruntime-web"]
    names = {m["name"] for m in info["models"]}
    assert {"pascal-a-light", "pascal-b-light", "physionet-light"} <= names
    whole = {m["name"]: (m["whole"], m["read_seconds"]) for m in info["models"]}
    assert whole["physionet-light"] == (True, 60.0) and whole["pascal-b-light"] == (True, 60.0)
    assert whole["pascal-a-light"] == (False, 7.5)
    for m in info["models"]:
        assert (app / m["file"]).is_file() and m["input"] == "audio"
        assert len(m["bandpass"]["sos"]) == m["frontend"]["filter_order"]
    for name in ["index.html", "app.js", "dsp.js", "quality.js", "style.css", "sw.js",
                 "recorder-worklet.js", "manifest.webmanifest", "icon.svg", "icon-192.png",
                 "icon-512.png", "quality.json", MARKER, *(f"ort/{f}" for f in ORT_FILES)]:
        assert (app / name).is_file(), name
    sw = (app / "sw.js").read_text()
    assert "__BUILD__" not in sw and "__FILES__" not in sw
    precache = json.loads(sw.split("const FILES = ", 1)[1].split(";\n", 1)[0])
    assert all(f == "./" or (app / f).is_file() for f in precache)
    assert {"index.html", "models.json", "ort/ort-wasm-simd-threaded.wasm"} <= set(precache)
    manifest = json.loads((app / "manifest.webmanifest").read_text())
    assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}
    assert (app / "icon-512.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (app / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    thresholds = json.loads((app / "quality.json").read_text())["thresholds"]
    from heartsound.quality import DEFAULT_THRESHOLDS

    assert thresholds["band_ratio_min"] == DEFAULT_THRESHOLDS.band_ratio_min
    assert app_size(app) < 20e6


def test_build_replaces_its_own_output_only(app, tmp_path, monkeypatch):
    out = tmp_path / "site"
    build_app(out)
    (out / "stale.txt").write_text("from an earlier build")
    build_app(out)  # an earlier build is replaced as a whole
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(WebBuildError, match="holds other files"):
        build_app(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers
    monkeypatch.setenv("HEARTSOUND_ORT_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(WebBuildError, match="make web-deps"):
        build_app(tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_web_command(app, tmp_path):
    out = tmp_path / "cli-app"
    proc = subprocess.run([sys.executable, "-m", "heartsound", "web", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "index.html").is_file() and "MB" in proc.stderr
    env = {**os.environ, "HEARTSOUND_ORT_DIR": str(tmp_path / "nowhere")}
    proc = subprocess.run([sys.executable, "-m", "heartsound", "web", "--out",
                           str(tmp_path / "x")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "make web-deps" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ the gate's JS port
NODE_HARNESS = r"""
const fs = require("fs");
const path = require("path");
const [dir, specFile] = process.argv.slice(2);
const dsp = require(path.resolve(dir, "dsp.js"));
const hq = require(path.resolve(dir, "quality.js"));
const spec = JSON.parse(fs.readFileSync(specFile, "utf8"));
const out = spec.files.map((f) => {
  const buf = fs.readFileSync(f);
  const w = dsp.parseWav(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const x = Float64Array.from(dsp.readWindow(w.samples, w.sampleRate, spec.read_seconds,
    spec.quality.silent_peak));
  let mu = 0;
  for (const v of x) mu += v;
  mu /= Math.max(1, x.length);
  const [y4, g4] = dsp.resamplePair(x, Float64Array.from(x, (v) => v - mu), w.sampleRate,
    spec.quality.sample_rate);
  const v = hq.assess(x, w.sampleRate, g4, spec.bandpass, spec.quality);
  return { file: f, y4: Array.from(y4), verdict: v };
});
process.stdout.write(JSON.stringify(out));
"""


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found (the JavaScript gate is checked with Node)")
    return node


@pytest.mark.slow  # make test-fast leaves it to make test
def test_gate_port_matches_python(tmp_path, data_dir):
    """quality.js + dsp.js (resampling, band-pass, indices, verdict) against
    heartsound.quality on real recordings of both sets and on the gate's bad archetypes."""
    import soxr

    from heartsound.audio import load
    from heartsound.config import DEFAULT
    from heartsound.quality import assess
    from heartsound.web import bandpass_spec, quality_spec

    node = node_or_skip()
    rng = np.random.default_rng(1)
    t = np.arange(8 * 44100) / 44100
    bad = {
        "tone.wav": (0.3 * np.sin(2 * np.pi * 1000 * t), 44100, "PCM_16"),
        "hum.wav": (0.3 * np.sin(2 * np.pi * 50 * t[:32000]), 4000, "PCM_16"),
        "noise.wav": (0.1 * rng.standard_normal(32000), 4000, "PCM_16"),
        "clipped.wav": (np.clip(3 * heart_like(8, 8000), -0.5, 0.5), 8000, "PCM_16"),
        "dc.wav": (0.5 + 1e-4 * heart_like(8, 4000), 4000, "FLOAT"),
        "quiet.wav": (1e-5 * heart_like(8, 4000), 4000, "FLOAT"),
        "short.wav": (heart_like(0.6, 22050), 22050, "PCM_24"),
        "heart48k.wav": (heart_like(9, 48000), 48000, "PCM_16"),
        "stereo.wav": (np.stack([heart_like(8, 16000), heart_like(8, 16000, seed=3)], 1),
                       16000, "PCM_16"),
    }
    files = [p for p, _ in parity_files()][::3] + sorted(
        (data_dir / "set_a").glob("Aunlabelledtest*.wav"))[-4:]
    for name, (x, rate, subtype) in bad.items():
        sf.write(str(tmp_path / name), x, rate, subtype=subtype)
        files.append(tmp_path / name)
    spec = {"quality": quality_spec(), "bandpass": bandpass_spec(DEFAULT),
            "read_seconds": DEFAULT.read_seconds, "files": [str(f) for f in files]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    proc = subprocess.run([node, str(tmp_path / "harness.js"), str(WEBAPP),
                           str(tmp_path / "spec.json")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    tolerance = {"duration_s": 1e-12, "dc_ratio": 1e-9, "ac_peak_dbfs": 1e-9, "clipped": 1e-12,
                 "level_dbfs": 0.01, "band_ratio": 1e-3, "kurtosis": 0.05, "envelope_cv": 5e-3,
                 "periodicity": 5e-3}
    for r in results:
        x, rate = load(r["file"], max_seconds=DEFAULT.read_seconds)
        py = assess(x, rate)
        js = r["verdict"]
        name = Path(r["file"]).name
        assert (js["usable"], js["reason"]) == (py.usable, py.reason), name
        assert abs(js["quality"] - py.quality) < 0.01, name
        for key, tol in tolerance.items():
            assert abs(js["indices"][key] - py.indices[key]) <= tol * max(
                1.0, abs(py.indices[key])), (name, key)
        y = soxr.resample(x.astype(np.float64), rate, 4000) if rate != 4000 else x
        assert len(r["y4"]) == len(y), name
        if rate != 4000:  # the resampler: soxr's response, to ~1e-3 of the peak inside
            inner = slice(8, -8)
            err = np.abs(np.asarray(r["y4"])[inner] - y[inner]).max()
            assert err <= 3e-3 * max(np.abs(y).max(), 1e-9), (name, err)
        else:
            assert np.array_equal(np.asarray(r["y4"], dtype=np.float32), x), name
    assert {Path(r["file"]).name for r in results} >= set(bad)


# ---------------------------------------------------------------------------- browser
def predict_rows(files: list[tuple[Path, str]], gate: bool) -> dict[str, dict]:
    from heartsound.infer import Classifier, prediction_rows

    out = {}
    for model in sorted({m for _, m in files}):
        paths = [p for p, m in files if m == model]
        rows, errors = prediction_rows(Classifier.load(model), paths, quality_gate=gate)
        assert errors == []
        out.update({Path(r["path"]).name: r for r in rows})
    return out


@BROWSER
def test_page_matches_predict(browser, served):
    """Labels equal predict's (unusable included), probabilities within 0.02 of predict's
    without the gate (the page reports the model's probabilities either way)."""
    files, base = served["files"], served["server"].base
    gated, ungated = predict_rows(files, True), predict_rows(files, False)
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    answers, start = {}, time.perf_counter()
    for i, (path, model) in enumerate(files):
        if i in (0, 1, 2, 16, 25):  # the automation contract: a URL, no click (B, A, PhysioNet)
            page.goto(f"{base}index.html?url=rec/{path.name}&model={model}")
        else:  # the same code path from a script, without reloading the page
            page.evaluate("([u, m]) => window.heartsound.classifyUrl(u, m)",
                          [f"rec/{path.name}", model])
        answers[path.name] = result_of(page)
    elapsed = time.perf_counter() - start
    worst: dict[str, float] = {}  # per model: docs/web.md's table, one row per model
    labels = []
    for path, model in files:
        got = answers[path.name]
        assert "error" not in got, (path.name, got)
        assert got["model"] == model and got["source"] == path.name
        labels.append((got["label"], gated[path.name]["label"]))
        assert got["label"] == gated[path.name]["label"], (path.name, got, gated[path.name])
        assert got["reason"] == gated[path.name]["reason"], path.name
        probs = json.loads(got["probabilities"])
        for c, p in probs.items():
            diff = abs(p - float(ungated[path.name][f"prob_{c}"]))
            worst[model] = max(worst.get(model, 0.0), diff)
            assert diff <= TOLERANCE, (path.name, c, p, ungated[path.name])
    counts = dict(Counter(a for a, _ in labels))
    print(f"\nweb parity: {len(files)} files in {elapsed:.1f} s, labels equal {counts}, "
          f"max |Δp| {max(worst.values()):.5f} (predict rounds to 4 decimals)")
    for model, dp in sorted(worst.items()):
        n = sum(m == model for _, m in files)
        print(f"  {model}: {n} files, labels and reasons equal on all, max |Δp| {dp:.5f}")
    assert len(counts) >= 5  # normal, murmur, unusable, a set-A class and abnormal at least
    watch.check(base)
    context.close()


@BROWSER
def test_unknown_model_and_foreign_url_are_one_line_errors(browser, served):
    base = served["server"].base
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}index.html?url=rec/none.wav&model=pascal-z")
    assert "unknown model" in result_of(page)["error"]
    page.goto(f"{base}index.html?url=rec/missing.wav")
    got = result_of(page)
    assert got["error"] == "/rec/missing.wav: HTTP 404" and "label" not in got
    page.goto(f"{base}index.html?url=http://example.invalid/x.wav")
    assert "own origin" in result_of(page)["error"]
    context.close()


@BROWSER
def test_a_long_recording_is_read_where_it_is_clearest(browser, served):
    """A recording made in the page (here: samples handed over as one) is analysed over its
    clearest 7.5 s; a file from its start, as predict reads it."""
    x, rate = sf.read(str(SHOWN), dtype="float32")
    noise = 0.2 * np.random.default_rng(0).standard_normal(6 * rate).astype(np.float32)
    sf.write(str(served["app"] / "rec" / "_long.wav"), np.concatenate([noise, x]), rate,
             subtype="FLOAT")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{served['server'].base}index.html")
    page.wait_for_selector("#record")
    # what the selected model hears, said under the length selector once the models load
    page.wait_for_selector("#model:enabled")
    assert "up to 60 s in 7-s windows" in page.inner_text("#length-note")  # pascal-b-light
    page.select_option("#model", "pascal-a-light")
    assert page.inner_text("#length-note").startswith("The model listens to 7.5 s;")
    page.select_option("#model", "pascal-b-light")
    assert "up to 60 s in 7-s windows" in page.inner_text("#length-note")
    script = """async (clearest) => {
      const buf = await (await fetch('rec/_long.wav')).arrayBuffer();
      const w = HeartDSP.parseWav(buf);
      await window.heartsound.classifySamples(w.samples, w.sampleRate, 'pascal-b-light',
                                              'long', clearest);
    }"""
    page.evaluate(script, False)
    start_read = result_of(page)
    assert start_read["label"] == "unusable" and float(start_read["start"]) == 0
    page.evaluate(script, True)
    clearest = result_of(page)
    assert clearest["label"] == "normal" and 5.0 <= float(clearest["start"]) <= 7.5, clearest
    context.close()


@BROWSER
def test_microphone_path(browser, served):
    """Record (a click), Chromium's fake capture playing a real recording: a result."""
    base = served["server"].base
    context = browser.new_context(permissions=["microphone"])
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{base}index.html")
    page.wait_for_selector("#record:not([disabled])")
    assert page.get_by_role("note").inner_text().startswith("Not a medical device.")
    # by role and name, as a screen reader finds them
    page.get_by_label("Length").select_option("7")
    assert page.get_by_label("Trained on").input_value() == "pascal-b-light"
    start = time.perf_counter()
    page.get_by_role("button", name="Record").click()
    page.wait_for_selector("#countdown:has-text('left')")
    assert page.get_by_role("button", name="Stop").get_attribute("aria-pressed") == "true"
    assert page.get_by_role("meter", name="Level").is_visible()
    got = result_of(page)
    took = time.perf_counter() - start
    assert "error" not in got, got
    assert got["source"].startswith("microphone") and got["model"] == "pascal-b-light"
    classes = ["normal", "murmur", "extrastole"]
    assert got["label"] in [*classes, "unusable"]
    assert set(json.loads(got["probabilities"])) == set(classes)
    assert 7.0 <= took < 30, took
    assert page.get_attribute("#save", "href").startswith("blob:")
    # the saved recording: 7 s, and no silent second (the 4-s capture file was looped)
    seconds = page.evaluate("""async () => {
      const buf = await (await fetch(document.getElementById('save').href)).arrayBuffer();
      const w = HeartDSP.parseWav(buf);
      const out = [];
      for (let s = 0; s + w.sampleRate <= w.frames; s += w.sampleRate) {
        let e = 0;
        for (let i = s; i < s + w.sampleRate; i++) e += w.samples[i] ** 2;
        out.push(Math.sqrt(e / w.sampleRate));
      }
      return out;
    }""")
    assert len(seconds) == 7 and min(seconds) > 0.1 * max(seconds), seconds
    print(f"\nweb microphone: {got['label']} (quality {got['quality']}) after {took:.1f} s")
    watch.check(base)
    context.close()


@BROWSER
def test_offline_after_first_visit_and_phone_screenshot(browser, served):
    """First visit online; then the server is gone and the browser offline: the page, the
    runtime, the model and the recording come from the service worker's cache."""
    server = Server(served["app"])  # its own origin, so that it can be taken away
    base = server.base
    name, model = served["files"][1]
    url = f"{base}index.html?url=rec/{name.name}&model={model}"
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(url)
        first = result_of(page)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)
        # installable: Chromium's own check finds nothing but the test profile's incognito
        cdp = context.new_cdp_session(page)
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert {e["errorId"] for e in errors} <= {"in-incognito"}, errors
        assert cdp.send("Page.getAppManifest")["errors"] == []
        page.reload()  # now through the service worker, which keeps the recording too
        assert result_of(page)["label"] == first["label"]
    finally:
        server.stop()
    context.set_offline(True)
    page.reload()
    offline = result_of(page)
    assert "error" not in offline, offline
    assert offline["label"] == first["label"]
    assert offline["probabilities"] == first["probabilities"]
    page.set_input_files("#file", str(served["app"] / "rec" / SHOWN.name))
    page.wait_for_function("document.getElementById('result').dataset.source === "
                           f"{json.dumps(SHOWN.name)}")
    assert result_of(page)["label"] == "normal"  # predict's answer too (quality 1.0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "web-phone.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nweb screenshot (390 px wide, offline): {shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 780
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow
    watch.check(base)
    context.close()
