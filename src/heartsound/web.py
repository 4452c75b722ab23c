"""``heartsound web``: the phone app, as a folder of static files that works offline.

:func:`build_app` writes ``index.html`` and its scripts and style (package data,
``heartsound/webapp/``), the onnxruntime-web runtime (its WebAssembly build, from the npm
package that ``make web-deps`` installs into ``web/node_modules``; ``$HEARTSOUND_ORT_DIR``
names another ``dist/`` folder), the shipped raw-audio models (``models/*-audio.onnx``), a
web app manifest with its icons and a service worker that precaches all of it. Nothing is
fetched from anywhere else at run time; any static file server (or ``heartsound serve``)
can serve the folder.

Two JSON files carry what the page needs from Python, so the two sides share the numbers:

- ``models.json``: each model's name, file, classes, temperature, front-end config and the
  band-pass's second-order sections (what ``heartsound.audio.bandpass`` applies), the
  default model, the runtime's version and a build id;
- ``quality.json``: the quality gate's thresholds, score anchors and constants
  (:mod:`heartsound.quality`), which ``webapp/quality.js`` applies as the Python gate does.

No torch, no scipy: numpy and onnxruntime (to read the models' metadata) only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import struct
import tempfile
import zlib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
APP_FILES = ("index.html", "app.js", "dsp.js", "quality.js", "recorder-worklet.js",
             "style.css", "manifest.webmanifest", "icon.svg")
ICON_SIZES = (192, 512)
MARKER = ".heartsound-web"  # in every folder build_app writes: it may replace such a folder
DEFAULT_MODEL = "pascal-b-light"
DATASETS = {
    "a": ("PASCAL set A: phone recordings",
          "Recordings made by the public with a phone app (iStethoscope), PASCAL CHSC2011 "
          "set A."),
    "b": ("PASCAL set B: clinic stethoscope",
          "Recordings made in a hospital with a digital stethoscope, PASCAL CHSC2011 set B."),
    "physionet2016": ("Screening: normal or abnormal",
                      "Trained on five clinical databases of the PhysioNet/CinC 2016 challenge "
                      "(and PASCAL); it reads the whole recording, up to 60 s."),
}


class WebBuildError(ValueError):
    """Why the app could not be built; ``str()`` is one line."""


def repo_root() -> Path:
    """The checkout this module runs from (``src/heartsound/web.py`` → the repository)."""
    return Path(__file__).resolve().parents[2]


def default_ort_dir() -> Path:
    """``$HEARTSOUND_ORT_DIR``, else ``web/node_modules/onnxruntime-web/dist`` of the
    checkout."""
    env = os.environ.get("HEARTSOUND_ORT_DIR")
    if env:
        return Path(env)
    return repo_root() / "web" / "node_modules" / "onnxruntime-web" / "dist"


def ort_version(ort_dir: Path) -> str:
    """The onnxruntime-web version of a ``dist/`` folder (its package.json), or "unknown"."""
    try:
        return str(json.loads((ort_dir.parent / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


def _ort_licence(ort_dir: Path) -> str:
    try:
        return str(json.loads((ort_dir.parent / "package.json").read_text())["license"])
    except (OSError, ValueError, KeyError, TypeError):
        return "its"


def check_ort_dir(ort_dir: Path) -> None:
    missing = [f for f in ORT_FILES if not (ort_dir / f).is_file()]
    if missing:
        raise WebBuildError(
            f"onnxruntime-web not found in {ort_dir} (missing {', '.join(missing)}): run "
            "`make web-deps` (npm ci in web/), or set HEARTSOUND_ORT_DIR to its dist/ folder")


def audio_models(models: Path | None = None) -> list[Path]:
    """The raw-audio models (``*-audio.onnx``) of the shipped models' folder."""
    from heartsound.registry import models_dir

    folder = models_dir() if models is None else models
    found = sorted(folder.glob("*-audio.onnx"))
    if not found:
        raise WebBuildError(f"no raw-audio models (*-audio.onnx) in {folder}: make them with "
                            "`python -m heartsound.training.audio_model`")
    return found


