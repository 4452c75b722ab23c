"""Signal chain before the features (the paper's section 3.2).

load (soundfile, any WAV, mixed to mono) → validate → resample to 4 kHz (soxr) →
zero-phase Butterworth band-pass 20-1800 Hz (SOS) → tile or truncate to 7 s.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
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


MIN_SAMPLE_RATE = 1000  # Hz: below this a header is damaged or the file is not a recording


def _check_file(p: Path) -> None:
    """What the path is, named: missing, a broken link or link loop, a folder, a FIFO or
    device, unreadable, empty. Nothing is opened that could block (a FIFO would)."""
    try:
        info = p.stat()
    except FileNotFoundError:
        raise AudioError(p, "broken symbolic link" if p.is_symlink() else "no such file"
                         ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioError(p, "symbolic link loop") from None
        raise AudioError(p, f"cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(p, "is a directory, not a sound file")
    if stat.S_ISFIFO(info.st_mode):
        raise AudioError(p, "is a FIFO (named pipe), not a sound file")
    if not stat.S_ISREG(info.st_mode):
        raise AudioError(p, "is a device or socket, not a sound file")
    if info.st_size == 0:
        raise AudioError(p, "empty file (0 bytes)")
    if not os.access(p, os.R_OK):
        raise AudioError(p, "cannot read (permission denied)")


_SHOULD_BE = re.compile(r"(\w[\w ]*?) *: *(\d+) \(should be (\d+)\)")
_CHUNK_PAST_END = re.compile(r"Chunk size (\d+) > file length (\d+)")
_FRAMES_MISMATCH = re.compile(r"frame count (\d+) does not match value from '\w+' chunk of (\d+)")


def _truncation_in_log(log: str) -> str | None:
    """A cut-off file as libsndfile's header log tells it, for every container it parses.

    libsndfile reads what is there and quietly shrinks its frame count to the bytes present
    (WAV, AIFF, AU, W64, RF64 ...); its log keeps the sizes the header declared: "SSND : 64008
    (should be 31981)", "Chunk size A > file length B". No PASCAL or PhysioNet file logs one.
    """
    # substring tests first: a whole file's log holds none of them, and the patterns'
    # backtracking costs ~0.1 ms a file
    for name, declared, present in _SHOULD_BE.findall(log) if "should be" in log else ():
        if int(declared) > int(present):
            return f"header declares {declared} bytes of {name.strip()}, file holds {present}"
    m = _CHUNK_PAST_END.search(log) if "Chunk size" in log else None
    if m:
        return f"header declares a chunk of {m.group(1)} bytes, file holds {m.group(2)}"
    m = _FRAMES_MISMATCH.search(log) if "frame count" in log else None
    if m and int(m.group(1)) < int(m.group(2)):
        return f"header declares {m.group(2)} frames, file holds {m.group(1)}"
    if "File ended unexpectedly" in log or "lacks an end-of-stream" in log:  # Ogg
        return "the stream ends without its end-of-stream page"
    return None


SILENT_PEAK = 10 ** (-90 / 20)  # the default config's silence_dbfs, as a sample value


def _after_leading_silence(fh: sf.SoundFile, frames: int, data: np.ndarray) -> np.ndarray:
    """The ``frames`` frames from the first audible sample on, when the window read so far
    is digital silence but the file goes on: a recording that starts with a pause is still
    a recording. A file silent throughout keeps its silent window (and fails validation)."""
    block = max(frames, 1)
    start = data.shape[0]
    while True:
        chunk = fh.read(frames=block, dtype="float32", always_2d=True)
        if not chunk.size:
            return data
        loud = np.flatnonzero(np.abs(chunk).max(axis=1) >= SILENT_PEAK)
        if loud.size:
            fh.seek(start + int(loud[0]))
            return fh.read(frames=frames, dtype="float32", always_2d=True)
        start += chunk.shape[0]


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
    _check_file(p)
    try:
        # bytes, not str: a file name that is not valid UTF-8 still opens
        with sf.SoundFile(os.fsencode(p)) as fh:
            rate = fh.samplerate
            if rate < MIN_SAMPLE_RATE:
                raise AudioError(p, f"sample rate {rate} Hz in its header (below "
                                    f"{MIN_SAMPLE_RATE} Hz: not a usable recording)")
            declared = fh.frames
            frames = -1 if max_seconds is None else int(np.ceil(max_seconds * rate))
            data = fh.read(frames=frames, dtype="float32", always_2d=True)
            complete = frames < 0 or data.shape[0] >= min(frames, declared)
            if frames > 0 and data.size and np.abs(data).max() < SILENT_PEAK and complete:
                data = _after_leading_silence(fh, frames, data)
            elif fh.seekable() and 0 <= declared < 1 << 62:  # a real count, not "unknown"
                expected = declared if frames < 0 else min(frames, declared)
                if data.shape[0] < expected:
                    raise AudioError(p, f"truncated {fh.format}: header declares {declared} "
                                        f"frames, file holds {data.shape[0]}")
            cut = _truncation_in_log(fh.extra_info)
            if cut:
                raise AudioError(p, f"truncated {fh.format}: {cut}")
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or "unreadable"
        raise AudioError(p, f"not a readable sound file ({reason})") from None
    except OSError as exc:
        raise AudioError(p, f"cannot read ({exc.strerror or exc})") from None
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


def band_key(config: FrontEndConfig) -> tuple[float, float, int, int]:
    """``(band_low_hz, band_high_hz, sample_rate, filter_order)`` of a front end: the
    arguments of :func:`bandpass_sos` and of its filters (the stored designs' key)."""
    return (config.band_low_hz, config.band_high_hz, config.sample_rate, config.filter_order)


def bandpass_pad(sos: np.ndarray) -> int:
    """``scipy.signal.sosfiltfilt``'s default odd-extension length for ``sos``."""
    return 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))


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
    key = band_key(resolve(config))
    sos, zi = bandpass_sos(*key), _sos_zi(*key)
    pad = bandpass_pad(sos)
    if x.size <= pad:
        from scipy import signal as sps

        return sps.sosfiltfilt(sos, x)  # scipy raises its own clear error for tiny inputs
    sosfilt = _sosfilt(*key)
    ext = np.concatenate((2 * x[0] - x[pad:0:-1], x, 2 * x[-1] - x[-2:-pad - 2:-1]))
    y = sosfilt(ext, zi * ext[0])
    y = sosfilt(y, zi * y[-1], reverse=True)
    return y[::-1][pad:-pad]


def fit_length(x: np.ndarray, n_samples: int, cut: bool = True) -> np.ndarray:
    """The paper's 'repeat' rule: tile a short signal to ``n_samples``, truncate a long one
    (``cut=False``, for whole-recording inference: keep a long one as it is)."""
    if x.size == 0:
        raise ValueError("cannot tile an empty signal")
    if x.size >= n_samples:
        return x[:n_samples] if cut else x
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
    return fit_length(band_limited(x, sample_rate, cfg, path, whole), cfg.n_samples,
                      cut=not whole)


def band_limited(x: np.ndarray, sample_rate: int, config: FrontEndConfig | None = None,
                 path: object = None, whole: bool = False) -> np.ndarray:
    """:func:`preprocess` before it fits the length: validated, resampled to 4 kHz and
    band-passed, neither tiled nor cut — the signal both the features and the quality gate
    read (``fit_length`` of it is ``preprocess``'s output)."""
    cfg = resolve(config)
    x = np.asarray(x)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = x[: int(np.ceil((WHOLE_MAX_S if whole else cfg.read_seconds) * sample_rate))]
    validate(x, sample_rate, cfg, path)
    return bandpass(resample(x, sample_rate, cfg.sample_rate), cfg)
