"""The research command, heartsound-lab: its error lines and where it writes."""

from __future__ import annotations

import pytest

from heartsound.research.cli import build_parser, main


@pytest.mark.parametrize("command,dataset", [("views", "a"), ("baseline", "b"),
                                             ("epochs", "a")])
def test_rescoring_without_runs_is_one_line(capsys, tmp_path, command, dataset):
    out = tmp_path / f"{command}.md"
    assert main([command, "--runs", str(tmp_path), "--sets", dataset, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"heartsound-lab {command}: ")
    assert f"no finished runs of set {dataset.upper()}'s default row" in err[0]
    assert not out.exists()


def test_ablation_page_goes_where_it_is_told(tmp_path):
    """With some rows' runs only (a fresh checkout), the table is written elsewhere and the
    repository's page is left as it is."""
    out = tmp_path / "partial.md"
    assert main(["ablation", "--markdown-only", "--runs", str(tmp_path), "--out", str(out)]) == 0
    assert out.read_text().startswith("# Ablation")


def test_help_on_every_lab_command():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == {"reproduce", "ablation", "views", "baseline", "epochs", "bench",
                                "report", "imports", "invariance", "serve-bench", "physionet",
                                "ship", "batchnorm"}
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
