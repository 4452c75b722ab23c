"""The PASCAL CHSC2011 evaluation workbook's formulas, and general multi-class metrics.

Everything derives from one confusion matrix (rows: true class, columns: predicted class),
scikit-learn style. The paper's section 4.1.3, eqs. (7)-(19):

* precision of a class = correct / predicted as that class; 0 when never predicted
  (the workbook's rule), total precision = the sum over classes;
* set A: artifact sensitivity = correct artifact / true artifact, artifact specificity =
  correct normal+murmur+extrahls / true non-artifact, Youden = sens + spec - 1, heart-problem
  sensitivity = correct murmur+extrahls / true murmur+extrahls;
* set B: heart-problem sensitivity = correct murmur+extrastole / true murmur+extrastole,
  specificity = correct normal / true normal, Youden, and discriminant power
  DP = (√3/π)·(log10(sens/(1-sens)) + log10(spec/(1-spec)));
* "correct" means predicted as exactly the true class; accuracy = trace / total.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from heartsound.data import CLASSES

# Answers that name no class: predict's --min-confidence and its quality gate.
ABSTENTIONS = ("uncertain", "unusable")


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> np.ndarray:
    """Counts ``cm[i, j]`` of true ``classes[i]`` predicted as ``classes[j]``."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    index = {c: i for i, c in enumerate(classes)}
    for label in (*y_true, *y_pred):
        if label not in index:
            raise ValueError(f"unknown label {label!r} (expected one of {', '.join(classes)})")
    cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[index[t], index[p]] += 1
    return cm


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def discriminant_power(sensitivity: float, specificity: float) -> float:
    """(√3/π)·(log10(sens/(1-sens)) + log10(spec/(1-spec))); ±inf at 0 or 1, as the formula is."""

    def logit10(p: float) -> float:
        if p <= 0:
            return -math.inf
        if p >= 1:
            return math.inf
        return math.log10(p / (1 - p))

    total = logit10(sensitivity) + logit10(specificity)
    return math.sqrt(3) / math.pi * total if not math.isnan(total) else math.nan


def scores_from_confusion(cm: np.ndarray, dataset: str) -> dict[str, object]:
    """The workbook's scores for PASCAL set ``"a"`` or ``"b"`` from a confusion matrix."""
    dataset = dataset.lower().removeprefix("pascal-")
    classes = CLASSES[dataset]
    cm = np.asarray(cm)
    k = len(classes)
    if cm.shape not in ((k, k), (k, k + 1)):
        raise ValueError(f"set {dataset.upper()} needs a {k}x{k} matrix (or {k}x{k + 1}, "
                         "abstentions last)")
    # An abstention (a last column: "uncertain", "unusable") is no class's prediction, so it
    # lowers recall and accuracy but no precision: it is never counted as correct.
    correct = np.diag(cm[:, :k]).astype(float)
    true_n = cm.sum(axis=1).astype(float)
    pred_n = cm[:, :k].sum(axis=0).astype(float)
    idx = {c: i for i, c in enumerate(classes)}
    out: dict[str, object] = {}
    for c in classes:
        out[f"precision_{c}"] = _ratio(correct[idx[c]], pred_n[idx[c]])
    out["total_precision"] = float(sum(out[f"precision_{c}"] for c in classes))  # type: ignore[misc]

    def sens(names: Sequence[str]) -> float:
        ids = [idx[n] for n in names]
        return _ratio(correct[ids].sum(), true_n[ids].sum())

    if dataset == "a":
        out["artifact_sensitivity"] = sens(["artifact"])
        out["artifact_specificity"] = sens(["normal", "murmur", "extrahls"])
        out["youden"] = out["artifact_sensitivity"] + out["artifact_specificity"] - 1  # type: ignore[operator]
        out["heartproblem_sensitivity"] = sens(["murmur", "extrahls"])
    else:
        se, sp = sens(["murmur", "extrastole"]), sens(["normal"])
        out["heartproblem_sensitivity"] = se
        out["heartproblem_specificity"] = sp
        out["youden"] = se + sp - 1
        out["discriminant_power"] = discriminant_power(se, sp)
    out["accuracy"] = _ratio(correct.sum(), cm.sum())
    out["n"] = int(cm.sum())
    out["classes"] = list(classes)
    out["confusion_matrix"] = cm[:, :k].tolist()
    if cm.shape[1] > k:
        out["abstained"] = int(cm[:, k].sum())
    return out


def pascal_scores(
    y_true: Sequence[str], y_pred: Sequence[str], dataset: str = "a"
) -> dict[str, object]:
    """Challenge scores of predictions on PASCAL set ``"a"`` or ``"b"`` (see module docstring)."""
    dataset = dataset.lower().removeprefix("pascal-")
    if dataset not in CLASSES:
        raise ValueError(f"unknown dataset {dataset!r} (expected a or b)")
    classes = CLASSES[dataset]
    answered = [i for i, p in enumerate(y_pred) if p not in ABSTENTIONS]
    cm = confusion_matrix([y_true[i] for i in answered], [y_pred[i] for i in answered], classes)
    if len(answered) < len(y_pred):
        abstained = np.zeros((len(classes), 1), dtype=np.int64)
        for i, p in enumerate(y_pred):
            if p in ABSTENTIONS:
                if y_true[i] not in classes:
                    raise ValueError(f"unknown label {y_true[i]!r} (expected one of "
                                     f"{', '.join(classes)})")
                abstained[classes.index(y_true[i]), 0] += 1
        cm = np.hstack([cm, abstained])
    return scores_from_confusion(cm, dataset)


