"""The research command, ``heartsound-lab``: the studies that train, measure and report.

``heartsound`` (``heartsound.cli``) is what a user runs; this is what ``make reproduce``
runs. Errors are reported the same way: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from heartsound import __version__
from heartsound.cli import add_device_argument, run


def cmd_reproduce(args: argparse.Namespace) -> int:
    from heartsound.research.study import reproduce

    return reproduce(args)


def cmd_ship(args: argparse.Namespace) -> int:
    from pathlib import Path

    from heartsound.research.study import SHIPPED_FROM, ship

    shipped = ship(Path(args.runs), args.data)
    print(f"shipped {', '.join(p.name for p in shipped) or 'nothing'} (from "
          f"{', '.join(f'{args.runs}/{s}' for s in SHIPPED_FROM.values())})", file=sys.stderr)
    return 0


def cmd_batchnorm(args: argparse.Namespace) -> int:
    from heartsound.research.batchnorm import batchnorm

    return batchnorm(args)


def cmd_ablation(args: argparse.Namespace) -> int:
    from heartsound.research.ablation import ablation

    return ablation(args)


def cmd_baseline(args: argparse.Namespace) -> int:
    from heartsound.research.baseline import baseline

    return baseline(args)


def cmd_views(args: argparse.Namespace) -> int:
    from heartsound.research.ablation import views

    return views(args)


def cmd_epochs(args: argparse.Namespace) -> int:
    from heartsound.research.budget import epochs

    return epochs(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from heartsound.research.bench import run_bench

    return run_bench(args)


def cmd_report(args: argparse.Namespace) -> int:
    from heartsound.research.report import run_report

    return run_report(args)


def add_default_rows_arguments(p: argparse.ArgumentParser, doc: str) -> None:
    """The options of the commands that re-score each set's default ablation row."""
    p.add_argument("--data", help="PASCAL folder")
    p.add_argument("--runs", default="runs", help="parent of the ablation/ run folders")
    p.add_argument("--sets", nargs="+", choices=("a", "b"), default=["a", "b"])
    p.add_argument("--out", help=f"markdown written (default: docs/{doc} of the repository)")


def cmd_invariance(args: argparse.Namespace) -> int:
    from heartsound.research.invariance import run as invariance

    return invariance(args)


def cmd_serve_bench(args: argparse.Namespace) -> int:
    from heartsound.research.serve_bench import run as serve_bench

    return serve_bench(args)


def cmd_physionet(args: argparse.Namespace) -> int:
    from heartsound.research.physionet import physionet

    return physionet(args)


def cmd_imports(args: argparse.Namespace) -> int:
    from heartsound.research.imports import imports_command

    return imports_command(args)


