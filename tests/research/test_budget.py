"""heartsound-lab epochs: a curve's epoch e is the e-epoch budget, and the page it writes."""

import dataclasses
import json

import numpy as np
import pytest

from heartsound.research.budget import budget_markdown, budget_rows, chosen_on_half, curve_scores


def test_a_runs_first_epochs_are_the_shorter_budget():
    """What `heartsound epochs` rests on: training for 3 epochs walks exactly the first 3
    epochs of a 5-epoch run (restarts counted in steps, augmentation drawn in the same order);
    a different restart period would not."""
    pytest.importorskip("torch")
    from heartsound.training.train import RECIPES, fit

    rng = np.random.default_rng(0)
    maps = [rng.normal(size=(872, 20)).astype(np.float32) for _ in range(6)]
    y = np.array([0, 1, 2] * 2)
    recipe = dataclasses.replace(RECIPES["joint-augment-smooth"], joint=None, batch_size=2,
                                 restart_epochs=2)
    keys = ("train_loss", "val_loss", "val_acc", "lr")

    def curve(epochs: int, r=recipe) -> list[tuple]:
        rows = fit("light", maps, y, 3, dataclasses.replace(r, epochs=epochs), seed=0,
                   maps_val=maps[:3], y_val=y[:3])[1]
        return [tuple(row[k] for k in keys) for row in rows]

    long = curve(5)
    assert curve(3) == long[:3]
    assert curve(3, dataclasses.replace(recipe, restart_epochs=3)) != long[:3]


def write_run(root, seed: int, acc: list[list[float]], fold_scores: list[float] | None = None):
    """A finished run folder: summary.json and each fold's curve.csv (val_acc per epoch)."""
    out = root / f"s{seed}"
    folds = []
    for f, a in enumerate(acc, start=1):
        (out / f"fold{f}").mkdir(parents=True)
        lines = ["epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,best"]
        lines += [f"{e},1,0.5,{1 - v},{v},0.001,1," for e, v in enumerate(a, start=1)]
        (out / f"fold{f}" / "curve.csv").write_text("\n".join(lines) + "\n")
        score = a[-1] if fold_scores is None else fold_scores[f - 1]
        folds.append({"fold": f, "scores": {"accuracy": score}})
    config = {"seed": seed, "machine": "Arm Cortex-A76", "versions": {"torch": "2.13.0+cpu"}}
    (out / "summary.json").write_text(json.dumps({"config": config, "folds": folds}))
    return out / "summary.json"


def test_budgets_scored_from_curves(tmp_path):
    # Two folds, four epochs, restarts every 2: the 2-epoch budget is better on every seed.
    paths = [write_run(tmp_path, s, [[0.5, 0.8 + d, 0.6, 0.7], [0.5, 0.6, 0.6, 0.7 + d]])
             for s, d in enumerate((0.0, 0.02, 0.04, 0.06))]
    runs = [curve_scores(p) for p in paths]
    assert runs[1]["seed"] == 1 and runs[1]["accuracy"].shape == (2, 4)
    np.testing.assert_allclose(runs[0]["loss"][0], [0.5, 0.2, 0.4, 0.3])
    rows, acc = budget_rows(runs, restart_epochs=2)
    assert [r[0] for r in rows] == [1, 2, 3, 4, None]
    np.testing.assert_allclose(rows[1][2], [0.7, 0.71, 0.72, 0.73])  # epoch 2, fold mean
    np.testing.assert_allclose(rows[-1][2], [0.75, 0.77, 0.79, 0.81])  # each fold's best
    chosen, diffs = chosen_on_half(acc, default=4, candidates=[2, 4])
    assert chosen == 2
    assert chosen_on_half(acc, default=4, candidates=[1, 3])[0] == 3
    np.testing.assert_allclose(diffs, [0.72 - 0.72, 0.73 - 0.73])

    text = budget_markdown({"Set X: a row": (runs, 2)})
    assert "Runs trained on Arm Cortex-A76, torch 2.13.0+cpu." in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 5
    assert table[2].startswith("| 2 (a cycle's end) | 4 | 0.715 ± 0.013 |")
    assert table[4].endswith("| the default |")
    assert "| 1 | 4 |" in table[1] and "(0/0/4)" in table[1]
    assert "chosen on seeds 0, 1** (of the cycles' ends, 2, 4 epochs, where" in text
    assert ": 2 epochs, it reads 0.725 ± 0.007 on the other seeds (2, 3) against " in text
    assert "for the default's 4: +0.000 (0/2/0)." in text
    text = budget_markdown({"Set X: a row": (runs, 4)})
    assert ": 4 epochs, the default's own budget, which reads 0.725 ± 0.007 on the" in text


def test_a_curve_that_is_not_the_runs_model_is_refused(tmp_path):
    """A run that kept its best epoch reports a fold score its last epoch does not reach."""
    path = write_run(tmp_path, 0, [[0.5, 0.8, 0.6]], fold_scores=[0.8])
    with pytest.raises(ValueError, match="not a fixed budget"):
        curve_scores(path)


def test_seeds_cell_is_the_sample_spread_as_in_the_ablation_table():
    from heartsound.research.ablation import seeds_cell

    assert seeds_cell([0.70, 0.71, 0.72, 0.73]) == "0.715 ± 0.013"  # ddof=1, not 0.011
    assert seeds_cell([0.7]) == "0.700 ± 0.000" and seeds_cell([]) == "–"


def test_a_broken_run_is_one_line_naming_it(tmp_path, capsys):
    """A curve without its validation column: one line naming the run, nothing written."""
    from heartsound.research.ablation import ablation_folder, default_row
    from heartsound.research.cli import main

    folder = ablation_folder(tmp_path, "a", default_row("a"), 0)
    summary = write_run(folder.parent, 0, [[0.5, 0.7]])
    summary.parent.rename(folder)
    (folder / "fold1" / "curve.csv").write_text("epoch,train_loss\n1,0.9\n2,0.8\n")
    out = tmp_path / "epochs.md"
    assert main(["epochs", "--runs", str(tmp_path), "--sets", "a", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"heartsound-lab epochs: {folder}: no 'val_acc'")
    assert not out.exists()
