"""predict's fast path: the quality gate reads the front end's own band-limited signal (same
verdicts as the standalone gate the thresholds were calibrated with), the thread pools are
pinned, and the progress bar stays on a terminal's stderr."""

from __future__ import annotations

import io
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from heartsound import quality
from heartsound.audio import (
    AudioError,
    band_limited,
    bandpass,
    fit_length,
    load,
    preprocess,
    resample,
)
from heartsound.cli import main
from heartsound.config import DEFAULT
from heartsound.features import feature_map
from heartsound.infer import Classifier, predict_parallel, prediction_rows
from heartsound.synthetic import heart_like

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SECONDS = DEFAULT.read_seconds


def front_end_signal(x: np.ndarray, rate: int) -> np.ndarray:
    """What predict's front end makes of the part assessed (validation aside)."""
    return bandpass(resample(x[: math.ceil(SECONDS * rate)], rate, DEFAULT.sample_rate))


def assert_same_verdict(x: np.ndarray, rate: int) -> None:
    ref = quality.assess(x, rate, config=DEFAULT, max_seconds=SECONDS)
    got = quality.assess_prepared(x, rate, front_end_signal(x, rate), config=DEFAULT,
                                  max_seconds=SECONDS)
    assert (got.usable, got.reason) == (ref.usable, ref.reason)
    assert got.failed == ref.failed
    # float32 rounding (soxr's precision) of differently offset samples; on real recordings
    # the indices agree to ~1e-6 relative, a flat tone's envelope magnifies it ~10x
    assert got.quality == pytest.approx(ref.quality, rel=1e-4, abs=1e-5)
    for name in quality.INDEX_NAMES:
        assert math.isclose(got.indices[name], ref.indices[name], rel_tol=1e-4,
                            abs_tol=1e-5), (name, got.indices[name], ref.indices[name])


