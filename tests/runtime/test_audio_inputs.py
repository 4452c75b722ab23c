"""Every kind of bad input is named in one line; odd but real recordings still load."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from conftest import heart_like

from heartsound.audio import AudioError, load

FORMATS = [("AIFF", "aif", "PCM_16"), ("FLAC", "flac", "PCM_16"), ("RF64", "wav", "PCM_16"),
           ("W64", "w64", "PCM_16"), ("AU", "au", "PCM_16"), ("OGG", "ogg", "VORBIS"),
           ("WAV", "wav", "PCM_16"), ("WAVEX", "wav", "FLOAT"), ("CAF", "caf", "PCM_16")]


@pytest.mark.parametrize(("fmt", "ext", "subtype"), FORMATS)
@pytest.mark.parametrize("keep", [0.66, 0.9])
def test_truncation_is_caught_in_every_container(tmp_path, fmt, ext, subtype, keep):
    whole = tmp_path / f"whole.{ext}"
    sf.write(whole, heart_like(8.0, 4000).astype(np.float32), 4000, format=fmt,
             subtype=subtype)
    x, rate = load(whole)
    assert rate == 4000 and x.size == 32000
    raw = whole.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(AudioError) as exc:
        load(cut)
    assert str(cut) in str(exc.value)
    assert "truncated" in exc.value.reason or "not a readable" in exc.value.reason


def test_fifo_symlink_loop_broken_link_and_folder_are_named(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    broken = tmp_path / "broken.wav"
    broken.symlink_to(tmp_path / "nowhere.wav")
    cases = {fifo: "FIFO", loop: "symbolic link loop", broken: "broken symbolic link",
             tmp_path: "directory", tmp_path / "missing.wav": "no such file"}
    for path, needle in cases.items():
        with pytest.raises(AudioError, match=needle):
            load(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_one_line(tmp_path, make_wav):
    wav = make_wav("locked.wav", heart_like(2.0, 4000))
    wav.chmod(0)
    with pytest.raises(AudioError, match="permission denied"):
        load(wav)


def test_a_tiny_sample_rate_in_the_header_is_refused(tmp_path):
    path = tmp_path / "slow.wav"
    sf.write(path, np.zeros(100) + 0.1, 3)
    with pytest.raises(AudioError, match="sample rate 3 Hz"):
        load(path)


def test_a_file_name_that_is_not_utf8_loads(tmp_path):
    name = os.fsdecode(b"caf\xe9.wav")  # Latin-1 bytes on a UTF-8 file system
    path = tmp_path / name
    sf.write(os.fsencode(path), heart_like(2.0, 4000), 4000)
    x, rate = load(path)
    assert rate == 4000 and x.size == 8000


def test_leading_silence_is_skipped_not_refused(tmp_path):
    beats = heart_like(8.0, 4000)
    path = tmp_path / "pause.wav"
    sf.write(path, np.concatenate([np.zeros(8 * 4000), beats]), 4000, subtype="FLOAT")
    x, _ = load(path, max_seconds=7.5)
    assert x.size == 30000 and np.abs(x).max() > 0.1
    np.testing.assert_allclose(x[:1000], beats[:1000].astype(np.float32), atol=1e-6)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(12 * 4000), 4000)
    x, _ = load(silent, max_seconds=7.5)
    assert x.size == 30000 and not x.any()
