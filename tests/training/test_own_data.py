"""The user's own labelled CSV (``path,label[,group]``) as a first-class dataset: its summary
at the start of ``train``, label hygiene before training, resuming by content, predict with a
run folder, calibrated final models, and the summary files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import heart_like

from heartsound.cli import main

torch = pytest.importorskip("torch")

TINY = ["--folds", "2", "--epochs", "1", "--threads", "1", "--quiet"]


def write_dataset(root, make_wav, groups: bool = False, per_class: int = 4):
    """Two classes (fast and slow beats) of 3-9 s recordings at 4 kHz, in one sub-folder per
    class with the same file names in each (``fast/0.wav``, ``slow/0.wav``)."""
    lines = ["path,label" + (",group" if groups else "")]
    for label, bpm in (("fast", 110), ("slow", 55)):
        for i in range(per_class):
            make_wav(f"{label}/{i}.wav", heart_like(3.0 + 2 * i, 4000, bpm=bpm,
                                                    seed=i + (50 if label == "slow" else 0)))
            lines.append(f"{label}/{i}.wav,{label}" + (f",p{i % 2}" if groups else ""))
    (root / "set.csv").write_text("\n".join(lines) + "\n")
    return root / "set.csv"


@pytest.fixture
def own_run(tmp_path, make_wav, monkeypatch, capsys):
    """A tiny ``heartsound train`` on a CSV, given by a relative path from its folder."""
    write_dataset(tmp_path, make_wav)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "set.csv", *TINY, "--out", "run"]) == 0
    return tmp_path, tmp_path / "run", capsys.readouterr().err


def test_train_on_own_csv_prints_summary_folds_and_calibration(own_run):
    from heartsound.infer import Classifier

    root, out, err = own_run
    # The dataset summary comes first, before any fold.
    assert err.index("classes: fast 4, slow 4") < err.index("fold 1/2")
    assert "durations: min 3.0 s, median 6.0 s, max 9.0 s" in err
    assert "sample rates: 4000 Hz (8)" in err
    assert "4 shorter (tiled" in err and "2 longer (truncated" in err and "2 exactly 7 s" in err
    assert "recording-level folds (no groups given)" in err
    # --quiet: one line per fold, with its accuracy and seconds; no progress bars.
    fold_lines = [line for line in err.splitlines() if line.startswith("fold ")]
    assert len(fold_lines) == 2 and all("accuracy" in x and x.endswith(" s")
                                        for x in fold_lines)
    summary = json.loads((out / "summary.json").read_text())
    cal = summary["calibration"]
    assert cal["applied"] and cal["n"] == 8 and 0.05 <= cal["temperature"] <= 20
    assert {"ece_before", "ece_after"} <= set(cal)
    clf = Classifier(out / "final" / "model.onnx")
    assert clf.temperature == pytest.approx(cal["temperature"], abs=1e-4)
    assert clf.classes == ["fast", "slow"]
    md = (out / "summary.md").read_text()
    assert "(recording-level folds (no groups given))" in md.splitlines()[0]
    assert "grouped" not in md.splitlines()[0]
    assert "| field | value |" in md and "| epochs | 1 |" in md and "{'epochs'" not in md
    assert f"T = {cal['temperature']:.3f}" in md and "stored in final/model.onnx" in md
    # Files sharing a name in two folders are told apart in the folds' records.
    names = {v["path"] for f in (1, 2)
             for v in json.loads((out / f"fold{f}" / "metrics.json").read_text())["validation"]}
    assert names == {f"{c}/{i}.wav" for c in ("fast", "slow") for i in range(4)}
    # The CSV is stored by its absolute path: the run is readable from anywhere.
    assert json.loads((out / "config.json").read_text())["dataset"] == str(root / "set.csv")


def test_calibrate_run_rescores_a_csv_run_from_another_folder(own_run, monkeypatch,
                                                              tmp_path_factory):
    from heartsound.training.calibrate import calibrate_run

    _, out, _ = own_run
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    again = calibrate_run(out)  # from the checkpoints, the CSV found by its stored path
    stored = json.loads((out / "summary.json").read_text())["calibration"]
    assert again["n"] == stored["n"]
    assert again["temperature"] == pytest.approx(stored["temperature"], rel=0.02, abs=0.02)


def test_resume_compares_content_not_spelling(own_run, capsys):
    root, out, _ = own_run
    args = ["train", *TINY, "--out", str(out)]
    # The same CSV spelt absolutely resumes: nothing trained again.
    before = (out / "fold1" / "checkpoint.pt").stat().st_mtime_ns
    assert main([*args, "--dataset", str(root / "set.csv")]) == 0
    err = capsys.readouterr().err
    assert err.count("already done (resumed): accuracy") == 2
    assert (out / "fold1" / "checkpoint.pt").stat().st_mtime_ns == before
    # Other settings: the one-line error names them.
    assert main([*args, "--dataset", "set.csv", "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the dataset summary
    assert err.startswith("heartsound: error: ") and "epochs: 1 → 2" in err
    assert "use another --out" in err
    # One file's bytes changed, another relabelled: the dataset differs.
    shutil.copyfile(root / "fast" / "1.wav", root / "slow" / "0.wav")
    text = (root / "set.csv").read_text()
    (root / "set.csv").write_text(text.replace("fast/3.wav,fast", "fast/3.wav,slow"))
    assert main([*args, "--dataset", "set.csv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "dataset: 1 file changed, 1 relabelled" in err


def test_no_final_says_calibration_was_not_applied(tmp_path, make_wav, capsys):
    csv_path = write_dataset(tmp_path, make_wav)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(csv_path), *TINY, "--no-final", "--out",
                 str(out)]) == 0
    cal = json.loads((out / "summary.json").read_text())["calibration"]
    assert not cal["applied"] and "--no-final" in cal["note"] and "temperature" in cal
    md = (out / "summary.md").read_text()
    assert "Calibration not applied: no final model was trained (--no-final)" in md
    assert "--no-final" in capsys.readouterr().err


def test_predict_with_a_run_folder_names_the_model(own_run, capsys, monkeypatch):
    root, out, _ = own_run
    wav = root / "fast" / "0.wav"
    for model in (str(out), str(out / "final"), "run"):  # "run": a bare folder name
        assert main(["predict", str(wav), "--model", model, "--quiet"]) == 0, model
        err = capsys.readouterr().err
        assert f"heartsound: model {out / 'final' / 'model.onnx'} (fast, slow)" in err \
            or "heartsound: model run/final/model.onnx (fast, slow)" in err, err
    assert main(["predict", str(wav), "--quiet"]) == 0
    assert "heartsound: model pascal-b-light (normal, murmur, extrastole)" in \
        capsys.readouterr().err


def test_predict_names_the_model_with_its_classes(tmp_path, make_wav, capsys):
    wav = make_wav("x.wav", heart_like(8.0, 4000))
    assert main(["predict", str(wav), "--model", "pascal-a-light"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == (
        "heartsound: model pascal-a-light (normal, murmur, extrahls, artifact)")
    assert captured.out.startswith("path,label") and "prob_normal" in captured.out


def test_a_csv_that_cannot_train_is_refused_before_anything_is_written(tmp_path, make_wav,
                                                                        capsys):
    one = tmp_path / "one.csv"
    make_wav("a.wav", heart_like(4.0, 4000))
    make_wav("b.wav", heart_like(4.0, 4000, seed=1))
    make_wav("c.wav", heart_like(4.0, 4000, seed=2))
    one.write_text("path,label\na.wav,murmur\nb.wav,murmur\n")
    assert main(["train", "--dataset", str(one), *TINY, "--out", str(tmp_path / "r1")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "only one class (murmur: 2)" in err and "at least two classes" in err
    assert not (tmp_path / "r1").exists()
    few = tmp_path / "few.csv"
    few.write_text("path,label\na.wav,murmur\nb.wav,murmur\nc.wav,normal\n")
    assert main(["train", "--dataset", str(few), *TINY, "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "2-fold CV needs at least 2 recordings of every class, but normal has 1" in err
    assert not (tmp_path / "r2").exists()
    clash = tmp_path / "clash.csv"
    clash.write_text("path,label\na.wav,Murmur\nb.wav,murmur\nc.wav,murmur \n")
    assert main(["train", "--dataset", str(clash), *TINY, "--out", str(tmp_path / "r3")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "differ only in case or spaces" in err and "'Murmur' on line 2" in err
    assert not (tmp_path / "r3").exists()


def test_grouped_csv_folds_keep_groups_and_say_so(tmp_path, make_wav):
    from heartsound.training.train import run_cv

    csv_path = write_dataset(tmp_path, make_wav, groups=True)
    out = tmp_path / "run"
    summary = run_cv(str(csv_path), "light", out, folds=2, epochs=1, threads=1, quiet=True,
                     final=False)
    assert summary["folds_by"] == "2 groups (group column)"
    assert "(grouped: 2 groups (group column))" in (out / "summary.md").read_text()
    held = [{int(v["path"].split("/")[1][0]) % 2 for v in f["validation"]}
            for f in summary["folds"]]
    assert held[0].isdisjoint(held[1])  # each group p0/p1 in one fold only
    assert np.isclose(sum(f["n_val"] for f in summary["folds"]), 8)


@pytest.mark.parametrize(("args", "needle"), [
    (["--folds", "1"], "at least 2 folds"),
    (["--epochs", "0"], "at least one epoch"),
    (["--limit", "1"], "at least one recording per fold"),
    (["--folds", "50", "--limit", "20"], "at least one recording per fold"),
])
def test_train_arguments_are_checked_before_work(tmp_path, make_wav, capsys, args, needle):
    csv = write_dataset(tmp_path, make_wav)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(csv), "--threads", "1", "--quiet", *args,
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not out.exists()


def test_unusable_recordings_refuse_the_dataset_unless_skip_bad(tmp_path, make_wav, capsys):
    csv = write_dataset(tmp_path, make_wav, per_class=5)
    (tmp_path / "fast" / "4.wav").write_bytes(b"not audio at all")
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(csv), *TINY, "--no-final", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "1 unusable recording(s)" in err and "fast/4.wav" in err and "--skip-bad" in err
    assert not (out / "config.json").exists()
    assert main(["train", "--dataset", str(csv), *TINY, "--no-final", "--skip-bad",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["skipped"]) == 1 and "fast/4.wav" in summary["skipped"][0]
    assert "1 unusable recording(s) left out" in (out / "summary.md").read_text()


def test_force_discards_a_run_with_other_settings(tmp_path, make_wav, capsys):
    csv = write_dataset(tmp_path, make_wav)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(csv), *TINY, "--no-final", "--out", str(out)]) == 0
    again = ["train", "--dataset", str(csv), "--folds", "2", "--epochs", "2", "--threads", "1",
             "--quiet", "--no-final", "--out", str(out)]
    assert main(again) == 2
    assert "epochs: 1 → 2" in capsys.readouterr().err
    assert main([*again, "--force"]) == 0
    assert "discarded the old run" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["recipe"]["epochs"] == 2


def test_rescore_run_reads_the_fold_models_as_training_did(tmp_path, make_wav, monkeypatch):
    """Re-scored at the run's own hop, the stored probabilities come back; at another hop
    only the recordings longer than one window move, and the new folder reads as a run."""
    from heartsound.training.train import rescore_run, summarise

    write_dataset(tmp_path, make_wav)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "set.csv", *TINY, "--set", "eval_hop_s=2",
                 "--no-final", "--out", "run"]) == 0

    def folds(run):
        return [json.loads((run / f"fold{f}" / "metrics.json").read_text()) for f in (1, 2)]

    def probs(run):
        return {v["path"]: tuple(v["probs"]) for f in folds(run) for v in f["validation"]}

    same = rescore_run(tmp_path / "run", tmp_path / "same", 2.0)
    before = probs(tmp_path / "run")
    assert probs(tmp_path / "same").keys() == before.keys()
    assert all(np.allclose(v, before[p], atol=2e-5) for p, v in probs(tmp_path / "same").items())
    assert same["config"]["rescored_from"] == str(tmp_path / "run")
    other = rescore_run(tmp_path / "run", tmp_path / "hop1", 1.0)
    moved = {p for p, v in probs(tmp_path / "hop1").items()
             if not np.allclose(v, before[p], atol=2e-5)}
    assert moved and moved <= {"fast/3.wav", "slow/3.wav"}  # the 9-s ones: 3 windows, not 2
    assert other["config"]["recipe"]["eval_hop_s"] == 1.0
    assert other["mean"] == summarise(folds(tmp_path / "hop1"))
    assert json.loads((tmp_path / "hop1" / "summary.json").read_text())["folds"] == folds(
        tmp_path / "hop1")
