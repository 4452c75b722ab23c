"""The feature cache never crashes a run and never serves a bad entry."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import heart_like

from heartsound.config import DEFAULT
from heartsound.features import cached_features, features


@pytest.fixture
def wav(make_wav):
    return make_wav("rec.wav", heart_like(8.0, 4000))


def entry_of(cache):
    entries = list(cache.rglob("*.npz"))
    assert len(entries) == 1
    return entries[0]


@pytest.mark.parametrize("damage", ["empty", "flipped", "nan", "shape"])
def test_bad_entries_are_recomputed(tmp_path, wav, damage):
    cache = tmp_path / "cache"
    good = cached_features(wav, cache_dir=cache)
    entry = entry_of(cache)
    if damage == "empty":
        entry.write_bytes(b"")
    elif damage == "flipped":
        raw = bytearray(entry.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        entry.write_bytes(bytes(raw))
    else:
        bad = good.copy()
        if damage == "nan":
            bad[3, 3] = np.nan
        else:
            bad = bad[:10]
        np.savez(entry.open("wb"), map=bad, sha256=np.zeros(32, np.uint8))
    again = cached_features(wav, cache_dir=cache)
    np.testing.assert_array_equal(again, good)
    np.testing.assert_array_equal(cached_features(wav, cache_dir=cache), good)  # rewritten


def test_unusable_cache_folder_warns_once_and_goes_on(tmp_path, wav, capsys):
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    for _ in range(2):
        np.testing.assert_array_equal(cached_features(wav, cache_dir=blocker),
                                      features(wav, DEFAULT))
    err = capsys.readouterr().err
    assert err.count("not usable") == 1 and str(blocker) in err
