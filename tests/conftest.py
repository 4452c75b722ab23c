"""Shared fixtures: the PASCAL data beside the checkout, and small WAVs made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HEARTSOUND_DATA", ROOT.parent / "shared" / "data" / "pascal"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own feature cache (never the user's ~/.cache)."""
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "set_a").is_dir():
        pytest.skip(f"PASCAL data not found at {DATA}")
    return DATA


def heart_like(seconds: float, rate: int, bpm: float = 72.0, seed: int = 0) -> np.ndarray:
    """A crude heartbeat: 50-150 Hz bursts (S1, S2) every beat, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    beat = 60.0 / bpm
    x = np.zeros_like(t)
    for onset, freq in ((0.0, 60.0), (0.3, 110.0)):
        phase = (t - onset) % beat
        x += np.exp(-phase / 0.03) * np.sin(2 * np.pi * freq * t) * (phase < 0.12)
    return 0.5 * x + 0.01 * rng.standard_normal(t.size)


@pytest.fixture
def make_wav(tmp_path):
    """make_wav(name, signal, rate, subtype='PCM_16') -> path of a new WAV in tmp_path."""

    def _make(name: str, x: np.ndarray, rate: int = 4000, subtype: str = "PCM_16") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), x, rate, subtype=subtype)
        return path

    return _make
