"""Signal quality: is a recording a usable heart sound, before anyone classifies it?

A classifier answers for every input, a tone, a hum or a pocket rustle included. This module
computes a few signal-quality indices (SQIs) of one recording and a verdict: ``usable``, or
not with a short reason ("clipped: 12 % of samples", "no periodic heart sounds", ...).
Pure functions in librosa style (arrays in, numbers out, defaults written down); numpy only
(``numpy.fft``; no scipy.signal / scipy.stats, which are slow to import).

The indices (:data:`INDEX_NAMES`). On the raw recording, before any filtering (its first
``read_seconds``, 7.5 s: the part the classifier reads):

- ``duration_s``: length assessed; under the front end's 0.5 s is "too short".
- ``dc_ratio``: ``|mean(x)| / rms(x - mean(x))``. Above 100 (the offset 40 dB above all
  else) the recording is a "constant offset (DC)".
- ``ac_peak_dbfs``: ``20·log10 max|x - mean(x)|`` (dB re 1.0). Below the front end's
  ``silence_dbfs`` (-90 dBFS) it is digital silence.
- ``clipped``: share of samples on a rail: ``x >= (1 - tolerance)·max(x)`` or
  ``x <= (1 - tolerance)·min(x)`` (``tolerance`` 0.1 %), or ``|x| >= 1``, in runs of at
  least ``min_run`` (3) consecutive samples. Counted on every k-th sample, k =
  ``ceil(sample_rate / 4000)``, so that the rounded peak of a low tone sampled at 44.1 kHz
  is no "run"; rails nearer zero than ``min_rail`` (0.01, -40 dBFS) are not assessed (at a
  few dozen quantisation steps every peak is a plateau). The usual clipping detector: runs
  of samples at the extremes.

On ``y``, the front end's 4-kHz band-limited signal (:func:`heartsound.audio.resample`, then
:func:`heartsound.audio.bandpass`, 20-1800 Hz; neither tiled nor cut, since tiling would make
a short recording periodic at its own length):

- ``level_dbfs``: ``20·log10 rms(y)``. Below -70 dBFS (about 10 quantisation steps of 16-bit
  audio) the recording is near-silent.
- ``band_ratio``: share of the energy of ``y`` in 20-400 Hz (``band``), by Parseval from
  one real FFT ``Y`` (of ``y`` zero-padded to the next power of two: :func:`fft_length`):
  ``sum_{20 <= f <= 400} |Y(f)|² / sum_f |Y(f)|²``. Heart sounds live
  below ~400 Hz; a 1 kHz tone or hiss does not (the spectral-ratio SQI of Springer et al.,
  2016).
- ``kurtosis``: Pearson's ``m4 / m2²`` of ``y`` (normal noise: 3; a sine: 1.5; a square
  wave: 1). Heart sounds are bursts over a quiet diastole: kurtosis well above 3 (the
  kurtosis SQI of Springer et al., 2016; the kSQI of Li, Mark & Clifford, 2008, for the
  ECG).
- ``envelope_cv``: ``std(e) / mean(e)`` of the envelope ``e``: ``y`` band-limited to
  ``band`` (a mask on the same FFT; the padding cut off again), rectified and averaged over
  blocks of ``sample_rate / envelope_rate`` samples: a moving average and a decimation to 50 Hz in
  one step (a Hilbert-free envelope). A tone or hum has a flat envelope; noise a nearly
  flat one.
- ``periodicity``: the autocorrelation peak of ``e``: the highest local maximum, over lags
  of 60/200 to 60/30 s (200-30 bpm) that leave at least one lag of overlap, of the Pearson
  correlation between ``e[:-k]`` and ``e[k:]`` (the homomorphic-envelope autocorrelation SQI
  of Springer et al., 2016; cf. pyPCG's signal-quality indices). White or pink noise has no
  periodic peak; a lag range's edge is no peak (a slowly drifting envelope is not periodic).
- ``heart_rate_bpm`` (information only, rough): ``60 / lag`` at the shortest lag whose
  local maximum reaches 85 % of that peak; 0 without a peak.

A recording is ``unusable`` as soon as one check fails (:class:`QualityThresholds`). The
fixed checks (too short, DC, digital silence, near-silence) name the reason first;
otherwise the reason is that of the failed calibrated check (clipped, band ratio, kurtosis,
envelope, periodicity) whose score is lowest, the first in that order on a near-tie. Each
calibrated index has a score: 0.5 exactly at its threshold, rising linearly to 1 at its
"good" anchor, falling linearly to 0 at its "bad" anchor (:data:`ANCHORS`). ``quality`` is
the lowest score, 0 when a fixed check fails: ``usable`` ⇔ ``quality >= 0.5``.

:data:`DEFAULT_THRESHOLDS` comes from ``python -m heartsound.research.quality_study``, which
calibrates on real PASCAL and PhysioNet 2016 recordings against synthetic bad inputs and
writes ``docs/quality.md``.

References: D. B. Springer, T. Brennan, N. Ntusi et al., "Automated signal quality
assessment of mobile phone-recorded heart sound signals", J. Med. Eng. Technol. 40(7-8),
342-355, 2016. Q. Li, R. G. Mark, G. D. Clifford, "Robust heart rate estimation from
multiple asynchronous noisy sources using signal quality indices and a Kalman filter",
Physiol. Meas. 29(1), 15-32, 2008. K. Müller et al., "pyPCG: a Python toolbox specialized
for phonocardiography analysis", 2024.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from heartsound.config import FrontEndConfig, resolve

INDEX_NAMES = ("duration_s", "dc_ratio", "ac_peak_dbfs", "clipped", "level_dbfs",
               "band_ratio", "kurtosis", "envelope_cv", "periodicity", "heart_rate_bpm")
CALIBRATED = ("clipped", "band_ratio", "kurtosis", "envelope_cv", "periodicity")

BAND_HZ = (20.0, 400.0)  # heart-sound band: band_ratio and the envelope
ENVELOPE_RATE = 50  # Hz: the envelope's sample rate (blocks of 80 samples at 4 kHz)
BPM_RANGE = (30.0, 200.0)  # heart rates whose cycle the periodicity search covers
DC_MAX = 1e9  # dc_ratio of a constant non-zero signal (finite: verdicts stay JSON-able)
FLOOR_DBFS = -300.0  # ac_peak_dbfs / level_dbfs of a constant or empty signal
CYCLE_SHARE = 0.85  # heart_rate_bpm: the shortest lag whose peak is this near the highest
TIE = 0.05  # scores this close count as a tie when naming the reason
MIN_BAND_SAMPLES = 256  # 64 ms at 4 kHz: shorter input gets no band-limited indices (zeros)


@dataclass(frozen=True)
class QualityThresholds:
    """Where each index turns a recording unusable.

    The first five are calibrated by :mod:`heartsound.research.quality_study` (see
    ``docs/quality.md``); the last four are fixed by definition.
    """

    clipped_max: float  # share of samples on a rail
    band_ratio_min: float  # share of the 20-1800 Hz energy in 20-400 Hz
    kurtosis_min: float  # m4 / m2² of the band-limited signal
    envelope_cv_min: float  # std / mean of the 50-Hz envelope
    periodicity_min: float  # envelope autocorrelation peak, 30-200 bpm
    level_min_dbfs: float = -70.0  # band-limited rms: ~10 steps of 16-bit audio
    dc_ratio_max: float = 100.0  # |mean| / AC rms: the offset 40 dB above everything else
    silence_dbfs: float = -90.0  # AC peak: the front end's digital silence
    min_duration_s: float = 0.5  # the front end's shortest input


# Calibrated by `python -m heartsound.research.quality_study` (docs/quality.md).
DEFAULT_THRESHOLDS = QualityThresholds(clipped_max=0.01, band_ratio_min=0.731,
                                        kurtosis_min=2.92, envelope_cv_min=0.45,
                                        periodicity_min=0.152)

# (bad, good) anchors of the score of each calibrated index (score 0 at bad, 0.5 at the
# threshold, 1 at good). Bad: what the archetypal bad input gives: 20 % of samples clipped,
# all energy outside the band, a sine's kurtosis (1.5), a flat envelope, no periodicity.
# Good: about the median of the real recordings in docs/quality.md.
ANCHORS: dict[str, tuple[float, float]] = {
    "clipped": (0.2, 0.0),
    "band_ratio": (0.0, 0.95),
    "kurtosis": (1.5, 15.0),
    "envelope_cv": (0.0, 1.0),
    "periodicity": (0.0, 0.5),
}


@dataclass(frozen=True)
class QualityVerdict:
    """``usable``; ``quality`` in [0, 1] (>= 0.5 iff usable); ``reason``: one short line,
    "" when usable; ``indices``: name → finite float (:data:`INDEX_NAMES`); ``failed``: the
    names of every failed check."""

    usable: bool
    quality: float
    reason: str
    indices: dict[str, float] = field(default_factory=dict)
    failed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------- raw-signal indices

def dc_ratio(x: np.ndarray) -> float:
    """``|mean(x)| / rms(x - mean(x))``: 0 for a zero-mean or empty signal, ``DC_MAX`` (1e9)
    at most (a constant non-zero signal)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return 0.0
    mean = float(x.mean())
    if mean == 0.0:
        return 0.0
    d = x - mean
    np.multiply(d, d, out=d)  # in place: one temporary of the recording's size, not two
    rms = float(np.sqrt(np.mean(d)))
    return DC_MAX if rms * DC_MAX <= abs(mean) else abs(mean) / rms


