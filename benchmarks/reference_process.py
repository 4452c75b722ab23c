"""The whole-process reference: one script that classifies many files the way public
heart-sound notebooks do, with the same ONNX model as ``heartsound predict``.

librosa loads and resamples (``librosa.load(path, sr=4000)``), scipy designs and applies the
same zero-phase Butterworth band-pass (``sosfiltfilt``), the signal is fitted to 7 s with the
repeat rule, librosa makes the map the model's metadata asks for (MFCC or log-mel, from the
``heartsound.frontend`` JSON), and onnxruntime (one thread, one session kept warm) classifies
each file at batch 1. A whole-recording model (metadata ``heartsound.window_hop_s``) gets
what ``heartsound predict`` gives it: up to 60 s, a short one tiled to 7 s, the map of all of
it, and the mean of its probabilities over 7-s windows that far apart (the last one aligned
to the end), the windows in one batch. It writes ``path,label`` rows to a CSV.

    python benchmarks/reference_process.py MODEL.onnx OUT.csv FILE...

``heartsound-lab bench`` runs it as one process against one ``heartsound predict`` process
over the same files (both pinned to one thread) and reports the wall times as a ratio. It
imports nothing from heartsound: only librosa, scipy, numpy and onnxruntime.
"""

from __future__ import annotations

import csv
import json
import sys

import librosa
import numpy as np
import onnxruntime as ort
from scipy import signal

WHOLE_MAX_S = 60.0  # seconds a whole-recording model reads (heartsound.audio.WHOLE_MAX_S)


def session(model: str) -> tuple[ort.InferenceSession, dict, list[str]]:
    """A one-thread session and the front end and classes stored in the model (with the
    window hop in seconds as ``cfg["window_hop_s"]`` for a whole-recording model)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    cfg = json.loads(meta["heartsound.frontend"])
    if "heartsound.window_hop_s" in meta:
        cfg["window_hop_s"] = float(meta["heartsound.window_hop_s"])
    return sess, cfg, json.loads(meta["heartsound.classes"])


def feature_map(path: str, cfg: dict, sos: np.ndarray, whole: bool = False) -> np.ndarray:
    """File → the model's (frames, width) map with librosa and scipy: of its first 7 s, or
    with ``whole`` of up to 60 s (a short file tiled to 7 s either way)."""
    sr = cfg["sample_rate"]
    y, _ = librosa.load(path, sr=sr, duration=WHOLE_MAX_S if whole else None)
    y = signal.sosfiltfilt(sos, y)
    n = int(round(cfg["duration_s"] * sr))
    if len(y) < n or not whole:
        y = np.tile(y, -(-n // len(y)))[:n]
    if cfg.get("log", "db") != "db":
        raise SystemExit(f"reference: log={cfg['log']!r} front ends are not reproduced here")
    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=cfg["n_fft"], hop_length=cfg["hop_length"],
        win_length=cfg["frame_length"], window=cfg.get("window", "hann"),
        center=cfg.get("center", False), n_mels=cfg["n_mels"], fmin=cfg["fmin_hz"],
        fmax=cfg["fmax_hz"], htk=cfg.get("mel_scale", "htk") == "htk",
        norm=cfg.get("mel_norm"), power=2.0)
    db = librosa.power_to_db(mel, ref=1.0, amin=cfg.get("amin", 1e-10),
                             top_db=cfg.get("top_db", 80.0))
    if cfg.get("cepstrum", True):
        db = librosa.feature.mfcc(S=db, n_mfcc=cfg["n_mfcc"])
    return db.T.astype(np.float32)


def model_input(path: str, cfg: dict, sos: np.ndarray) -> np.ndarray:
    """The (windows, frames, width) batch the model gets for one file: its one map, or a
    whole-recording model's 7-s windows every ``window_hop_s`` with the last aligned to the
    end."""
    hop_s = cfg.get("window_hop_s")
    m = feature_map(path, cfg, sos, whole=hop_s is not None)
    if hop_s is None:
        return m[None]
    sr, hop_length = cfg["sample_rate"], cfg["hop_length"]
    n = int(round(cfg["duration_s"] * sr))  # librosa's frame count of a 7-s map
    n_frames = 1 + (n if cfg.get("center", False) else n - cfg["n_fft"]) // hop_length
    if len(m) <= n_frames:
        return m[None, :n_frames]
    starts = list(range(0, len(m) - n_frames + 1, max(1, round(hop_s * sr / hop_length))))
    if starts[-1] != len(m) - n_frames:
        starts.append(len(m) - n_frames)
    return np.stack([m[s:s + n_frames] for s in starts])


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    model, out, paths = argv[0], argv[1], argv[2:]
    sess, cfg, classes = session(model)
    sos = signal.butter(cfg["filter_order"], [cfg["band_low_hz"], cfg["band_high_hz"]],
                        btype="bandpass", fs=cfg["sample_rate"], output="sos")
    name = sess.get_inputs()[0].name
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        for p in paths:
            probs = sess.run(None, {name: model_input(p, cfg, sos)})[0].mean(axis=0)
            writer.writerow([p, classes[int(np.argmax(probs))]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