def classification_scores(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> dict[str, object]:
    """Accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix (any classes)."""
    cm = confusion_matrix(y_true, y_pred, classes)
    correct = np.diag(cm).astype(float)
    out: dict[str, object] = {}
    f1s = []
    for i, c in enumerate(classes):
        p = _ratio(correct[i], cm[:, i].sum())
        r = _ratio(correct[i], cm[i, :].sum())
        f1 = _ratio(2 * p * r, p + r)
        out[f"precision_{c}"], out[f"recall_{c}"], out[f"f1_{c}"] = p, r, f1
        f1s.append(f1)
    out["macro_f1"] = float(np.mean(f1s))
    out["accuracy"] = _ratio(correct.sum(), cm.sum())
    out["n"] = int(cm.sum())
    out["classes"] = list(classes)
    out["confusion_matrix"] = cm.tolist()
    return out


def scalar_keys(scores: dict[str, object]) -> list[str]:
    """The numeric keys of a scores dict, in insertion order (for tables and means)."""
    return [k for k, v in scores.items() if isinstance(v, float | int) and k != "n"]


def roc_auc(y_true: Sequence[bool], score: Sequence[float]) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counting half (the Mann–Whitney U statistic / n₊n₋). 0.5 is
    chance: no threshold on ``score`` separates the classes. NaN without both classes."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata  # lazily: scipy.stats is slow to import

    ranks = rankdata(s)  # ties get their mean rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ------------------------------------------------------------------ screening (PhysioNet 2016)
SCREENING_CLASSES = ("normal", "abnormal")  # abnormal is the positive class


def screening_scores(y_true: Sequence[str], y_pred: Sequence[str],
                     scores: Sequence[float] | None = None) -> dict[str, object]:
    """The PhysioNet/CinC 2016 screening scores, abnormal the positive class.

    ``y_true`` holds ``normal`` / ``abnormal``; ``y_pred`` also ``uncertain`` / ``unusable``
    (the 2016 challenge's "unsure"), which count as *not correct*: they stay in the
    denominators of sensitivity, specificity and accuracy, so abstaining never raises MAcc.
    (The challenge's own rule weighted unsure answers by signal quality; this one is
    stricter.) ``sensitivity`` = abnormal predicted abnormal / true abnormal, ``specificity``
    = normal predicted normal / true normal, ``macc`` = (sensitivity + specificity) / 2 (the
    challenge's official score), ``accuracy`` = correct / all. With ``scores`` (P(abnormal)
    per recording, abstentions included), ``auroc``: the threshold-free ROC AUC. The
    confusion matrix (rows true normal, abnormal; columns predicted normal, abnormal) counts
    the answered recordings; ``unsure_normal`` / ``unsure_abnormal`` the unsure ones by
    their true class.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if scores is not None and len(scores) != len(y_true):
        raise ValueError(f"{len(y_true)} true labels but {len(scores)} scores")
    for label in y_true:
        if label not in SCREENING_CLASSES:
            raise ValueError(f"unknown true label {label!r} (expected normal or abnormal)")
    for label in y_pred:
        if label not in SCREENING_CLASSES and label not in ABSTENTIONS:
            raise ValueError(f"unknown prediction {label!r} (expected normal, abnormal, "
                             f"{' or '.join(ABSTENTIONS)})")
    answered = [i for i, p in enumerate(y_pred) if p not in ABSTENTIONS]
    cm = confusion_matrix([y_true[i] for i in answered], [y_pred[i] for i in answered],
                          SCREENING_CLASSES)
    unsure = [sum(y_true[i] == c and y_pred[i] in ABSTENTIONS for i in range(len(y_true)))
              for c in SCREENING_CLASSES]
    n_normal, n_abnormal = (cm[i].sum() + unsure[i] for i in range(2))
    se = _ratio(cm[1, 1], n_abnormal)
    sp = _ratio(cm[0, 0], n_normal)
    out: dict[str, object] = {
        "sensitivity": se, "specificity": sp, "macc": (se + sp) / 2,
        "accuracy": _ratio(cm[0, 0] + cm[1, 1], len(y_true)),
    }
    if scores is not None:
        out["auroc"] = roc_auc([t == "abnormal" for t in y_true], scores)
    out |= {"unsure_normal": int(unsure[0]), "unsure_abnormal": int(unsure[1]),
            "n": len(y_true), "prevalence": _ratio(n_abnormal, len(y_true)),
            "classes": list(SCREENING_CLASSES), "confusion_matrix": cm.tolist()}
    return out


def best_threshold(y_true: Sequence[bool], scores: Sequence[float]) -> float:
    """The threshold on ``scores`` (predict positive at ``score >= t``) with the highest
    MAcc on these recordings; among ties, the one nearest 0.5. NaN without both classes."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if y.all() or not y.any():
        return float("nan")
    values = np.unique(s)
    # Midpoints between neighbouring scores, and beyond both ends.
    cuts = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2,
                           [values[-1] + 1e-6]])
    se = np.array([(s[y] >= t).mean() for t in cuts])
    sp = np.array([(s[~y] < t).mean() for t in cuts])
    macc = (se + sp) / 2
    best = np.flatnonzero(np.isclose(macc, macc.max()))
    return float(cuts[best[np.argmin(np.abs(cuts[best] - 0.5))]])
