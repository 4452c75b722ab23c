"""docs/batchnorm.md: BatchNorm runs over seeds beside docs/ablation.md's LayerNorm seeds."""

import json

from heartsound.research.batchnorm import ROWS, ablation_seeds, markdown, train_arguments

ABLATION = "\n".join([
    "# Ablation", "", "## Set A", "",
    "| recipe | seeds | accuracy | accuracy per seed | other |", "|---|---|---|---|---|",
    f"| {ROWS['a-by-file'].ablation[1]} | 3 | 0.7 ± 0.1 | 0.700, 0.750, 0.800 | x |",
    "", "## Set B", "",
    "| recipe | seeds | accuracy | extra | accuracy per seed |", "|---|---|---|---|---|",
    f"| {ROWS['b-by-patient'].ablation[1]} | 2 | 0.8 | y | 0.830, 0.840 |", ""])


def test_ablation_rows_are_read_by_section_and_column():
    assert ablation_seeds(ABLATION, *ROWS["a-by-file"].ablation) == [0.7, 0.75, 0.8]
    assert ablation_seeds(ABLATION, *ROWS["b-by-patient"].ablation) == [0.83, 0.84]
    assert ablation_seeds(ABLATION, *ROWS["a-by-session"].ablation) == []  # not in the text
    assert ablation_seeds(ABLATION, "Set C", "x") == []


def test_the_doc_pairs_seeds_and_lists_every_command(tmp_path):
    for seed, acc in ((0, 0.72), (1, 0.75)):
        run = tmp_path / "batchnorm" / "a-by-file" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps(
            {"mean": {"accuracy": {"mean": acc, "std": 0.1}},
             "folds": [{"seconds": 300}, {"seconds": 300}]}))
    text = markdown(tmp_path, ABLATION)
    row = next(line for line in text.splitlines() if line.startswith("| set A, folds by file"))
    assert "0.750 ± 0.050 (3)" in row and "0.735 ± 0.021 (2)" in row
    assert "+0.010 (1/1/0)" in row and "10 min" in row
    assert "not run" in next(line for line in text.splitlines()
                             if line.startswith("| set B, folds by patient"))
    assert "--out runs/batchnorm/a-noise-by-session/seed0" in text
    args = train_arguments(ROWS["a-noise-by-file"], 2)
    assert args[-2:] == ["--seed", "2"] and "joint-augment-smooth-noise" in args


def test_seeds_without_runs_are_carried_from_the_page_and_lifted_rows_pair(tmp_path):
    """A seed whose run is not in the checkout keeps the figure the page showed (marked †);
    a seed run here replaces it; the PhysioNet table pairs with and without by seed."""
    def run(name, seed, acc):
        folder = tmp_path / "batchnorm" / name / f"seed{seed}"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps(
            {"mean": {"accuracy": {"mean": acc}}, "folds": [{"seconds": 60}]}))

    run("a-noise-by-session", 1, 0.60)
    run("a-physionet-by-session", 0, 0.59)
    run("a-physionet-by-session", 1, 0.64)
    first = markdown(tmp_path, ABLATION)
    old = first.replace("| 0.600 (seed 1) |", "| 0.561 (seed 0), 0.600 (seed 1) |")
    assert old != first
    text = markdown(tmp_path, ABLATION, old)
    row = next(line for line in text.splitlines()
               if line.startswith("| set A + white-noise copies (the shipped recipe), folds by "
                                  "recording session"))
    assert "0.561 (seed 0†), 0.600 (seed 1)" in row
    lifted = next(line for line in text.splitlines()
                  if line.startswith("| A, folds by recording session | added |"))
    assert "0.581 ± 0.028 (2)" in lifted and "0.615 ± 0.035 (2)" in lifted
    assert "+0.034 (2/0/0)" in lifted
    assert "| B, folds by patient | added | 0.835 ± 0.007 (2) | – (0) | – |" in text  # ablation
    assert "| A, folds by recording session | pre-trained | 0.581 ± 0.028 (2) | – (0) | – |" \
        in text
    assert markdown(tmp_path, ABLATION, text) == text  # carried figures stay carried


def test_pretrained_rows_start_from_the_pretraining_run(tmp_path):
    """A pre-trained row's --set names its pre-training run's state dict under runs/ (under
    the --runs folder when training), each set's network its own pre-training with the
    same network and front end, and the page lists the pre-training commands."""
    from heartsound.research.batchnorm import PRETRAINED, PRETRAINS, pretraining_of, row_sets

    row = ROWS["a-pretrained-by-session"]
    assert f"pretrained={PRETRAINED}" in train_arguments(row, 0)
    assert row_sets(row, tmp_path) == [
        f"pretrained={tmp_path / 'batchnorm' / 'physionet-pretrain' / 'final' / 'model.pt'}"]
    assert row_sets(ROWS["a-noise-by-session"], tmp_path) == []
    assert pretraining_of(ROWS["a-noise-by-session"]) is None
    b = ROWS["b-pretrained-by-patient"]
    assert row_sets(b, tmp_path) == [
        f"pretrained={tmp_path / 'batchnorm' / 'physionet-pretrain-b' / 'final' / 'model.pt'}"]
    for name in ROWS:
        if (pre := pretraining_of(ROWS[name])) is not None:
            assert (PRETRAINS[pre].model, PRETRAINS[pre].scale, PRETRAINS[pre].maps) == \
                (ROWS[name].model, ROWS[name].scale, ROWS[name].maps), name
    for pre in PRETRAINS.values():
        args = train_arguments(pre, 0)
        assert args[args.index("--folds") + 1] == "2" and args[args.index("--dataset") + 1] \
            == "physionet2016"
    text = markdown(tmp_path, ABLATION)
    assert "--out runs/batchnorm/physionet-pretrain` (its `final/model.pt`)" in text
    assert "--out runs/batchnorm/physionet-pretrain-b` (its `final/model.pt`)" in text
    assert "| B, folds by patient | pre-trained | 0.835 ± 0.007 (2) | – (0) | – |" in text
    # a pre-trained row and its pre-training share the front end's dynamic range too
    for name in ROWS:
        if (pre := pretraining_of(ROWS[name])) is not None:
            assert PRETRAINS[pre].top_db == ROWS[name].top_db, name