def ac_peak_dbfs(x: np.ndarray) -> float:
    """``20·log10 max|x - mean(x)|`` (dB re 1.0); ``FLOOR_DBFS`` (-300) if constant."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return FLOOR_DBFS
    # max|x - m| from max(x) and min(x): rounding is monotonic, so the same float without
    # two temporaries of the recording's size
    mean = float(x.mean())
    peak = max(float(x.max()) - mean, mean - float(x.min()))
    return max(FLOOR_DBFS, 20.0 * math.log10(peak)) if peak > 0 else FLOOR_DBFS


def clipping_share(x: np.ndarray, sample_rate: int, tolerance: float = 1e-3,
                   min_run: int = 3, min_rail: float = 0.01, max_rate: int = 4000) -> float:
    """Share of samples on a rail, in [0, 1] (see the module docstring).

    ``x`` is taken every ``ceil(sample_rate / max_rate)``-th sample. A sample is on a rail
    if ``|x| >= 1``, or ``x >= (1 - tolerance)·max(x)`` with ``max(x) >= min_rail``, or
    ``x <= (1 - tolerance)·min(x)`` with ``min(x) <= -min_rail``; only runs of ``min_run``
    or more consecutive rail samples count.
    """
    x = np.asarray(x)[:: max(1, -(-int(sample_rate) // int(max_rate)))]
    if x.size < min_run:
        return 0.0
    hi, lo = float(x.max()), float(x.min())
    top = min(1.0, (1.0 - tolerance) * hi) if hi >= min_rail else 1.0
    bottom = max(-1.0, (1.0 - tolerance) * lo) if lo <= -min_rail else -1.0
    rail = (x >= top) | (x <= bottom)
    if np.count_nonzero(rail) < min_run:
        return 0.0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], rail.view(np.int8), [0]))))
    lengths = edges[1::2] - edges[0::2]  # lengths of the runs of rail samples
    return float(lengths[lengths >= min_run].sum() / x.size)


# -------------------------------------------------------------- band-limited indices

def level_dbfs(y: np.ndarray) -> float:
    """``20·log10 rms(y)`` (dB re 1.0); ``FLOOR_DBFS`` (-300) for silence."""
    y = np.asarray(y, dtype=np.float64)
    ms = float(np.mean(y * y)) if y.size else 0.0
    return max(FLOOR_DBFS, 10.0 * math.log10(ms)) if ms > 0 else FLOOR_DBFS


def kurtosis(y: np.ndarray) -> float:
    """Pearson's kurtosis ``m4 / m2²`` (normal noise: 3); 0 for a constant or empty
    signal."""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return 0.0
    d2 = (y - y.mean()) ** 2
    m2 = float(d2.mean())
    if not m2 > 0.0:
        return 0.0
    return float(np.mean(d2 * d2) / (m2 * m2))


def fft_length(n: int) -> int:
    """The gate's transform length for an ``n``-sample signal: the next power of two.

    A recording may have any length, and a length with a large prime factor costs numpy's
    FFT (and the page's, quality.js, Bluestein's) about ten times a power of two. Zero
    padding changes neither the energy nor the envelope over the signal's own span beyond
    the mask's edge ripple (the thresholds were recalibrated with it: docs/quality.md).
    """
    return 1 << max(1, (n - 1).bit_length())


def _spectrum(y: np.ndarray) -> np.ndarray:
    """``rfft`` of ``y - mean(y)`` zero-padded to :func:`fft_length`."""
    return np.fft.rfft(y - y.mean(), fft_length(y.size))


def _bins(n: int, sample_rate: int, band: tuple[float, float]) -> slice:
    """The rfft bins of an ``n``-point signal with ``band[0] <= f <= band[1]``."""
    return slice(math.ceil(band[0] * n / sample_rate),
                 min(n // 2, math.floor(band[1] * n / sample_rate)) + 1)


def _band_ratio(spec: np.ndarray, sample_rate: int, band: tuple[float, float]) -> float:
    # spec: a _spectrum, so its transform length is even: 2·(bins - 1)
    power = spec.real ** 2 + spec.imag ** 2
    total = float(power.sum())
    if not total > 0.0:
        return 0.0
    return float(power[_bins(2 * (spec.size - 1), sample_rate, band)].sum() / total)


def _envelope(spec: np.ndarray, n: int, sample_rate: int, band: tuple[float, float],
              rate: int) -> np.ndarray:
    # spec: the n-sample signal's _spectrum (2·(bins - 1) points). The band-limited signal
    # is rebuilt at a quarter of 4 kHz (any rate above 2·band[1] holds it): k-fold fewer
    # samples to transform, rectify and average; only the signal's own span is kept.
    n_fft = 2 * (spec.size - 1)
    k = max(1, int(sample_rate // (2.5 * band[1])))
    m = n_fft // k
    sub = np.zeros(m // 2 + 1, dtype=spec.dtype)
    b = _bins(n_fft, sample_rate, band)
    stop = min(b.stop, sub.size)
    sub[b.start:stop] = spec[b.start:stop]
    h = np.abs(np.fft.irfft(sub, m)[: n // k])
    block = max(1, round(sample_rate / k / rate))
    blocks = (n // k) // block
    return h[: blocks * block].reshape(blocks, block).mean(axis=1) * (m / n_fft)


def band_energy_ratio(y: np.ndarray, sample_rate: int, band: tuple[float, float] = BAND_HZ
                      ) -> float:
    """Share of the (DC-removed) energy of ``y`` between ``band[0]`` and ``band[1]`` Hz."""
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2:
        return 0.0
    return _band_ratio(_spectrum(y), sample_rate, band)


def envelope(y: np.ndarray, sample_rate: int, band: tuple[float, float] = BAND_HZ,
             rate: int = ENVELOPE_RATE) -> np.ndarray:
    """Envelope of ``y`` at ``rate`` Hz: ``y`` limited to ``band`` by an FFT mask (and
    rebuilt at a lower rate that still holds the band: ``sample_rate / k`` for the largest
    integer ``k <= sample_rate / (2.5·band[1])``), rectified, averaged over blocks of
    ``1 / rate`` s (a last partial block is dropped)."""
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2:
        return np.zeros(0)
    return _envelope(_spectrum(y), y.size, sample_rate, band, rate)


def envelope_cv(env: np.ndarray) -> float:
    """``std(env) / mean(env)``; 0 for an empty or all-zero envelope."""
    env = np.asarray(env, dtype=np.float64)
    mean = float(env.mean()) if env.size else 0.0
    return float(env.std() / mean) if mean > 0 else 0.0


def lagged_correlations(env: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``env[:n-k]`` with ``env[k:]`` for each lag ``k`` (0 where
    either part is constant). All lags at once: one FFT autocorrelation and cumulative sums.
    """
    e = np.asarray(env, dtype=np.float64)
    n = e.size
    e = e - e.mean()
    nfft = 1 << max(1, (2 * n - 1).bit_length())
    f = np.fft.rfft(e, nfft)
    cross = np.fft.irfft(f.real ** 2 + f.imag ** 2, nfft)[lags]  # sum_t e[t]·e[t+k]
    c1 = np.concatenate(([0.0], np.cumsum(e)))
    c2 = np.concatenate(([0.0], np.cumsum(e * e)))
    m = n - lags  # overlap
    sa, sb = c1[m], c1[n] - c1[lags]  # sums of env[:n-k], env[k:]
    va = np.maximum(c2[m] - sa * sa / m, 0.0)
    vb = np.maximum(c2[n] - c2[lags] - sb * sb / m, 0.0)
    denom = np.sqrt(va * vb)
    ok = denom > 1e-12 * max(float(c2[n]), 1e-300)
    r = np.zeros(lags.size)
    r[ok] = (cross[ok] - sa[ok] * sb[ok] / m[ok]) / denom[ok]
    return np.clip(r, -1.0, 1.0)


