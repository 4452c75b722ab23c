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


# scipy.signal.butter(order, [low, high], btype="bandpass", fs=rate, output="sos") and
# scipy.signal.sosfilt_zi of it, keyed (low_hz, high_hz, rate, order), for the front end every
# shipped model uses: exact float64 values (repr round-trips), so the predict path needs no
# scipy.signal (its import takes ~2 s and pulls in scipy.stats). Other configurations are designed
# by scipy.signal, imported then. tests/runtime/test_frontend.py checks the table against scipy.
_STORED_DESIGNS = {
    (20.0, 1800.0, 4000, 4): (
        ((0.6349690382276015, 1.269938076455203, 0.6349690382276015,
          1.0, 1.477949984344795, 0.5546761487313425),
         (1.0, 2.0, 1.0, 1.0, 1.7014817888663627, 0.789173815168237),
         (1.0, -2.0, 1.0, 1.0, -1.94243691672754, 0.9434040711185671),
         (1.0, -2.0, 1.0, 1.0, -1.9753509930680249, 0.9763276024357335)),
        ((0.20254803161776336, 0.17041829542901574),
         (0.12220759491656542, 0.08012749464413506),
         (-0.9597246647620059, 0.9597246647620017),
         (-0.0, 0.0)),
    ),
}


@functools.lru_cache(maxsize=16)
def bandpass_sos(low_hz: float, high_hz: float, sample_rate: int, order: int) -> np.ndarray:
    """Butterworth band-pass in second-order sections (numerically safe at low cut-offs).

    ``scipy.signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=sample_rate,
    output="sos")``, from a stored table for the shipped front end. Cached: don't modify it
    (it stays writable because scipy.signal's filters refuse read-only ``sos``).
    """
    stored = _STORED_DESIGNS.get((low_hz, high_hz, sample_rate, order))
    if stored is not None:
        return np.array(stored[0], dtype=np.float64)
    from scipy import signal as sps  # lazily: only for configurations not in the table

    return sps.butter(order, [low_hz, high_hz], btype="bandpass", fs=sample_rate, output="sos")


@functools.lru_cache(maxsize=16)
def _sos_zi(low_hz: float, high_hz: float, sample_rate: int, order: int) -> np.ndarray:
    stored = _STORED_DESIGNS.get((low_hz, high_hz, sample_rate, order))
    if stored is not None:
        zi = np.array(stored[1], dtype=np.float64)
    else:
        from scipy import signal as sps

        zi = sps.sosfilt_zi(bandpass_sos(low_hz, high_hz, sample_rate, order))
    zi.setflags(write=False)
    return zi