def synthetic(kind: str, rate: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(int(8 * rate)) / rate
    x = {"heart": heart_like(8, rate),
         "heart_dc": heart_like(8, rate) + 0.3,  # offset ~2x the rms: kurtosis moves by ~1
         "heart_big_dc": 0.05 * heart_like(8, rate) - 0.6,
         "heart_short": heart_like(1.2, rate),
         "tone_1k": 0.3 * np.sin(2 * np.pi * 1000 * t),
         "tone_150_dc": 0.3 * np.sin(2 * np.pi * 150 * t) + 0.2,
         "dc": np.full(t.size, 0.25),
         "white": 0.1 * rng.standard_normal(t.size),
         "clipped": np.clip(3 * heart_like(8, rate), -0.8, 0.8),
         "near_silent": 1e-4 * rng.standard_normal(t.size)}[kind]
    return x.astype(np.float32)  # as load() gives it


@pytest.mark.parametrize("rate", [4000, 2000, 44100])
@pytest.mark.parametrize("kind", ["heart", "heart_dc", "heart_big_dc", "heart_short",
                                  "tone_1k", "tone_150_dc", "dc", "white", "clipped",
                                  "near_silent"])
def test_shared_gate_gives_the_standalone_verdict_on_synthetic_input(kind, rate):
    assert_same_verdict(synthetic(kind, rate), rate)


def test_the_offset_term_is_what_keeps_the_indices():
    """Without ``- mean·bandpass(resample(ones))`` the resampler's edge transients of an
    offset change the kurtosis (PhysioNet records with an offset moved it by up to 3)."""
    x, rate = synthetic("heart_dc", 44100), 44100
    y = front_end_signal(x, rate)
    ref = quality.indices(x, rate, DEFAULT, SECONDS)
    naive = quality.band_indices(y, DEFAULT.sample_rate)
    assert abs(naive["kurtosis"] - ref["kurtosis"]) > 0.05
    assert quality.indices_from(x, rate, y, DEFAULT, SECONDS)["kurtosis"] == pytest.approx(
        ref["kurtosis"], rel=1e-5)


def real_files() -> list[Path]:
    picks = [SHARED / "pascal" / "set_a" / n for n in (
        "Aunlabelledtest__201012172010.wav", "artifact__201106040933.wav",
        "murmur__201108222231.wav", "normal__201106111136.wav",
        "Aunlabelledtest__201103232251.wav")]
    picks += [SHARED / "pascal" / "set_b" / n for n in (
        "Bunlabelledtest__121_1306263877235_B.wav", "extrastole__127_1306764300147_C2.wav",
        "normal__103_1305031931979_D3.wav",
        "normal_noisynormal_125_1306332456645_C.wav")]
    picks += [SHARED / "physionet2016" / f"training-{d}" / f"{d}0001.flac" for d in "abcdf"]
    return picks


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_shared_gate_gives_the_standalone_verdict_on_real_recordings(path):
    if not path.is_file():
        pytest.skip(f"{path} not found (../shared/data)")
    assert_same_verdict(*load(path, max_seconds=SECONDS))


@pytest.fixture(scope="module")
def models():
    return {name: Classifier.load(name) for name in ("pascal-b-light", "pascal-b-light-audio")}


@pytest.mark.parametrize("rate", [4000, 44100])
@pytest.mark.parametrize("kind", ["heart", "heart_dc", "tone_150_dc", "white", "heart_short"])
def test_classifier_verdicts_equal_assess(models, make_wav, kind, rate):
    """file_windows and file_audio (the raw-audio models) give assess's verdict, and the
    features stay preprocess's, bit for bit."""
    path = make_wav(f"{kind}.wav", synthetic(kind, rate), rate, subtype="FLOAT")
    x, r = load(path, max_seconds=SECONDS)
    ref = quality.assess(x, r, config=DEFAULT, max_seconds=SECONDS)
    for clf in models.values():
        verdicts: dict = {}
        out = clf.file_audio(path, verdicts) if clf.audio else clf.file_windows(path, verdicts)
        got = verdicts[path]
        assert (got.usable, got.reason) == (ref.usable, ref.reason), clf.path.name
        if not clf.audio:
            assert np.array_equal(out[0], feature_map(preprocess(x, r, clf.config),
                                                      clf.config))


def test_whole_recording_models_assess_the_first_seconds(make_wav):
    """A sliding-window model reads up to 60 s; the gate still assesses the first 7.5 s,
    from the front end's signal when that is all there is, on its own otherwise."""
    clf = Classifier.load("pascal-b-light")
    clf.hop_frames = 64
    for seconds in (5.0, 20.0):
        x = (heart_like(seconds, 44100) + 0.2).astype(np.float32)
        path = make_wav(f"long{seconds:g}.wav", x, 44100, subtype="FLOAT")
        verdicts: dict = {}
        clf.file_windows(path, verdicts)
        ref = quality.assess(*load(path, max_seconds=60), config=clf.config,
                             max_seconds=SECONDS)
        assert (verdicts[path].usable, verdicts[path].reason) == (ref.usable, ref.reason)
        assert verdicts[path].indices["duration_s"] == ref.indices["duration_s"]


@pytest.mark.parametrize("seconds,rate,whole", [(8, 4000, False), (3, 4000, False),
                                               (8, 44100, False), (3, 2000, True),
                                               (20, 44100, True)])
def test_band_limited_is_preprocess_before_the_length(seconds, rate, whole):
    x = heart_like(seconds, rate).astype(np.float32)
    got = band_limited(x, rate, DEFAULT, whole=whole)
    expected = preprocess(x, rate, DEFAULT, whole=whole)
    fitted = got if whole and got.size >= DEFAULT.n_samples else fit_length(got,
                                                                           DEFAULT.n_samples)
    assert np.array_equal(fitted, expected)
    with pytest.raises(AudioError, match="too short"):
        band_limited(x[:100], rate, DEFAULT)


# ----------------------------------------------------------------------- threads

def test_predict_pins_blas_and_restores_it(monkeypatch, make_wav, capsys):
    from threadpoolctl import threadpool_info

    import heartsound.infer as infer

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = [p["num_threads"] for p in threadpool_info()]
    seen: list = []
    real = infer.prediction_rows

    def spy(*args, **kwargs):
        seen.append(([p["num_threads"] for p in threadpool_info()
                      if p["user_api"] == "blas"], os.environ.get("OPENBLAS_NUM_THREADS")))
        return real(*args, **kwargs)

    monkeypatch.setattr(infer, "prediction_rows", spy)
    wav = make_wav("rec.wav", heart_like(8.0, 4000))
    assert main(["predict", str(wav), "--quiet"]) == 0
    blas, env = seen[0]
    assert env == "1" and all(n == 1 for n in blas)
    assert [p["num_threads"] for p in threadpool_info()] == before
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    # a size the user chose in the environment is theirs
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    assert main(["predict", str(wav), "--quiet", "--threads", "2"]) == 0
    assert seen[1][1] == "7"
    assert main(["predict", str(wav), "--threads", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_onnx_runtime_threads_are_pinned():
    clf = Classifier.load("pascal-b-light", threads=1)
    opts = clf.session.get_session_options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)


# ---------------------------------------------------------------------- progress

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def batch_with_a_bad_file(tmp_path: Path, make_wav, n: int = 22) -> list[str]:
    paths = [str(make_wav(f"r{i:02d}.wav", heart_like(8.0, 4000, seed=i))) for i in range(n)]
    bad = tmp_path / "r05.wav"
    bad.write_bytes(b"RIFF0000WAVEnot audio")
    return paths


@pytest.mark.parametrize("flag", [[], ["--no-progress"]])
def test_progress_bar_only_on_a_terminal_stderr(tmp_path, make_wav, monkeypatch, capsys, flag):
    paths = batch_with_a_bad_file(tmp_path, make_wav)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["predict", *paths, "--no-quality-gate", *flag]) == 2
    out = capsys.readouterr().out
    err = terminal.getvalue()
    assert out.count("\n") == len(paths)  # header + every good file, no bar
    assert "\r" not in out and "%|" not in out
    assert ("%|" in err) == (not flag)
    lines = [line.rsplit("\r", 1)[-1] for line in err.splitlines()]
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and "r05.wav" in errors[0]
    assert any("21 recording(s) classified" in line for line in lines)


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, make_wav, capsys):
    paths = batch_with_a_bad_file(tmp_path, make_wav)
    assert main(["predict", *paths, "--no-quality-gate"]) == 2
    err = capsys.readouterr().err
    assert "%|" not in err and "\r" not in err


