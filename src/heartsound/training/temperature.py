"""Temperature scaling of a run's final model (Guo et al., 2017) from its folds' stored
out-of-fold probabilities: what ``heartsound train`` does after the folds. Apart from
:mod:`heartsound.training.calibrate` (which rescores a finished run from its checkpoints) so
that ``train`` can use it without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from heartsound.calibration import expected_calibration_error, nll, scale
from heartsound.training.export import set_metadata


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    res = minimize_scalar(lambda t: nll(scale(probs, t), y), bounds=(0.05, 20.0),
                          method="bounded")
    return float(res.x)


def calibrate_probs(probs: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """T fitted on out-of-fold ``probs`` of true classes ``y``; ECE and NLL before and after."""
    t = fit_temperature(probs, y)
    cal = scale(probs, t)
    return {"temperature": t, "n": int(len(y)),
            "ece_before": expected_calibration_error(probs, y),
            "ece_after": expected_calibration_error(cal, y),
            "nll_before": nll(probs, y), "nll_after": nll(cal, y),
            "accuracy": float((probs.argmax(1) == y).mean())}


def validation_probabilities(fold_results: list[dict[str, Any]], classes: list[str]
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, true class indices) of every validation recording, as the folds'
    metrics.json stored them (5 decimals: the same T as from the checkpoints)."""
    rows = [v for f in fold_results for v in f["validation"]]
    probs = np.array([v["probs"] for v in rows], dtype=float).reshape(len(rows), len(classes))
    return probs, np.array([classes.index(v["label"]) for v in rows], dtype=np.int64)


def calibrate_final(rundir: str | Path, fold_results: list[dict[str, Any]],
                    classes: list[str], final: dict[str, Any] | None) -> dict[str, Any]:
    """What ``heartsound train`` does after its folds: fit T on the out-of-fold
    probabilities and store it in the run's final ``model.onnx``, as the shipped models
    carry theirs; ``applied`` False and a ``note`` saying why when there is no model to
    store it in (``final`` None: trained with --no-final)."""
    probs, y = validation_probabilities(fold_results, classes)
    if not len(y) or not np.isfinite(probs).all():
        return {"applied": False, "note": "not calibrated: no usable out-of-fold predictions"}
    cal = calibrate_probs(probs, y)
    model = Path(rundir) / "final" / "model.onnx"
    if final is None:
        note = ("not applied: no final model was trained (--no-final); T is the temperature "
                "it would get")
    elif not model.is_file():
        note = "not applied: the final model was not exported to ONNX"
    else:
        set_temperature(model, cal["temperature"])
        return {**cal, "applied": True, "model": str(model)}
    return {**cal, "applied": False, "note": note}


def set_temperature(model_path: str | Path, temperature: float) -> None:
    """Store T in an ONNX model's metadata (rewritten atomically); predict applies it."""
    set_metadata(model_path, {"heartsound.temperature": f"{temperature:.4f}"})
