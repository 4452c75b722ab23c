"""A baseline without deep learning, on the CNN's own folds, and its blend with the CNN.

Issue 6 asks what beats the paper's network; researchers comparing classifiers also ask
what the network beats. The classic alternative to a CNN describes a whole recording by
fixed statistics of its spectrum and fits a linear model: here each recording becomes a
vector of such statistics (:func:`summary_statistics`) and a multinomial logistic
regression (:class:`SoftmaxRegression`: ~200 weights per class, far inside the lightweight
budget) learns the classes from it. ``heartsound-lab baseline`` fits it on the training part of
every fold of a set's default ablation row, for every seed, so that its validation scores
pair with the network's; and it scores the blend ``(1 - w)·log p_cnn + w·log p_regression``
at several fixed weights ``w`` (0: the network alone, 1: the regression alone).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.optimize

from heartsound.config import FrontEndConfig, front_end

BLEND_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def summary_statistics(x: np.ndarray, sample_rate: int,
                       config: FrontEndConfig | None = None) -> np.ndarray:
    """A fixed-length description of one whole raw recording: 207 numbers.

    From the front end's band-passed 4-kHz signal (not tiled or cut: statistics need no fixed
    length): the mean, standard deviation and 10–90 % range over time of each of 48 log-mel
    bands (256-sample frames, the 2× map), the mean and standard deviation of each of the 20
    MFCCs (the paper's map) and the mean absolute frame-to-frame change of each, and the
    three beat-regularity measures of :func:`heartsound.rhythm.rhythm_measures` (NaN when
    the recording holds fewer than two cycles; the regression fills them in).
    """
    from heartsound.audio import preprocess
    from heartsound.features import log_mel, mfcc
    from heartsound.rhythm import rhythm_measures

    cfg = front_end(1) if config is None else config
    y = preprocess(x, sample_rate, cfg, whole=True)
    bands = log_mel(y, front_end(2, log_mel=True))
    coeffs = mfcc(y, cfg)
    rhythm = list(rhythm_measures(x, sample_rate, cfg).values())
    return np.concatenate([
        bands.mean(axis=0), bands.std(axis=0),
        np.percentile(bands, 90, axis=0) - np.percentile(bands, 10, axis=0),
        coeffs.mean(axis=0), coeffs.std(axis=0), np.abs(np.diff(coeffs, axis=0)).mean(axis=0),
        rhythm,
    ]).astype(np.float64)


@dataclass
class SoftmaxRegression:
    """Multinomial logistic regression with an L2 penalty, fitted by L-BFGS (scipy).

    Minimises ``Σ_i -log p(y_i | x_i) + ||W||² / (2·C)`` on standardised inputs (the bias is
    not penalised), scikit-learn's ``LogisticRegression(C=C)`` objective. Missing inputs
    (NaN) are replaced by the training mean. No dependency beyond numpy/scipy.
    """

    C: float = 0.1
    max_iter: int = 1000

    def fit(self, X: np.ndarray, y: np.ndarray, n_classes: int | None = None
            ) -> SoftmaxRegression:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        self.n_classes = int(n_classes or y.max() + 1)
        self.mean = np.nanmean(X, axis=0)
        self.mean = np.where(np.isfinite(self.mean), self.mean, 0.0)
        Z = self._fill(X) - self.mean
        self.scale = Z.std(axis=0)
        self.scale[self.scale == 0] = 1.0
        Z /= self.scale
        n, d = Z.shape
        onehot = np.eye(self.n_classes)[y]

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = theta[: d * self.n_classes].reshape(d, -1), theta[d * self.n_classes:]
            logits = Z @ W + b
            logits -= logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            g = np.exp(logp) - onehot
            value = -(onehot * logp).sum() + (W ** 2).sum() / (2 * self.C)
            grad = np.concatenate([(Z.T @ g + W / self.C).ravel(), g.sum(axis=0)])
            return float(value), grad

        theta0 = np.zeros(d * self.n_classes + self.n_classes)
        result = scipy.optimize.minimize(loss, theta0, jac=True, method="L-BFGS-B",
                                         options={"maxiter": self.max_iter})
        self.W = result.x[: d * self.n_classes].reshape(d, -1)
        self.b = result.x[d * self.n_classes:]
        return self

    def _fill(self, X: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(X), self.mean, X)

    @property
    def n_parameters(self) -> int:
        return int(self.W.size + self.b.size + self.mean.size + self.scale.size)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = ((self._fill(np.asarray(X, dtype=np.float64)) - self.mean) / self.scale) @ self.W
        logits += self.b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def recording_statistics(dataset: str, data_dir: str | None = None) -> dict[str, np.ndarray]:
    """:func:`summary_statistics` of every labelled recording of a PASCAL set, by file name."""
    from heartsound.audio import load
    from heartsound.data import load_dataset

    out = {}
    for r in load_dataset(f"pascal-{dataset}", data_dir):
        if r.split == "labelled":
            x, rate = load(r.path)
            out[r.path.name] = summary_statistics(x, rate)
    return out


def blend_scores(summary: dict[str, Any], statistics: dict[str, np.ndarray],
                 weights: Sequence[float] = BLEND_WEIGHTS, C: float = 0.1
                 ) -> dict[float, dict[str, float]]:
    """For one finished CV run (its ``summary.json``): per blend weight, the mean over folds
    of the scores of the blend of the run's validation probabilities with those of a
    regression fitted on the fold's training recordings of the same set (the run's joint
    recordings of the other set are not used). Weight 0 reproduces the run's own scores."""
    from heartsound.research.ablation import fold_means
    from heartsound.training.train import dataset_key, scores_for

    classes = summary["config"]["classes"]
    key = dataset_key(summary["config"]["dataset"])
    labels = {v["path"]: v["label"] for f in summary["folds"] for v in f["validation"]}
    per_weight: dict[float, list[dict[str, Any]]] = {w: [] for w in weights}
    for fold in summary["folds"]:
        val = fold["validation"]
        held = {v["path"] for v in val}
        train = sorted(set(labels) - held)
        model = SoftmaxRegression(C=C).fit(
            np.stack([statistics[n] for n in train]),
            np.array([classes.index(labels[n]) for n in train]), len(classes))
        p_reg = model.predict_proba(np.stack([statistics[v["path"]] for v in val]))
        p_cnn = np.array([v["probs"] for v in val], dtype=np.float64)
        truth = [v["label"] for v in val]
        for w in weights:
            mixed = (1 - w) * np.log(p_cnn + 1e-9) + w * np.log(p_reg + 1e-9)
            # Weight 0 keeps the run's own decisions (its argmax of the unrounded probabilities).
            pred = ([v["pred"] for v in val] if w == 0
                    else [classes[i] for i in mixed.argmax(axis=1)])
            per_weight[w].append(scores_for(key, classes, truth, pred))
    return {w: fold_means(folds) for w, folds in per_weight.items()}