def test_dynamic_range_rows_pair_with_the_80_db_recipe(tmp_path):
    """The 40-dB rows train with --top-db 40 (their pre-training too) and the page pairs
    them by seed with the same recipe at 80 dB."""
    top = ROWS["a-pretrained-top40-by-session"]
    assert train_arguments(top, 0)[-6:-4] == ["--top-db", "40"]
    assert "--top-db" not in train_arguments(ROWS["a-pretrained-by-session"], 0)
    for name, acc in (("a-pretrained-by-session", 0.60), ("a-pretrained-top40-by-session", 0.63)):
        folder = tmp_path / "batchnorm" / name / "seed0"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps(
            {"mean": {"accuracy": {"mean": acc}}, "folds": [{"seconds": 60}]}))
    text = markdown(tmp_path, ABLATION)
    assert "## Maps clipped to 40 dB" in text
    assert ("| A, folds by recording session | 0.600 ± 0.000 (1) | 0.630 ± 0.000 (1) | "
            "+0.030 (1/0/0) |") in text
    # set B's pairs with the LayerNorm seeds of docs/ablation.md
    assert "| B, folds by patient | 0.835 ± 0.007 (2) | – (0) | – |" in text


def test_only_names_known_rows(tmp_path):
    import argparse

    import pytest

    from heartsound.research.batchnorm import batchnorm

    with pytest.raises(ValueError, match="--only"):
        batchnorm(argparse.Namespace(runs=str(tmp_path), train=True, only=["no-such-row"],
                                     seeds=1, threads=1, data=None, out=str(tmp_path / "x.md")))


def test_window_and_blur_rows_pair_with_the_shipped_set_a_recipe(tmp_path):
    """The whole-recording rows re-score the shipped recipe's seeds (no training: their
    command says so) and the blurred rows train the blurred network from its own
    pre-training; both pair seed by seed with the shipped recipe."""
    from heartsound.research.batchnorm import BLUR, PRETRAINS, WINDOWS, pretraining_of

    for with_row, without_row in WINDOWS:
        row = ROWS[with_row]
        assert (row.rescores, row.eval_hop_s) == (without_row, 0.544)
        assert row._replace(label="", rescores=None, eval_hop_s=None) == \
            ROWS[without_row]._replace(label="")
    for with_row, without_row in BLUR:
        assert ROWS[with_row].model == ROWS[without_row].model + "-blur"
        assert PRETRAINS[pretraining_of(ROWS[with_row])].model == ROWS[with_row].model
    for name, acc in (("a-pretrained-top40-by-file", 0.72), ("a-windows-by-file", 0.70),
                      ("a-blur-by-file", 0.75)):
        folder = tmp_path / "batchnorm" / name / "seed0"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps(
            {"mean": {"accuracy": {"mean": acc}}, "folds": [{"seconds": 60}]}))
    (tmp_path / "batchnorm" / "a-blur-by-file" / "seed0" / "shift-agreement.json").write_text(
        json.dumps({"run": "x", "recordings": 100, "1 frames later": 0.97,
                    "8 frames later": 0.99}))
    text = markdown(tmp_path, ABLATION)
    windows = text.split("## Set A's fold models over the whole recording")[1].split("## ")[0]
    assert "| folds by file | 0.720 ± 0.000 (1) | 0.700 ± 0.000 (1) | -0.020 (0/0/1) |" \
        in windows
    blur = text.split("## Anti-aliased strides on set A")[1].split("## ")[0]
    assert ("| folds by file | 0.720 ± 0.000 (1) | 0.750 ± 0.000 (1) | +0.030 (1/0/0) | – | "
            "97.0% (seed 0) |") in blur
    assert "`heartsound-lab batchnorm --train --only a-windows-by-file` (re-scores" in text


def test_a_pair_of_seeds_from_different_checkouts_is_marked(tmp_path):
    """A paired figure whose one side ran here and whose other was carried from the page
    (perhaps another host) says so with ‡; both here, or both carried, it does not."""
    import shutil

    def run(name, acc):
        folder = tmp_path / "batchnorm" / name / "seed0"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps(
            {"mean": {"accuracy": {"mean": acc}}, "folds": [{"seconds": 60}]}))
        return folder

    old = run("a-pretrained-by-session", 0.60)
    run("a-pretrained-top40-by-session", 0.63)
    both = markdown(tmp_path, ABLATION)
    line = ("| A, folds by recording session | 0.600 ± 0.000 (1) | 0.630 ± 0.000 (1) | "
            "+0.030 (1/0/0)")
    assert f"{line} |" in both
    shutil.rmtree(old)
    assert f"{line} ‡ |" in markdown(tmp_path, ABLATION, both)
