"""Calibrated probabilities: temperature scaling fitted on out-of-fold predictions.

Guo et al. (2017): divide the logits by one temperature T fitted to minimise the negative
log-likelihood. We fit T on the validation-fold probabilities of a cross-validation run
(every recording scored by the fold model that never saw it), report the expected
calibration error (ECE, 10 equal-width confidence bins) before and after, and store T in the
shipped model's metadata so ``predict`` reports calibrated probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the same ranking, sharper (T < 1) or softer (T > 1)."""
    logits = np.log(np.clip(probs, 1e-12, None)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Σ_b (n_b/N)·|accuracy_b − confidence_b| over equal-width confidence bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return float(ece)


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    res = minimize_scalar(lambda t: nll(scale(probs, t), y), bounds=(0.05, 20.0),
                          method="bounded")
    return float(res.x)


def out_of_fold(rundir: str | Path, data_dir: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(probabilities, true class indices, classes) of every validation recording of a run,
    recomputed from the fold checkpoints with the run's own windows."""
    from .train import open_run, predict_proba

    run = open_run(rundir, data_dir)
    probs, y = [], []
    for _, val, model in run.fold_models():
        probs.append(predict_proba(model, [run.maps[i] for i in val], run.frontend.n_frames,
                                   run.hop))
        y += [run.classes.index(run.recordings[i].label) for i in val]
    classes = run.classes
    return np.concatenate(probs), np.array(y), classes


def calibrate_run(rundir: str | Path, data_dir: str | None = None) -> dict[str, Any]:
    """Fit T on a run's out-of-fold probabilities; ECE and NLL before and after."""
    probs, y, classes = out_of_fold(rundir, data_dir)
    t = fit_temperature(probs, y)
    cal = scale(probs, t)
    return {"run": str(rundir), "temperature": t, "n": int(len(y)),
            "ece_before": expected_calibration_error(probs, y),
            "ece_after": expected_calibration_error(cal, y),
            "nll_before": nll(probs, y), "nll_after": nll(cal, y),
            "accuracy": float((probs.argmax(1) == y).mean())}


def set_temperature(model_path: str | Path, temperature: float) -> None:
    """Store T in an ONNX model's metadata (rewritten atomically); predict applies it."""
    import onnx

    from .atomic import write_with

    proto = onnx.load(str(model_path))
    kept = [p for p in proto.metadata_props if p.key != "heartsound.temperature"]
    del proto.metadata_props[:]
    for p in kept:
        proto.metadata_props.add().CopyFrom(p)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "heartsound.temperature", f"{temperature:.4f}"
    write_with(model_path, lambda fh: fh.write(proto.SerializeToString()), mode="wb")
