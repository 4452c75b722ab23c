"""The command line as a user meets it, bad input included: one line, no traceback, exit 2."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import heart_like

from heartsound.cli import main


def run_cli(*args, cwd=None):
    """Run ``python -m heartsound`` in a subprocess (what a user sees, tracebacks included)."""
    proc = subprocess.run([sys.executable, "-m", "heartsound", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def assert_clean_error(stderr, *needles):
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, stderr


@pytest.fixture
def bad_files(tmp_path, make_wav):
    """Every kind of bad input the issue lists, each next to the name of its expected reason."""
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "text.wav").write_text("this is not audio\n" * 20)
    good = make_wav("bad/_full.wav", heart_like(2.0, 4000), 4000)
    raw = good.read_bytes()
    (d / "truncated.wav").write_bytes(raw[: len(raw) // 2])
    good.unlink()
    sf.write(str(d / "zero_samples.wav"), np.zeros(0), 4000)
    sf.write(str(d / "silent.wav"), np.zeros(8000), 4000)
    x = heart_like(2.0, 4000)
    x[100] = np.nan
    sf.write(str(d / "nan.wav"), x, 4000, subtype="FLOAT")
    x[100] = np.inf
    sf.write(str(d / "inf.wav"), x, 4000, subtype="FLOAT")
    sf.write(str(d / "short.wav"), heart_like(0.3, 4000), 4000)
    return {
        d / "empty.wav": "empty file",
        d / "text.wav": "not a readable sound file",
        d / "truncated.wav": "truncated WAV",
        d / "zero_samples.wav": "no audio samples",
        d / "silent.wav": "digital silence",
        d / "nan.wav": "NaN or infinite",
        d / "inf.wav": "NaN or infinite",
        d / "short.wav": "too short",
        d / "missing.wav": "no such file",
    }


def test_a_reader_that_goes_away_is_no_traceback():
    """``heartsound models | head -1``: the CSV/table reader closes the pipe early; the
    command stops without a traceback or an 'Exception ignored' line."""
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "heartsound", "models"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # gone before the command writes a byte (it starts in ~0.2 s)
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_a_command_declares_only_its_own_arguments():
    """``main`` builds the parser for the command it runs (cli.COMMANDS), the others'
    arguments undeclared; with no command or ``--help`` the whole parser."""
    from heartsound.cli import COMMANDS, build_parser

    def choices(parser) -> set[str]:
        return set(next(a for a in parser._actions if a.dest == "command").choices)

    assert choices(build_parser()) == set(COMMANDS)
    only = build_parser("predict")
    assert choices(only) == {"predict"}
    args = only.parse_args(["predict", "x.wav", "--model", "pascal-a-light"])
    assert args.model == "pascal-a-light" and args.func.__name__ == "cmd_predict"
    with pytest.raises(SystemExit):
        only.parse_args(["train", "--dataset", "pascal-b"])


def test_help_on_every_subcommand():
    from heartsound.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0


def test_data_command(data_dir, capsys):
    assert main(["data", "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "165 patients" in out and "1416.5" in out and "4296.7" in out
    assert "86 recording sessions" in out
    assert "the largest holds 23: 23 murmur, and 9 of the unlabelled test files" in out
    extrastole = next(line.split() for line in out.splitlines() if "extrastole" in line)
    assert extrastole[3:] == ["46", "269.5", "5.2", "74%"]  # files, s, median s, <= 7 s


def test_features_writes_npy(tmp_path, make_wav):
    wavs = [make_wav(f"in/{i}.wav", heart_like(3.0 + i, 8000, seed=i), 8000) for i in range(2)]
    code, out, err = run_cli("features", *wavs, "--out", tmp_path / "out")
    assert code == 0, err
    for w in wavs:
        assert np.load(tmp_path / "out" / f"{w.stem}.npy").shape == (872, 20)
    code, _, _ = run_cli("features", tmp_path / "in", "--scale", "4", "--out", tmp_path / "o4")
    assert code == 0 and np.load(tmp_path / "o4" / "0.npy").shape == (215, 20)
    code, _, _ = run_cli("features", tmp_path / "in", "--scale", "8", "--out", tmp_path / "o8")
    assert code == 0 and np.load(tmp_path / "o8" / "0.npy").shape == (106, 20)
    code, _, _ = run_cli("features", tmp_path / "in", "--scale", "4", "--maps", "log-mel",
                         "--out", tmp_path / "lm")
    assert code == 0 and np.load(tmp_path / "lm" / "0.npy").shape == (215, 48)


@pytest.mark.parametrize("case", ["empty", "text", "truncated", "zero_samples", "silent",
                                  "nan", "inf", "short", "missing"])
def test_features_bad_input_one_line(bad_files, tmp_path, case):
    path, reason = next((p, r) for p, r in bad_files.items() if p.stem == case)
    code, out, err = run_cli("features", path, "--out", tmp_path / "out")
    assert code == 2
    assert_clean_error(err, str(path), reason)
    first = [line for line in err.splitlines() if line.startswith("heartsound: error")]
    assert len(first) == 1 and reason in first[0] and str(path) in first[0]
    assert not list((tmp_path / "out").glob("*.npy")) if (tmp_path / "out").exists() else True


def test_features_batch_keeps_going(bad_files, tmp_path, make_wav):
    good = [make_wav("good1.wav", heart_like(3.0, 4000)),
            make_wav("good2.wav", heart_like(9.0, 4000))]
    code, out, err = run_cli("features", good[0], *bad_files, good[1], "--out", tmp_path / "out")
    assert code == 2
    assert_clean_error(err, "failed:")
    assert sorted(p.name for p in (tmp_path / "out").glob("*")) == ["good1.npy", "good2.npy"]
    listed = err.split("failed:")[1]
    for path, reason in bad_files.items():
        assert f"{path}: " in listed and reason in listed
    assert "2 feature map(s) written" in out and f"{len(bad_files)} failed" in out


def write_csv(path, rows, header="path,label"):
    path.write_text(header + "\n" + "".join(f"{p},{lab}\n" for p, lab in rows))
    return path


def test_evaluate_table_and_json(tmp_path):
    truth = [("x/n1.wav", "normal"), ("n2.wav", "normal"), ("m1.wav", "murmur"),
             ("e1.wav", "extrastole")]
    preds = [("n1.wav", "normal"), ("n2.wav", "murmur"), ("m1.wav", "murmur"),
             ("e1.wav", "normal")]
    labels = write_csv(tmp_path / "labels.csv", truth)
    pred = write_csv(tmp_path / "pred.csv", preds)
    code, out, err = run_cli("evaluate", "--predictions", pred, "--labels", labels,
                             "--dataset", "b", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert s["accuracy"] == 0.5 and s["precision_murmur"] == 0.5
    assert s["heartproblem_sensitivity"] == 0.5 and s["heartproblem_specificity"] == 0.5
    assert s["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    code, out, _ = run_cli("evaluate", "--predictions", pred, "--labels", labels,
                           "--dataset", "b")
    assert code == 0 and "total_precision" in out and "confusion matrix" in out


@pytest.mark.parametrize(("content", "reason"), [
    ("path,label\na.wav,normal\nb.wav,bogus\n", "unknown label 'bogus'"),
    ("file,class\na.wav,normal\n", "missing column(s) label, path"),
    (None, "no such file"),
])
def test_evaluate_bad_csv(tmp_path, content, reason):
    labels = write_csv(tmp_path / "labels.csv", [("a.wav", "normal"), ("b.wav", "murmur")])
    pred = tmp_path / "pred.csv"
    if content is not None:
        pred.write_text(content)
    code, out, err = run_cli("evaluate", "--predictions", pred, "--labels", labels,
                             "--dataset", "b")
    assert code == 2
    assert_clean_error(err, str(pred), reason)
    assert len(err.strip().splitlines()) == 1


def test_evaluate_mismatched_files(tmp_path):
    labels = write_csv(tmp_path / "labels.csv", [("a.wav", "normal"), ("b.wav", "murmur")])
    pred = write_csv(tmp_path / "pred.csv", [("a.wav", "normal")])
    code, _, err = run_cli("evaluate", "--predictions", pred, "--labels", labels, "--dataset", "b")
    assert code == 2 and "no prediction for 1" in err and "b.wav" in err


def test_python_m_and_console_script_agree():
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("heartsound ")


@pytest.mark.slow  # make test-fast leaves it to make test
def test_demo_runs_and_classifies_test_sets(data_dir, tmp_path):
    from heartsound.registry import models_dir

    code, out, err = run_cli("demo", "--data", data_dir, "--out", tmp_path / "demo")
    assert code == 0, err
    assert (tmp_path / "demo" / "mfcc_per_class.png").stat().st_size > 10_000
    assert "extrastole" in out and "872x20" in out
    if (models_dir() / "pascal-b-light.onnx").exists():
        assert "195 unlabelled test recordings classified" in out
        with (tmp_path / "demo" / "pascal-b-light-test-predictions.csv").open() as fh:
            assert len(list(csv.DictReader(fh))) == 195


def test_shipped_models_centre_as_documented(data_dir):
    """Set B's shipped model centres its maps over time (README: a fixed channel added to
    every frame changes nothing); set A's, the plain network, does see it."""
    import numpy as np

    import heartsound as hs
    from heartsound.infer import Classifier
    from heartsound.registry import models_dir

    wav = sorted((data_dir / "set_b").glob("normal__*.wav"))[0]
    for name, invariant in (("pascal-b-light", True), ("pascal-a-light", False)):
        path = models_dir() / f"{name}.onnx"
        if not path.exists():
            continue
        clf = Classifier(path)
        maps = hs.features(wav, clf.config)[None]
        offset = np.random.default_rng(0).normal(0, 5, maps.shape[-1]).astype(np.float32)
        moved = clf.predict_features(maps + offset, clf.config)
        same = np.allclose(clf.predict_features(maps, clf.config), moved, atol=1e-3)
        assert same == invariant, name


