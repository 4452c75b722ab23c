"""Shared fixtures: the PASCAL data beside the checkout, and small WAVs made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from heartsound.synthetic import heart_like  # noqa: F401  (tests import it from here)

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


@pytest.fixture
def make_wav(tmp_path):
    """make_wav(name, signal, rate, subtype='PCM_16') -> path of a new WAV in tmp_path."""

    def _make(name: str, x: np.ndarray, rate: int = 4000, subtype: str = "PCM_16") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), x, rate, subtype=subtype)
        return path

    return _make
