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

SOURCE = "pascal-a-light"  # a first-7-s model: the fixed-length graph (whole ones below)
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
    assert aud.path.stat().st_size < ref.path.stat().st_size + 100_000  # filter, tables, bank
    # no large constant: the DFT tables are built in the graph from small ones
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


def test_shipped_whole_model_same_as_predict(data_dir):
    """The shipped whole-recording LayerNorm model (pascal-b-light: log-mel maps, windows 3 s
    apart) and its audio file give predict's labels and probabilities on PASCAL test files."""
    from heartsound.registry import resolve_model

    ref = Classifier(resolve_model("pascal-b-light"))
    if ref.window_hop_s is None:
        pytest.skip("the shipped pascal-b-light reads the first 7 s")
    aud = Classifier.load(f"pascal-b-light{SUFFIX}")
    paths = sorted((data_dir / "set_b").glob("Bunlabelledtest*.wav"))[::10]
    if len(paths) < 15:
        pytest.skip("PASCAL test recordings not found")
    expected = {p: probs for p, probs, _ in ref.predict_files(paths)}
    got = {p: probs for p, probs, _ in aud.predict_files(paths)}
    assert all(expected[p] is not None and got[p] is not None for p in paths)
    assert np.mean([np.argmax(got[p]) == np.argmax(expected[p]) for p in paths]) >= 0.99
    assert max(np.abs(got[p] - expected[p]).max() for p in paths) < 0.02


# lengths around the extension (27), the filter's block (48) and its scan's reach (48·2^d
# samples, d < 7), 0.5 s to past 7.5 s
LENGTHS = [28, 29, 47, 48, 49, 63, 64, 65, 100, 1582, 1583, 1600, 1601, 2000, 2001, 3071,
           3072, 3073, 4095, 6145, 12_345, 29_999, 30_000, 30_001, 36_000]


@pytest.mark.parametrize("n", LENGTHS)
def test_band_pass_is_sosfiltfilt(built, band_of, n):
    """The graph's band-pass (block state space) is audio.bandpass (float64 sosfiltfilt) to float32
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
    from heartsound.training.audio_model import OPSET, _Builder, _front_end

    config = FrontEndConfig(**FRONT_ENDS[name])
    b = _Builder()
    _front_end(b, config, out="map")
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


def web_node() -> str:
    """Node.js, with onnxruntime-web installed in web/ (else the test is skipped)."""
    node = shutil.which("node")
    if node is None or not (WEB / "node_modules" / "onnxruntime-web").is_dir():
        pytest.skip("no node or no onnxruntime-web in web/node_modules")
    return node


def web_probabilities(node: str, model: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """The probabilities onnxruntime-web's WebAssembly backend gives ``model`` for the
    waveforms ``x`` (batch, samples)."""
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    (tmp_path / "run.cjs").write_text(WEB_RUN, encoding="utf-8")
    proc = subprocess.run([node, str(tmp_path / "run.cjs"), str(WEB), str(model),
                           str(tmp_path / "x.bin"), str(x.shape[1]), str(x.shape[0])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return np.array(json.loads(proc.stdout)).reshape(x.shape[0], -1)


def test_onnxruntime_web_wasm_gives_the_same(built, tmp_path):
    """The graph runs on onnxruntime-web's WebAssembly backend (Node.js), as on the CPU."""
    node = web_node()
    _, aud = built
    x = np.stack([heart_like(7.5, 4000, seed=3), 0.2 * heart_like(7.5, 4000, bpm=100)]
                 ).astype(np.float32)
    np.testing.assert_allclose(web_probabilities(node, aud.path, x, tmp_path),
                               aud.predict_audio(x), atol=1e-4)


# --- whole-recording models: the sliding windows inside the graph --------------------------

WHOLE_OPS = FRONT_END_OPS | {"Min", "ReduceMean"}  # the windows' starts and their mean
# seconds (and the file's rate): tiled, at and around n_samples, windows of several hops, cut
# at WHOLE_MAX_S (70 s); 44.1 kHz and 2 kHz (PhysioNet's) files resampled as predict does
WHOLE_FILES = {"0.6": (0.6, 4000), "5": (5.0, 4000), "n-1": (27_999 / 4000, 4000),
               "n": (7.0, 4000), "n+1": (28_001 / 4000, 4000), "10": (10.0, 4000),
               "23.3": (23.3, 4000), "70": (70.0, 4000), "12.5@44.1k": (12.5, 44_100),
               "9@2k": (9.0, 2000)}


