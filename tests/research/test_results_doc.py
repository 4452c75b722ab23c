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
    assert f"rows kept from the pages earlier runs wrote: a-base ({origin})." in text
    # a row carried later names where it was made (the header), beside the rows carried
    # before it (the note)
    older = text.replace(f"a-base ({origin})", "a-base (Old CPU (2 cores), 2026-01-01)")
    again = results_markdown({}, None, older)
    assert (f"rows kept from the pages earlier runs wrote: a-light ({origin}); "
            "a-base (Old CPU (2 cores), 2026-01-01).") in again
    assert results_markdown({}, None, again).split("\n")[3:] == again.split("\n")[3:]
    # a page of the old format (one origin for every carried row) is read too
    old_format = again.split(" †:")[0] + (" †: a study whose run is not in this checkout, its "
                                         "row kept from the page as an earlier run wrote it "
                                         "(Xeon, 2025).\n")
    assert ("wrote: a-light (Xeon, 2025), a-base (Xeon, 2025)" not in
            results_markdown({}, None, old_format))
    assert "wrote: a-light, a-base (Xeon, 2025)." in results_markdown({}, None, old_format)
    # a PhysioNet study (no total precision) has its own page
    physionet = summary(0.6)
    del physionet["mean"]["total_precision"]
    assert "physionet-light" not in results_markdown({"physionet-light": physionet}, None)
