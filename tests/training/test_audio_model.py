"""Raw-audio models (heartsound.training.audio_model): the front end inside the ONNX graph
gives what ``heartsound predict`` gives, on PASCAL test recordings and odd lengths."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import heart_like

onnx = pytest.importorskip("onnx")
pytest.importorskip("scipy")

from heartsound.audio import bandpass, fit_length, preprocess  # noqa: E402
from heartsound.features import feature_map  # noqa: E402
from heartsound.infer import Classifier, ModelError, describe_models  # noqa: E402
from heartsound.registry import models_dir  # noqa: E402
from heartsound.training.audio_model import (  # noqa: E402
    SUFFIX,
    build_audio_model,
    export_audio_model,
    sources,
)

SOURCE = "pascal-b-light"
# Plain opset-17 operators onnxruntime-web's WebAssembly backend runs; no DFT/STFT, no
# custom domain in the front end (the network's own operators come on top).
FRONT_END_OPS = {"Unsqueeze", "Slice", "Mul", "Sub", "Concat", "Tile", "Shape", "Add", "Div",
                 "Range", "Mod", "Gather", "Reshape", "Squeeze", "Pad", "MatMul", "Max", "Log",
                 "ReduceMax", "Identity", "Softmax"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    source = models_dir() / f"{SOURCE}.onnx"
    if not source.is_file():
        pytest.skip(f"{source} not shipped")
    out = export_audio_model(source, tmp_path_factory.mktemp("audio") / f"{SOURCE}{SUFFIX}.onnx")
    return Classifier(source), Classifier(out)


@pytest.fixture(scope="module")
def band_of(built):
    """band_of(x (batch, samples)) -> the graph's band-passed signal (batch, min(samples, read))."""
    import onnxruntime as ort

    ref, _ = built
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(build_audio_model(ref.path, intermediates=True)
                                   .SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return lambda x: session.run(["band"], {"audio": x.astype(np.float32)})[0][:, 0]


def test_graph_is_plain_onnx_with_the_source_metadata(built):
    ref, aud = built
    proto = onnx.load(str(aud.path))
    source = onnx.load(str(ref.path))
    (inp,), out = proto.graph.input, proto.graph.output
    assert inp.name == "audio" and out[0].name == "probabilities"
    assert [d.dim_param for d in inp.type.tensor_type.shape.dim] == ["batch", "samples"]
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {17}
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= FRONT_END_OPS | {n.op_type for n in source.graph.node}
    assert not ops & {"DFT", "STFT", "MelWeightMatrix", "Loop", "Scan", "If"}
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta.pop("heartsound.input") == "audio"
    assert meta.pop("heartsound.source_model") == SOURCE
    assert meta == {p.key: p.value for p in source.metadata_props}
    assert aud.audio and not ref.audio and aud.classes == ref.classes
    assert aud.path.stat().st_size < ref.path.stat().st_size + 100_000  # FIR, tables, bank
    # the block FIR's matrix is built in the graph from the L taps, not stored (~400 KB)
    front = [t for t in proto.graph.initializer if t.name.startswith("fe/")]
    assert max(int(np.prod(t.dims)) for t in front) < 20_000
    # the band-pass and the DFT are GEMMs (MatMul), not long-kernel Convs (slow im2col)
    assert not [n for n in proto.graph.node if n.name.startswith("fe/") and n.op_type == "Conv"]


def test_shipped_audio_models_match_their_sources():
    """Every shipped *-light*.onnx has its audio graph, carrying its current metadata and
    listed by ``heartsound models`` with input audio (batch, samples)."""
    found = sources(models_dir())
    listed = {m["name"]: m for m in describe_models()}
    for source in found:
        name = f"{source.stem}{SUFFIX}"
        assert name in listed, f"{name}.onnx missing: python -m heartsound.training.audio_model"
        assert listed[name]["input"] == "audio"
        assert listed[name]["input_shape"] == ["batch", "samples"]
        meta = dict(Classifier.load(name).metadata)
        assert meta.pop("heartsound.source_model") == source.stem
        assert meta.pop("heartsound.input") == "audio"
        assert meta == Classifier(source).metadata, f"{name} is stale: regenerate it"


def test_same_labels_and_probabilities_as_predict(built, data_dir):
    ref, aud = built
    paths = [*sorted((data_dir / "set_b").glob("Bunlabelledtest*.wav"))[::12],
             *sorted((data_dir / "set_a").glob("Aunlabelledtest*.wav"))[::6]]
    if len(paths) < 20:
        pytest.skip("PASCAL test recordings not found")
    expected = {p: probs for p, probs, _ in ref.predict_files(paths)}
    got = {p: probs for p, probs, _ in aud.predict_files(paths)}
    assert all(expected[p] is not None and got[p] is not None for p in paths)
    agree = np.mean([np.argmax(got[p]) == np.argmax(expected[p]) for p in paths])
    assert agree >= 0.99
    assert max(np.abs(got[p] - expected[p]).max() for p in paths) < 0.02
    # inside the graph: the band-passed signal and the map, as the numpy front end's
    probe = build_audio_model(ref.path, intermediates=True)
    import onnxruntime as ort

    session = ort.InferenceSession(probe.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    x = aud.file_audio(paths[0])
    probs, band, fixed, fmap = session.run(None, {"audio": x[None]})
    y = bandpass(x, ref.config)
    assert np.abs(band[0, 0] - y).max() < 1e-5 * np.abs(y).max()
    assert np.abs(fmap[0] - feature_map(fit_length(y, ref.config.n_samples), ref.config)
                  ).max() < 0.05
    np.testing.assert_allclose(probs[0], got[paths[0]], atol=1e-6)


# lengths around the extension (27), the block (64) and the taps (1583), 0.5 s to past 7.5 s
LENGTHS = [28, 29, 63, 64, 65, 100, 1582, 1583, 1600, 1601, 2000, 2001, 4095, 12_345, 29_999,
           30_000, 30_001, 36_000]


@pytest.mark.parametrize("n", LENGTHS)
def test_band_pass_is_sosfiltfilt(built, band_of, n):
    """The graph's band-pass (block FIR) is audio.bandpass (float64 sosfiltfilt) to float32
    rounding, on random signals and at the edges, with the first 7.5 s kept."""
    ref, _ = built
    rng = np.random.default_rng(n)
    read = int(ref.config.read_seconds * ref.config.sample_rate)
    x = np.stack([rng.standard_normal(n), heart_like(n / 4000 + 0.01, 4000, seed=n)[:n]])
    got = band_of(x)
    for item, band in zip(x, got, strict=True):
        want = bandpass(item.astype(np.float32).astype(np.float64)[:read], ref.config)
        assert band.shape == want.shape
        assert np.abs(band - want).max() < 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("kind", ["constant", "step", "first", "last", "drift"])
def test_band_pass_edge_cases(built, band_of, kind):
    """Signals the band-pass mostly removes (a constant, a slow drift) and impulses at the
    ends; the error is relative to the input's peak where the output is ~0."""
    ref, _ = built
    n = 9_000
    t = np.arange(n) / 4000
    x = {"constant": np.full(n, 0.7), "step": (t >= 1.1).astype(float),
         "first": (t == 0).astype(float), "last": (np.arange(n) == n - 1).astype(float),
         "drift": np.sin(2 * np.pi * 3 * t) + 0.01 * heart_like(n / 4000, 4000)[:n]}[kind]
    band = band_of(x[None])[0]
    want = bandpass(x.astype(np.float32).astype(np.float64), ref.config)
    scale = np.abs(x).max() if kind in ("constant", "drift") else np.abs(want).max()
    assert np.abs(band - want).max() < 1e-5 * scale


FRONT_ENDS = {  # the shipped two, the paper's ×1, and framings the shipped ones don't use
    "pascal-b": {"frame_length": 256, "hop_length": 64, "n_fft": 256, "cepstrum": False},
    "pascal-a": {"frame_length": 512, "hop_length": 128, "n_fft": 512},
    "x1": {},
    "centred": {"frame_length": 256, "hop_length": 64, "n_fft": 256, "center": True},
    "hop-100": {"frame_length": 256, "hop_length": 100, "n_fft": 256},
    "padded-window": {"frame_length": 255, "hop_length": 64, "n_fft": 256, "window": "hamming"},
    "odd-fft": {"frame_length": 255, "hop_length": 51, "n_fft": 255, "cepstrum": False},
}


@pytest.mark.parametrize("name", FRONT_ENDS)
def test_front_end_graph_gives_the_feature_map(name):
    """The graph's map (band-pass, fit, frames · window · DFT folded in halves, mel, dB,
    DCT) is features.feature_map for framings the shipped models don't use too."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from heartsound.config import FrontEndConfig
    from heartsound.training.audio_model import OPSET, _Builder, _front_end, impulse_response

    config = FrontEndConfig(**FRONT_ENDS[name])
    b = _Builder()
    _front_end(b, config, impulse_response(config), out="map")
    graph = helper.make_graph(
        b.nodes, "front_end",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "samples"])],
        [helper.make_tensor_value_info("map", TensorProto.FLOAT, None)], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.stack([heart_like(3.3, 4000, seed=4), 0.1 * heart_like(3.3, 4000, bpm=110, seed=5)])
    (got,) = session.run(None, {"audio": x.astype(np.float32)})
    for item, fmap in zip(x, got, strict=True):
        want = feature_map(preprocess(item.astype(np.float32), 4000, config), config)
        assert fmap.shape == want.shape == config.shape
        assert np.abs(fmap - want).max() < 0.01  # dB (or MFCC); float32 rounding: ~5e-4


@pytest.mark.parametrize("seconds", [0.6, 3.3, 7.2, 30.0])
def test_short_tiled_and_long_truncated_inputs(built, seconds):
    """0.6 s is tiled to 7 s, 30 s cut to 7.5 s then 7 s, exactly as preprocess does."""
    ref, aud = built
    x = heart_like(seconds, 4000, seed=int(seconds * 10)).astype(np.float32)
    maps = feature_map(preprocess(x, 4000, ref.config), ref.config)
    from heartsound.calibration import scale

    expected = scale(ref.predict_features(maps), ref.temperature)[0]
    got = aud.predict_audio(x)
    assert got.shape == (1, len(ref.classes))
    np.testing.assert_allclose(got[0], expected, atol=2e-3)
    assert np.argmax(got[0]) == np.argmax(expected)


def test_batch_of_equal_lengths_is_per_item(built):
    _, aud = built
    a = heart_like(5.0, 4000, bpm=60, seed=1).astype(np.float32)
    b = 0.3 * heart_like(5.0, 4000, bpm=95, seed=2).astype(np.float32)
    both = aud.predict_audio(np.stack([a, b]))
    np.testing.assert_allclose(both[0], aud.predict_audio(a)[0], atol=1e-6)
    np.testing.assert_allclose(both[1], aud.predict_audio(b)[0], atol=1e-6)
    np.testing.assert_allclose(both.sum(axis=1), 1.0, atol=1e-5)


def test_wrong_inputs_are_refused(built):
    ref, aud = built
    with pytest.raises(ModelError, match="audio model"):
        aud.predict_features(np.zeros((1, *ref.config.shape), np.float32))
    with pytest.raises(ModelError, match="feature maps"):
        ref.predict_audio(np.zeros(4000, np.float32))
    with pytest.raises(ValueError, match="at least 2000 samples"):
        aud.predict_audio(np.zeros(1999, np.float32))


def test_predict_command_runs_an_audio_model(built, make_wav, capsys):
    from heartsound.cli import main

    ref, aud = built
    wavs = [str(make_wav("beat.wav", heart_like(8.0, 4000))),
            str(make_wav("short.wav", heart_like(2.0, 44100, bpm=80), rate=44100)),
            str(make_wav("silent.wav", np.zeros(8000)))]
    rows = []
    for model in (aud.path, ref.path):
        assert main(["predict", *wavs, "--model", str(model)]) == 2  # silent.wav fails
        out = capsys.readouterr()
        assert "digital silence" in out.err
        rows.append(list(csv.DictReader(io.StringIO(out.out))))
    assert [r["path"] for r in rows[0]] == [r["path"] for r in rows[1]] == wavs[:2]
    for got, expected in zip(*rows, strict=True):
        assert (got["label"], got["quality"], got["reason"]) == (
            expected["label"], expected["quality"], expected["reason"])
        for c in ref.classes:
            if expected[f"prob_{c}"]:
                assert abs(float(got[f"prob_{c}"]) - float(expected[f"prob_{c}"])) < 2e-3
    assert json.loads(aud.metadata["heartsound.classes"]) == ref.classes


WEB = Path(__file__).resolve().parents[2] / "web"  # npm install there brings onnxruntime-web
WEB_RUN = """
const { createRequire } = require('module');
const fs = require('fs');
const [dir, model, input, n, count] = process.argv.slice(2);
const ort = createRequire(dir + '/package.json')('onnxruntime-web');
ort.env.wasm.numThreads = 1;
(async () => {
  const session = await ort.InferenceSession.create(fs.readFileSync(model),
                                                    {executionProviders: ['wasm']});
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer, buf.byteOffset, Number(n) * Number(count));
  const out = await session.run({audio: new ort.Tensor('float32', x, [Number(count), Number(n)])});
  console.log(JSON.stringify(Array.from(out.probabilities.data)));
})();
"""


def test_onnxruntime_web_wasm_gives_the_same(built, tmp_path):
    """The graph runs on onnxruntime-web's WebAssembly backend (Node.js), as on the CPU."""
    node = shutil.which("node")
    if node is None or not (WEB / "node_modules" / "onnxruntime-web").is_dir():
        pytest.skip("no node or no onnxruntime-web in web/node_modules")
    _, aud = built
    x = np.stack([heart_like(7.5, 4000, seed=3), 0.2 * heart_like(7.5, 4000, bpm=100)]
                 ).astype(np.float32)
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    (tmp_path / "run.cjs").write_text(WEB_RUN, encoding="utf-8")
    proc = subprocess.run([node, str(tmp_path / "run.cjs"), str(WEB), str(aud.path),
                           str(tmp_path / "x.bin"), str(x.shape[1]), str(x.shape[0])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = np.array(json.loads(proc.stdout)).reshape(x.shape[0], -1)
    np.testing.assert_allclose(got, aud.predict_audio(x), atol=1e-4)