class _BlockSosfilt:
    """``scipy.signal.sosfilt(sos, x, zi=zi)[0]`` in numpy, for float64 output.

    Hand-written because importing scipy.signal costs ~2 s (and scipy.stats) on the predict
    path, and a per-sample Python loop would be far too slow. The cascade of direct-form-II-
    transposed sections (scipy's structure, so ``zi`` has scipy's meaning: ``(sections, 2)``)
    is one state-space system ``s' = A s + B x``, ``y = C s + D x`` of ``2·sections`` states.
    The signal is cut into blocks of ``block`` samples; per block ``y = T x + O s0`` and the
    next start state ``s1 = M s0 + K x`` (``T``: Toeplitz of the impulse response, ``O``:
    observability rows ``C A^i``, ``M = A^block``). The block start states, ``s_j = M s_{j-1}
    + K x_{j-1}``, come from a log-depth prefix scan (step ``d`` adds ``M^(2^d)`` times the
    states ``2^d`` blocks back), stopped once ``M^(2^d)`` is below 2**-60 of the states'
    scale, far under float64 rounding: the filter is stable, old states die out. ``A`` is far
    from normal (``|A^48|`` ~ 50 though its poles lie inside 0.99), so ``M^(2^d)`` is built by
    repeated multiplication by ``A`` until its norm drops below 1 and by squaring only after;
    squaring earlier loses digits to cancellation. Agrees with scipy to ~1e-14 of the
    signal's peak (scipy's own rounding error is of the same size). The matrix products are
    done in groups of rows small enough that OpenBLAS keeps each on one thread (its threads
    only cost here), and long signals in pieces of ``chunk`` samples, the state carried
    across, so the temporaries stay small (fresh memory pages are slow in some sandboxes).
    """

    _GEMM_LIMIT = 2**17  # m·n·k per product, under OpenBLAS's single-thread threshold

    def __init__(self, sos: np.ndarray, block: int = 48) -> None:
        sos = np.asarray(sos, dtype=np.float64)
        sos = sos / sos[:, 3:4]  # scipy normalises each section by a0
        n = 2 * len(sos)
        a, b, c, d = np.zeros((n, n)), np.zeros(n), np.zeros(n), 1.0
        for k, (b0, b1, b2, _, a1, a2) in enumerate(sos):
            r = slice(2 * k, 2 * k + 2)  # section k's input is c·s + d·x (the previous output)
            bk = np.array([b1 - a1 * b0, b2 - a2 * b0])
            a[r] += np.outer(bk, c)
            a[r, r] += np.array([[-a1, 1.0], [-a2, 0.0]])
            b[r] = bk * d
            c = b0 * c
            c[2 * k] += 1.0
            d = b0 * d
        powers = [np.eye(n)]
        for _ in range(block):
            powers.append(a @ powers[-1])
        impulse = np.array([d] + [c @ powers[i] @ b for i in range(block - 1)])
        lag = np.arange(block)[:, None] - np.arange(block)[None, :]
        self.t_t = np.ascontiguousarray(np.where(lag >= 0, impulse[np.maximum(lag, 0)], 0.0).T)
        self.k_t = np.array([powers[block - 1 - i] @ b for i in range(block)])  # (block, n)
        self.o_t = np.array([c @ powers[i] for i in range(block)]).T.copy()  # (n, block)
        m = powers[block]
        self.m_t = m.T.copy()
        scale, p = 0.0, np.eye(n)  # scale: bound on sum_i |M^i| (Frobenius norms)
        for _ in range(100_000):  # (bounded: a filter with poles on the unit circle never ends)
            if (norm := float(np.linalg.norm(p))) < 2.0**-60:
                break
            scale += norm
            p = p @ m
        self.scan: list[np.ndarray] = []
        p, k = m, block  # p = A^k = M^(2^d)
        while (norm := float(np.linalg.norm(p))) * scale > 2.0**-60 and len(self.scan) < 48:
            self.scan.append(p.T.copy())
            if norm >= 1.0:  # still in the transient: squaring would lose digits to cancellation
                for _ in range(k):
                    p = a @ p
            else:
                p = p @ p
            k *= 2
        self.block, self.states = block, n
        self.rows = max(1, self._GEMM_LIMIT // (block * block))
        self.chunk = 640 * block  # samples per piece: a 7.5-s signal at 4 kHz is one

    def __call__(self, x: np.ndarray, zi: np.ndarray, reverse: bool = False) -> np.ndarray:
        """Filter ``x`` (``x[::-1]`` if ``reverse``) from initial state ``zi``."""
        src, state = (x[::-1] if reverse else x), np.ravel(zi)
        if src.size <= self.chunk:
            return self._run(src, state)[0]
        out = np.empty(src.size)
        for start in range(0, src.size, self.chunk):
            out[start:start + self.chunk], state = self._run(src[start:start + self.chunk], state)
        return out

    def _run(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outputs for ``x`` and the state after it (valid when ``x`` fills whole blocks)."""
        size, block, n = x.size, self.block, self.states
        blocks = -(-size // block)
        groups = -(-blocks // self.rows)
        rows = -(-blocks // groups)
        xb = np.zeros(groups * rows * block)
        xb[:size] = x
        xb = xb.reshape(groups, rows, block)
        kx = (xb @ self.k_t).reshape(-1, n)
        s = np.empty((groups * rows, n))  # block start states (rows past `blocks`: unused)
        s[0] = state
        s[1:] = kx[:-1]
        shift = 1
        for m_t in self.scan:
            if shift >= blocks:
                break
            s[shift:blocks] += s[: blocks - shift] @ m_t
            shift *= 2
        y = xb @ self.t_t
        y += s.reshape(groups, rows, n) @ self.o_t
        return y.reshape(-1)[:size], s[blocks - 1] @ self.m_t + kx[blocks - 1]


@functools.lru_cache(maxsize=16)
def _sosfilt(low_hz: float, high_hz: float, sample_rate: int, order: int) -> _BlockSosfilt:
    return _BlockSosfilt(bandpass_sos(low_hz, high_hz, sample_rate, order))


def bandpass(x: np.ndarray, config: FrontEndConfig | None = None) -> np.ndarray:
    """Zero-phase (forward-backward) band-pass, ``band_low_hz``-``band_high_hz``.

    ``scipy.signal.sosfiltfilt(sos, x)`` (odd extension, default pad length, steady-state
    initial conditions) to ~1e-14 of the peak, without importing scipy.signal (see
    :class:`_BlockSosfilt`).
    """
    cfg = resolve(config)
    key = (cfg.band_low_hz, cfg.band_high_hz, cfg.sample_rate, cfg.filter_order)
    sos, zi = bandpass_sos(*key), _sos_zi(*key)
    pad = 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
    if x.size <= pad:
        from scipy import signal as sps

        return sps.sosfiltfilt(sos, x)  # scipy raises its own clear error for tiny inputs
    sosfilt = _sosfilt(*key)
    ext = np.concatenate((2 * x[0] - x[pad:0:-1], x, 2 * x[-1] - x[-2:-pad - 2:-1]))
    y = sosfilt(ext, zi * ext[0])
    y = sosfilt(y, zi * y[-1], reverse=True)
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