def test_shipped_models_keep_their_fingerprints():
    """Each shipped model's stored fingerprint is its own stored config's, as read today: a
    front-end field added since (config.LATER_FIELDS) must not change an older config."""
    from heartsound.infer import Classifier
    from heartsound.registry import models_dir

    paths = sorted(models_dir().glob("*.onnx"))
    assert paths
    for path in paths:
        clf = Classifier(path)
        assert clf.config.fingerprint() == clf.metadata["heartsound.fingerprint"], path.name


def test_unknown_model_is_one_line(capsys, monkeypatch, tmp_path):
    from heartsound.cli import main
    from heartsound.infer import ModelError

    wav = tmp_path / "x.wav"
    assert main(["predict", str(wav), "--model", "pascal-c-huge"]) == 2
    err = capsys.readouterr().err
    assert "no shipped model 'pascal-c-huge'" in err and len(err.strip().splitlines()) == 1
    assert main(["predict", str(wav), "--model", str(tmp_path / "gone.onnx")]) == 2
    assert "model file not found" in capsys.readouterr().err
    monkeypatch.setenv("HEARTSOUND_DEBUG", "1")  # developers get the exception itself
    with pytest.raises(ModelError):
        main(["predict", str(wav), "--model", "pascal-c-huge"])


@pytest.mark.slow  # make test-fast leaves it to make test
def test_train_offers_every_recipe_and_network():
    """The parser's lists are written out (the CLI starts without importing torch); they
    must name exactly what train.RECIPES and models.ARCHITECTURES hold."""
    pytest.importorskip("torch")
    from heartsound.cli import build_parser
    from heartsound.training.networks import ARCHITECTURES
    from heartsound.training.train import RECIPES

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    actions = {a.dest: a for a in sub.choices["train"]._actions}
    assert set(actions["recipe"].choices) == {"improved", *RECIPES}
    assert set(actions["model"].choices) == set(ARCHITECTURES)
