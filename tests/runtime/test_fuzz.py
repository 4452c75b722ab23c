"""Property-based: whatever bytes a WAV or FLAC file holds, predict never raises a traceback,
exits 0 or 2, and still writes the good files of the same batch."""

from __future__ import annotations

import csv
import io
import struct

import numpy as np
import pytest
import soundfile as sf
from conftest import heart_like
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartsound.cli import main


def encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, heart_like(2.0, 4000), 4000, format=fmt, subtype="PCM_16")
    return buf.getvalue()


WAV, FLAC = encoded("WAV"), encoded("FLAC")


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A real file with some of: bytes overwritten, a header field set, the end cut off."""
    raw = bytearray(draw(st.sampled_from([WAV, FLAC])))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, min(len(raw) - 1, 80)))  # mostly the header
        raw[at] = draw(st.integers(0, 255))
    if raw[:4] == b"RIFF" and draw(st.booleans()):
        field = draw(st.sampled_from([(22, "<H"), (24, "<I"), (34, "<H"), (40, "<I")]))
        value = draw(st.integers(0, 2 ** (8 * struct.calcsize(field[1])) - 1))
        raw[field[0]:field[0] + struct.calcsize(field[1])] = struct.pack(field[1], value)
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return bytes(raw)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    paths = []
    for i in range(2):
        path = folder / f"good{i}.wav"
        sf.write(path, heart_like(8.0, 4000, seed=i), 4000)
        paths.append(path)
    return paths


@pytest.mark.slow  # make test-fast leaves it to make test
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=damaged(), suffix=st.sampled_from([".wav", ".flac"]))
def test_damaged_files_never_break_the_batch(tmp_path_factory, good, data, suffix):
    folder = tmp_path_factory.mktemp("fuzz")
    bad = folder / f"bad{suffix}"
    bad.write_bytes(data)
    out = folder / "preds.csv"
    rc = main(["predict", str(good[0]), str(bad), str(good[1]), "--out", str(out),
               "--no-quality-gate"])
    assert rc in (0, 2)
    with out.open() as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    for path in good:
        assert rows[str(path)]["label"] in ("normal", "murmur", "extrastole")
    if str(bad) in rows:  # read as a recording: a real answer, finite probabilities
        probs = [float(rows[str(bad)][k]) for k in rows[str(bad)] if k.startswith("prob_")]
        assert np.isfinite(probs).all()
