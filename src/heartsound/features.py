"""MFCC maps (the paper's section 3.3, eqs. 1-6) or log-mel maps, plus an on-disk cache.

Pure numpy: frames → Hann window → FFT → power spectrum → mel filter bank → log → DCT-II.
With the paper's defaults a 7-s, 4-kHz signal becomes an 872×20 map (frames × coefficients).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import numpy as np

from heartsound.atomic import write_with
from heartsound.audio import WHOLE_MAX_S, load, preprocess
from heartsound.config import FrontEndConfig, resolve, sha256


def hz_to_mel(f: np.ndarray | float, htk: bool = True) -> np.ndarray:
    """Hz → mel. HTK: ``2595·log10(1 + f/700)`` (the paper's eq. 3); else Slaney's
    linear-below-1-kHz / log-above scale (librosa's default)."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    mel = f / f_sp
    log_region = f >= min_log_hz
    return np.where(log_region, min_log_hz / f_sp + np.log(np.maximum(f, 1e-12) / min_log_hz)
                    / logstep, mel)


def mel_to_hz(m: np.ndarray | float, htk: bool = True) -> np.ndarray:
    """Inverse of :func:`hz_to_mel` (the paper's eq. 4)."""
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@functools.lru_cache(maxsize=16)
def mel_filterbank(
    *,
    sample_rate: int = 4000,
    n_fft: int = 128,
    n_mels: int = 48,
    fmin_hz: float = 0.0,
    fmax_hz: float = 2000.0,
    htk: bool = True,
    norm: str | None = None,
) -> np.ndarray:
    """Triangular mel filters, shape ``(n_mels, 1 + n_fft//2)`` (the paper's eq. 5).

    ``n_mels + 2`` edges equally spaced in mel between ``fmin_hz`` and ``fmax_hz``; filter ``m``
    rises from edge ``m`` to a peak of 1 at edge ``m+1`` and falls to 0 at edge ``m+2``.
    ``norm="slaney"`` scales each triangle to unit area instead. Same construction as
    ``librosa.filters.mel``.
    """
    fft_hz = np.linspace(0.0, sample_rate / 2, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin_hz, htk), hz_to_mel(fmax_hz, htk), n_mels + 2),
                      htk)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif norm is not None:
        raise ValueError(f"unknown mel norm {norm!r}")
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=16)
def _window(name: str, frame_length: int, n_fft: int) -> np.ndarray:
    """Periodic window, zero-padded to ``n_fft`` and centred (as librosa does).

    ``scipy.signal.get_window(name, frame_length, fftbins=True)``; the Hann window is computed
    here, with scipy's arithmetic (so bit for bit), so the predict path needn't import
    scipy.signal (slow: ~2 s, with scipy.stats); other names ask scipy.signal.
    """
    if name == "hann" and frame_length > 1:
        w = (0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, frame_length + 1)))[:-1]
    else:
        from scipy.signal import get_window

        w = get_window(name, frame_length, fftbins=True)
    left = (n_fft - frame_length) // 2
    w = np.pad(w, (left, n_fft - frame_length - left))
    w.setflags(write=False)
    return w