def bandpass_spec(config: Any) -> dict[str, Any]:
    """The zero-phase band-pass of ``heartsound.audio.bandpass`` for ``config``: sections,
    steady-state initial conditions and the odd extension's length."""
    from heartsound.audio import _sos_zi, band_key, bandpass_pad, bandpass_sos

    key = band_key(config)
    sos = bandpass_sos(*key)
    return {"sos": sos.tolist(), "zi": np.asarray(_sos_zi(*key)).tolist(),
            "pad": bandpass_pad(sos)}


def model_entry(path: Path) -> dict[str, Any]:
    """What the page needs to know about one raw-audio model (read from its metadata)."""
    import onnxruntime as ort

    from heartsound.audio import WHOLE_MAX_S
    from heartsound.config import FrontEndConfig

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise WebBuildError(f"{path}: not a loadable ONNX model ({type(exc).__name__})"
                            ) from None
    meta = dict(session.get_modelmeta().custom_metadata_map)
    inputs = session.get_inputs()
    if meta.get("heartsound.input") != "audio" or len(inputs) != 1 or \
            inputs[0].name != "audio":
        raise WebBuildError(f"{path}: not a raw-audio model (input 'audio', metadata "
                            "heartsound.input = audio)")
    try:
        config = FrontEndConfig.from_json(meta["heartsound.frontend"])
        classes = json.loads(meta["heartsound.classes"])
        temperature = float(meta.get("heartsound.temperature", 1.0))
    except (KeyError, ValueError, TypeError) as exc:
        raise WebBuildError(f"{path}: unusable model metadata: {exc}") from None
    name = path.name.removesuffix("-audio.onnx")
    dataset = meta.get("dataset", "")
    title, description = DATASETS.get(dataset, (name, f"The model {name}."))
    if "-int8" in name:
        title += " (int8)"
    frontend = dataclasses.asdict(config)
    # A whole-recording model's graph slides its windows over all it is given: the page gives
    # it up to WHOLE_MAX_S and gates the first read_seconds, as `heartsound predict` does.
    whole = "heartsound.window_hop_s" in meta
    return {
        "name": name, "file": f"models/{path.name}", "title": title,
        "description": description, "classes": classes, "temperature": temperature,
        "input": inputs[0].name, "output": session.get_outputs()[0].name,
        "frontend": frontend, "frontend_summary": config.describe(
            float(meta["heartsound.window_hop_s"]) if whole else None),
        "bandpass": bandpass_spec(config), "bytes": path.stat().st_size,
        "read_seconds": WHOLE_MAX_S if whole else config.read_seconds, "whole": whole,
    }


def quality_spec() -> dict[str, Any]:
    """The quality gate's numbers, for ``webapp/quality.js``."""
    from heartsound import quality as q
    from heartsound.audio import SILENT_PEAK
    from heartsound.config import DEFAULT

    return {
        "thresholds": dataclasses.asdict(q.DEFAULT_THRESHOLDS),
        "anchors": {k: list(v) for k, v in q.ANCHORS.items()},
        "band_hz": list(q.BAND_HZ), "envelope_rate": q.ENVELOPE_RATE,
        "bpm_range": list(q.BPM_RANGE), "dc_max": q.DC_MAX, "floor_dbfs": q.FLOOR_DBFS,
        "cycle_share": q.CYCLE_SHARE, "tie": q.TIE, "min_band_samples": q.MIN_BAND_SAMPLES,
        "sample_rate": DEFAULT.sample_rate, "silent_peak": SILENT_PEAK,
    }


def _png(pixels: np.ndarray) -> bytes:
    """An RGBA uint8 image (h, w, 4) as a PNG file."""
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def icon_png(size: int) -> bytes:
    """The app icon: a white heart on the accent colour, full bleed (the heart inside the
    maskable safe zone), 4×4 supersampled."""
    s = 4
    n = size * s
    v = (np.arange(n) + 0.5) / n * 2.0 - 1.0  # [-1, 1]
    x, y = np.meshgrid(v / 0.55, -(v - 0.06) / 0.55)
    heart = (x * x + y * y - 1.0) ** 3 - x * x * y ** 3 <= 0.0
    cover = heart.reshape(size, s, size, s).mean(axis=(1, 3))
    bg = np.array([164, 38, 44], dtype=np.float64)
    rgb = bg + (255.0 - bg) * cover[..., None]
    alpha = np.full((size, size, 1), 255.0)
    return _png(np.concatenate([rgb, alpha], axis=2).round().astype(np.uint8))