def test_parallel_progress_and_order(tmp_path, make_wav):
    paths = [Path(p) for p in batch_with_a_bad_file(tmp_path, make_wav, n=6)]
    done: list[int] = []
    rows, errors = predict_parallel("pascal-b-light", paths, workers=2, batch=1,
                                    progress=done.append)
    serial_rows, serial_errors = prediction_rows(Classifier.load("pascal-b-light"), paths, 1)
    assert sum(done) == len(paths)
    assert rows == serial_rows and errors == serial_errors
    assert [r["path"] for r in rows] == [str(p) for p in paths if p.name != "r05.wav"]



def test_parallel_model_error_is_one_error(tmp_path):
    from heartsound.registry import ModelError

    bad = tmp_path / "m.onnx"
    bad.write_text("not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        predict_parallel(str(bad), [tmp_path / "a.wav", tmp_path / "b.wav"], workers=2)


def test_keep_heap_is_glibc_only_and_changes_no_answer(make_wav):
    """mallopt where the C library has it (glibc on Linux); predict's answers are the same
    before and after it."""
    import platform

    from heartsound.cli import keep_heap

    wav = make_wav("beat.wav", heart_like(8.0, 4000), 4000)
    clf = Classifier.load("pascal-a-light")
    before, _ = prediction_rows(clf, [wav])
    kept = keep_heap()
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert kept
    assert prediction_rows(clf, [wav])[0] == before


def test_maps_run_a_few_at_a_time(monkeypatch):
    """predict_features runs its maps infer.RUN_BATCH at a time (docs/lightness.md, *Maps
    per run*), a lone last map in the run before it, and gives exactly what one run over all
    of them gives (the audio graph runs a recording's windows at once)."""
    from heartsound import infer

    assert [(r.start, r.stop) for r in infer.runs(5, 2)] == [(0, 2), (2, 5)]
    assert [(r.start, r.stop) for r in infer.runs(4, 2)] == [(0, 2), (2, 4)]
    assert [(r.start, r.stop) for r in infer.runs(1, 2)] == [(0, 1)]
    clf = Classifier.load("pascal-b-light")
    maps = np.random.default_rng(1).standard_normal((5, *clf.config.shape)).astype(np.float32)
    whole = clf.session.run(None, {clf.input_name: maps})[0]
    sizes = []
    run = clf.session.run

    class Spy:
        def run(self, names, feeds):
            sizes.append(len(feeds[clf.input_name]))
            return run(names, feeds)

    monkeypatch.setattr(clf, "session", Spy())
    got = clf.predict_features(maps)
    assert sizes == [len(range(5)[r]) for r in infer.runs(5)]
    assert min(sizes) > 1
    np.testing.assert_array_equal(got, whole)


NEIGHBOURS = SHARED / "pascal" / "set_a"


@pytest.mark.skipif(not NEIGHBOURS.is_dir(), reason="needs the PASCAL data in ../shared/data")
@pytest.mark.parametrize("name", ["pascal-b-light-int8", "pascal-b-light"])
def test_a_recordings_answer_does_not_depend_on_the_recordings_beside_it(name):
    """A 7.9-s set-A recording that pascal-b-light reads as two windows, after a one-window
    recording: run with the maps of the files beside it, one of its windows ran alone, along
    onnxruntime's other batch-of-one path, and its int8 probabilities moved by 0.04."""
    clf = Classifier.load(name)
    two = NEIGHBOURS / "Aunlabelledtest__201108222254.wav"
    one = next(p for p in sorted(NEIGHBOURS.glob("Aunlabelledtest__*.wav"))
               if len(clf.file_windows(p)) == 1)
    alone, _ = prediction_rows(clf, [two])
    beside, _ = prediction_rows(clf, [one, two])
    assert len(clf.file_windows(two)) == 2
    assert beside[1] == alone[0]
