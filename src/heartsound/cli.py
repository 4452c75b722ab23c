"""The product command: ``heartsound {predict,features,evaluate,data,train,models,demo,serve}``.

The studies that measure the models are ``heartsound-lab`` (``heartsound.research.cli``).

Errors the user can fix (bad files, bad CSVs) print one line naming the file and the problem
on stderr and exit with status 2; in a batch the good inputs are still processed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartsound.registry import ModelError

if TYPE_CHECKING:
    from heartsound.data import Recording


class UsageError(Exception):
    """A problem with the user's input; printed as one line, exit status 2."""


def err(message: str, prog: str = "heartsound") -> None:
    print(f"{prog}: error: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------- data
def cmd_data(args: argparse.Namespace) -> int:
    import statistics

    from heartsound.config import DEFAULT
    from heartsound.data import (
        default_data_dir,
        durations_by_group,
        from_csv,
        is_physionet,
        pascal,
        pascal_key,
        print_summary,
        session_summary,
        summary_rows,
    )

    if args.dataset and is_physionet(args.dataset):
        from heartsound.data import physionet2016, physionet_summary_lines

        if args.rhythm:
            raise UsageError("--rhythm measures the PASCAL sets only")
        found = physionet2016(args.data)
        print(f"PhysioNet/CinC 2016 training records in {found[0].path.parent.parent}\n")
        print("\n".join(physionet_summary_lines(found)))
        return 0
    if args.dataset and pascal_key(args.dataset) is None:  # the user's own CSV
        if args.rhythm:
            raise UsageError("--rhythm measures the PASCAL sets only")
        print_summary(from_csv(args.dataset), args.dataset, window_s=DEFAULT.duration_s,
                      folds=args.folds)
        return 0
    root = Path(args.data) if args.data else default_data_dir()
    recordings = pascal("a", root) + pascal("b", root)
    durations = durations_by_group(recordings)
    short = f"<= {DEFAULT.duration_s:g} s"  # tiled to length by the paper's repeat rule
    print(f"PASCAL CHSC2011 recordings in {root}\n")
    print(f"{'set':<4} {'split':<9} {'class':<14} {'files':>6} {'seconds':>9} {'median s':>9} "
          f"{short:>8}")
    for dataset in ("A", "B"):
        rows = [r for r in summary_rows(recordings) if r[0] == dataset]
        for row in rows:
            d = durations[row[:3]]
            tiled = sum(x <= DEFAULT.duration_s for x in d) / len(d)
            print(f"{row[0]:<4} {row[1]:<9} {row[2]:<14} {row[3]:>6} {row[4]:>9.1f} "
                  f"{statistics.median(d):>9.1f} {tiled:>8.0%}")
        for split in ("labelled", "test"):
            sub = [r for r in rows if r[1] == split]
            print(f"{dataset:<4} {split:<9} {'total':<14} {sum(r[3] for r in sub):>6} "
                  f"{sum(r[4] for r in sub):>9.1f}")
        total_s = sum(r[4] for r in rows)
        print(f"{dataset:<4} {'all':<9} {'':<14} {sum(r[3] for r in rows):>6} {total_s:>9.1f}\n")
    patients = {r.patient for r in recordings if r.dataset == "b" and r.split == "labelled"}
    print(f"set B labelled recordings come from {len(patients)} patients")
    print(session_summary(recordings))
    if args.rhythm:
        print_rhythm_aucs([r for r in recordings if r.label])
    return 0


def print_rhythm_aucs(recordings: Sequence[Recording]) -> None:
    """ROC AUC of each beat-regularity measure (heartsound.rhythm), each class against the
    normal recordings of its set: does the rhythm alone tell the classes apart? A file that
    is not usable audio is named on stderr, left out, and counted."""
    import math

    from heartsound.audio import AudioError, load
    from heartsound.metrics import roc_auc
    from heartsound.rhythm import RHYTHM_MEASURES, rhythm_measures

    measures, skipped = [], 0
    for r in recordings:
        try:
            measures.append((r, rhythm_measures(*load(r.path), path=r.path)))
        except AudioError as exc:
            err(str(exc))
            skipped += 1
    print("\nbeat regularity without learning: ROC AUC of each irregularity measure, class "
          "against normal (0.5: chance)")
    print(f"{'set':<4} {'class':<11} {'files':>5}  " + "  ".join(f"{m:>19}"
                                                           for m in RHYTHM_MEASURES))
    for dataset in ("a", "b"):
        rows = [(r, m) for r, m in measures if r.dataset == dataset]
        for label in sorted({r.label for r, _ in rows if r.label} - {"normal"}):
            pair = [(r, m) for r, m in rows if r.label in (label, "normal")]
            aucs = []
            for name in RHYTHM_MEASURES:
                kept = [(r.label == label, m[name]) for r, m in pair if math.isfinite(m[name])]
                aucs.append(roc_auc([k for k, _ in kept], [v for _, v in kept]))
            n = sum(r.label == label for r, _ in pair)
            print(f"{dataset.upper():<4} {label:<11} {n:>5}  " + "  ".join(f"{a:>19.2f}"
                                                                      for a in aucs))
    if skipped:
        print(f"({skipped} recordings not readable as audio were left out)")


# ---------------------------------------------------------------------------- features
def audio_extensions() -> frozenset[str]:
    """File name extensions of every container libsndfile reads (``.wav``, ``.flac``,
    ``.aif``/``.aiff``, ``.ogg``, ``.au``, ``.w64``, ``.caf``, ``.mp3`` ...)."""
    import soundfile as sf

    names = {k.lower() for k in sf.available_formats()} - {"raw"} | {"aif", "aiff", "aifc", "oga",
                                                          "opus", "wave", "snd"}
    return frozenset(f".{n}" for n in names)


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files as given; folders contribute their sound files of every extension libsndfile
    reads (sorted, recursively)."""
    extensions = audio_extensions()
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*")
                              if q.suffix.lower() in extensions and not q.is_dir()))
        else:
            out.append(p)
    return out


def cmd_features(args: argparse.Namespace) -> int:
    from heartsound.atomic import OutputError, save_npy
    from heartsound.audio import AudioError
    from heartsound.config import front_end
    from heartsound.features import features

    config = front_end(args.scale, args.maps == "log-mel")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: --out must be a folder")
    paths = expand_inputs(args.inputs)
    if not paths:
        raise UsageError("no sound files found in " + ", ".join(args.inputs))
    failed: list[str] = []
    written: dict[Path, Path] = {}
    for path in paths:
        target = out_dir / f"{path.stem}.npy"
        if target in written:
            failed.append(f"{path}: output name {target.name} already used by {written[target]}")
            err(failed[-1])
            continue
        try:
            feats = features(path, config)
        except AudioError as exc:
            failed.append(str(exc))
            err(failed[-1])
            continue
        try:
            save_npy(target, feats)
        except OutputError as exc:
            failed.append(str(exc))
            err(failed[-1])
            continue
        written[target] = path
        if not args.quiet:
            print(f"{path} -> {target} {feats.shape[0]}x{feats.shape[1]}")
    print(f"{len(written)} feature map(s) written to {out_dir}, {len(failed)} failed")
    if failed or not written:
        print("failed:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 2
    return 0


# ---------------------------------------------------------------------------- evaluate
def read_label_csv(path: str | Path, classes: Sequence[str],
                   also: Sequence[str] = ()) -> dict[str, str]:
    """``path,label`` CSV → {file name: label}; checks columns, labels and duplicates."""
    from heartsound.data import read_csv

    p = Path(path)
    rows = read_csv(p, ("path", "label"))
    out: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        name = Path(row["path"] or "").name
        label = (row["label"] or "").strip()
        if not name:
            raise UsageError(f"{p}:{line}: empty path")
        if label not in classes and label not in also:
            raise UsageError(f"{p}:{line}: unknown label {label!r} "
                             f"(expected one of {', '.join([*classes, *also])})")
        if name in out:
            raise UsageError(f"{p}:{line}: {name} listed twice")
        out[name] = label
    if not out:
        raise UsageError(f"{p}: no rows")
    return out


def format_scores(scores: dict[str, object]) -> str:
    from typing import cast

    from heartsound.metrics import scalar_keys

    lines = [f"{'metric':<26} {'value':>8}"]
    lines += [f"{k:<26} {float(scores[k]):>8.3f}" for k in scalar_keys(scores)]  # type: ignore[arg-type]
    classes = cast("list[str]", scores["classes"])
    matrix = cast("list[list[int]]", scores["confusion_matrix"])
    lines.append(f"\nconfusion matrix (rows true, columns predicted), n={scores['n']}")
    lines.append(" " * 12 + "".join(f"{c[:10]:>11}" for c in classes))
    for c, row in zip(classes, matrix, strict=True):
        lines.append(f"{c[:12]:<12}" + "".join(f"{v:>11}" for v in row))
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from heartsound.data import CLASSES
    from heartsound.metrics import ABSTENTIONS, pascal_scores

    classes = CLASSES[args.dataset]
    preds = read_label_csv(args.predictions, classes, also=ABSTENTIONS)
    truth = read_label_csv(args.labels, classes)
    unlabelled = sorted(set(preds) - set(truth))
    if unlabelled:
        raise UsageError(f"{args.predictions}: {len(unlabelled)} prediction(s) have no label in "
                         f"{args.labels}, e.g. {unlabelled[0]}")
    missing = sorted(set(truth) - set(preds))
    if missing:
        raise UsageError(f"{args.predictions}: no prediction for {len(missing)} labelled "
                         f"file(s), e.g. {missing[0]}")
    names = sorted(truth)
    scores = pascal_scores([truth[n] for n in names], [preds[n] for n in names], args.dataset)
    print(json.dumps(scores, indent=2) if args.json else format_scores(scores))
    return 0


# ---------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from heartsound.data import is_physionet, pascal_key
    from heartsound.training.train import (
        recipe_with,
        resolve_frontend,
        resolve_model,
        resolve_recipe,
        run_cv,
    )

    config = resolve_frontend(args.scale, args.maps, args.recipe, args.dataset, args.rate,
                              args.top_db)
    recipe = recipe_with(resolve_recipe(args.recipe, args.dataset), args.set)
    if args.pretrained:
        recipe = dataclasses.replace(recipe, pretrained=str(Path(args.pretrained).resolve()))
    model = resolve_model(args.model, args.recipe, args.dataset)
    if pascal_key(args.dataset) is None and not is_physionet(args.dataset):
        # The user's own CSV: what it holds, first.
        from heartsound.data import from_csv, print_summary

        print_summary(from_csv(args.dataset), args.dataset, file=sys.stderr,
                      window_s=config.duration_s, whole=recipe.whole, split=args.split)
    run_cv(args.dataset, model, args.out, folds=args.folds, epochs=args.epochs,
           seed=args.seed, split=args.split, config=config, data_dir=args.data,
           quiet=args.quiet, final=not args.no_final, limit=args.limit, recipe=recipe,
           threads=args.threads, device=args.device, skip_bad=args.skip_bad,
           force=args.force)
    return 0


# ---------------------------------------------------------------------------- predict
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PROGRESS_MIN_FILES = 20  # up to 20 files take about a second: no bar


@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """numpy's BLAS and any OpenMP pool run with ``threads`` threads inside, unless the
    environment sizes them (one of :data:`THREAD_VARIABLES` set: the user's choice).

    The pools size themselves to the cores when their library loads. The command line
    loads numpy only after this (``import heartsound.cli`` loads none), so the variables
    alone size its BLAS; a process that has numpy loaded already (a caller of :func:`main`)
    gets its pools resized by threadpoolctl. The variables also cover libraries loaded later
    and spawned workers. On the loaded 2-core machine a two-thread OpenBLAS made a 7-s
    log-mel map take 8-12 ms instead of ~1 ms (the small products wait for a second thread
    that has no core). The variables are restored on exit.
    """
    if any(name in os.environ for name in THREAD_VARIABLES):
        yield
        return
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    try:
        if "numpy" in sys.modules:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=threads):
                yield
        else:
            yield
    finally:
        for name in THREAD_VARIABLES:
            os.environ.pop(name, None)


HEAP_KEEP_BYTES = 32 << 20  # glibc's largest mmap threshold on 64-bit
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def keep_heap(limit: int = HEAP_KEEP_BYTES) -> bool:
    """Serve buffers up to ``limit`` bytes from the heap and keep freed memory in the process
    (glibc's ``mallopt``; False, changing nothing, elsewhere).

    Each recording's front end makes a few arrays of ~1 MB (frames, spectrum). glibc maps
    and unmaps every one of them anew, so the kernel zeroes fresh pages each time, most of
    a small map's cost (docs/lightness.md, *In process*). With these settings the next
    recording reuses the pages of the last; the process keeps at most a few MB more."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                   2 * limit))


def progress_bar(total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr when it is a terminal and there are more than
    :data:`PROGRESS_MIN_FILES` files (``update(n)``, ``close()``), else None. Never on
    stdout (the CSV); it leaves no line behind (the summary line follows)."""
    if not (enabled and total > PROGRESS_MIN_FILES and sys.stderr.isatty()):
        return None
    from tqdm import tqdm  # only here: its import takes ~0.1 s

    return tqdm(total=total, file=sys.stderr, unit="file", leave=False, dynamic_ncols=True)


def cmd_predict(args: argparse.Namespace) -> int:
    if args.threads < 1 or args.workers < 1 or args.batch < 1:
        raise UsageError("--threads, --workers and --batch must be at least 1")
    with pinned_threads(args.threads):  # before numpy loads (see pinned_threads)
        return _predict(args)


def _predict(args: argparse.Namespace) -> int:
    from collections import Counter

    from heartsound.atomic import check_output, write_csv
    from heartsound.infer import Classifier, predict_parallel, prediction_rows
    from heartsound.registry import models_dir

    paths = expand_inputs(args.inputs)
    if not paths:
        raise UsageError("no sound files found in " + ", ".join(args.inputs))
    if args.out:  # checked before the work, not after it
        check_output(args.out, paths)
    classifier = Classifier.load(args.model, threads=args.threads)
    # Always said, so a model whose classes are not the user's is never used silently.
    shipped = classifier.path == models_dir() / f"{args.model}.onnx"
    print(f"heartsound: model {args.model if shipped else classifier.path} "
          f"({', '.join(classifier.classes)})", file=sys.stderr)
    gate = not args.no_quality_gate
    bar = progress_bar(len(paths), not args.no_progress)
    try:
        if args.workers > 1:
            rows, errors = predict_parallel(
                str(classifier.path), paths, args.workers, args.batch, args.min_confidence,
                gate, threads=args.threads, progress=None if bar is None else bar.update)
        else:
            rows, errors = prediction_rows(
                classifier, paths if bar is None else _counted(paths, bar), args.batch,
                args.min_confidence, gate)
    finally:
        if bar is not None:
            bar.close()
    fields = classifier.csv_fields
    if args.out:
        write_csv(args.out, rows, fields)
    elif not args.quiet:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    counts = Counter(row["label"] for row in rows)
    summary = ", ".join(f"{c} {counts[c]}" for c in [*classifier.classes, "uncertain",
                                                     "unusable"] if counts[c])
    print(f"{classifier.path.name}: {len(rows)} recording(s) classified ({summary or 'none'})"
          + (f", {len(errors)} failed" if errors else "")
          + (f"; written to {args.out}" if args.out else ""), file=sys.stderr)
    for line in errors:
        err(line)
    return 2 if errors else 0


def _counted(paths: Sequence[Path], bar: Any) -> Iterator[Path]:
    """``paths``, the bar moved on as each one is done (when the next one is asked for)."""
    for path in paths:
        yield path
        bar.update(1)


# ---------------------------------------------------------------------------- models
def cmd_models(args: argparse.Namespace) -> int:
    from heartsound.infer import describe_models

    models = describe_models()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    width = max(len(m["name"]) for m in models) + 2
    print(f"{'name':<{width}} {'input':<16} {'params':>7} {'KB':>6}  classes")
    for m in models:
        shape = "audio" if m["input"] == "audio" else "x".join(map(str, m["input_shape"]))
        print(f"{m['name']:<{width}} {shape:<16} {m['parameters'] or '':>7} "
              f"{m['bytes'] / 1000:>6.1f}  {', '.join(m['classes'])}")
        print(f"{'':<{width}} {m['front_end']}")
        if m.get("card"):
            print(f"{'':<{width}} {m['card']}")
    return 0


# ---------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from heartsound.demo import run_demo

    return run_demo(args)


# ---------------------------------------------------------------------------- web
def cmd_web(args: argparse.Namespace) -> int:
    from heartsound.web import app_size, build_app

    out = build_app(Path(args.out))
    mb = app_size(out) / 1e6
    print(f"heartsound: app written to {out} ({mb:.1f} MB); serve the folder over http(s) "
          f"(e.g. python -m http.server -d {out} -b 127.0.0.1) and open index.html",
          file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- serve
def cmd_serve(args: argparse.Namespace) -> int:
    import importlib
    import tempfile

    try:
        from heartsound.serve import create_app, serve
    except ImportError as exc:
        raise UsageError(f"heartsound serve needs the server stack ({exc.name or exc} is not "
                         "installed): install heartsound[serve]") from None
    if args.max_body_mb <= 0 or args.timeout <= 0 or (args.concurrency or 1) < 1:
        raise UsageError("--max-body-mb, --timeout and --concurrency must be positive")
    with tempfile.TemporaryDirectory(prefix="heartsound-app-") as tmp:
        app_dir = Path(args.app) if args.app else None
        if app_dir is None:  # the web app, when this installation has one
            try:
                web = importlib.import_module("heartsound.web")
            except ImportError:
                web = None
            if web is not None and hasattr(web, "build_app"):
                app_dir = Path(tmp)
                web.build_app(app_dir)
        app = create_app(app_dir, max_body=int(args.max_body_mb * (1 << 20)),
                         timeout_s=args.timeout, max_concurrency=args.concurrency,
                         max_queue=args.queue)

        def listening() -> None:
            if args.host not in ("127.0.0.1", "localhost", "::1"):
                print(f"heartsound: serving on {args.host}: reachable from other machines, "
                      "without authentication or TLS", file=sys.stderr)
            print(f"heartsound: http://{args.host}:{args.port}/ (API: POST /v1/predict, "
                  f"GET /v1/models, GET /healthz; Ctrl-C stops)", file=sys.stderr)

        serve(app, args.host, args.port, on_listening=listening)
    return 0


def add_device_argument(p: argparse.ArgumentParser) -> None:
    """--device, for the commands that train."""
    p.add_argument("--device", default="cpu",
                   help="where to train: cpu (default; bit for bit reproducible on the same "
                        "processor and torch build) or a torch device such as cuda (faster; "
                        "not bit-identical to a CPU)")


COMMANDS = ("data", "features", "evaluate", "train", "predict", "models", "demo", "web",
            "serve")


class _Unused:
    """A command's parser when another command runs: its arguments are not declared (each
    costs ~0.1 ms; all of them ~8 ms of a one-file ``predict``)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``heartsound`` parser; with ``command`` (one of :data:`COMMANDS`), only that
    command's arguments are declared, the others' skipped (what ``main`` runs)."""
    from heartsound import __version__

    parser = argparse.ArgumentParser(
        prog="heartsound",
        description="Heart-sound classification with a light CNN (PASCAL CHSC2011).",
    )
    parser.add_argument("--version", action="version", version=f"heartsound {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, **kwargs: Any) -> Any:
        return (commands.add_parser(name, **kwargs) if command in (None, name)
                else _Unused())

    p = add("data", help="count the PASCAL recordings per set, split and class, "
                         "or describe a CSV dataset (--dataset)")
    p.add_argument("--dataset", help="a CSV with columns path,label[,group]: its classes, "
                                     "durations, sample rates, groups and unreadable files "
                                     "(pascal-a, pascal-b: the PASCAL table; physionet2016: "
                                     "records per database and class, durations)")
    p.add_argument("--folds", type=int, default=5,
                   help="with --dataset CSV: the fold count its classes are checked against")
    p.add_argument("--data", help="PASCAL folder (default: $HEARTSOUND_DATA, data/pascal, "
                                  "../shared/data/pascal)")
    p.add_argument("--rhythm", action="store_true",
                   help="also: how well beat-to-beat regularity alone (no learning) tells each "
                        "class from normal, as ROC AUCs (about a minute)")
    p.set_defaults(func=cmd_data)

    p = add("features", help="write one MFCC (or log-mel) map (.npy, frames x 20 "
                             "or 48) per WAV")
    p.add_argument("inputs", nargs="+", metavar="WAV", help="WAV files or folders of them")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=1,
                   help="frame length/FFT/hop multiplier: 1 → 872x20, 2 → 434x20, 4 → 215x20, "
                        "8 → 106x20")
    p.add_argument("--maps", choices=("mfcc", "log-mel"), default="mfcc",
                   help="mfcc: 20 coefficients per frame; log-mel: the 48 log mel-band "
                        "energies before the DCT")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=cmd_features)

    p = add("evaluate", help="score predictions with the challenge's formulas")
    p.add_argument("--predictions", required=True, help="CSV with columns path,label")
    p.add_argument("--labels", required=True, help="CSV with columns path,label (ground truth)")
    p.add_argument("--dataset", choices=("a", "b"), required=True, help="PASCAL set")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_evaluate)

    p = add("train", help="k-fold cross-validation, then a final model (ONNX)")
    if command in (None, "train"):  # heartsound.data only where its splits are declared
        from heartsound.data import SPLITS
    else:
        SPLITS = {}
    p.add_argument("--dataset", required=True,
                   help="pascal-a, pascal-b, physionet2016 (normal/abnormal screening; "
                        "--split databases: leave-one-database-out), or a CSV with columns "
                        "path,label[,group]")
    p.add_argument("--model", default=None,
                   choices=("light", "light-context", "light-temporal", "light-ensemble",
                            "light-centred", "light-centred-means", "light-cmvn",
                            *(f"light-{c}{s}" for s in ("keep-time", "keep-freq", "late",
                                                        "wide", "expand6", "deeper")
                              for c in ("", "centred-")),
                            "light-level", "light-bn", "light-level-bn", "light-centred-bn",
                            "light-level-bn-blur", "base", "base-level"),
                   help="light: the paper's lightweight CNN; light-context: the same with "
                        "a several-second receptive field and mean+max pooling (<30K "
                        "parameters); light-temporal: the same rows as 1-D convolutions "
                        "along time, the 20 coefficients as channels; light-ensemble: four "
                        "0.45-width light networks averaged (<30K parameters); light-centred: "
                        "light on maps centred over time (cepstral mean normalisation); "
                        "light-centred-means: the same, the means fed to the classifier; "
                        "light-cmvn: centred and scaled by their spread over time; "
                        "light[-centred]-keep-time|keep-freq|late: the stem strides along "
                        "frequency only, along time only, or the last row does not stride "
                        "(same parameters, more multiply-adds); "
                        "light[-centred]-wide|expand6|deeper: the budget spent on wider rows "
                        "with expansion 2, narrower rows with expansion 6, or a fourth "
                        "row (<30K parameters); light-level: light on level-free maps "
                        "(c0's mean over time removed: gain-invariant); -bn: BatchNorm "
                        "instead of LayerNorm, folded into the convolutions at export; "
                        "-blur: its strides along time anti-aliased (a fixed low-pass before "
                        "each; same parameters); "
                        "base: the paper's base CNN (base-level: on level-free maps). "
                        "Default: the improved recipe's network "
                        "(training.train.IMPROVED: light-level-bn on set A, light-centred on "
                        "set B, light-centred-bn on PhysioNet), light with any other recipe")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=None, help="epochs per fold (default 30)")
    p.add_argument("--recipe", default="improved",
                   choices=("improved", "paper", "augment", "joint", "joint-augment",
                            "joint-augment-smooth", "joint-augment-smooth-noise",
                            "joint-augment-smooth-noise10", "candidate",
                            "screening", "screening-joint", "screening-joint-noise"),
                   help="improved (default): the best measured (docs/ablation.md) — "
                        "joint-augment-smooth(-noise) with the 4x frame length (--scale 4) for "
                        "sets A and B, on MFCC maps for A and log-mel maps for B (--maps), "
                        "screening-joint for physionet2016, augment for a CSV; "
                        "paper: the paper's (best validation epoch); "
                        "augment: SpecAugment-style masks and random gain, fixed budget; "
                        "joint: the other PASCAL set added to training; joint-augment: both; "
                        "joint-augment-smooth: both with label smoothing 0.1; "
                        "joint-augment-smooth-noise (improved for set A): the same with "
                        "white-noise copies at 20-40 dB SNR; joint-augment-smooth-noise10 "
                        "(improved for set B): at 10-30 dB SNR; candidate: whole "
                        "recordings, class weights and augmentation (docs/ablation.md); "
                        "screening (PhysioNet): random 7-s crops, windows 2 s apart averaged, "
                        "each database×class drawn equally; screening-joint (improved for "
                        "physionet2016, its windows read 0.544 s apart): the same with both PASCAL "
                        "sets added as two more devices, their findings as abnormal; "
                        "screening-joint-noise: that with white-noise copies "
                        "(docs/physionet.md)")
    p.add_argument("--pretrained", help="state dict (.pt) to initialise the backbone from")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one recipe field, e.g. --set epochs=60 --set mixup=0.2 "
                        "(fields: heartsound.training.train.Recipe and ResearchRecipe)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    add_device_argument(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=tuple(SPLITS), default="grouped",
                   help="; ".join(f"{k}: {v}" for k, v in SPLITS.items()))
    p.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=None,
                   help="front-end frame length multiplier (872/434/215/106 frames). Default: the "
                        "improved recipe's (training.train.IMPROVED), 1 with any other recipe")
    p.add_argument("--maps", choices=("mfcc", "log-mel"), default=None,
                   help="mfcc: the paper's 20 MFCCs per frame; log-mel: the 48 log mel-band "
                        "energies before the DCT. Default: the improved recipe's "
                        "(training.train.IMPROVED), mfcc with any other recipe")
    p.add_argument("--rate", type=int, choices=(2000, 4000), default=4000,
                   help="the front end's sample rate: 4000 (the paper's) or 2000 (PhysioNet "
                        "2016's own: band-pass to 900 Hz, mel bands to 1 kHz, the same frames "
                        "in time)")
    p.add_argument("--top-db", type=float, default=None,
                   help="each map's dynamic range: its dB values clipped to this far below "
                        "its own peak (less puts a quiet device's empty bands and another's "
                        "noise floor at the same floor). Default: the improved recipe's "
                        "(training.train.IMPROVED), 80 (librosa's) with any other recipe")
    p.add_argument("--data", help="PASCAL folder")
    p.add_argument("--limit", type=int, help="use only this many labelled recordings (smoke runs)")
    p.add_argument("--no-final", action="store_true", help="skip the final all-data model")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out recordings that are not usable audio (listed, and counted "
                        "in the summary) instead of refusing the dataset")
    p.add_argument("--force", action="store_true",
                   help="when --out holds a run with other settings or files, discard it and "
                        "start again (default: refuse, naming what differs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (for logs)")
    p.add_argument("--out", required=True, help="run folder (re-running resumes it)")
    p.set_defaults(func=cmd_train)

    p = add("predict", help="classify recordings (WAV, FLAC, ...) with a shipped or "
                            "trained model; unusable ones answered as such")
    p.add_argument("inputs", nargs="+", metavar="WAV|DIR")
    p.add_argument("--model", default="pascal-b-light",
                   help="shipped model name (pascal-{a,b}-{light,base}[-int8]), an .onnx "
                        "path, or a run folder of heartsound train (its final/model.onnx); "
                        "the model used and its classes are printed on stderr")
    p.add_argument("--out", help="CSV to write (path,label,quality,reason,prob_<class>...); "
                                 "default: stdout")
    p.add_argument("--no-quality-gate", action="store_true",
                   help="classify every recording, even one the signal-quality gate would "
                        "answer 'unusable' (research; docs/quality.md)")
    p.add_argument("--batch", type=int, default=1,
                   help="recordings per model run (default 1: for the default model 15 "
                        "CPU ms per file against 18 at 8 or 32, its activations staying in "
                        "cache; the smaller models are within ~10%% either way. Measured by "
                        "python benchmarks/predict_settings.py batch). Above 1 a recording's "
                        "probabilities can move in their last digits with the recordings "
                        "run beside it")
    p.add_argument("--threads", type=int, default=1,
                   help="threads of ONNX Runtime and of numpy's BLAS, per worker (default 1; "
                        "an OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or MKL_NUM_THREADS set in "
                        "the environment sizes BLAS instead)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes, one model each (default 1). Helps only with idle cores "
                        "and many files: on a busy 2-core machine 2 workers took 1.9 s for "
                        "60 files against 1.5 s for 1, and were no faster on 832 (python "
                        "benchmarks/predict_settings.py workers)")
    p.add_argument("--min-confidence", type=float, default=None,
                   help="label 'uncertain' when the top probability is below this")
    p.add_argument("--quiet", action="store_true", help="no CSV on stdout")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (shown on stderr only when it is a terminal and "
                        f"there are more than {PROGRESS_MIN_FILES} files)")
    p.set_defaults(func=cmd_predict)

    p = add("models", help="list the shipped models: input, size, classes, figures")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_models)

    p = add("demo", help="show a few recordings, their features and a figure")
    p.add_argument("--data", help="PASCAL folder")
    p.add_argument("--out", default="demo", help="output folder for the figure (default demo/)")
    p.set_defaults(func=cmd_demo)

    p = add("web", help="write the offline phone app (static files: page, "
                        "WebAssembly runtime, raw-audio models) into a folder")
    p.add_argument("--out", required=True, help="folder to write (new, empty, or an earlier "
                                                "build, which is replaced)")
    p.set_defaults(func=cmd_web)

    p = add("serve", help="serve the app and a JSON API (POST /v1/predict) over "
                          "HTTP (needs heartsound[serve])")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--app", metavar="DIR", help="a built static web app to serve at / "
                                                "(default: the package's, if it has one)")
    p.add_argument("--max-body-mb", type=float, default=20,
                   help="largest request body accepted, in MB (default 20; larger: 413)")
    p.add_argument("--timeout", type=float, default=30,
                   help="seconds per request, body and answer (default 30; later: 408/503)")
    p.add_argument("--concurrency", type=int, default=None,
                   help="recordings classified at once (default: one per core, at most 8)")
    p.add_argument("--queue", type=int, default=64,
                   help="requests waiting for a worker beyond those (default 64; more: 503)")
    p.set_defaults(func=cmd_serve)
    return parser


def user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that are the user's problem: one line, exit status 2. ``AudioError``
    only once ``heartsound.audio`` is loaded (a command that never loaded it cannot have
    raised it; importing it here would load numpy for nothing), ``DataError`` likewise."""
    lazy = {"heartsound.audio": "AudioError", "heartsound.data": "DataError"}
    return (UsageError, ModelError, ValueError,
            *(getattr(sys.modules[module], name) for module, name in lazy.items()
              if module in sys.modules))


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse and run one command; a user's error is one line on stderr and exit status 2."""
    keep_heap()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, where a reader that went away can still be caught
        return status
    except BrokenPipeError:  # `heartsound models | head`: stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 141  # what the shell sees of a process SIGPIPE ends (128 + 13)
    except KeyboardInterrupt:
        err(f"interrupted after {time.perf_counter() - start:.1f} s", parser.prog)
        return 130
    except Exception as exc:
        if not isinstance(exc, user_errors()) or os.environ.get("HEARTSOUND_DEBUG"):
            raise  # a programming error keeps its traceback; HEARTSOUND_DEBUG shows all
        err(str(exc), parser.prog)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """The ``heartsound`` command: what a user runs. Research commands: ``heartsound-lab``."""
    args = sys.argv[1:] if argv is None else list(argv)
    return run(build_parser(args[0] if args and args[0] in COMMANDS else None), argv)