def frame(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Overlapping frames as a read-only view, shape ``(1 + (len-frame)//hop, frame_length)``."""
    if x.size < frame_length:
        raise ValueError(f"signal of {x.size} samples is shorter than one frame ({frame_length})")
    return np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop_length]


def log_mel(x: np.ndarray, config: FrontEndConfig | None = None) -> np.ndarray:
    """Log mel energies, shape ``(frames, n_mels)``: eqs. (1)-(5) then the log (or, with
    ``config.log="pcen"``, :func:`pcen` of the mel magnitudes)."""
    cfg = resolve(config)
    x = np.asarray(x, dtype=np.float64)
    if cfg.center:
        x = np.pad(x, cfg.n_fft // 2)
    frames = frame(x, cfg.n_fft, cfg.hop_length)
    bins = np.fft.rfft(frames * _window(cfg.window, cfg.frame_length, cfg.n_fft),
                       n=cfg.n_fft, axis=-1)
    spectrum = bins.real**2 + bins.imag**2  # |X|², without abs's square root
    bank = mel_filterbank(
        sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin_hz=cfg.fmin_hz,
        fmax_hz=cfg.fmax_hz, htk=cfg.mel_scale == "htk", norm=cfg.mel_norm,
    )
    if cfg.log == "pcen":  # on mel magnitudes at int32 scale, as librosa.pcen expects
        return pcen(np.sqrt(spectrum) @ bank.T * 2.0**31,
                    frames_per_second=cfg.sample_rate / cfg.hop_length)
    energies = np.maximum(spectrum @ bank.T, cfg.amin)
    if cfg.log == "ln":
        return np.log(energies)
    db = 10.0 * np.log10(energies)
    if cfg.top_db is not None:
        db = np.maximum(db, db.max() - cfg.top_db)
    return db


def pcen(energies: np.ndarray, frames_per_second: float, time_constant_s: float = 0.4,
         gain: float = 0.98, bias: float = 2.0, power: float = 0.5,
         eps: float = 1e-6) -> np.ndarray:
    """Per-channel energy normalisation of ``(frames, bands)`` energies (Wang et al., 2017,
    "Trainable frontend for robust and far-field keyword spotting"; librosa.pcen's defaults
    and smoother): each band divided by its own slowly smoothed level, an automatic gain
    control over time, then root compression instead of a log. The smoother starts at the
    first frame's level (librosa's starts from zero, which inflates the first second)."""
    import scipy.signal  # lazily: slow to import, and no shipped model uses PCEN

    t = time_constant_s * frames_per_second
    b = (np.sqrt(1 + 4 * t**2) - 1) / (2 * t**2)
    zi = scipy.signal.lfilter_zi([b], [1, b - 1])[:, None] * energies[:1]
    smooth, _ = scipy.signal.lfilter([b], [1, b - 1], energies, axis=0, zi=zi)
    agc = np.exp(-gain * (np.log(eps) + np.log1p(smooth / eps)))
    return (energies * agc + bias) ** power - bias**power


def mfcc(x: np.ndarray, config: FrontEndConfig | None = None) -> np.ndarray:
    """MFCC map of a preprocessed 4-kHz signal, shape ``(frames, n_mfcc)`` = (872, 20) at 7 s.

    Davis & Mermelstein (1980) via the paper's eqs. (1)-(6): periodic Hann frames of
    ``frame_length`` samples every ``hop_length`` (no centring unless ``config.center``),
    ``n_fft``-point power spectrum, ``n_mels`` HTK mel triangles over ``fmin_hz``-``fmax_hz``,
    ``10·log10(max(S, amin))`` clipped to ``top_db`` below the map's peak (librosa's
    ``power_to_db``), orthonormal DCT-II, first ``n_mfcc`` coefficients. Equal to
    ``librosa.feature.mfcc(y, sr=4000, n_fft=128, hop_length=32, center=False, n_mels=48,
    fmin=0, fmax=2000, htk=True, norm=None, n_mfcc=20)`` (mel norm None).
    """
    cfg = resolve(config)
    return (log_mel(x, cfg) @ _dct_matrix(cfg.n_mels, cfg.n_mfcc)).astype(np.float32)


def feature_map(x: np.ndarray, config: FrontEndConfig | None = None) -> np.ndarray:
    """The map a model reads: :func:`mfcc`, or with ``config.cepstrum`` off the
    :func:`log_mel` energies themselves, whose neighbouring columns are neighbouring bands
    (a 3×3 kernel slides along frequency, which it cannot do along MFCC indices)."""
    cfg = resolve(config)
    return mfcc(x, cfg) if cfg.cepstrum else log_mel(x, cfg).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The first ``n_out`` columns of the orthonormal DCT-II of length ``n_in``: one small
    matrix product instead of a full transform whose other coefficients are thrown away."""
    i, k = np.arange(n_in)[:, None], np.arange(n_out)[None, :]
    m = np.sqrt(2.0 / n_in) * np.cos(np.pi * (2 * i + 1) * k / (2 * n_in))
    m[:, 0] /= np.sqrt(2.0)  # X_k = f_k Σ x_i cos(π(2i+1)k / 2N), f_0 = √(1/N), f_k = √(2/N)
    m.setflags(write=False)
    return m


def features(path: str | os.PathLike[str], config: FrontEndConfig | None = None,
             whole: bool = False) -> np.ndarray:
    """File → MFCC map ``(frames, n_mfcc)``: :func:`load`, :func:`preprocess`, :func:`mfcc`.

    ``whole=True``: the map of the whole recording (at least ``config.n_frames`` frames),
    for :func:`windows`.
    """
    cfg = resolve(config)
    x, rate = load(path, max_seconds=WHOLE_MAX_S if whole else cfg.read_seconds)
    return feature_map(preprocess(x, rate, cfg, path=path, whole=whole), cfg)


def hop_frames(seconds: float | None, config: FrontEndConfig | None = None) -> int | None:
    """Frames between window starts for a hop of ``seconds`` (None: no windows)."""
    if seconds is None:
        return None
    cfg = resolve(config)
    return max(1, round(seconds * cfg.sample_rate / cfg.hop_length))


def windows(full_map: np.ndarray, n_frames: int, hop_frames: int) -> np.ndarray:
    """Overlapping ``n_frames`` windows of a whole-recording map, every ``hop_frames``; the
    last window is aligned to the end so no part of the recording is left out."""
    total = full_map.shape[0]
    if total <= n_frames:
        return full_map[None, :n_frames]
    starts = list(range(0, total - n_frames + 1, hop_frames))
    if starts[-1] != total - n_frames:
        starts.append(total - n_frames)
    return np.stack([full_map[s:s + n_frames] for s in starts])


def default_cache_dir() -> Path:
    env = os.environ.get("HEARTSOUND_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "heartsound"


def file_digest(path: str | os.PathLike[str]) -> str:
    h = sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_CACHE_WARNED: set[str] = set()


def _entry_checksum(feats: np.ndarray) -> np.ndarray:
    return np.frombuffer(sha256(feats.tobytes()).digest(), dtype=np.uint8)


def _read_entry(entry: Path, cfg: FrontEndConfig, whole: bool) -> np.ndarray | None:
    """A cache entry's map if it is whole and right (shape, dtype, finite, checksum)."""
    try:
        with np.load(entry, allow_pickle=False) as data:
            feats, checksum = data["map"], data["sha256"]
    except Exception:  # empty, truncated, flipped bytes: any failure means recompute
        return None
    ok = (feats.dtype == np.float32 and feats.ndim == 2
          and feats.shape[1] == cfg.n_coefficients
          and (feats.shape[0] >= cfg.n_frames if whole else feats.shape[0] == cfg.n_frames)
          and np.array_equal(checksum, _entry_checksum(feats)) and np.isfinite(feats).all())
    return feats if ok else None


def cached_features(
    path: str | os.PathLike[str],
    config: FrontEndConfig | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    whole: bool = False,
) -> np.ndarray:
    """:func:`features`, memoised on disk by (file content sha256, config fingerprint).

    Renamed or copied files hit the same entry; an edited file or another config does not.
    An entry is verified when read (shape, dtype, finite values, its own sha256) and
    recomputed when bad; a cache folder that cannot be written is skipped after one warning.
    """
    cfg = resolve(config)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = root / cfg.fingerprint() / f"{file_digest(path)}{'-whole' if whole else ''}.npz"
    if entry.is_file():
        feats = _read_entry(entry, cfg, whole)
        if feats is not None:
            return feats
    feats = features(path, cfg, whole=whole)
    try:
        write_with(entry, lambda fh: np.savez(fh, map=feats, sha256=_entry_checksum(feats)),
                   mode="wb")
    except (OSError, ValueError) as exc:
        if str(root) not in _CACHE_WARNED:
            _CACHE_WARNED.add(str(root))
            print(f"heartsound: warning: feature cache {root} not usable ({exc}); going on "
                  "without it", file=sys.stderr)
    return feats
