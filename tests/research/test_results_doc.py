"""docs/results.md: a row per study run here; the rest kept from the page, marked †."""

from heartsound.research.study import results_markdown


def summary(acc):
    stat = {"mean": acc, "std": 0.01}
    return {"config": {"model": "light", "dataset": "pascal-a", "split": "grouped"},
            "mean": {"accuracy": stat, "total_precision": stat, "youden": stat},
            "folds": [{"seconds": 60.0}], "final": {"seconds": 60.0}}


def test_studies_without_runs_keep_their_rows_marked():
    first = results_markdown({"a-light": summary(0.7), "a-base": summary(0.8)}, None)
    assert "| a-light (grouped) | paper | 872×20 | 0.700 ± 0.010 |" in first
    text = results_markdown({"a-light": summary(0.75)}, None, first)
    assert "| a-light (grouped) | paper | 872×20 | 0.750 ± 0.010 |" in text
    base = next(line for line in text.splitlines() if line.startswith("| a-base"))
    assert base.startswith("| a-base (grouped)† | paper | 872×20 | 0.800 ± 0.010 |")
    assert results_markdown({"a-light": summary(0.75)}, None, text) == text  # stays marked
    header = first.splitlines()[2]
    origin = header.split("reproduce`) on ", 1)[1].removesuffix(".")
    assert f"as an earlier run wrote it ({origin})." in text
    # a PhysioNet study (no total precision) has its own page
    physionet = summary(0.6)
    del physionet["mean"]["total_precision"]
    assert "physionet-light" not in results_markdown({"physionet-light": physionet}, None)
