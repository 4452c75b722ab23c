"""predict's inputs and outputs: checked before the work, quoted CSV, every audio container,
the quality gate's answers, and evaluate reading them."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import soundfile as sf
from conftest import heart_like

from heartsound.cli import main
from heartsound.metrics import pascal_scores


def one_line_error(capsys, needle):
    err = capsys.readouterr().err.strip().splitlines()
    errors = [e for e in err if "error:" in e]
    assert len(errors) == 1 and needle in errors[0], err
    assert "Traceback" not in "\n".join(err)


def test_out_is_checked_before_the_work(tmp_path, make_wav, capsys):
    wav = make_wav("rec.wav", heart_like(8.0, 4000))
    (tmp_path / "file").write_text("x")
    for out, needle in [(tmp_path, "is a folder"), (tmp_path / "file" / "p.csv", "is a file"),
                        (wav, "also an input")]:
        assert main(["predict", str(wav), "--out", str(out)]) == 2
        one_line_error(capsys, needle)
    assert sf.info(str(wav)).frames == 32000  # the recording is untouched
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert main(["predict", str(wav), "--out", str(fifo)]) == 2
    one_line_error(capsys, "FIFO")


def test_stdout_csv_is_quoted(tmp_path, make_wav, capsys):
    wav = make_wav("a, b\nc.wav", heart_like(8.0, 4000))
    assert main(["predict", str(wav), "--no-quality-gate"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["path"] for r in rows] == [str(wav)]


def test_folders_yield_every_audio_container(tmp_path, capsys):
    x = heart_like(8.0, 4000)
    for name, fmt in [("a.wav", "WAV"), ("b.flac", "FLAC"), ("c.aiff", "AIFF"),
                      ("d.ogg", "OGG")]:
        sf.write(tmp_path / name, x, 4000, format=fmt)
    (tmp_path / "notes.txt").write_text("not audio")
    assert main(["predict", str(tmp_path), "--no-quality-gate"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(os.path.basename(r["path"]) for r in rows) == ["a.wav", "b.flac", "c.aiff",
                                                                 "d.ogg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", str(empty)]) == 2
    one_line_error(capsys, "no sound files found")
    assert main(["features", str(empty), "--out", str(tmp_path / "f")]) == 2


def test_gate_answers_unusable_with_a_reason(tmp_path, make_wav, capsys):
    t = np.arange(8 * 4000) / 4000
    tone = make_wav("tone.wav", 0.3 * np.sin(2 * np.pi * 1000 * t))
    heart = make_wav("heart.wav", heart_like(8.0, 4000))
    assert main(["predict", str(tone), str(heart)]) == 0  # an answer, not an error
    rows = {os.path.basename(r["path"]): r
            for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["tone.wav"]["label"] == "unusable" and rows["tone.wav"]["reason"]
    assert rows["tone.wav"]["prob_normal"] == ""
    assert 0 <= float(rows["tone.wav"]["quality"]) < 0.5
    assert main(["predict", str(tone), "--no-quality-gate"]) == 0
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["label"] != "unusable" and row["quality"] == "" and row["prob_normal"]


def test_evaluate_counts_abstentions_as_not_correct(tmp_path, capsys):
    truth = ["normal", "murmur", "extrastole", "normal"]
    s = pascal_scores(truth, ["normal", "unusable", "extrastole", "uncertain"], "b")
    assert s["accuracy"] == 0.5 and s["abstained"] == 2
    assert s["precision_normal"] == 1.0 and s["heartproblem_sensitivity"] == 0.5
    labels = tmp_path / "l.csv"
    labels.write_text("path,label\n" + "".join(f"{i}.wav,{t}\n" for i, t in enumerate(truth)))
    preds = tmp_path / "p.csv"
    preds.write_text("path,label\n0.wav,normal\n1.wav,unusable\n2.wav,extrastole\n"
                     "3.wav,uncertain\n")
    assert main(["evaluate", "--predictions", str(preds), "--labels", str(labels),
                 "--dataset", "b"]) == 0
    assert "abstained" in capsys.readouterr().out
