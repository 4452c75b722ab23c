"""The signal-quality gate (heartsound.quality): bad inputs out, heart sounds in."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from heartsound import quality
from heartsound.quality import (
    CALIBRATED,
    DEFAULT_THRESHOLDS,
    INDEX_NAMES,
    assess,
    assess_file,
    clipping_share,
)
from heartsound.synthetic import heart_like

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
RATE = 4000


def pcm16(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, -1.0, 32767 / 32768) * 32768) / 32768


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[0] = 0
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    x = np.fft.irfft(spec, n)
    return x / x.std()


def bad(kind: str, seconds: float, rate: int, level: float, seed: int = 7) -> np.ndarray:
    """Synthetic bad inputs, written independently of the study's (other seeds, phases)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    if kind == "dc":
        x = np.full(t.size, level)
    elif kind == "tone_1k":
        x = level * np.sin(2 * np.pi * 1000 * t)
    elif kind == "tone_150":
        x = level * np.sin(2 * np.pi * 150 * t + 1.0)
    elif kind == "hum_50":
        x = level * (np.sin(2 * np.pi * 50 * t) + 0.2 * np.sin(2 * np.pi * 150 * t)) / 1.2
    elif kind == "white":
        x = level * rng.standard_normal(t.size)
    elif kind == "pink":
        x = level * pink(t.size, rng)
    elif kind == "square":
        x = np.clip(2 * level * np.sign(np.sin(2 * np.pi * 1.1 * t + 0.2)), -level, level)
    elif kind == "near_silence":
        x = level * rng.standard_normal(t.size)
    else:
        raise ValueError(kind)
    return pcm16(x)


# kind → words one of which the reason must hold
SENSIBLE = {
    "dc": ("DC",),
    "tone_1k": ("20–400 Hz",),
    "tone_150": ("tone",),
    "hum_50": ("tone", "hum"),
    "white": ("20–400 Hz", "steady noise", "periodic", "silen"),
    "pink": ("20–400 Hz", "steady noise", "periodic"),
    "square": ("clipped",),
    "near_silence": ("silen",),
}
LEVELS = {"dc": (0.02, -0.7), "tone_1k": (0.003, 0.8), "tone_150": (0.003, 0.8),
          "hum_50": (0.003, 0.8), "white": (0.002, 0.2), "pink": (0.002, 0.2),
          "square": (0.3, 1.0), "near_silence": (10 ** (-95 / 20), 10 ** (-82 / 20))}


@pytest.mark.parametrize("rate,seconds", [(4000, 3.0), (44100, 8.0), (2000, 0.9)])
@pytest.mark.parametrize("kind", sorted(SENSIBLE))
def test_every_synthetic_kind_is_unusable_with_a_sensible_reason(kind, rate, seconds):
    if kind == "tone_1k" and rate <= 2000:
        rate = 8000  # a 1 kHz tone needs more than 2 kHz sampling
    for level in LEVELS[kind]:
        v = assess(bad(kind, seconds, rate, level), rate)
        assert not v.usable, (kind, level, v)
        assert v.quality < 0.5
        assert any(word in v.reason for word in SENSIBLE[kind]), (kind, level, v.reason)


@pytest.mark.parametrize("bpm", [45.0, 72.0, 110.0, 160.0])
@pytest.mark.parametrize("rate", [2000, 4000, 44100])
def test_heart_like_signals_are_usable(bpm, rate):
    v = assess(pcm16(heart_like(8.0, rate, bpm=bpm, seed=int(bpm))), rate)
    assert v.usable, v
    assert v.reason == "" and v.failed == ()
    assert 0.5 <= v.quality <= 1.0
    assert abs(v.indices["heart_rate_bpm"] - bpm) < 0.1 * bpm  # the rough rate is right


def test_assess_file_reads_a_wav(make_wav):
    good = make_wav("heart.wav", heart_like(9.0, 44100, seed=3), rate=44100)
    v = assess_file(good)
    assert v.usable and v.indices["duration_s"] == pytest.approx(7.5, abs=1e-3)  # as read
    hum = make_wav("hum.wav", bad("hum_50", 5.0, RATE, 0.5))
    assert not assess_file(hum).usable


REAL = ["pascal/set_a/normal__201101070538.wav", "pascal/set_a/murmur__201101051104.wav",
        "pascal/set_b/normal__103_1305031931979_B.wav",
        "pascal/set_b/normal__103_1305031931979_D1.wav",
        "physionet2016/training-a/a0001.flac", "physionet2016/training-b/b0001.flac",
        "physionet2016/training-c/c0001.flac", "physionet2016/training-d/d0001.flac",
        "physionet2016/training-f/f0001.flac"]