def _digest(folder: Path, names: list[str]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _write_tree(tmp: Path, ort_dir: Path, models: list[Path]) -> dict[str, Any]:
    from heartsound import __version__

    app = resources.files("heartsound") / "webapp"
    for name in APP_FILES:
        (tmp / name).write_bytes((app / name).read_bytes())
    for size in ICON_SIZES:
        (tmp / f"icon-{size}.png").write_bytes(icon_png(size))
    (tmp / "ort").mkdir()
    for name in ORT_FILES:
        shutil.copyfile(ort_dir / name, tmp / "ort" / name)
    licence = ort_dir.parent / "LICENSE"
    if licence.is_file():
        shutil.copyfile(licence, tmp / "ort" / "LICENSE")
    (tmp / "ort" / "NOTICE.txt").write_text(
        f"onnxruntime-web {ort_version(ort_dir)} (npm), {_ort_licence(ort_dir)} licence, "
        "(c) Microsoft Corporation: the files ort.wasm.min.js, ort-wasm-simd-threaded.mjs "
        "and ort-wasm-simd-threaded.wasm, unmodified.\n")
    (tmp / "models").mkdir()
    entries = []
    for path in models:
        entries.append(model_entry(path))
        shutil.copyfile(path, tmp / "models" / path.name)
    names = [e["name"] for e in entries]
    default = DEFAULT_MODEL if DEFAULT_MODEL in names else names[0]
    (tmp / "quality.json").write_text(json.dumps(quality_spec(), indent=1) + "\n")
    files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    build = _digest(tmp, files)
    info = {"app": "heartsound", "version": __version__, "build": build,
            "ort_version": ort_version(ort_dir), "default_model": default, "models": entries}
    (tmp / "models.json").write_text(json.dumps(info, indent=1) + "\n")
    files.append("models.json")
    sw = (app / "sw.js").read_text(encoding="utf-8")
    for placeholder in ('"__BUILD__"', '["__FILES__"]'):
        if placeholder not in sw:
            raise WebBuildError(f"webapp/sw.js lacks its placeholder {placeholder}")
    precache = ["./", *sorted(files)]
    sw = sw.replace('"__BUILD__"', json.dumps(build)).replace('["__FILES__"]',
                                                              json.dumps(precache))
    (tmp / "sw.js").write_text(sw, encoding="utf-8")
    (tmp / MARKER).write_text(f"heartsound web {__version__} build {build}\n")
    return info


def build_app(out: Path, ort_dir: Path | None = None) -> Path:
    """Write the static app into ``out`` (a new folder, an empty one, or one an earlier
    build wrote, which is replaced) and return ``out``.

    The app is built in a temporary folder beside ``out`` and renamed into place, so ``out``
    is never half written. Raises :class:`WebBuildError` (one line) when onnxruntime-web or
    the raw-audio models are missing, or when ``out`` holds something else.
    """
    out = Path(out)
    ort_dir = default_ort_dir() if ort_dir is None else Path(ort_dir)
    check_ort_dir(ort_dir)
    models = audio_models()
    if out.exists() and not out.is_dir():
        raise WebBuildError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise WebBuildError(f"{out}: a folder that holds other files (not an earlier "
                            "`heartsound web` build); give a new or empty folder")
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out.name}.", suffix=".tmp"))
    except OSError as exc:
        raise WebBuildError(f"{out}: cannot write ({exc.strerror or exc})") from None
    old: Path | None = None
    try:
        _write_tree(tmp, ort_dir, models)
        os.chmod(tmp, 0o755)
        if out.is_dir():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out.name}.", suffix=".old"))
            os.replace(out, old / "app")
        try:
            os.replace(tmp, out)
        except OSError:
            if old is not None:  # put the earlier build back
                os.replace(old / "app", out)
            raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WebBuildError(f"{out}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out


def app_size(folder: Path) -> int:
    """Bytes of every file of a built app."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
