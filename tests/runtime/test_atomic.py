"""Outputs are written atomically and only ever replace a regular file."""

from __future__ import annotations

import os

import pytest

from heartsound.atomic import OutputError, check_output, write_text


def test_write_is_atomic_and_flushed(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    assert write_text(target, "a") == target
    assert target.read_text() == "a"
    write_text(target, "b")
    assert target.read_text() == "b"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]  # no temp file left


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


@pytest.mark.parametrize("kind", ["fifo", "folder", "under-a-file", "device"])
def test_non_regular_outputs_are_refused(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif kind == "folder":
        path = tmp_path
    elif kind == "device":
        path = tmp_path / "null"
        path.symlink_to("/dev/null")
    else:
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "out.csv"
    with pytest.raises(OutputError) as exc:
        write_text(path, "x")
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    if kind == "device":
        assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_output_equal_to_an_input_is_refused(tmp_path):
    wav = tmp_path / "rec.wav"
    wav.write_bytes(b"RIFF")
    with pytest.raises(OutputError, match="also an input"):
        check_output(wav, [wav])
    check_output(tmp_path / "other.csv", [wav])  # a new file is fine
