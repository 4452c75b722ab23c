"""Inference on ONNX Runtime + numpy only (no torch): shipped models and ``heartsound predict``.

A model file carries its front-end config; features are computed with exactly that config,
and features made with any other config are refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heartsound.audio import (
    WHOLE_MAX_S,
    AudioError,
    band_limited,
    bandpass,
    fit_length,
    load,
    resample,
    validate,
)
from heartsound.calibration import scale
from heartsound.config import FrontEndConfig
from heartsound.features import feature_map, hop_frames, windows
from heartsound.quality import QualityVerdict, assess, assess_prepared
from heartsound.registry import DEFAULT_MODEL, ModelError, models_dir, resolve_model, shipped_names

__all__ = ["DEFAULT_MODEL", "Classifier", "FrontEndMismatch", "ModelError", "describe_models",
           "predict_parallel", "prediction_rows", "resolve_model"]

MAX_METADATA_BYTES = 1 << 20  # today's models carry ~2 KB
# Maps per ONNX Runtime run in predict_features: larger batches are slower per map for the
# LayerNorm network on 434×48 maps (its activations leave the cache) and no faster for the
# folded BatchNorm ones (docs/lightness.md, *Maps per run*, `heartsound-lab bench`). A lone
# last map joins the run before it: onnxruntime computes a batch of one along another path
# (its ReduceMean sums in another order), and the LayerNorm networks amplify that last-digit
# change (docs/audio-models.md), so a map alone in a run would get other probabilities than
# the same map beside others, as in the audio graph, which runs a recording's windows at once.
RUN_BATCH = 2
# Recordings per predict_files flush: one, so that a recording's answer never depends on the
# recordings read beside it (a run of several recordings' maps is no faster: --batch).
FILES_PER_RUN = 1


def runs(n_maps: int, size: int = RUN_BATCH) -> list[slice]:
    """The ONNX Runtime runs of ``n_maps`` maps: ``size`` at a time, a lone last map in the
    run before it (so no map runs alone unless it is the only one)."""
    starts = list(range(0, n_maps, size))
    if len(starts) > 1 and n_maps - starts[-1] == 1:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, starts[1:] + [n_maps], strict=True)]


class FrontEndMismatch(ModelError, ValueError):
    """Features made with another front-end config than the model was trained on."""


@dataclass
class Classifier:
    """An ONNX heart-sound model: ``predict_features`` on MFCC maps, ``predict_files`` on WAVs."""

    path: Path
    threads: int = 1
    # False: the graph is loaded unoptimised, a third of the time, for reading a model's
    # metadata and inputs (``heartsound models``), not for running it fast.
    optimize: bool = True
    config: FrontEndConfig = field(init=False)
    classes: list[str] = field(init=False)
    metadata: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        if not self.optimize:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.path), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.path}: not a loadable ONNX model "
                             f"({type(exc).__name__})") from None
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        try:
            self._read_metadata()
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelError(f"{self.path}: unusable model metadata: {exc}") from None
        self.input_name = self.session.get_inputs()[0].name
        # An audio model (heartsound.training.audio_model): the front end, the temperature
        # included, is inside the graph, which takes 4-kHz waveforms (batch, samples).
        self.audio = self.input_name == "audio"

    def _read_metadata(self) -> None:
        """The front end, classes, windows and temperature, each checked: a model file is
        input like any other, and a bad field is one line, not a traceback or a NaN."""
        meta = self.metadata
        if "heartsound.frontend" not in meta:
            raise ValueError("no heartsound front-end metadata")
        size = sum(len(k) + len(v) for k, v in meta.items())
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"{size} bytes of metadata (at most {MAX_METADATA_BYTES})")
        self.config = FrontEndConfig.from_json(meta["heartsound.frontend"])
        stored = meta.get("heartsound.fingerprint")
        if stored is not None and stored != self.config.fingerprint():
            raise ValueError(f"front-end fingerprint {stored} does not match its config "
                             f"({self.config.fingerprint()})")
        classes = json.loads(meta["heartsound.classes"])
        if (not isinstance(classes, list) or not classes
                or not all(isinstance(c, str) and c.strip() for c in classes)
                or len(set(classes)) != len(classes)):
            raise ValueError("classes must be a list of distinct non-empty names")
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(classes):
            raise ValueError(f"{len(classes)} classes named but the model outputs {width}")
        self.classes = classes
        hop_s = meta.get("heartsound.window_hop_s")
        if hop_s is not None and not 0.1 <= float(hop_s) <= 60:
            raise ValueError(f"window hop {hop_s} s outside [0.1, 60]")
        # Whole-recording models average 7-s windows this many frames apart.
        self.window_hop_s = None if hop_s is None else float(hop_s)
        self.hop_frames = hop_frames(None if hop_s is None else float(hop_s), self.config)
        # A what-if: windows only from the first this many frames' sound (None: all of it).
        self.span_frames: int | None = None
        # Temperature fitted on out-of-fold predictions (heartsound.calibration), if any.
        self.temperature = float(meta.get("heartsound.temperature", 1.0))
        if not (math.isfinite(self.temperature) and 0.01 <= self.temperature <= 100):
            raise ValueError(f"temperature {self.temperature} (must be finite, in [0.01, 100])")

    @classmethod
    def load(cls, name_or_path: str = DEFAULT_MODEL, threads: int = 1) -> Classifier:
        return cls(resolve_model(name_or_path), threads)

    def predict_features(self, maps: np.ndarray,
                         config: FrontEndConfig | None = None) -> np.ndarray:
        """Class probabilities ``(batch, n_classes)`` for MFCC maps ``(batch, frames, n_mfcc)``.

        ``config`` is the front end the maps were made with; it must be the model's own.
        """
        if self.audio:
            raise ModelError(f"{self.path.name}: an audio model takes 4-kHz waveforms "
                             "(predict_audio), not feature maps")
        if config is not None and config != self.config:
            raise FrontEndMismatch(
                f"{self.path.name}: features made with front end {config.fingerprint()} but the "
                f"model was trained on {self.config.fingerprint()}")
        maps = np.asarray(maps, dtype=np.float32)
        if maps.ndim == 2:
            maps = maps[None]
        if maps.shape[1:] != self.config.shape:
            raise FrontEndMismatch(f"{self.path.name}: expects maps of shape "
                                   f"{self.config.shape}, got {maps.shape[1:]}")
        return np.concatenate([self.session.run(None, {self.input_name: maps[run]})[0]
                               for run in runs(len(maps))])

    def predict_audio(self, x_4k: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities ``(batch, n_classes)`` of an audio model for
        waveforms at the model's rate (4 kHz), ``(samples,)`` or ``(batch, samples)``, each at
        least ``min_duration_s`` (0.5 s) long: the recording resampled as ``predict`` does
        (:meth:`file_audio`). Only the first ``read_seconds`` are used (``WHOLE_MAX_S`` by a
        whole-recording model, which averages its windows inside the graph)."""
        if not self.audio:
            raise ModelError(f"{self.path.name}: takes feature maps (predict_features), "
                             "not audio")
        x = np.asarray(x_4k, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        shortest = math.ceil(self.config.min_duration_s * self.config.sample_rate)
        if x.ndim != 2 or x.shape[1] < shortest:
            raise ValueError(f"{self.path.name}: expects waveforms (batch, samples) of at "
                             f"least {shortest} samples, got shape {x.shape}")
        return self.session.run(None, {self.input_name: x})[0]

    def file_audio(self, path: Path, verdicts: dict[Path, QualityVerdict] | None = None
                   ) -> np.ndarray:
        """An audio model's input for one file: its first ``read_seconds`` (``WHOLE_MAX_S``
        for a whole-recording model, whose graph slides the windows), validated and resampled
        to 4 kHz exactly as :func:`heartsound.audio.preprocess` does before the band-pass.
        With ``verdicts``, the quality verdict too, the one :meth:`file_windows` gives."""
        cfg = self.config
        seconds = WHOLE_MAX_S if self.hop_frames is not None else cfg.read_seconds
        x, rate = load(path, max_seconds=seconds)
        x = x[: int(np.ceil(seconds * rate))]
        validate(x, rate, cfg, path)
        x_4k = resample(x, rate, cfg.sample_rate)
        if verdicts is not None:
            verdicts[path] = self._verdict(x, rate, lambda: bandpass(x_4k, cfg))
        return x_4k

    def _verdict(self, x: np.ndarray, rate: int, band_limited_4k: Callable[[], np.ndarray]
                 ) -> QualityVerdict:
        """The gate's verdict on the first ``read_seconds`` of ``x``: from the front end's own
        4-kHz band-passed signal when ``x`` is no longer than that (not a second resampling
        and filtering), else from the raw samples alone."""
        cfg = self.config
        if x.size <= math.ceil(cfg.read_seconds * rate):
            return assess_prepared(x, rate, band_limited_4k(), config=cfg,
                                   max_seconds=cfg.read_seconds)
        return assess(x, rate, config=cfg, max_seconds=cfg.read_seconds)

    def _predict_audio_files(self, paths: Iterable[Path],
                             verdicts: dict[Path, QualityVerdict] | None
                             ) -> Iterable[tuple[Path, np.ndarray | None, str | None]]:
        for p in paths:  # one recording per run: waveforms differ in length
            try:
                x = self.file_audio(p, verdicts)
            except AudioError as exc:
                yield p, None, exc.reason
                continue
            yield p, self.predict_audio(x)[0], None

    @property
    def csv_fields(self) -> list[str]:
        """Columns of the prediction CSV: ``path,label,quality,reason,prob_<class>...``."""
        return ["path", "label", "quality", "reason", *(f"prob_{c}" for c in self.classes)]

    def file_windows(self, path: Path, verdicts: dict[Path, QualityVerdict] | None = None
                     ) -> np.ndarray:
        """The model's input maps for one file: its 7-s map, or its sliding windows. With
        ``verdicts``, the file's quality verdict is put there too, from the same samples."""
        cfg, whole = self.config, self.hop_frames is not None
        x, rate = load(path, max_seconds=WHOLE_MAX_S if whole else cfg.read_seconds)
        y = band_limited(x, rate, cfg, path, whole)
        if verdicts is not None:
            verdicts[path] = self._verdict(x, rate, lambda: y)
        return self._windows(y)

    def signal_windows(self, x: np.ndarray, rate: int, path: object = None) -> np.ndarray:
        """:meth:`file_windows` for a signal already in memory (mono or ``(samples,
        channels)``, any rate): validated, resampled, band-passed, its map or windows."""
        return self._windows(band_limited(x, rate, self.config, path,
                                          self.hop_frames is not None))

    def predict_signal(self, x: np.ndarray, rate: int) -> np.ndarray:
        """Calibrated class probabilities of one signal, as ``predict`` gives them for a file
        holding it (windows averaged; the quality gate not applied)."""
        return self._calibrated_mean(self.predict_features(self.signal_windows(x, rate),
                                                           self.config))

    def _calibrated_mean(self, window_probs: np.ndarray) -> np.ndarray:
        """One recording's probabilities from its windows': averaged, then the stored
        temperature applied."""
        mean = window_probs.mean(axis=0)
        return mean if self.temperature == 1.0 else scale(mean[None], self.temperature)[0]

    def _windows(self, band_limited_4k: np.ndarray) -> np.ndarray:
        cfg, whole = self.config, self.hop_frames is not None
        n, cut = cfg.n_samples, not whole
        if whole and self.span_frames is not None:  # heartsound-lab invariance --phases
            # only the span's sound, its map made of it alone (as a reader of it would)
            n, cut = cfg.n_samples + (self.span_frames - cfg.n_frames) * cfg.hop_length, True
        full = feature_map(fit_length(band_limited_4k, n, cut=cut), cfg)
        if self.hop_frames is None:
            return full[None]
        return windows(full, cfg.n_frames, self.hop_frames)

    def predict_files(self, paths: Iterable[Path], batch: int = FILES_PER_RUN,
                      verdicts: dict[Path, QualityVerdict] | None = None
                      ) -> Iterable[tuple[Path, np.ndarray | None, str | None]]:
        """Yield ``(path, probabilities or None, error or None)`` per file, in order (window
        probabilities averaged per file); bad files never stop the batch. ``verdicts``
        collects each file's quality verdict (:mod:`heartsound.quality`) as it is read.
        ``batch`` > 1 runs the maps of that many files together: no faster, and a file's
        probabilities may then move in their last digits (more for ``pascal-b-light-int8``)
        with the files beside it (:data:`RUN_BATCH`)."""
        if self.audio:
            yield from self._predict_audio_files(paths, verdicts)
            return
        pending: list[tuple[Path, np.ndarray]] = []

        def flush() -> Iterable[tuple[Path, np.ndarray | None, str | None]]:
            if pending:
                probs = self.predict_features(np.concatenate([m for _, m in pending]),
                                              self.config)
                start = 0
                for p, m in pending:
                    yield p, self._calibrated_mean(probs[start:start + len(m)]), None
                    start += len(m)
                pending.clear()

        for p in paths:
            try:
                pending.append((p, self.file_windows(p, verdicts)))
            except AudioError as exc:
                yield from flush()
                yield p, None, exc.reason
                continue
            if sum(len(m) for _, m in pending) >= batch:
                yield from flush()
        yield from flush()


def prediction_rows(classifier: Classifier, paths: Iterable[Path], batch: int = FILES_PER_RUN,
                    min_confidence: float | None = None, quality_gate: bool = True
                    ) -> tuple[list[dict], list[str]]:
    """CSV rows (:attr:`Classifier.csv_fields`) and one-line errors for the failures.

    With the quality gate a recording that is not a usable heart sound is answered
    ``unusable`` with its reason and no class probabilities; it is an answer, not an error.
    """
    rows, errors = [], []
    verdicts: dict[Path, QualityVerdict] | None = {} if quality_gate else None
    for path, probs, error in classifier.predict_files(paths, batch, verdicts):
        if probs is None:
            errors.append(f"{path}: {error}")
            continue
        verdict = None if verdicts is None else verdicts.pop(path)
        row = {"path": str(path), "quality": "" if verdict is None else f"{verdict.quality:.3f}",
               "reason": "" if verdict is None or verdict.usable else verdict.reason}
        if verdict is not None and not verdict.usable:
            row["label"] = "unusable"
            row.update({f"prob_{c}": "" for c in classifier.classes})
            rows.append(row)
            continue
        best = int(np.argmax(probs))
        label = classifier.classes[best]
        if min_confidence is not None and probs[best] < min_confidence:
            label = "uncertain"
        row["label"] = label
        row.update({f"prob_{c}": f"{p:.4f}" for c, p in zip(classifier.classes, probs,
                                                             strict=True)})
        rows.append(row)
    return rows, errors


# The model of a predict_parallel worker process, or why it could not be loaded (raised by
# each task, so the caller gets the ModelError rather than a broken pool).
_WORKER: Classifier | ModelError | None = None


def _worker_init(model: str, threads: int) -> None:
    global _WORKER
    try:
        _WORKER = Classifier.load(model, threads)
    except ModelError as exc:
        _WORKER = exc


def _worker_rows(args: tuple[list[Path], int, float | None, bool]
                 ) -> tuple[list[dict], list[str]]:
    paths, batch, min_confidence, gate = args
    if not isinstance(_WORKER, Classifier):
        raise _WORKER or RuntimeError("not a predict_parallel worker")
    return prediction_rows(_WORKER, paths, batch, min_confidence, gate)


def predict_parallel(model: str, paths: Sequence[Path], workers: int = 1,
                     batch: int = FILES_PER_RUN,
                     min_confidence: float | None = None, quality_gate: bool = True,
                     threads: int = 1, progress: Callable[[int], object] | None = None
                     ) -> tuple[list[dict], list[str]]:
    """:func:`prediction_rows` over ``workers`` processes (each ``threads`` ONNX threads),
    rows and errors in input order. ``progress(n)`` is called as each ``n`` more files
    are done."""
    if workers <= 1 or len(paths) < 2:
        serial = prediction_rows(Classifier.load(model, threads), paths, batch,
                                 min_confidence, quality_gate)
        if progress is not None:
            progress(len(paths))
        return serial
    from concurrent.futures import ProcessPoolExecutor

    # Each worker loads the model once; consecutive chunks, a few per worker, keep the
    # workers evenly busy and let progress move while the pool works.
    size = max(1, min(16, -(-len(paths) // (4 * workers))))
    chunks = [list(paths[i:i + size]) for i in range(0, len(paths), size)]
    # Forked workers (Linux default) inherit the parent's thread pools' sizes (`heartsound
    # predict` pins numpy's BLAS to --threads first); spawned ones were slower in
    # `heartsound-lab bench`'s throughput (each imports numpy, scipy and onnxruntime anew).
    rows: list[dict] = []
    errors: list[str] = []
    with ProcessPoolExecutor(workers, initializer=_worker_init,
                             initargs=(model, threads)) as pool:
        for chunk, (part_rows, part_errors) in zip(
                chunks, pool.map(_worker_rows, [(c, batch, min_confidence, quality_gate)
                                                for c in chunks]), strict=True):
            rows.extend(part_rows)
            errors.extend(part_errors)
            if progress is not None:
                progress(len(chunk))
    return rows, errors


def card_lines(cards: str) -> dict[str, str]:
    """The CV line of each model card in ``models/README.md`` (int8 files: their float's)."""
    out, name = {}, None
    for line in cards.splitlines():
        if line.startswith("## "):
            name = line[3:].strip()
        elif name and line.startswith("- **CV**"):
            out[name] = line.removeprefix("- **CV**").strip()
            out[f"{name}-int8"] = out[name] + " (the float model's; int8: docs/int8.md)"
            for source in (name, f"{name}-int8"):  # audio graphs: their source model's
                out[f"{source}-audio"] = out[source] + " (front end in the graph)"
    return out


def describe_models() -> list[dict]:
    """What ``heartsound models`` lists: name, path, classes, input, size and card figures."""
    cards_file = models_dir() / "README.md"
    cards = card_lines(cards_file.read_text(encoding="utf-8")) if cards_file.is_file() else {}
    out = []
    for name in shipped_names():
        clf = Classifier(resolve_model(name), optimize=False)
        inp = clf.session.get_inputs()[0]
        params = clf.metadata.get("heartsound.parameters")
        out.append({
            "name": name, "path": str(clf.path), "classes": clf.classes,
            "input": "audio" if inp.name == "audio" else "features",
            "input_shape": [d if isinstance(d, int) else str(d) for d in inp.shape],
            "parameters": int(params) if params else None,
            "bytes": clf.path.stat().st_size,
            "front_end": clf.config.describe(clf.window_hop_s),
            "temperature": clf.temperature,
            "quantization": clf.metadata.get("heartsound.quantization"),
            "card": cards.get(name),
        })
    return out
