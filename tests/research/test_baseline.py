"""The non-deep baseline: its statistics, its regression, and its blend with a run's network."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import heart_like

from heartsound.research.baseline import (
    BLEND_WEIGHTS,
    SoftmaxRegression,
    baseline_markdown,
    blend_scores,
    summary_statistics,
)


def test_summary_statistics_describe_a_whole_recording():
    slow = summary_statistics(heart_like(9.0, 8000, bpm=60, seed=1), 8000)
    fast = summary_statistics(heart_like(9.0, 8000, bpm=110, seed=1), 8000)
    assert slow.shape == fast.shape == (207,)
    assert np.isfinite(slow).all() and not np.allclose(slow, fast)
    # A recording shorter than two cycles has no rhythm: NaN there, finite elsewhere.
    short = summary_statistics(heart_like(0.6, 4000, bpm=40), 4000)
    assert np.isnan(short[-3:]).all() and np.isfinite(short[:-3]).all()


def test_softmax_regression_learns_and_fills_missing_inputs():
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0.0], [0.0, 3.0], [-3.0, -3.0]])
    y = np.repeat(np.arange(3), 30)
    X = centres[y] + rng.standard_normal((90, 2))
    X = np.hstack([X, np.full((90, 1), 5.0)])  # a constant column: scale 1, no NaN
    X[0, 0] = np.nan
    model = SoftmaxRegression(C=1.0).fit(X, y)
    p = model.predict_proba(X)
    assert np.allclose(p.sum(axis=1), 1.0) and np.isfinite(p).all()
    assert (p.argmax(axis=1) == y).mean() > 0.95
    assert model.n_parameters == 3 * 3 + 3 + 3 + 3
    # A stronger penalty shrinks the weights.
    assert np.abs(SoftmaxRegression(C=0.001).fit(X, y).W).sum() < np.abs(model.W).sum()


def test_softmax_regression_matches_scikit_learn():
    """The same objective as scikit-learn's multinomial LogisticRegression(C=...)."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(60) > 0).astype(int)
    y[X[:, 2] > 1] = 2
    ours = SoftmaxRegression(C=0.3).fit(X, y).predict_proba(X)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    theirs = sklearn.LogisticRegression(C=0.3, max_iter=5000, tol=1e-10).fit(Z, y)
    np.testing.assert_allclose(ours, theirs.predict_proba(Z), atol=1e-3)


def _run(rng: np.random.Generator, n: int = 40) -> dict:
    classes = ["normal", "murmur"]
    labels = [classes[i % 2] for i in range(n)]
    folds = []
    for k in range(2):
        val = []
        for i in range(k * n // 2, (k + 1) * n // 2):
            p = float(rng.uniform(0.2, 0.8))
            val.append({"path": f"r{i}.wav", "label": labels[i], "probs": [p, 1 - p],
                        "pred": "normal" if p > 0.5 else "murmur"})
        folds.append({"validation": val})
    return {"config": {"classes": classes, "dataset": "csv-set"}, "folds": folds}


def test_blend_scores_pair_with_the_network():
    """Weight 0 is the network's own decisions; weight 1 the regression's, which here sees
    statistics that give the label away."""
    rng = np.random.default_rng(2)
    summary = _run(rng)
    stats = {f"r{i}.wav": np.array([float(i % 2) + 0.1 * rng.standard_normal(), 1.0])
             for i in range(40)}
    scored = blend_scores(summary, stats)
    assert list(scored) == list(BLEND_WEIGHTS)
    own = np.mean([np.mean([v["pred"] == v["label"] for v in f["validation"]])
                   for f in summary["folds"]])
    assert scored[0.0]["accuracy"] == pytest.approx(own)
    assert scored[1.0]["accuracy"] == 1.0 > own
    text = baseline_markdown({"Set X": [scored, scored]}, {"Set X": "counted"}, C=0.1)
    assert text.count("\n| ") == 1 + len(BLEND_WEIGHTS)
    assert "| regression alone (w = 1) | 2 | 1.000 ± 0.000" in text

