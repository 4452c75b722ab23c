"""The house's rules: imports go one way (runtime ← training ← research), no cycles, and the
runtime starts without torch, scipy.stats or matplotlib."""

from __future__ import annotations

import subprocess
import sys

from heartsound.research.imports import cycles, graph, room, violations


def test_imports_go_one_way():
    edges = graph()
    assert {room(m) for m in edges} == {"runtime", "training", "research"}
    assert violations(edges) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_the_checks_can_fail():
    """A made-up graph with a runtime→research import and a cycle is caught."""
    edges = {"heartsound.infer": {"heartsound.research.bench"},
             "heartsound.research.bench": {"heartsound.training.train"},
             "heartsound.training.train": {"heartsound.research.bench"}}
    assert len(violations(edges)) == 2  # infer → research, training → research
    assert cycles(edges) == [["heartsound.research.bench", "heartsound.training.train"]]


def test_product_cli_has_no_research_commands():
    from heartsound.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) <= {"predict", "features", "evaluate", "data", "train", "models",
                                "demo", "web", "serve", "quality"}
    assert len(sub.choices) <= 10


def test_predict_path_imports_no_heavy_modules(tmp_path):
    """import heartsound, the CLI and a classification load neither torch nor scipy.stats,
    scipy.signal or matplotlib."""
    code = ("import sys, numpy as np, soundfile as sf, pathlib\n"
            f"p = pathlib.Path({str(tmp_path / 'x.wav')!r})\n"
            "sf.write(str(p), 0.1 * np.sin(np.arange(28000) / 3), 4000)\n"
            "import heartsound, heartsound.cli\n"
            "from heartsound.infer import Classifier\n"
            "list(Classifier.load().predict_files([p]))\n"
            "heavy = [m for m in ('torch', 'scipy.stats', 'scipy.signal', 'matplotlib')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
