"""docs/physionet.md rendered from fake run folders (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heartsound.research.physionet import (
    CHALLENGE_BEST_MACC,
    per_database,
    physionet_markdown,
    read_run,
)

SIZES = {"a": (20, 14), "b": (24, 5), "c": (6, 4), "d": (8, 4), "f": (10, 3)}


def fake_records(rng: np.random.Generator, shift: float = 0.0) -> list[dict]:
    out = []
    for db, (n, k) in SIZES.items():
        for i in range(n):
            label = "abnormal" if i < k else "normal"
            p = float(np.clip((0.7 if label == "abnormal" else 0.35) + shift
                              + 0.2 * rng.standard_normal(), 0.01, 0.99))
            out.append({"path": f"{db}{i + 1:04d}.flac", "label": label,
                        "pred": "abnormal" if p >= 0.5 else "normal",
                        "probs": [round(1 - p, 5), round(p, 5)]})
    return out


def write_run(folder: Path, split: str, seed: int, epochs: int = 30,
              finished: bool = True) -> None:
    from heartsound.research.physionet import scores_at

    rng = np.random.default_rng(seed)
    records = fake_records(rng, 0.05 * seed)
    if split == "databases":
        groups = [[r for r in records if r["path"][0] == db] for db in SIZES]
    else:
        groups = [records[i::5] for i in range(5)]
    folds = []
    for f, val in enumerate(groups, start=1):
        rows = [(f, v["path"][0], v["label"], v["probs"][1]) for v in val]
        folds.append({"fold": f, "n_val": len(val), "seconds": 60.0 * f,
                      "scores": scores_at(rows), "validation": val})
    config = {"dataset": "physionet2016", "model": "light", "folds": 5, "seed": seed,
              "split": split, "classes": ["normal", "abnormal"], "threads": 1,
              "machine": "Fake CPU", "recipe": {"epochs": epochs},
              "frontend": {"frame_length": 512}}
    folder.mkdir(parents=True)
    if finished:
        (folder / "summary.json").write_text(json.dumps(
            {"config": config, "folds": folds, "wall_seconds": 900.0}))
    else:
        (folder / "config.json").write_text(json.dumps(config))
        for f in folds[:2]:
            (folder / f"fold{f['fold']}").mkdir()
            (folder / f"fold{f['fold']}" / "metrics.json").write_text(json.dumps(f))


@pytest.fixture
def runs(tmp_path):
    base = tmp_path / "runs" / "physionet"
    for seed in (0, 1):
        write_run(base / "light-x4" / f"seed{seed}", "databases", seed)
    (base / "light-x4" / "seed0.log").write_text("a training log beside the runs\n")
    write_run(base / "centred-logmel-x2" / "seed0", "databases", 0, epochs=10,
              finished=False)
    write_run(base / "light-x4-cv5" / "seed0", "random", 0)
    return tmp_path / "runs"


GENERATED = {"cpu": "Test CPU", "date": "2026-01-01"}


def test_doc_has_per_database_rows_mean_and_comparison(runs):
    text = physionet_markdown(runs, GENERATED)
    assert "Test CPU, 2026-01-01" in text
    assert f"{CHALLENGE_BEST_MACC:.4f}" in text and "Potes" in text
    for db in ("a", "b", "d", "f"):
        assert f"\n| {db} | {SIZES[db][0]} |" in text
    assert "\n| c (apart) | 6 |" in text
    assert "**mean of a, b, d, f**" in text
    assert "2 seeds (0, 1)" in text and " ± " in text  # over seeds
    assert "Prevalence per database: a 14/20 (70% abnormal)" in text
    assert "Other-fold threshold:" in text
    assert "| configuration | evaluation | seeds | epochs | MAcc (argmax) | AUROC |" in text
    assert "stratified 5-fold CV, mean of the folds | 1 | 30 |" in text
    assert "--split databases" in text and "--split random" in text
    assert "heartsound train --dataset physionet2016 --model light --recipe augment " \
           "--scale 4 --maps mfcc --split databases --folds 5 --epochs 30 --seed 0" in text


def test_partial_runs_and_short_budgets_are_said(runs):
    text = physionet_markdown(runs, GENERATED)
    assert "Trained 10 epochs per fold, not the recipe's 30" in text
    assert "Unfinished:" in text and "(2 fold(s) done: database(s) ab)" in text
    assert "their finished folds are tabulated below" in text
    cv = text.split("stratified 5-fold CV)")[1]
    assert "**mean of the 5 folds**" in cv and "database a (out-of-fold)" in cv


def test_per_database_matches_the_mean_and_threshold_ignores_the_held_out(runs):
    run = read_run(runs / "physionet" / "light-x4" / "seed0")
    scores = per_database(run)
    assert set(scores) == set(SIZES)
    fold1 = run["folds"][0]["scores"]
    assert scores["a"]["argmax"]["macc"] == pytest.approx(fold1["macc"])
    # The held-out database's threshold depends only on the other databases' predictions.
    t_before = scores["a"]["threshold"]["threshold"]
    for v in run["folds"][0]["validation"]:
        v["probs"] = [0.01, 0.99]
    assert per_database(run)["a"]["threshold"]["threshold"] == t_before


def test_empty_runs_say_how_to_train(tmp_path):
    assert "heartsound-lab physionet --train" in physionet_markdown(tmp_path, GENERATED)


def test_lab_command_writes_the_doc(runs, tmp_path):
    from heartsound.research.cli import main

    out = tmp_path / "physionet.md"
    assert main(["physionet", "--runs", str(runs), "--out", str(out)]) == 0
    assert "mean of a, b, d, f" in out.read_text()
