"""The ablation as data: one table of rows, each a short id with its label beside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

from heartsound.research import ablation as ab  # noqa: E402
from heartsound.research.cli import build_parser, main  # noqa: E402


def test_every_row_has_a_short_id_and_its_label():
    table = ab.ablation_table()
    ids = [e.id for e in table]
    assert len(set(ids)) == len(ids) == len({e.label for e in table})
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.-]*", i) for i in ids)
    assert list(ab.ablation_recipes()) == [e.label for e in table]  # the docs' order
    assert ab.row_label("aug-joint-x4") == "augmentation + joint + 4× frame length"
    assert ab.row_label("+ mixup") == "+ mixup" and ab.row_label("not a row") == "not a row"
    assert set(ab.ABLATION_STUDIES) <= set(ids)
    assert {ab.default_row("a"), ab.default_row("b")} == {
        ab.row_label("aug-joint-x4-smooth-level-bn-noise"),
        ab.row_label("aug-joint-x2-smooth-centred-logmel-noise10")}


def test_run_folders_are_named_from_the_label_whichever_name_is_given():
    runs = Path("runs")
    assert ab.ablation_folder(runs, "a", "paper", 0) == runs / "a-light"  # the main study
    assert ab.ablation_folder(runs, "a", "paper", 1) == runs / "ablation/a-paper-best-val-epoch-s1"
    mixup = runs / "ablation" / "b-augmentation-mixup-s2"
    assert ab.ablation_folder(runs, "b", "aug-mixup", 2) == mixup
    for e in ab.ablation_table():
        assert ab.ablation_folder(runs, "b", e.id, 0) == ab.ablation_folder(runs, "b", e.label, 0)


def test_only_and_all_seeds_for_take_ids_or_labels(capsys, tmp_path):
    args = build_parser().parse_args(["ablation"])
    assert len(ab.row_labels(args.all_seeds_for, "--all-seeds-for")) == len(args.all_seeds_for)
    assert ab.row_labels(["aug", "+ augmentation"], "--only") == ["+ augmentation"] * 2
    assert main(["ablation", "--runs", str(tmp_path), "--only", "no-such-row",
                 "--out", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--only: no ablation row 'no-such-row'" in err[0]
