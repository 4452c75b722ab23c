"""Fitting the temperature of a run's models (Guo et al., 2017) on out-of-fold predictions.

Every recording is scored by the fold model that never saw it; T minimises the negative
log-likelihood of those probabilities and is stored in the shipped model's metadata, where
``heartsound.calibration.scale`` applies it at inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from heartsound.calibration import expected_calibration_error, nll, scale
from heartsound.training.export import set_metadata
from heartsound.training.train import open_run, predict_proba


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    res = minimize_scalar(lambda t: nll(scale(probs, t), y), bounds=(0.05, 20.0),
                          method="bounded")
    return float(res.x)


def out_of_fold(rundir: str | Path, data_dir: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(probabilities, true class indices, classes) of every validation recording of a run,
    recomputed from the fold checkpoints with the run's own windows."""
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
    set_metadata(model_path, {"heartsound.temperature": f"{temperature:.4f}"})
