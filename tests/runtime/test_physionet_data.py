"""The PhysioNet/CinC 2016 catalog, its screening scores and the leave-one-database-out split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT, heart_like

from heartsound.data import (
    PHYSIONET_CLASSES,
    DataError,
    classes_of,
    fold_unit,
    load_dataset,
    physionet2016,
)
from heartsound.metrics import best_threshold, screening_scores

SHARED = ROOT.parent / "shared" / "data" / "physionet2016"
# ../shared/data/README.md, PhysioNet table: database → (records, abnormal).
README_COUNTS = {"a": (409, 292), "b": (490, 104), "c": (31, 24), "d": (55, 28),
                 "f": (114, 34)}


@pytest.fixture(scope="module")
def shared_records():
    if not (SHARED / "training-a").is_dir():
        pytest.skip(f"PhysioNet 2016 data not found at {SHARED}")
    return physionet2016(SHARED)


def test_catalog_counts_agree_with_the_data_readme(shared_records):
    assert len(shared_records) == 1099
    assert sum(r.label == "abnormal" for r in shared_records) == 482
    by_db = Counter(r.group for r in shared_records)
    abnormal = Counter(r.group for r in shared_records if r.label == "abnormal")
    assert {db: (by_db[db], abnormal[db]) for db in by_db} == README_COUNTS
    assert {r.dataset for r in shared_records} == {"physionet2016"}
    assert {r.split for r in shared_records} == {"labelled"}
    assert {r.sample_rate for r in shared_records} == {2000}
    assert sum(r.duration_s for r in shared_records) == pytest.approx(23378, abs=2)


def test_labels_come_from_reference_csv(shared_records):
    rows = dict(line.split(",") for line in
                (SHARED / "training-d" / "REFERENCE.csv").read_text().split())
    mine = {r.path.stem: r.label for r in shared_records if r.group == "d"}
    assert mine == {k: "abnormal" if v == "1" else "normal" for k, v in rows.items()}


def test_heartsound_data_describes_physionet(shared_records, capsys):
    from heartsound.cli import main

    assert main(["data", "--dataset", "physionet2016", "--data", str(SHARED)]) == 0
    out = capsys.readouterr().out
    assert "training-c" in out and "31" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[1:4] == ["1099", "482", "617"]
    assert "6.49" in total  # hours


# --------------------------------------------------------------- a generated PhysioNet tree
def write_physionet(root: Path, per_db: int = 4, dbs: str = "abc") -> Path:
    for k, db in enumerate(dbs):
        folder = root / f"training-{db}"
        folder.mkdir(parents=True)
        lines = []
        for i in range(per_db):
            name = f"{db}{i + 1:04d}"
            abnormal = i % 2 == 0
            x = heart_like(3.0, 2000, bpm=110 if abnormal else 60, seed=10 * k + i)
            sf.write(str(folder / f"{name}.flac"), x, 2000, subtype="PCM_16")
            lines.append(f"{name},{1 if abnormal else -1}")
        (folder / "REFERENCE.csv").write_text("\n".join(lines) + "\n")
    return root


def test_generated_tree_loads_by_name_and_groups_by_database(tmp_path):
    root = write_physionet(tmp_path / "pn")
    recs = load_dataset("physionet2016", root)
    assert [r.path.name for r in recs][:2] == ["a0001.flac", "a0002.flac"]
    assert Counter(r.group for r in recs) == {"a": 4, "b": 4, "c": 4}
    assert classes_of(recs, "physionet2016") == PHYSIONET_CLASSES == ("normal", "abnormal")
    assert recs[0].label == "abnormal" and recs[1].label == "normal"
    assert fold_unit(recs, "databases") == "3 databases, one held out per fold (a, b, c)"


def test_bad_reference_is_a_one_line_error(tmp_path):
    root = write_physionet(tmp_path / "pn", per_db=2, dbs="a")
    (root / "training-a" / "REFERENCE.csv").write_text("a0001,0\n")
    with pytest.raises(DataError, match="REFERENCE.csv:1"):
        physionet2016(root)
    with pytest.raises(DataError, match="no training-"):
        physionet2016(tmp_path)


# --------------------------------------------------------------- screening scores
def test_screening_scores_abnormal_is_positive():
    truth = ["abnormal"] * 4 + ["normal"] * 6
    pred = ["abnormal"] * 3 + ["normal"] + ["normal"] * 3 + ["abnormal"] * 3
    s = screening_scores(truth, pred)
    assert s["sensitivity"] == 0.75 and s["specificity"] == 0.5
    # MAcc is the mean of Se and Sp (0.625), not the accuracy (0.6): a wrong formula fails.
    assert s["macc"] == pytest.approx(0.625) and s["accuracy"] == pytest.approx(0.6)
    assert s["confusion_matrix"] == [[3, 3], [1, 3]]
    assert "auroc" not in s and s["prevalence"] == pytest.approx(0.4)


def test_unsure_answers_count_as_not_correct_and_are_reported():
    truth = ["abnormal", "abnormal", "normal", "normal"]
    pred = ["abnormal", "uncertain", "normal", "unusable"]
    s = screening_scores(truth, pred, [0.9, 0.6, 0.2, 0.4])
    assert s["sensitivity"] == 0.5 and s["specificity"] == 0.5 and s["macc"] == 0.5
    assert s["accuracy"] == 0.5
    assert (s["unsure_abnormal"], s["unsure_normal"]) == (1, 1)
    assert s["confusion_matrix"] == [[1, 0], [0, 1]]  # answered recordings only
    assert s["auroc"] == 1.0  # scores of every recording, unsure ones included
    with pytest.raises(ValueError, match="unknown prediction"):
        screening_scores(["normal"], ["murmur"])


def test_best_threshold_maximises_macc_and_prefers_half():
    y = [False, False, True, True]
    assert 0.3 < best_threshold(y, [0.1, 0.3, 0.8, 0.9]) <= 0.8
    assert best_threshold(y, [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.25)
    assert np.isnan(best_threshold([True, True], [0.1, 0.2]))


@pytest.mark.slow  # make test-fast leaves it to make test
# --------------------------------------------------------------- the databases split
def test_databases_split_holds_one_database_per_fold(tmp_path, make_wav):
    from heartsound.training.train import run_cv

    rows = ["path,label,group"]
    for db in ("x", "y", "z"):
        for i in range(4):
            label = ("murmur", "normal")[i % 2]
            make_wav(f"{db}/{i}.wav", heart_like(3.0, 4000, seed=i + ord(db)))
            rows.append(f"{db}/{i}.wav,{label},{db}")
    csv_path = tmp_path / "dbs.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match="--folds 3"):
        run_cv(str(csv_path), "light", tmp_path / "bad", folds=2, epochs=1, threads=1,
               quiet=True, final=False, split="databases")
    summary = run_cv(str(csv_path), "light", tmp_path / "run", folds=3, epochs=1, threads=1,
                     quiet=True, final=False, split="databases")
    held = [{v["path"].split("/")[0] for v in f["validation"]} for f in summary["folds"]]
    assert held == [{"x"}, {"y"}, {"z"}]
    assert [f["n_val"] for f in summary["folds"]] == [4, 4, 4]
    assert summary["folds_by"].startswith("3 databases")


def test_physionet_runs_are_scored_as_screening(tmp_path):
    from heartsound.training.train import dataset_key, run_cv

    assert dataset_key("physionet2016") == "physionet2016"
    root = write_physionet(tmp_path / "pn")
    summary = run_cv("physionet2016", "light", tmp_path / "run", folds=3, epochs=1,
                     threads=1, quiet=True, final=False, split="databases", data_dir=str(root))
    scores = summary["folds"][0]["scores"]
    assert {"sensitivity", "specificity", "macc", "auroc"} <= set(scores)
    assert summary["config"]["classes"] == ["normal", "abnormal"]
    assert {"macc", "auroc"} <= set(summary["mean"])