def _varied(seconds: float, rate: int = 4000, seed: int = 0) -> np.ndarray:
    """A recording whose rate and loudness change every 4 s, so its windows disagree."""
    n = round(seconds * rate)
    parts = [(0.1 + 0.15 * (i % 4)) * heart_like(4.01, rate, bpm=55 + 17 * ((i + seed) % 5),
                                                 seed=seed + i)[: 4 * rate]
             for i in range(-(-n // (4 * rate)))]
    return np.concatenate(parts)[:n]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """A tiny whole-recording model (untrained light-centred-bn, 215×20 MFCC, window hop 2 s,
    temperature 1.7; its standardisation and batch norms set on a few synthetic maps so its
    outputs move with the input) and its audio graph."""
    torch = pytest.importorskip("torch")
    from heartsound.config import FrontEndConfig
    from heartsound.training.export import export_onnx
    from heartsound.training.networks import build

    cfg = FrontEndConfig().scaled(4)
    torch.manual_seed(0)
    net = build("light-centred-bn", 2, cfg.n_coefficients)
    maps = np.stack([feature_map(preprocess((0.05 + bpm / 100) * heart_like(7.5, 4000, bpm=bpm,
                                                                            seed=bpm),
                                            4000, cfg), cfg) for bpm in range(50, 140, 6)])
    with torch.no_grad():
        flat = torch.from_numpy(maps.reshape(-1, cfg.n_coefficients))
        net.mean.copy_(flat.mean(0))
        net.std.copy_(flat.std(0))
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None  # running statistics: the plain mean over the batch
        net.train()
        net(torch.from_numpy(maps))
        net.eval()
        net.net.classifier[-1].weight.mul_(8.0)
    folder = tmp_path_factory.mktemp("whole")
    source = export_onnx(net, cfg, ["normal", "abnormal"], folder / "tiny-light.onnx",
                         {"heartsound.window_hop_s": "2.0", "heartsound.temperature": "1.7"})
    audio = export_audio_model(source)
    assert audio.name == f"tiny-light{SUFFIX}.onnx"
    files = {}
    for i, (label, (seconds, rate)) in enumerate(WHOLE_FILES.items()):
        path = folder / f"{label}.{'flac' if rate == 2000 else 'wav'}"
        import soundfile as sf

        sf.write(str(path), _varied(seconds, rate, seed=i), rate, subtype="PCM_16")
        files[label] = path
    return Classifier(source), Classifier(audio), files


@pytest.fixture(scope="module")
def whole_probe(whole):
    """probe(x (batch, samples)) -> the graph's outputs by name, intermediates included."""
    import onnxruntime as ort

    ref, _, _ = whole
    session = ort.InferenceSession(build_audio_model(ref.path, intermediates=True)
                                   .SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda x: dict(zip(names, session.run(None, {"audio": x.astype(np.float32)}),
                              strict=True))


def _numpy_whole(ref: Classifier, x: np.ndarray) -> np.ndarray:
    """What predict_files computes for a 4-kHz recording: preprocess(whole), the whole map,
    its windows, the mean of their probabilities, then the temperature."""
    from heartsound.calibration import scale
    from heartsound.features import windows

    full = feature_map(preprocess(x, 4000, ref.config, whole=True), ref.config)
    maps = windows(full, ref.config.n_frames, ref.hop_frames)
    return scale(ref.predict_features(maps).mean(axis=0)[None], ref.temperature)[0]


def test_whole_graph_is_plain_onnx_and_keeps_the_window_hop(whole):
    ref, aud, _ = whole
    proto, source = onnx.load(str(aud.path)), onnx.load(str(ref.path))
    assert [i.name for i in proto.graph.input] == ["audio"]
    assert [o.name for o in proto.graph.output] == ["probabilities"]
    ops = {n.op_type for n in proto.graph.node}
    assert {n.op_type for n in proto.graph.node if n.name.startswith("fe/")} <= WHOLE_OPS
    assert not ops & {"DFT", "STFT", "MelWeightMatrix", "Loop", "Scan", "If", "Conv"} - {
        n.op_type for n in source.graph.node}
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["heartsound.window_hop_s"] == "2.0"  # tools tell a windowed graph by it
    assert meta.pop("heartsound.input") == "audio"
    assert meta.pop("heartsound.source_model") == "tiny-light"
    assert meta == {p.key: p.value for p in source.metadata_props}
    assert aud.audio and aud.hop_frames == ref.hop_frames == 62
    assert aud.path.stat().st_size < ref.path.stat().st_size + 100_000


def test_whole_same_probabilities_as_predict_files(whole):
    """predict_files of the audio graph (file_audio reads up to WHOLE_MAX_S) against the
    feature model's (file_windows, the windows' mean, the temperature), on every length."""
    ref, aud, files = whole
    paths = list(files.values())
    expected = {p: probs for p, probs, _ in ref.predict_files(paths)}
    got = {p: probs for p, probs, _ in aud.predict_files(paths)}
    spread = np.ptp([expected[p][0] for p in paths])
    assert spread > 0.05  # the tiny model's answers do depend on the recording
    for label, p in files.items():
        assert got[p] is not None and expected[p] is not None, label
        assert np.abs(got[p] - expected[p]).max() < 1e-3, (label, got[p], expected[p])
        assert np.argmax(got[p]) == np.argmax(expected[p]), label
    # more than WHOLE_MAX_S is cut there, by file_audio as by the graph itself
    assert aud.file_audio(files["70"]).size == 240_000
    x = _varied(70.0, seed=9)
    np.testing.assert_allclose(aud.predict_audio(x), aud.predict_audio(x[:240_000]), atol=1e-6)


def _edge_lengths(ref: Classifier) -> list[int]:
    """Samples for which the whole map has N + k frames, k around multiples of the hop (one
    window; a last start on the grid or off it), and around WHOLE_MAX_S."""
    cfg, hop = ref.config, ref.hop_frames
    at = [cfg.n_fft + (cfg.n_frames - 1 + k) * cfg.hop_length
          for k in (0, 1, hop - 1, hop, hop + 1, 2 * hop, 2 * hop + 1, 5 * hop - 1)]
    return [2000, cfg.n_samples - 1, cfg.n_samples, cfg.n_samples + 1, *at,
            at[3] + cfg.hop_length - 1, 239_999, 240_000, 240_001, 250_000]


def test_whole_window_starts_and_maps_at_edge_lengths(whole, whole_probe):
    """The starts computed in the graph from its dynamic frame count are
    features.windows's (one window when the map is N frames; the end-aligned last start
    added only when off the grid), the whole map is feature_map's, and the probabilities
    predict's."""
    from heartsound.features import windows

    ref, _, _ = whole
    cfg, n, hop = ref.config, ref.config.n_frames, ref.hop_frames
    counts = set()
    for length in _edge_lengths(ref):
        x = _varied(length / 4000 + 1e-3, seed=length)[:length]
        out = whole_probe(x[None])
        frames = 1 + (min(max(length, cfg.n_samples), 240_000) - cfg.n_fft) // cfg.hop_length
        want = windows(np.arange(frames)[:, None], n, hop)[:, 0, 0]
        np.testing.assert_array_equal(out["starts"], want, err_msg=str(length))
        counts.add(len(want))
        full = feature_map(preprocess(x, 4000, cfg, whole=True), cfg)
        assert out["map"].shape == (1, *full.shape) == (1, frames, cfg.n_coefficients)
        assert np.abs(out["map"][0] - full).max() < 0.01, length
        assert out["windows"].shape == (len(want), n, cfg.n_coefficients)
        np.testing.assert_allclose(out["probabilities"][0], _numpy_whole(ref, x), atol=1e-3)
    assert counts == {1, 2, 3, 4, 6, 28}


def test_whole_batch_of_equal_lengths_is_per_item(whole):
    _, aud, _ = whole
    x = np.stack([_varied(23.3, seed=s) * g for s, g in ((1, 1.0), (2, 0.3), (3, 2.0))])
    both = aud.predict_audio(x)
    for item, probs in zip(x, both, strict=True):
        np.testing.assert_allclose(probs, aud.predict_audio(item)[0], atol=1e-6)
    np.testing.assert_allclose(both.sum(axis=1), 1.0, atol=1e-5)


def test_whole_quality_gate_as_file_windows(whole, tmp_path):
    """file_audio's verdicts are file_windows's, for the gate's own path on short files (the
    front end's band-passed signal) and long ones (the raw samples' first read_seconds)."""
    import soundfile as sf

    from heartsound.infer import prediction_rows

    ref, aud, files = whole
    noisy = tmp_path / "noise.wav"  # an unusable recording: a verdict with a reason
    sf.write(str(noisy), 0.3 * np.random.default_rng(0).standard_normal(12 * 4000), 4000)
    paths = [*files.values(), noisy]
    for p in paths:
        a: dict = {}
        w: dict = {}
        aud.file_audio(p, a)
        ref.file_windows(p, w)
        assert a[p] == w[p], p.name
    rows_a, errors_a = prediction_rows(aud, paths)
    rows_w, errors_w = prediction_rows(ref, paths)
    assert errors_a == errors_w == []
    assert any(r["label"] == "unusable" for r in rows_w)
    for got, want in zip(rows_a, rows_w, strict=True):
        assert (got["path"], got["label"], got["quality"], got["reason"]) == (
            want["path"], want["label"], want["quality"], want["reason"])


def test_whole_onnxruntime_web_wasm_gives_the_same(whole, tmp_path):
    """The windowed graph (dynamic frame and window counts) runs on onnxruntime-web."""
    node = web_node()
    _, aud, _ = whole
    x = np.stack([_varied(23.3, seed=5), 0.4 * _varied(23.3, seed=6)]).astype(np.float32)
    np.testing.assert_allclose(web_probabilities(node, aud.path, x, tmp_path),
                               aud.predict_audio(x), atol=1e-4)
