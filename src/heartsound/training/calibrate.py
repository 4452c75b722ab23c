"""Fitting the temperature of a run's models (Guo et al., 2017) on out-of-fold predictions.

Every recording is scored by the fold model that never saw it; T minimises the negative
log-likelihood of those probabilities and is stored in the shipped model's metadata, where
``heartsound.calibration.scale`` applies it at inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heartsound.training.temperature import (  # noqa: F401  (this module's API too)
    calibrate_final,
    calibrate_probs,
    fit_temperature,
    set_temperature,
    validation_probabilities,
)
from heartsound.training.train import open_run, predict_proba


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
    return {"run": str(rundir), **calibrate_probs(probs, y)}