def envelope_periodicity(env: np.ndarray, rate: int = ENVELOPE_RATE,
                         bpm_range: tuple[float, float] = BPM_RANGE) -> tuple[float, float]:
    """(autocorrelation peak of ``env``, ``60 / lag`` at the peak in bpm).

    The peak is the highest local maximum of :func:`lagged_correlations` over lags ``k`` of
    ``60/bpm_range[1]`` to ``60/bpm_range[0]`` s with ``n - k >= k``; (0, 0) when there is
    none (too short an envelope, a monotonic autocorrelation, a flat envelope). The lag
    reported is the shortest whose peak reaches ``CYCLE_SHARE`` (85 %) of the highest, since
    two or three cycles correlate about as well as one (a rough rate, for information).
    """
    n = np.asarray(env).size
    lo = max(1, math.ceil(60.0 / bpm_range[1] * rate))
    hi = min(math.floor(60.0 / bpm_range[0] * rate), n // 2)
    if hi < lo:
        return 0.0, 0.0
    lags = np.arange(lo - 1, hi + 2)  # one lag either side, to tell a peak from an edge
    r = lagged_correlations(env, lags)
    mid = r[1:-1]
    peak = (mid >= r[:-2]) & (mid >= r[2:]) & (mid > 0)
    if not peak.any():
        return 0.0, 0.0
    best = float(mid[peak].max())
    # the cycle: the shortest lag whose peak is nearly the highest (a multiple of the cycle
    # correlates about as well as the cycle itself)
    i = int(np.flatnonzero(peak & (mid >= CYCLE_SHARE * best))[0])
    return best, float(60.0 * rate / lags[i + 1])


# ------------------------------------------------------------------------- verdicts

def band_indices(y: np.ndarray, sample_rate: int, band: tuple[float, float] = BAND_HZ,
                 envelope_rate: int = ENVELOPE_RATE,
                 bpm_range: tuple[float, float] = BPM_RANGE) -> dict[str, float]:
    """``level_dbfs``, ``band_ratio``, ``kurtosis``, ``envelope_cv``, ``periodicity`` and
    ``heart_rate_bpm`` of a band-limited signal ``y`` (one FFT; ``y`` must not be tiled)."""
    y = np.asarray(y, dtype=np.float64)
    out = {"level_dbfs": FLOOR_DBFS, "band_ratio": 0.0, "kurtosis": 0.0, "envelope_cv": 0.0,
           "periodicity": 0.0, "heart_rate_bpm": 0.0}
    if y.size < 2 or not np.isfinite(y).all():
        return out
    spec = _spectrum(y)
    env = _envelope(spec, y.size, sample_rate, band, envelope_rate)
    r, bpm = envelope_periodicity(env, envelope_rate, bpm_range)
    out.update(level_dbfs=level_dbfs(y), band_ratio=_band_ratio(spec, sample_rate, band),
               kurtosis=kurtosis(y), envelope_cv=envelope_cv(env), periodicity=r,
               heart_rate_bpm=bpm)
    return out


def _raw_part(x: np.ndarray, sample_rate: int, cfg: FrontEndConfig,
              max_seconds: float | None) -> tuple[dict[str, float], np.ndarray | None]:
    """The raw-signal indices of the part assessed, and that part as float64 (None when it
    is empty or not finite: it then gets no band-limited indices)."""
    x = np.asarray(x)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if np.issubdtype(x.dtype, np.integer):  # PCM integers → [-1, 1)
        info = np.iinfo(x.dtype)
        half = (int(info.max) + 1 - int(info.min)) / 2
        x = (x.astype(np.float64) - (int(info.min) + half)) / half
    seconds = cfg.read_seconds if max_seconds is None else max_seconds
    if math.isfinite(seconds):
        x = x[: max(0, math.ceil(seconds * sample_rate))]
    out = dict.fromkeys(INDEX_NAMES, 0.0)
    out["ac_peak_dbfs"] = out["level_dbfs"] = FLOOR_DBFS
    out["duration_s"] = x.size / sample_rate
    if x.size == 0 or not np.isfinite(x).all():
        return out, None
    x = x.astype(np.float64, copy=False)
    out.update(dc_ratio=dc_ratio(x), ac_peak_dbfs=ac_peak_dbfs(x),
               clipped=clipping_share(x, sample_rate))
    return out, x


def _has_band(out: dict[str, float], y: np.ndarray) -> bool:
    return y.size >= MIN_BAND_SAMPLES and out["ac_peak_dbfs"] > FLOOR_DBFS


def indices(x: np.ndarray, sample_rate: int, config: FrontEndConfig | None = None,
            max_seconds: float | None = None) -> dict[str, float]:
    """Every index of :data:`INDEX_NAMES` (finite floats) of one raw recording at any rate.

    Only the first ``max_seconds`` are assessed: by default the front end's
    ``read_seconds`` (7.5 s, what the classifier reads); ``math.inf`` for all of it. A
    two-dimensional ``x`` (frames × channels) is mixed to mono; integer PCM is scaled to
    [-1, 1). The definition the thresholds were calibrated with; :func:`indices_from`
    gives the same from the front end's own band-limited signal.
    """
    from heartsound.audio import bandpass, resample

    cfg = resolve(config)
    out, part = _raw_part(x, sample_rate, cfg, max_seconds)
    if part is None:
        return out
    y = resample(part - part.mean(), sample_rate, cfg.sample_rate)
    if _has_band(out, y):
        out.update(band_indices(bandpass(y, cfg), cfg.sample_rate))
    return out


EDGE_S = 1.5  # s of a constant behind the offset correction's edges (_constant_response)


@functools.lru_cache(maxsize=16)
def _short_response(n: int, sample_rate: int, cfg: FrontEndConfig) -> np.ndarray:
    from heartsound.audio import bandpass, resample

    r = bandpass(resample(np.ones(n), sample_rate, cfg.sample_rate), cfg)
    r.setflags(write=False)
    return r


def _constant_response(n: int, sample_rate: int, cfg: FrontEndConfig, size: int
                       ) -> np.ndarray:
    """``bandpass(resample(ones(n)))`` (``size`` samples): what a unit offset leaves after
    the front end, the resampler's edge transients spread by the band-pass (which alone
    leaves none). Away from the edges it is zero but for soxr's float32 rounding (~3e-7),
    and the edges depend on ``n`` only through ``n`` modulo the resampler's period (input
    samples per whole number of output samples), so they come from the shortest constant
    of at least ``EDGE_S`` s with that remainder: a quarter of the work on a 7.5-s
    recording, within 1e-6 of the whole computation (tests/runtime/test_quality.py)."""
    period = sample_rate // math.gcd(sample_rate, cfg.sample_rate)
    short = n - period * max(0, (n - math.ceil(EDGE_S * sample_rate)) // period)
    r = _short_response(short, sample_rate, cfg)
    if r.size >= size:
        return r[:size]
    out = np.zeros(size)
    half = r.size // 2
    out[:half] = r[:half]
    out[size - (r.size - half):] = r[half:]
    return out


def indices_from(x: np.ndarray, sample_rate: int, y: np.ndarray,
                 config: FrontEndConfig | None = None,
                 max_seconds: float | None = None) -> dict[str, float]:
    """:func:`indices` of ``x`` given ``y``, the front end's band-limited signal of the same
    part: ``bandpass(resample(x[:ceil(max_seconds·sample_rate)]))``, neither tiled nor cut
    (what :func:`heartsound.audio.preprocess` makes before it fits the length), so the
    gate does not resample and filter a second time.

    :func:`indices` resamples ``x - mean(x)``; both steps are linear, so its signal is
    ``y - mean·bandpass(resample(ones))``, the offset's edge transients
    (:func:`_constant_response`; nothing at the model's own rate, where the band-pass
    removes a constant to ~1e-14). Without that term an offset ten times the signal's
    rms would move the kurtosis by ~2. Agrees with :func:`indices` to float32 rounding
    (soxr's precision) (tests/runtime/test_predict_fast.py).
    """
    cfg = resolve(config)
    out, part = _raw_part(x, sample_rate, cfg, max_seconds)
    if part is None:
        return out
    y = np.asarray(y)
    if _has_band(out, y):
        mean = float(part.mean())
        if mean != 0.0 and sample_rate != cfg.sample_rate:
            y = y - mean * _constant_response(part.size, sample_rate, cfg, y.size)
        out.update(band_indices(y, cfg.sample_rate))
    return out


def index_score(name: str, value: float, threshold: float) -> float:
    """Score in [0, 1] of calibrated index ``name`` (:data:`ANCHORS`): 0.5 at
    ``threshold``, linear to 1 at the good anchor and to 0 at the bad anchor; below 0.5
    exactly when the index fails its threshold."""
    bad, good = ANCHORS[name]
    if name == "clipped":  # the one upper bound: mirror it
        value, threshold, bad, good = -value, -threshold, -bad, -good
    if value >= threshold:
        span = good - threshold
        return 1.0 if span <= 0 else 0.5 + 0.5 * min(1.0, (value - threshold) / span)
    span = threshold - bad
    return 0.0 if span <= 0 else min(0.4999, 0.5 * max(0.0, (value - bad) / span))


def _fixed_failures(ix: dict[str, float], t: QualityThresholds) -> list[tuple[str, str]]:
    out = []
    if ix["duration_s"] < t.min_duration_s:
        out.append(("duration_s", f"too short ({ix['duration_s']:.2f} s < "
                                  f"{t.min_duration_s:g} s)"))
    if ix["dc_ratio"] > t.dc_ratio_max:
        out.append(("dc_ratio", "constant offset (DC)"))
    if ix["ac_peak_dbfs"] < t.silence_dbfs:
        out.append(("ac_peak_dbfs", "digital silence" + (
            f" (peak {ix['ac_peak_dbfs']:.0f} dBFS)" if ix["ac_peak_dbfs"] > FLOOR_DBFS
            else "")))
    if ix["level_dbfs"] < t.level_min_dbfs:
        shown = "-inf" if ix["level_dbfs"] <= FLOOR_DBFS else f"{ix['level_dbfs']:.0f}"
        out.append(("level_dbfs", f"near-silent ({shown} dBFS rms in 20–1800 Hz)"))
    return out


def _reason(name: str, ix: dict[str, float]) -> str:
    v = ix[name]
    if name == "clipped":
        return f"clipped: {100 * v:.0f} % of samples" if v >= 0.02 else \
            f"clipped: {100 * v:.1f} % of samples"
    if name == "band_ratio":
        return "no energy in 20–400 Hz" if v < 0.05 else \
            f"too little energy in 20–400 Hz ({100 * v:.0f} % of 20–1800 Hz)"
    if name == "kurtosis":
        return f"not impulsive (kurtosis {v:.1f}): a tone, hum or steady noise"
    if name == "envelope_cv":
        return f"flat envelope (variation {v:.2f}): a tone, hum or steady noise"
    if ix["duration_s"] < 2 * 60.0 / BPM_RANGE[1]:
        return f"no periodic heart sounds: too short to hold two cycles ({ix['duration_s']:.2f} s)"
    return f"no periodic heart sounds (envelope autocorrelation {v:.2f})"


def verdict(ix: dict[str, float], thresholds: QualityThresholds = DEFAULT_THRESHOLDS
            ) -> QualityVerdict:
    """Apply ``thresholds`` to the indices ``ix`` of one recording (:func:`indices`)."""
    t = thresholds
    limits = {"clipped": t.clipped_max, "band_ratio": t.band_ratio_min,
              "kurtosis": t.kurtosis_min, "envelope_cv": t.envelope_cv_min,
              "periodicity": t.periodicity_min}
    fixed = _fixed_failures(ix, t)
    failed_cal = [n for n in CALIBRATED
                  if (ix[n] > limits[n] if n == "clipped" else ix[n] < limits[n])]
    scores = {n: index_score(n, ix[n], limits[n]) for n in CALIBRATED}
    failed = tuple(n for n, _ in fixed) + tuple(failed_cal)
    if fixed:
        return QualityVerdict(False, 0.0, fixed[0][1], dict(ix), failed)
    if failed_cal:
        # the lowest score names the reason; near-ties (within TIE) go to the first in
        # CALIBRATED order (a 1 kHz tone fails band_ratio and periodicity, both near 0)
        low = min(scores[n] for n in failed_cal)
        worst = next(n for n in failed_cal if scores[n] <= low + TIE)
        return QualityVerdict(False, min(scores.values()), _reason(worst, ix), dict(ix),
                              failed)
    return QualityVerdict(True, min(scores.values()), "", dict(ix), ())


def assess(x: np.ndarray, sample_rate: int, thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
           config: FrontEndConfig | None = None, max_seconds: float | None = None
           ) -> QualityVerdict:
    """Quality verdict of one raw mono recording at any rate (never raises on odd samples:
    empty, non-finite, constant, very short all give an unusable verdict)."""
    x = np.asarray(x)
    return _refused(x, sample_rate) or verdict(indices(x, sample_rate, config, max_seconds),
                                               thresholds)


def assess_prepared(x: np.ndarray, sample_rate: int, y: np.ndarray,
                    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
                    config: FrontEndConfig | None = None, max_seconds: float | None = None
                    ) -> QualityVerdict:
    """:func:`assess` with the front end's band-limited signal ``y`` of the part assessed
    already made (:func:`indices_from`): the verdict the gate gives in ``predict``."""
    x = np.asarray(x)
    return _refused(x, sample_rate) or verdict(
        indices_from(x, sample_rate, y, config, max_seconds), thresholds)


def _refused(x: np.ndarray, sample_rate: int) -> QualityVerdict | None:
    """The verdict of input no index can be computed on (no rate, non-finite samples)."""
    if not sample_rate > 0:
        return QualityVerdict(False, 0.0, "no sample rate", _empty(0.0), ("sample_rate",))
    if x.size and not np.isfinite(x).all():
        return QualityVerdict(False, 0.0, "contains NaN or infinite samples",
                              _empty(x.shape[0] / sample_rate), ("finite",))
    return None


def _empty(duration: float) -> dict[str, float]:
    out = dict.fromkeys(INDEX_NAMES, 0.0)
    out.update(duration_s=duration, ac_peak_dbfs=FLOOR_DBFS, level_dbfs=FLOOR_DBFS)
    return out


def assess_file(path: str | os.PathLike[str],
                thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
                config: FrontEndConfig | None = None, max_seconds: float | None = None
                ) -> QualityVerdict:
    """:func:`assess` of a sound file read by :func:`heartsound.audio.load` (only the part
    assessed is read). An unreadable file raises :class:`heartsound.audio.AudioError`."""
    from heartsound.audio import load

    cfg = resolve(config)
    seconds = cfg.read_seconds if max_seconds is None else max_seconds
    x, rate = load(path, max_seconds=seconds if math.isfinite(seconds) else None)
    return assess(x, rate, thresholds, cfg, seconds)
