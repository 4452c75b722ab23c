"""The front-end configuration: every parameter that shapes a feature map, in one object.

Defaults are the paper's (sections 3.2-3.3). Every trained model stores this object and
refuses features made with another one, so a model is never fed a map it wasn't trained on.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _builtin_sha256() -> Callable[..., Any]:
    """CPython's own SHA-256 (the module hashlib falls back to): the same digests without
    hashlib's import, which loads OpenSSL — a few ms of every one-file ``predict``."""
    for module in ("_sha2", "_sha256"):  # Python >= 3.12, 3.11
        try:
            return importlib.import_module(module).sha256
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


sha256 = _builtin_sha256()


@dataclass(frozen=True)
class FrontEndConfig:
    """Signal chain: load → mono → resample → band-pass → fit length → MFCC.

    Frame counts (7 s at 4 kHz = 28,000 samples, no centring/padding):
    ``1 + (28000 - n_fft) // hop_length`` = 872 (×1), 434 (×2), 215 (×4).
    The paper's 438 / 219 are ``1 + 28000 // hop`` (librosa's centred framing), which would
    give 876 at ×1, so the paper's three sizes don't share one convention; ``center=True``
    reproduces 876 / 438 / 219.
    """

    sample_rate: int = 4000  # Hz, after resampling
    band_low_hz: float = 20.0  # band-pass lower edge
    band_high_hz: float = 1800.0  # band-pass upper edge
    filter_order: int = 4  # Butterworth order (applied forward and backward: zero phase)
    duration_s: float = 7.0  # fixed length: tile shorter recordings, truncate longer ones
    crop_margin_s: float = 0.5  # audio kept past duration_s before filtering (edge effects)
    frame_length: int = 128  # samples per frame (32 ms)
    hop_length: int = 32  # samples between frames (96-sample overlap)
    n_fft: int = 128
    window: str = "hann"  # periodic Hann, as scipy.signal.get_window / librosa use
    center: bool = False  # True: pad frame_length//2 reflect on both sides, as librosa does
    n_mels: int = 48
    fmin_hz: float = 0.0
    fmax_hz: float = 2000.0
    mel_scale: str = "htk"  # "htk": 2595·log10(1 + f/700), the paper's eq. (3); or "slaney"
    mel_norm: str | None = None  # None: unit-peak triangles, eq. (5); "slaney": unit area
    # "db": 10·log10(max(S, amin)), librosa's power_to_db; "ln": natural log; "pcen":
    # per-channel energy normalisation of the mel magnitudes (features.pcen) instead of a log
    log: str = "db"
    amin: float = 1e-10  # power floor before the log, so silence stays finite
    top_db: float | None = 80.0  # clip the map to (max - top_db) dB, as librosa.feature.mfcc
    n_mfcc: int = 20
    cepstrum: bool = True  # False: the log-mel map itself (frames × n_mels), no DCT
    # Input checks (see audio.validate): reject what would only produce garbage features.
    min_duration_s: float = 0.5
    silence_dbfs: float = -90.0  # peak below this (re. full scale 1.0) is digital silence

    def __post_init__(self) -> None:
        if not 0 < self.band_low_hz < self.band_high_hz < self.sample_rate / 2:
            raise ValueError("band edges must satisfy 0 < low < high < sample_rate/2")
        if self.n_fft < self.frame_length:
            raise ValueError("n_fft must be >= frame_length")
        if self.n_mfcc > self.n_mels:
            raise ValueError("n_mfcc must be <= n_mels")
        if self.mel_scale not in ("htk", "slaney") or self.log not in ("db", "ln", "pcen"):
            raise ValueError("mel_scale must be htk|slaney and log db|ln|pcen")

    @property
    def n_samples(self) -> int:
        """Samples in the fixed-length signal (28,000 for 7 s at 4 kHz)."""
        return int(round(self.duration_s * self.sample_rate))

    @property
    def read_seconds(self) -> float:
        """Seconds of a file the front end reads: the kept length plus the filter margin."""
        return self.duration_s + self.crop_margin_s

    @property
    def n_frames(self) -> int:
        """Frames in the MFCC map of one fixed-length signal."""
        if self.center:
            return 1 + self.n_samples // self.hop_length
        return 1 + (self.n_samples - self.n_fft) // self.hop_length

    @property
    def n_coefficients(self) -> int:
        """Width of a map: MFCCs, or mel bands when ``cepstrum`` is off."""
        return self.n_mfcc if self.cepstrum else self.n_mels

    @property
    def kind(self) -> str:
        """What the map's columns are: "MFCC", "log-mel" or "PCEN" (mel bands)."""
        if self.cepstrum:
            return "MFCC"
        return "PCEN" if self.log == "pcen" else "log-mel"

    @property
    def label(self) -> str:
        """The map in words: "872×20" for MFCCs, "215×48 log-mel" for mel bands."""
        return f"{self.n_frames}×{self.n_coefficients}" + ("" if self.cepstrum
                                                            else f" {self.kind}")

    @property
    def summary(self) -> str:
        """The front end in one line, as ``heartsound models`` shows it."""
        return self.describe()

    def describe(self, window_hop_s: float | None = None) -> str:
        """:attr:`summary`, for a whole-recording model (``window_hop_s``: its metadata
        ``heartsound.window_hop_s``) naming the windows it averages instead of the first 7 s."""
        return (f"{self.n_frames}×{self.n_coefficients} {self.kind} map of "
                f"{self.span(window_hop_s)} "
                f"({self.frame_length}-sample frames every "
                f"{self.hop_length} samples at {self.sample_rate} Hz, band-pass "
                f"{self.band_low_hz:g}-{self.band_high_hz:g} Hz"
                + ("" if self.top_db == 80.0 else
                   ", no dynamic-range clip" if self.top_db is None else
                   f", clipped {self.top_db:g} dB below its peak") + ")")

    def span(self, window_hop_s: float | None = None) -> str:
        """What of a recording the network reads: "the first 7 s", or for a whole-recording
        model "7-s windows every 2 s, averaged"."""
        return (f"the first {self.duration_s:g} s" if window_hop_s is None else
                f"{self.duration_s:g}-s windows every {window_hop_s:g} s, averaged")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_frames, self.n_coefficients)

    def scaled(self, factor: int) -> FrontEndConfig:
        """The paper's lightness variants: frame length, FFT and hop multiplied by ``factor``."""
        return dataclasses.replace(
            self,
            frame_length=self.frame_length * factor,
            n_fft=self.n_fft * factor,
            hop_length=self.hop_length * factor,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field, except those added after models shipped (LATER_FIELDS) while they
        hold their default: an older model's stored config and fingerprint stay its own."""
        data = dataclasses.asdict(self)
        for name, default in LATER_FIELDS.items():
            if data[name] == default:
                del data[name]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrontEndConfig:
        """A stored config, checked field by field: types and sane ranges (``LIMITS``), so a
        damaged or hostile model file cannot switch checks off or ask for gigabytes."""
        if not isinstance(data, dict):
            raise ValueError("front-end config is not a JSON object")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown front-end config keys: {sorted(unknown)}")
        defaults = cls()
        for name, value in data.items():
            expected = type(getattr(defaults, name))
            if value is None and name in ("mel_norm", "top_db"):
                continue
            number = expected is float and isinstance(value, int)
            if (not (isinstance(value, expected) or number)
                    or (expected is not bool and isinstance(value, bool))):
                if not (name == "mel_norm" and isinstance(value, str)):
                    raise ValueError(f"front-end config {name}={value!r}: expected "
                                     f"{expected.__name__}")
            if name in LIMITS:
                lo, hi = LIMITS[name]
                if not lo <= value <= hi:  # NaN fails too
                    raise ValueError(f"front-end config {name}={value!r} outside [{lo}, {hi}]")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> FrontEndConfig:
        return cls.from_dict(json.loads(text))

    def fingerprint(self) -> str:
        """Short stable hash of the feature-shaping parameters (cache keys, model checks)."""
        return sha256(self.to_json().encode()).hexdigest()[:16]


# Sane ranges of the numeric fields of a stored config (FrontEndConfig.from_dict).
LIMITS: dict[str, tuple[float, float]] = {
    "sample_rate": (1000, 48000), "band_low_hz": (0.0, 24000.0),
    "band_high_hz": (1.0, 24000.0), "filter_order": (1, 12), "duration_s": (0.5, 120.0),
    "crop_margin_s": (0.0, 10.0), "frame_length": (8, 16384), "hop_length": (1, 16384),
    "n_fft": (8, 16384), "n_mels": (1, 512), "fmin_hz": (0.0, 24000.0),
    "fmax_hz": (1.0, 24000.0), "amin": (1e-20, 1.0), "top_db": (1.0, 300.0),
    "n_mfcc": (1, 512), "min_duration_s": (0.1, 60.0), "silence_dbfs": (-200.0, -20.0),
}

# Fields added after the first models shipped, with the default that older models used.
LATER_FIELDS: dict[str, Any] = {"cepstrum": True}
DEFAULT = FrontEndConfig()


def front_end(scale: int = 1, log_mel: bool = False, sample_rate: int = 4000,
              top_db: float | None = DEFAULT.top_db) -> FrontEndConfig:
    """The paper's front end with frame length, FFT and hop × ``scale`` (its lightness
    variants), making log-mel maps instead of MFCCs with ``log_mel``; at ``sample_rate``
    (:func:`at_rate`) instead of 4 kHz; each map's dynamic range clipped to ``top_db``
    below its peak (80 dB, librosa's, by default)."""
    cfg = at_rate(DEFAULT.scaled(scale), sample_rate)
    if top_db != cfg.top_db:
        cfg = dataclasses.replace(cfg, top_db=top_db)
    return dataclasses.replace(cfg, cepstrum=False) if log_mel else cfg


def at_rate(config: FrontEndConfig, sample_rate: int) -> FrontEndConfig:
    """``config`` at another sample rate, the same map in time: frames, FFT and hop keep
    their durations (so the frame count and the bins' spacing in Hz stay), the band-pass
    ends at ``min(band_high_hz, 0.45·rate)`` and the mel bands span 0 to Nyquist. At 2 kHz
    (PhysioNet 2016's rate: nothing above 1 kHz) the mel bands all fall where the
    recordings have energy instead of half of them above it."""
    if sample_rate == config.sample_rate:
        return config
    ratio = sample_rate / config.sample_rate
    frame, hop, n_fft = (v * ratio for v in (config.frame_length, config.hop_length,
                                             config.n_fft))
    if any(v != int(v) for v in (frame, hop, n_fft)):
        raise ValueError(f"{sample_rate} Hz: frames of {config.frame_length} samples at "
                         f"{config.sample_rate} Hz do not scale to whole samples")
    return dataclasses.replace(
        config, sample_rate=sample_rate, frame_length=int(frame), hop_length=int(hop),
        n_fft=int(n_fft), band_high_hz=min(config.band_high_hz, 0.45 * sample_rate),
        fmax_hz=min(config.fmax_hz, sample_rate / 2))


def resolve(config: FrontEndConfig | None) -> FrontEndConfig:
    return DEFAULT if config is None else config
