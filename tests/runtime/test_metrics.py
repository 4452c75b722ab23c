import math

import numpy as np
import pytest

from heartsound.metrics import (
    classification_scores,
    confusion_matrix,
    discriminant_power,
    pascal_scores,
    roc_auc,
    scores_from_confusion,
)


def expand(cm, classes):
    """Confusion matrix → (y_true, y_pred) lists."""
    y_true, y_pred = [], []
    for i, t in enumerate(classes):
        for j, p in enumerate(classes):
            y_true += [t] * cm[i][j]
            y_pred += [p] * cm[i][j]
    return y_true, y_pred


def test_set_a_workbook_formulas():
    classes = ["normal", "murmur", "extrahls", "artifact"]
    cm = [[8, 1, 1, 0],   # true normal
          [2, 6, 0, 1],   # true murmur
          [1, 1, 2, 0],   # true extrahls
          [0, 0, 0, 5]]   # true artifact
    s = pascal_scores(*expand(cm, classes), dataset="a")
    assert s["precision_normal"] == pytest.approx(8 / 11)
    assert s["precision_murmur"] == pytest.approx(6 / 8)
    assert s["precision_extrahls"] == pytest.approx(2 / 3)
    assert s["precision_artifact"] == pytest.approx(5 / 6)
    assert s["total_precision"] == pytest.approx(8 / 11 + 6 / 8 + 2 / 3 + 5 / 6)
    assert s["artifact_sensitivity"] == pytest.approx(1.0)
    assert s["artifact_specificity"] == pytest.approx((8 + 6 + 2) / 23)  # exact class only
    assert s["youden"] == pytest.approx(1.0 + 16 / 23 - 1)
    assert s["heartproblem_sensitivity"] == pytest.approx((6 + 2) / 13)
    assert s["accuracy"] == pytest.approx(21 / 28)
    assert s["confusion_matrix"] == cm and s["n"] == 28


def test_set_b_workbook_formulas():
    classes = ["normal", "murmur", "extrastole"]
    cm = [[50, 5, 5],
          [6, 12, 2],
          [4, 1, 5]]
    s = pascal_scores(*expand(cm, classes), dataset="b")
    se, sp = (12 + 5) / 30, 50 / 60
    assert s["heartproblem_sensitivity"] == pytest.approx(se)
    assert s["heartproblem_specificity"] == pytest.approx(sp)
    assert s["youden"] == pytest.approx(se + sp - 1)
    dp = math.sqrt(3) / math.pi * (math.log10(se / (1 - se)) + math.log10(sp / (1 - sp)))
    assert s["discriminant_power"] == pytest.approx(dp)
    assert s["precision_extrastole"] == pytest.approx(5 / 12)
    assert s["accuracy"] == pytest.approx(67 / 90)


def test_never_predicted_class_has_precision_zero():
    y_true = ["normal"] * 5 + ["extrastole"] * 2
    y_pred = ["normal"] * 7
    s = pascal_scores(y_true, y_pred, "b")
    assert s["precision_extrastole"] == 0.0 and s["precision_murmur"] == 0.0
    assert s["total_precision"] == pytest.approx(5 / 7)


@pytest.mark.parametrize(("sens", "spec", "dp", "youden"), [
    (0.49, 0.84, 0.39, 0.33),   # Zhang 2017a, the paper's Table 4
    (0.51, 0.80, 0.34, 0.31),   # Zhang 2017b
    (0.36, 0.90, 0.40, 0.26),   # Bourouhou 2020
    (0.47, 0.96, 0.76, 0.44),   # the paper's lightweight model
    (0.47, 0.99, 0.98, 0.46),   # the paper's base model
])
def test_paper_derived_numbers(sens, spec, dp, youden):
    # The paper computed from unrounded sens/spec, then rounded to 2 decimals: its DP must lie
    # within our DP over the rounding box of the published inputs, and Youden within 0.01.
    assert discriminant_power(sens - 0.005, spec - 0.005) <= dp + 0.005
    assert discriminant_power(sens + 0.005, spec + 0.005) >= dp - 0.005
    assert sens + spec - 1 == pytest.approx(youden, abs=0.0101)


def test_paper_zhang_2017a_dp_exact():
    assert round(discriminant_power(0.49, 0.84), 2) == 0.39  # 0.49/0.84 → DP 0.39


def test_paper_base_model_youden():
    cm = np.array([[99, 1, 0], [26, 24, 0], [27, 0, 23]])  # sens 0.47, spec 0.99
    s = scores_from_confusion(cm, "b")
    assert s["heartproblem_sensitivity"] == pytest.approx(0.47)
    assert s["heartproblem_specificity"] == pytest.approx(0.99)
    assert s["youden"] == pytest.approx(0.46)


def test_discriminant_power_edges():
    assert discriminant_power(1.0, 0.9) == math.inf
    assert discriminant_power(0.0, 0.9) == -math.inf


def test_unknown_label_is_an_error():
    with pytest.raises(ValueError, match="unknown label 'extrahls'"):
        pascal_scores(["normal"], ["extrahls"], "b")
    with pytest.raises(ValueError):
        confusion_matrix(["a"], ["a", "b"], ["a", "b"])


def test_generic_classification_scores():
    s = classification_scores(["x", "x", "y", "z"], ["x", "y", "y", "y"], ["x", "y", "z"])
    assert s["accuracy"] == pytest.approx(0.5)
    assert s["precision_y"] == pytest.approx(1 / 3) and s["recall_y"] == 1.0
    assert s["f1_z"] == 0.0
    f1x = 2 * 1.0 * 0.5 / 1.5
    assert s["macro_f1"] == pytest.approx((f1x + 0.5 + 0.0) / 3)


def test_roc_auc_counts_ranked_pairs_and_ties():
    assert roc_auc([True, False, False], [0.9, 0.1, 0.5]) == 1.0
    assert roc_auc([False, True], [0.9, 0.1]) == 0.0
    assert roc_auc([True, False, True, False], [0.5, 0.5, 0.7, 0.2]) == 0.875  # a tie: ½
    assert math.isnan(roc_auc([True, True], [0.1, 0.2]))