@pytest.mark.parametrize("name", REAL)
def test_real_recordings_are_usable(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    v = assess_file(path)
    assert v.usable, v
    assert 0.5 <= v.quality <= 1.0


def test_real_artifacts_are_mostly_rejected():
    files = sorted((SHARED / "pascal" / "set_a").glob("artifact__*.wav"))[:10]
    if not files:
        pytest.skip("PASCAL set A not found")
    rejected = sum(not assess_file(f).usable for f in files)
    assert rejected >= 7  # docs/quality.md: 36 of the 40


ODD = {
    "0.5 s heart": (heart_like(0.5, RATE), RATE),
    "0.3 s heart": (heart_like(0.3, RATE), RATE),
    "0.01 s": (heart_like(0.01, RATE), RATE),
    "one sample": (np.array([0.3]), RATE),
    "empty": (np.zeros(0), RATE),
    "zeros": (np.zeros(3 * RATE), RATE),
    "quiet heart": (1e-4 * heart_like(4.0, RATE), RATE),
    "quiet 16-bit heart": (pcm16(6e-3 * heart_like(4.0, RATE)), RATE),
    "faint 16-bit heart": (pcm16(3e-4 * heart_like(4.0, RATE)), RATE),
    "44.1 kHz heart": (heart_like(3.0, 44100), 44100),
    "44.1 kHz 0.5 s": (heart_like(0.5, 44100), 44100),
    "8 kHz single click": (np.eye(1, 8000 * 2, 4000).ravel(), 8000),
    "stereo": (np.stack([heart_like(3.0, RATE), heart_like(3.0, RATE, seed=1)], axis=1), RATE),
    "int16": ((heart_like(3.0, RATE) * 20000).astype(np.int16), RATE),
    "float32 full-scale": (np.clip(5 * heart_like(3.0, RATE), -1, 1).astype(np.float32),
                           RATE),
    "NaN": (np.r_[heart_like(2.0, RATE), np.nan], RATE),
    "inf": (np.r_[np.inf, heart_like(2.0, RATE)], RATE),
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_inputs_give_finite_indices_and_a_verdict(name):
    x, rate = ODD[name]
    v = assess(x, rate)
    assert set(v.indices) == set(INDEX_NAMES)
    assert all(math.isfinite(val) for val in v.indices.values()), v.indices
    assert 0.0 <= v.quality <= 1.0
    assert v.usable == (v.quality >= 0.5)
    assert v.usable == (v.reason == "")


def test_odd_inputs_fail_for_the_right_reason():
    assert "too short" in assess(heart_like(0.3, RATE), RATE).reason
    assert "two cycles" in assess(heart_like(0.5, RATE), RATE).reason
    assert "NaN" in assess(ODD["NaN"][0], RATE).reason
    assert "silence" in assess(np.zeros(3 * RATE), RATE).reason
    assert assess(*ODD["int16"]).usable  # PCM integers are scaled, not read as clipped
    assert assess(*ODD["stereo"]).usable
    assert assess(*ODD["44.1 kHz heart"]).usable
    assert assess(*ODD["quiet 16-bit heart"]).usable  # -50 dBFS peak: quiet, not silent
    assert "near-silent" in assess(*ODD["faint 16-bit heart"]).reason  # -76 dBFS peak


def clipped_heart(share: float) -> np.ndarray:
    """A heart-like signal overdriven until about ``share`` of its samples sit at ±1."""
    x = heart_like(7.0, RATE, seed=3)
    lo, hi = 1.0, 1000.0
    for _ in range(40):  # bisect the gain
        gain = math.sqrt(lo * hi)
        if clipping_share(np.clip(gain * x, -1, 1), RATE) < share:
            lo = gain
        else:
            hi = gain
    return np.clip(hi * x, -1.0, 1.0)


def test_twelve_percent_clipped_is_rejected_as_clipped():
    x = clipped_heart(0.12)
    assert clipping_share(x, RATE) == pytest.approx(0.12, abs=0.01)
    v = assess(x, RATE)
    assert not v.usable
    assert "clipped" in v.reason and "12 %" in v.reason
    assert "clipped" in v.failed


def test_clipping_is_monotonic_in_the_share():
    shares = [0.0, 0.002, 0.005, 0.02, 0.05, 0.12, 0.2]
    verdicts = [assess(clipped_heart(s) if s else heart_like(7.0, RATE, seed=3), RATE)
                for s in shares]
    usable = [v.usable for v in verdicts]
    assert usable[0] and not usable[-1]
    assert usable == sorted(usable, reverse=True)  # once rejected, rejected for more
    scores = [quality.index_score("clipped", v.indices["clipped"],
                                  DEFAULT_THRESHOLDS.clipped_max) for v in verdicts]
    assert scores == sorted(scores, reverse=True)


def test_a_smooth_low_tone_is_not_read_as_clipped():
    for rate in (4000, 44100):
        for f in (50.0, 150.0):
            t = np.arange(3 * rate) / rate
            assert clipping_share(pcm16(0.9 * np.sin(2 * np.pi * f * t)), rate) == 0.0


@pytest.mark.parametrize("name", CALIBRATED)
def test_each_threshold_flips_the_verdict_at_the_index_value(name):
    """Moving one threshold across a usable recording's index value turns it unusable there
    (and only there): the thresholds are applied, and applied in the right direction."""
    ix = assess(heart_like(8.0, RATE, seed=5), RATE).indices
    field = {"clipped": "clipped_max", "band_ratio": "band_ratio_min",
             "kurtosis": "kurtosis_min", "envelope_cv": "envelope_cv_min",
             "periodicity": "periodicity_min"}[name]
    value = ix[name]
    step = max(1e-6, 1e-3 * abs(value))
    passing = value + step if name == "clipped" else value - step
    failing = value - step if name == "clipped" else value + step
    if name == "clipped":
        ix = dict(ix, clipped=0.005)  # a clean signal has none: give it some to cross
        value, passing, failing = 0.005, 0.006, 0.004
    ok = quality.verdict(ix, dataclasses.replace(DEFAULT_THRESHOLDS, **{field: passing}))
    bad_ = quality.verdict(ix, dataclasses.replace(DEFAULT_THRESHOLDS, **{field: failing}))
    assert ok.usable, ok
    assert not bad_.usable and bad_.failed == (name,)
    assert bad_.quality < 0.5 <= ok.quality


def test_quality_falls_as_a_signal_drowns_in_noise():
    rng = np.random.default_rng(0)
    x = heart_like(8.0, RATE, seed=2, noise=0.0)
    q = [assess(x + s * rng.standard_normal(x.size), RATE).quality
         for s in (0.0, 0.05, 0.2, 1.0)]
    assert q[0] >= 0.5 > q[-1]
    assert q == sorted(q, reverse=True)


def test_the_runtime_module_imports_no_scipy():
    tree = ast.parse(Path(quality.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m.startswith(("scipy", "heartsound.training", "heartsound.research"))
                   for m in names), names


def test_docs_hold_the_shipped_thresholds():
    doc = ROOT / "docs" / "quality.md"
    if not doc.is_file():
        pytest.skip("docs/quality.md not generated")
    text = doc.read_text()
    for name in ("clipped_max", "band_ratio_min", "kurtosis_min", "envelope_cv_min",
                 "periodicity_min"):
        assert f"{name}={getattr(DEFAULT_THRESHOLDS, name)!r}" in text, name
    assert "differ from these" not in text


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000, 2000])
def test_offset_correction_from_the_edges_equals_the_whole(rate):
    """The gate's offset correction (quality._constant_response) from a short constant with
    the same length modulo the resampler's period equals bandpass(resample(ones(n))) to soxr's
    float32 rounding, for lengths that are and are not whole periods."""
    from heartsound.audio import bandpass, resample
    from heartsound.config import DEFAULT

    for n in (int(7.5 * rate), int(7.5 * rate) - 17, int(5.3 * rate) + 3, int(1.2 * rate)):
        whole = bandpass(resample(np.ones(n), rate, DEFAULT.sample_rate), DEFAULT)
        edges = quality._constant_response(n, rate, DEFAULT, whole.size)
        assert edges.shape == whole.shape
        assert np.abs(edges - whole).max() < 1e-6, (rate, n)
        assert np.abs(whole).max() > 0.3  # the transients are there to be corrected


def test_band_indices_do_not_depend_on_the_length_s_factors():
    """The gate's FFT is zero-padded to a power of two (quality.fft_length): a recording one
    sample longer, whose length is prime, gets the same indices within the padding's edge
    ripple, and its envelope covers exactly its own span."""
    assert [quality.fft_length(n) for n in (2, 3, 4096, 4097, 24989)] == [2, 4, 4096, 8192,
                                                                           32768]
    y = heart_like(6.5, RATE, bpm=75, seed=3)[:24988]
    a = quality.band_indices(y, RATE)
    b = quality.band_indices(np.concatenate((y, [0.0])), RATE)  # 24989: a prime
    for name in ("band_ratio", "kurtosis", "envelope_cv", "periodicity"):
        assert a[name] == pytest.approx(b[name], rel=2e-3, abs=1e-3), name
    assert a["heart_rate_bpm"] == pytest.approx(75, rel=0.05)
    env = quality.envelope(y, RATE)
    assert env.size == (y.size // 4) // (RATE // 4 // quality.ENVELOPE_RATE)
