"""Signal chain before the features (the paper's section 3.2).

load (soundfile, any WAV, mixed to mono) → validate → resample to 4 kHz (soxr) →
zero-phase Butterworth band-pass 20-1800 Hz (SOS) → tile or truncate to 7 s.
"""

from __future__ import annotations

import functools
import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal as sps

from heartsound.config import FrontEndConfig, resolve

WHOLE_MAX_S = 60.0  # longest stretch of a recording used for whole-recording inference


class AudioError(Exception):
    """A recording we refuse to turn into features; ``str()`` is one line: file and problem."""

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


def _check_riff_truncation(path: Path) -> None:
    """Raise if a RIFF/WAVE file's data chunk declares more bytes than the file holds.

    libsndfile quietly reads what is there; a cut-off download deserves a clear error instead.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return  # not RIFF: let soundfile decide
        if head[:4] == b"RF64":
            return  # 64-bit sizes live in ds64; soundfile validates these itself
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                available = size - pos - 8
                if chunk_size > available and chunk_size != 0xFFFFFFFF:
                    raise AudioError(
                        path,
                        f"truncated WAV: header declares {chunk_size} bytes of audio, "
                        f"file holds {available}",
                    )
                return
            pos += 8 + chunk_size + (chunk_size & 1)


def load(
    path: str | os.PathLike[str], max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    """Read a sound file as mono float32 in [-1, 1] and its sample rate.

    Accepts anything libsndfile reads (16/24/32-bit int and float WAV, FLAC, ...); stereo is
    averaged to mono. ``max_seconds`` reads only the start of the file (what
    :func:`preprocess` would keep anyway). Raises :class:`AudioError` with a one-line reason
    on unreadable input.
    """
    p = Path(path)
    if not p.exists():
        raise AudioError(p, "no such file")
    if p.is_dir():
        raise AudioError(p, "is a directory, not a sound file")
    if p.stat().st_size == 0:
        raise AudioError(p, "empty file (0 bytes)")
    _check_riff_truncation(p)
    try:
        with sf.SoundFile(str(p)) as fh:
            rate = fh.samplerate
            frames = -1 if max_seconds is None else int(np.ceil(max_seconds * rate))
            data = fh.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or "unreadable"
        raise AudioError(p, f"not a readable sound file ({reason})") from None
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return mono, int(rate)


def validate(
    x: np.ndarray, sample_rate: int, config: FrontEndConfig | None = None, path: object = None
) -> None:
    """Reject input that would only produce garbage features (each with a clear reason).

    :func:`preprocess` checks the part of the recording it uses (the first ``read_seconds``).

    Zero samples, non-finite samples, shorter than ``min_duration_s`` (0.5 s), or digital
    silence (peak below ``silence_dbfs``, -90 dBFS). Quiet but real recordings pass: one PASCAL
    test file peaks near -71 dBFS.
    """
    cfg = resolve(config)
    if x.size == 0:
        raise AudioError(path, "no audio samples (zero-length recording)")
    hi, lo = float(np.max(x)), float(np.min(x))  # NaN/inf propagate; no temporary arrays
    if not (np.isfinite(hi) and np.isfinite(lo)):
        raise AudioError(path, "contains NaN or infinite samples")
    duration = x.size / sample_rate
    if duration < cfg.min_duration_s:
        raise AudioError(path, f"too short ({duration:.2f} s < {cfg.min_duration_s} s)")
    peak = max(hi, -lo)
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_db < cfg.silence_dbfs:
        shown = "-inf" if peak == 0 else f"{peak_db:.1f}"
        raise AudioError(
            path, f"digital silence (peak {shown} dBFS is below {cfg.silence_dbfs:g} dBFS)"
        )


def resample(x: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling with soxr (its default 'HQ' quality)."""
    if sample_rate == target_rate:
        return x
    return soxr.resample(x, sample_rate, target_rate)


@functools.lru_cache(maxsize=16)
def bandpass_sos(low_hz: float, high_hz: float, sample_rate: int, order: int) -> np.ndarray:
    """Butterworth band-pass in second-order sections (numerically safe at low cut-offs)."""
    return sps.butter(order, [low_hz, high_hz], btype="bandpass", fs=sample_rate, output="sos")


@functools.lru_cache(maxsize=16)
def _sos_zi(low_hz: float, high_hz: float, sample_rate: int, order: int) -> np.ndarray:
    zi = sps.sosfilt_zi(bandpass_sos(low_hz, high_hz, sample_rate, order))
    zi.setflags(write=False)
    return zi


def bandpass(x: np.ndarray, config: FrontEndConfig | None = None) -> np.ndarray:
    """Zero-phase (forward-backward) band-pass, ``band_low_hz``-``band_high_hz``.

    Exactly ``scipy.signal.sosfiltfilt(sos, x)`` (odd extension, default pad length, steady-
    state initial conditions), with the initial-condition solve cached per filter.
    """
    cfg = resolve(config)
    key = (cfg.band_low_hz, cfg.band_high_hz, cfg.sample_rate, cfg.filter_order)
    sos, zi = bandpass_sos(*key), _sos_zi(*key)
    pad = 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
    if x.size <= pad:
        return sps.sosfiltfilt(sos, x)  # scipy raises its own clear error for tiny inputs
    ext = np.concatenate((2 * x[0] - x[pad:0:-1], x, 2 * x[-1] - x[-2:-pad - 2:-1]))
    y, _ = sps.sosfilt(sos, ext, zi=zi * ext[0])
    y, _ = sps.sosfilt(sos, y[::-1], zi=zi * y[-1])
    return y[::-1][pad:-pad]


def fit_length(x: np.ndarray, n_samples: int) -> np.ndarray:
    """The paper's 'repeat' rule: tile a short signal to ``n_samples``, truncate a long one."""
    if x.size == 0:
        raise ValueError("cannot tile an empty signal")
    if x.size >= n_samples:
        return x[:n_samples]
    reps = -(-n_samples // x.size)
    return np.tile(x, reps)[:n_samples]


def preprocess(
    x: np.ndarray, sample_rate: int, config: FrontEndConfig | None = None, path: object = None,
    whole: bool = False,
) -> np.ndarray:
    """Raw mono signal at any rate → validated, 4 kHz, band-passed, fixed-length signal.

    Only the first ``duration_s + crop_margin_s`` seconds are used (the rest would be truncated
    anyway; the margin keeps the filters' edge effects away from the kept part), so a file
    read with ``load(path, max_seconds=config.read_seconds)`` gives identical output.

    ``whole=True`` keeps the whole recording (up to ``WHOLE_MAX_S``) for sliding-window
    inference: a recording shorter than ``duration_s`` is still tiled to it, a longer one is
    not truncated.
    """
    cfg = resolve(config)
    x = np.asarray(x)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = x[: int(np.ceil((WHOLE_MAX_S if whole else cfg.read_seconds) * sample_rate))]
    validate(x, sample_rate, cfg, path)
    y = bandpass(resample(x, sample_rate, cfg.sample_rate), cfg)
    return y if whole and y.size >= cfg.n_samples else fit_length(y, cfg.n_samples)
