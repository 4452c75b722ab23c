"""docs/physionet.md rendered from fake run folders (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heartsound.research.physionet import (
    CHALLENGE_BEST_MACC,
    ROWS,
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
              finished: bool = True, model: str = "light") -> None:
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
    config = {"dataset": "physionet2016", "model": model, "folds": 5, "seed": seed,
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
    assert "Cross-database threshold (the best mean of the other databases' MAcc" in text
    assert "at the cross-database threshold" in text and "nested CV" in text
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
    # A row without any run is listed, not tabulated.
    assert "Not run yet (no finished fold): `centred-bn-screening`" in text
    assert "## light-centred-bn" not in text
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


def test_cross_database_threshold_ignores_the_held_out_and_weights_databases_equally(runs):
    from heartsound.research.physionet import cross_database_threshold

    run = read_run(runs / "physionet" / "light-x4" / "seed0")
    t_before = per_database(run)["b"]["xdb"]["threshold"]
    for v in run["folds"][1]["validation"]:  # fold 2 holds out b
        v["probs"] = [0.99, 0.01]
    assert per_database(run)["b"]["xdb"]["threshold"] == t_before
    # One large database best cut at 0.3, two small ones at 0.8: pooled, the large one wins;
    # each database weighted equally, the two small ones do.
    big = ([True] * 50 + [False] * 50, [0.35] * 50 + [0.25] * 50)
    small = ([True] * 5 + [False] * 5, [0.85] * 5 + [0.75] * 5)
    assert cross_database_threshold([big, small, small]) == pytest.approx(0.8)
    pooled = (big[0] + small[0] * 2, big[1] + small[1] * 2)
    from heartsound.metrics import best_threshold

    assert best_threshold(*pooled) == pytest.approx(0.3)
    # A database with one class says nothing about a threshold; none left: NaN.
    assert cross_database_threshold([big, ([True] * 3, [0.9] * 3)]) == pytest.approx(0.3)
    assert np.isnan(cross_database_threshold([([False] * 3, [0.1] * 3)]))


def test_recipe_overrides_are_in_the_row_the_command_and_the_doc(runs, monkeypatch):
    from heartsound.research.physionet import DATASET, ROWS, PhysioRow
    from heartsound.training.train import recipe_with, resolve_recipe

    for name in list(ROWS):  # this row alone
        if name not in ("light-x4",):
            monkeypatch.delitem(ROWS, name)
    row = PhysioRow("light-centred-bn, augment with overrides", "light-centred-bn", "augment",
                    4, "mfcc", "databases", ("crop=random", "eval_hop_s=2.0", "balance=groups"))
    monkeypatch.setitem(ROWS, "centred-bn-balanced", row)
    assert row.sets == ("crop=random", "eval_hop_s=2.0", "balance=groups")
    args = " ".join(row.train_arguments())
    assert "--set crop=random --set eval_hop_s=2.0 --set balance=groups" in args
    recipe = recipe_with(resolve_recipe(row.recipe, DATASET), list(row.sets))  # they parse
    assert (recipe.crop, recipe.eval_hop_s, recipe.balance) == ("random", 2.0, "groups")
    assert "--set" not in ROWS["light-x4"].train_arguments()
    write_run(runs / "physionet" / "centred-bn-balanced" / "seed0", "databases", 0,
              model="light-centred-bn")
    text = physionet_markdown(runs, GENERATED)
    assert "Not run yet" not in text
    assert ("Recipe overrides: `--set crop=random`, `--set eval_hop_s=2.0`, "
            "`--set balance=groups` on the augment recipe.") in text
    assert ("--model light-centred-bn --recipe augment --scale 4 --maps mfcc --split databases "
            "--folds 5 --set crop=random --set eval_hop_s=2.0 --set balance=groups --epochs 30 "
            "--seed 0") in text


def test_roc_figures_are_written_linked_and_deterministic(runs, tmp_path):
    figures = tmp_path / "doc" / "physionet"
    text = physionet_markdown(runs, GENERATED, figures=figures)
    assert "![ROC curves of light-x4](physionet/roc-light-x4.svg)" in text
    assert "(physionet/roc-centred-logmel-x2.svg)" in text  # finished folds of a partial run
    assert "roc-light-x4-cv5" not in text  # CV: no held-out database
    assert sorted(p.name for p in figures.iterdir()) == ["roc-centred-logmel-x2.svg",
                                                        "roc-light-x4.svg"]
    first = (figures / "roc-light-x4.svg").read_bytes()
    svg = first.decode()
    assert "<dc:date>" not in svg and "AUROC" in svg
    for db in "abcdf":
        assert f"{db}: {SIZES[db][0]} records, AUROC" in svg
    assert "pooled (a, b, c, d, f): 68 records" in svg
    again = tmp_path / "again"
    physionet_markdown(runs, GENERATED, figures=again)
    assert (again / "roc-light-x4.svg").read_bytes() == first


def test_roc_curve_matches_the_auroc_and_the_operating_point():
    from heartsound.metrics import roc_auc
    from heartsound.research.physionet import operating_point, roc_curve

    rng = np.random.default_rng(3)
    y = rng.random(200) < 0.4
    s = np.round(np.clip(0.5 + 0.3 * (y - 0.4) + 0.25 * rng.standard_normal(200), 0, 1), 1)
    fpr, tpr = roc_curve(y, s)  # rounded scores: many ties (diagonal steps)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))
    f5, t5 = operating_point(y, s)
    assert t5 == pytest.approx((s[y] >= 0.5).mean())
    assert f5 == pytest.approx((s[~y] >= 0.5).mean())
    fpr, tpr = roc_curve([True, True, False, False], [0.9, 0.8, 0.2, 0.1])
    assert list(zip(fpr, tpr, strict=True)) == [(0, 0), (0, 1), (1, 1)]  # the corner only


def test_empty_runs_say_how_to_train(tmp_path):
    assert "heartsound-lab physionet --train" in physionet_markdown(tmp_path, GENERATED)


def test_lab_command_writes_the_doc(runs, tmp_path):
    from heartsound.research.cli import main

    out = tmp_path / "doc" / "physionet.md"
    cache = tmp_path / "cross-cache"
    assert main(["physionet", "--runs", str(runs), "--out", str(out), "--cross-cache",
                 str(cache), "--physionet-model", str(tmp_path / "none.onnx")]) == 0
    text = out.read_text()
    assert "mean of a, b, d, f" in text
    assert (out.parent / "physionet" / "roc-light-x4.svg").is_file()
    # Without --cross nothing is predicted: the section says what is missing.
    assert "pascal-b-light on physionet2016: not computed yet" in text
    assert "none.onnx on pascal-b: skipped, no model" in text
    assert not cache.exists()


def test_rows_without_runs_keep_their_line_and_section(runs, tmp_path):
    """A configuration whose run folders are gone keeps its headline line and section from
    the page as it was (marked †, said once); one with runs is regenerated; carrying twice
    changes nothing."""
    import shutil

    first = physionet_markdown(runs, GENERATED)
    shutil.rmtree(runs / "physionet" / "light-x4")
    second = physionet_markdown(runs, GENERATED, previous_text=first)
    label = ROWS["light-x4"].label
    old_line = next(x for x in first.splitlines() if x.startswith(f"| {label} |"))
    assert old_line.replace(f"| {label} |", f"| {label} † |") in second
    old_section = first.split(f"## {label} (leave-one-database-out)")[1].split("\n## ")[0]
    new_section = second.split(f"## {label} (leave-one-database-out)")[1].split("\n## ")[0]
    assert "† Kept from this page as generated before" in new_section
    assert new_section.replace("\n† Kept from this page as generated before: no run folder "
                               "here.\n", "").strip() == old_section.strip()
    not_run = [x for x in second.splitlines() if x.startswith("Not run yet")]
    assert not_run and "`light-x4`" not in not_run[0]
    assert physionet_markdown(runs, GENERATED, previous_text=second) == second
    assert physionet_markdown(runs, GENERATED) != second  # no page: nothing carried


def test_statistics_lodo_holds_each_database_out(tmp_path):
    """The no-network rows: one regression per held-out database, trained on the others;
    a statistic that tells the classes apart in every database scores near 1; the section
    reads its cache and says how to make it when there is none."""
    import json

    import numpy as np

    from heartsound.research.physionet import STATISTICS_SETS, statistics_lodo, statistics_section

    rng = np.random.default_rng(0)
    dbs = [db for db in "abdf" for _ in range(20)]
    abnormal = [i % 2 == 1 for i in range(len(dbs))]
    X = rng.standard_normal((len(dbs), 207))
    X[:, 204] += 4.0 * np.asarray(abnormal)  # a beat measure that carries the label
    scores = statistics_lodo(X, abnormal, dbs)
    assert set(scores) == set(STATISTICS_SETS) and all(set(v) == set("abdf")
                                                        for v in scores.values())
    beat = next(iter(scores.values()))
    assert all(float(beat[db]["auroc"]) > 0.95 for db in "abdf")
    cache = tmp_path / "statistics.json"
    assert "Not computed yet" in "\n".join(statistics_section(cache, compute=False))
    cache.write_text(json.dumps({"machine": "cpu", "date": "2026-12-02", "records": 80,
                                 "scores": scores}))
    text = "\n".join(statistics_section(cache, compute=False))
    assert "| features | a | b | d | f | mean of a, b, d, f |" in text
    assert "80 records" in text


def test_a_rescored_row_pairs_with_its_source_and_says_it_trained_nothing(runs, monkeypatch):
    from heartsound.research.ablation import paired_text
    from heartsound.research.physionet import PhysioRow, lodo_means, read_run, seed_runs

    row = PhysioRow("light, read 1 s apart", "light", "augment", 4, "mfcc", "databases",
                    rescores="light-x4", eval_hop_s=1.0)
    monkeypatch.setitem(ROWS, "light-x4-hop1", row)
    for seed in (0, 1):  # other fake predictions: seed 3 and 4's records
        write_run(runs / "physionet" / "light-x4-hop1" / f"seed{seed}", "databases", seed + 3)
        folder = runs / "physionet" / "light-x4-hop1" / f"seed{seed}"
        summary = json.loads((folder / "summary.json").read_text())
        summary["config"]["seed"] = seed
        (folder / "summary.json").write_text(json.dumps(summary))
    text = physionet_markdown(runs, GENERATED)
    new, old = seed_runs(runs, "light-x4-hop1"), seed_runs(runs, "light-x4")
    diffs = {m: [lodo_means([a])[m][0] - lodo_means([b])[m][0]
                 for a, b in zip(new, old, strict=True)] for m in ("macc", "auroc")}
    assert (f"MAcc (argmax) {paired_text(diffs['macc'])}, AUROC "
            f"{paired_text(diffs['auroc'])}.") in text
    assert "no training: it re-scores the fold models of `light-x4`" in text
    assert ("heartsound-lab physionet --train --only light-x4-hop1 --seeds 1   # re-scores "
            "runs/physionet/light-x4/seed1") in text
    assert read_run(runs / "physionet" / "light-x4-hop1" / "seed0") is not None
