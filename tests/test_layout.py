"""The house's rules: imports go one way (runtime ← training ← research), no cycles, and the
runtime starts without torch, scipy.stats or matplotlib."""

from __future__ import annotations

import os
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


def python_prints(code: str, env: dict[str, str] | None = None) -> str:
    """What ``python -c code`` prints, in a fresh interpreter (nothing imported yet)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=env).stdout.strip()


def test_predict_path_imports_no_heavy_modules(tmp_path):
    """import heartsound, the CLI and a classification load neither torch nor scipy.stats,
    scipy.signal or matplotlib, nor hashlib's OpenSSL or importlib.resources (a few ms each
    of a one-file predict, docs/lightness.md's cold start)."""
    code = ("import sys, numpy as np, soundfile as sf, pathlib\n"
            f"p = pathlib.Path({str(tmp_path / 'x.wav')!r})\n"
            "sf.write(str(p), 0.1 * np.sin(np.arange(28000) / 3), 4000)\n"
            "import heartsound, heartsound.cli\n"
            "from heartsound.infer import Classifier\n"
            "list(Classifier.load().predict_files([p]))\n"
            "heavy = [m for m in ('torch', 'scipy.stats', 'scipy.signal', 'matplotlib',"
            " '_hashlib', 'importlib.resources')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    assert python_prints(code) == ""


def test_cli_import_loads_no_numpy():
    """``import heartsound.cli`` and its parser load no numpy, so predict can size numpy's
    BLAS pool by the environment before it starts (cli.pinned_threads); the package's names
    still load on use, ``heartsound.features`` staying the function after its module loads."""
    code = ("import sys, heartsound, heartsound.cli\n"
            "heartsound.cli.build_parser()\n"
            "print('numpy' in sys.modules)\n"
            "import heartsound.infer\n"
            "print(callable(heartsound.features), heartsound.DEFAULT.sample_rate,\n"
            "      all(hasattr(heartsound, n) for n in heartsound.__all__))\n")
    assert python_prints(code).split() == ["False", "True", "4000", "True"]


def test_predict_pins_blas_threads_before_numpy_loads(tmp_path):
    """A one-file predict with --threads 1 starts numpy's BLAS with one thread (the
    environment set before numpy loads), without threadpoolctl."""
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "x.wav"
    sf.write(str(wav), 0.1 * np.sin(np.arange(28000) / 3), 4000)
    run = ("import sys\n"
           "from heartsound.cli import main\n"
           f"rc = main(['predict', {str(wav)!r}, '--threads', '1', '--quiet'])\n"
           "used = 'threadpoolctl' in sys.modules\n"
           "from threadpoolctl import threadpool_info\n"
           "print(rc, used, sorted({p['num_threads'] for p in threadpool_info()}))\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = python_prints(run, env).split("\n")[-1]
    assert out == "0 False [1]", out