def _seconds(value: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not (0 < seconds < float("inf")):
        raise argparse.ArgumentTypeError(f"{value!r}: a positive number of seconds")
    return seconds


def _phases(value: str) -> int:
    """A number of windows, 2 to 64 (argparse type)."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 2 <= n <= 64:
        raise argparse.ArgumentTypeError(f"{value!r}: a whole number of windows, 2 to 64")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heartsound-lab",
        description="heartsound's studies: cross-validation runs, ablation, lightness bench, "
                    "report (make reproduce).")
    parser.add_argument("--version", action="version", version=f"heartsound {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("reproduce", help="the full study: every CV run, shipped models, tables")
    p.add_argument("--data", help="PASCAL folder")
    p.add_argument("--runs", default="runs", help="folder for the run folders (default runs/)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--only", nargs="*", help="run only these study names")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--train-only", action="store_true",
                   help="train the runs only (no shipping, int8 study or results table)")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("ship", help="copy the shipped studies' final models into the package "
                                    "(int8, temperatures, raw-audio twins, model cards)")
    p.add_argument("--data", help="data folder (int8 calibration and fold study)")
    p.add_argument("--runs", default="runs", help="the run folders (default runs/)")
    p.set_defaults(func=cmd_ship)

    p = sub.add_parser("batchnorm", help="the light network with BatchNorm (folded at export) "
                                         "against LayerNorm, over seeds (docs/batchnorm.md)")
    from heartsound.research.batchnorm import add_arguments as batchnorm_arguments

    batchnorm_arguments(p)
    p.set_defaults(func=cmd_batchnorm)

    p = sub.add_parser("ablation", help="CV of each recipe change alone and combined")
    p.add_argument("--data", help="PASCAL folder")
    p.add_argument("--runs", default="runs", help="parent of the ablation/ run folders")
    p.add_argument("--sets", nargs="+", choices=("a", "b"), default=["a", "b"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--all-seeds-for", nargs="*", metavar="ROW",
                   default=["paper", "fixed", "candidate", "aug", "joint", "lr3e-3", "aug-joint",
                            "aug-joint-context", "noise", "aug-joint-context-cw", "x4",
                            "aug-joint-x4", "aug-joint-smooth", "aug-joint-x4-smooth"],
                   help="rows run with every seed, by id or label (ablation.ablation_table); "
                        "the others with the first seed only")
    p.add_argument("--only", nargs="*", metavar="ROW",
                   help="rows to run, by id or label (default: all)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run")
    add_device_argument(p)
    p.add_argument("--markdown-only", action="store_true",
                   help="train nothing; rewrite docs/ablation.md from the finished runs")
    p.add_argument("--out", help="markdown written (default: docs/ablation.md of the "
                                 "repository; elsewhere when only some rows' runs are here)")
    p.set_defaults(func=cmd_ablation)

    p = sub.add_parser("views", help="score each set's default ablation row with test-time "
                                     "views averaged (shifts, heart rates, reversal, 7-s "
                                     "windows over the whole recording)")
    add_default_rows_arguments(p, "test-time-views.md")
    p.set_defaults(func=cmd_views)

    p = sub.add_parser("baseline", help="a logistic regression on whole-recording spectrum "
                                        "statistics, and its blend with each set's default "
                                        "network, on the network's CV folds")
    add_default_rows_arguments(p, "baseline.md")
    p.add_argument("--C", type=float, default=0.1,
                   help="inverse L2 strength of the regression (scikit-learn's C)")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("epochs", help="score every fixed epoch budget of each set's default "
                                      "ablation row from its training curves (no training)")
    add_default_rows_arguments(p, "epoch-budget.md")
    p.set_defaults(func=cmd_epochs)

    p = sub.add_parser("bench", help="time the front end (and models) on PASCAL recordings")
    p.add_argument("--data", help="PASCAL folder")
    p.add_argument("--quick", action="store_true", help="few recordings, few repeats")
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    p.add_argument("--runs", default="runs", help="run folders of make reproduce (CV columns)")
    p.add_argument("--markdown", help="also write the markdown table here (docs/lightness.md)")
    p.add_argument("--save-json", help="also write the JSON here (docs/lightness.json)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("report", help="HTML + markdown report of training runs and the bench")
    p.add_argument("runs", nargs="+", metavar="RUNDIR", help="run folders of heartsound train")
    p.add_argument("--bench", help="JSON written by heartsound-lab bench --json")
    p.add_argument("--data", help="PASCAL folder (for the data and front-end sections)")
    p.add_argument("--out", required=True, help="output folder (index.html, report.md)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("invariance", help="how often each shipped model keeps its label under "
                                          "gain, noise, resampling and a shifted start")
    p.add_argument("--data", help="PASCAL folder")
    p.add_argument("--physionet-data", help="PhysioNet 2016 folder (default: found as "
                                            "heartsound data finds it)")
    p.add_argument("--per-database", type=int, default=60,
                   help="PhysioNet records per database, the first by name (default 60)")
    p.add_argument("--models", nargs="*", help="shipped model names, .onnx files or run "
                                               "folders (default: every shipped model)")
    what_if = p.add_mutually_exclusive_group()
    what_if.add_argument("--hop", type=_seconds, default=None, metavar="SECONDS",
                         help="what-if: score every model over 7-s windows this far apart "
                              "over the whole recording (printed; written only with --out)")
    what_if.add_argument("--phases", type=_phases, default=None, metavar="N",
                         help="what-if: score every model over N 7-s windows one frame apart "
                              "from the start, averaged: the same sound at every phase of the "
                              "network's stride in time (printed; written only with --out)")
    p.add_argument("--out", help="markdown written (default: docs/invariance.md; none with "
                                 "--hop or --phases)")
    p.add_argument("--fold-runs", nargs="+", metavar="RUN",
                   help="instead: each run folder's fold models on their own held-out "
                        "recordings, the share of labels kept one and eight frames later "
                        "(a table on stdout; no training, no shipped model)")
    p.set_defaults(func=cmd_invariance)

    p = sub.add_parser("serve-bench", help="p50/p99 latency and throughput of heartsound serve "
                                           "on 127.0.0.1 (needs heartsound[serve])")
    from heartsound.research.serve_bench import add_arguments as serve_bench_arguments

    serve_bench_arguments(p)
    p.set_defaults(func=cmd_serve_bench)

    p = sub.add_parser("physionet", help="PhysioNet 2016 screening: leave-one-database-out "
                                         "and 5-fold CV runs (--train), docs/physionet.md")
    from heartsound.research.physionet import add_arguments as physionet_arguments

    physionet_arguments(p)
    add_device_argument(p)
    p.set_defaults(func=cmd_physionet)

    p = sub.add_parser("imports", help="the package's import graph by room (runtime, training, "
                                       "research), with any import against the direction")
    p.set_defaults(func=cmd_imports)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)