def _name(w: float) -> str:
    if w == 0:
        return "network alone (w = 0)"
    if w == 1:
        return "regression alone (w = 1)"
    return f"blend, w = {w:g}"


def baseline_markdown(scored: dict[str, list[dict[float, dict[str, float]]]],
                      parameters: dict[str, str], C: float) -> str:
    """docs/baseline.md: per set, each blend weight's mean ± std over seeds, paired against
    the network alone."""
    from heartsound.provenance import cpu_name
    from heartsound.research.ablation import paired_text, seeds_cell

    keys = ("accuracy", "total_precision", "youden")
    lines = [
        "# A baseline without deep learning, and its blend with the network", "",
        f"Generated by `heartsound-lab baseline` on {cpu_name()}, {time.strftime('%Y-%m-%d')} "
        "(no network is trained: the networks' validation probabilities come from each set's "
        "default row in `docs/ablation.md`). Each recording is described by 207 statistics of "
        "its whole spectrum (`heartsound.research.baseline.summary_statistics`: per log-mel "
        "band the mean, spread and 10–90 % range; per MFCC the mean, spread and mean change; three "
        "beat-regularity measures) and a multinomial logistic regression "
        f"(`SoftmaxRegression`, L2, C = {C:g}) is fitted on the training part of every fold "
        "of every seed's run — the network's own folds, set B grouped by patient. A row blends "
        "the two: (1 − w)·log p(network) + w·log p(regression). A cell is the mean ± std over "
        "seeds of the 5-fold mean, as in `docs/ablation.md`; *against the network* pairs each "
        "seed with the network alone (seeds better / same / worse).", ""]
    for title, runs in scored.items():
        lines += [f"## {title}", "", parameters[title], "",
                  "| model | seeds | " + " | ".join(keys) + " | accuracy per seed "
                  "| against the network |", "|---" * (len(keys) + 4) + "|"]
        alone = np.array([r[0.0]["accuracy"] for r in runs])
        for w in runs[0]:
            cells = [seeds_cell([r[w][k] for r in runs if k in r[w]]) for k in keys]
            acc = np.array([r[w]["accuracy"] for r in runs])
            paired = "–" if w == 0 else paired_text(acc - alone, same_within=1e-9)
            lines.append(f"| {_name(w)} | {len(runs)} | " + " | ".join(cells) + " | "
                         + ", ".join(f"{a:.3f}" for a in acc) + f" | {paired} |")
        lines.append("")
    return "\n".join(lines)


def baseline(args: argparse.Namespace) -> int:
    """Score the regression and its blends on each set's default ablation row."""
    from heartsound.research.ablation import default_rows_found, write_doc

    found = default_rows_found(Path(args.runs), args.sets, "baseline")
    if found is None:
        return 1
    scored: dict[str, list[dict[float, dict[str, float]]]] = {}
    parameters = {}
    for dataset, (row, paths) in found.items():
        statistics = recording_statistics(dataset, args.data)
        summaries = [json.loads(p.read_text()) for p in paths]
        title = f"Set {dataset.upper()}: {row}"
        scored[title] = [blend_scores(s, statistics, C=args.C) for s in summaries]
        n_classes = len(summaries[0]["config"]["classes"])
        n_stats = len(next(iter(statistics.values())))
        parameters[title] = (f"The regression holds {(n_stats + 1) * n_classes + 2 * n_stats:,} "
                             f"numbers ({n_stats} weights and a bias per class, {n_stats} "
                             "means and scales) beside the network's.")
        print(f"set {dataset.upper()}: {len(paths)} runs scored", file=sys.stderr)
    write_doc(args.out, "baseline.md", baseline_markdown(scored, parameters, args.C))
    return 0
