"""``make demo``: a first look at the data, the front end and (when shipped) the models.

Without the PASCAL folder (an installed wheel, a fresh machine) the demo classifies the
example recordings shipped in ``heartsound/examples/`` (PhysioNet/CinC 2016, see its
README.md) with the default model; with it, the PASCAL demo runs first.
"""

from __future__ import annotations

import argparse
import csv
import textwrap
from importlib import resources
from pathlib import Path

from heartsound.audio import AudioError
from heartsound.data import CLASSES, default_data_dir, pascal
from heartsound.features import features


def examples_dir() -> Path:
    """The example recordings inside the installed package."""
    return Path(str(resources.files("heartsound") / "examples"))


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    root = Path(args.data) if args.data else default_data_dir()
    if (root / "set_a").is_dir() and (root / "set_b").is_dir():
        pascal_demo(root, out)
        print()
    else:
        print(f"No PASCAL data folder at {root} (give --data or set $HEARTSOUND_DATA for the "
              "full demo); classifying the example recordings shipped with the package.\n")
    classify_examples()
    report = Path(__file__).resolve().parents[2] / "docs" / "report" / "index.html"
    if report.is_file():  # a checkout; an installed package has no docs/ beside it
        print(f"\nThe study report (every table and figure): {report}")
    return 0


def classify_examples(model: str | None = None) -> None:
    """The shipped PhysioNet examples through a shipped (PASCAL) model: file, true label,
    predicted label and top probability."""
    from heartsound.infer import Classifier
    from heartsound.registry import DEFAULT_MODEL

    folder = examples_dir()
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    classifier = Classifier.load(model or DEFAULT_MODEL)
    paths = [folder / row["file"] for row in labels]
    print(f"{len(paths)} example recordings shipped with the package (PhysioNet/CinC Challenge "
          f"2016, {folder / 'README.md'}), classified by {classifier.path.name}:")
    print(f"{'file':<12} {'database':<11} {'true':<9} {'predicted':<11} {'top p':>5}")
    agree = 0
    for row, (path, probs, error) in zip(labels, classifier.predict_files(paths), strict=True):
        if probs is None:
            print(f"{path.name:<12} {row['database']:<11} {row['label']:<9} failed: {error}")
            continue
        predicted = classifier.classes[int(probs.argmax())]
        agree += (predicted == "normal") == (row["label"] == "normal")
        print(f"{path.name:<12} {row['database']:<11} {row['label']:<9} {predicted:<11} "
              f"{float(probs.max()):>5.2f}")
    print("\n" + textwrap.fill(
        f"This is a PASCAL CHSC2011 model (its labels: {', '.join(classifier.classes)}); "
        f"PhysioNet's 'abnormal' is closest to 'murmur' (or any label other than normal). It "
        f"was neither trained nor validated on PhysioNet recordings: {agree} of {len(paths)} "
        f"agree here, normal against the rest. (physionet-light, the screening model, was "
        f"trained on these databases, these six recordings included, so it is not shown on "
        f"them.)", 92))


def pascal_demo(root: Path, out: Path) -> None:
    """One recording per PASCAL class, their MFCC maps as a figure, the test sets classified."""
    from heartsound.figures import save_mfcc_figure

    examples = {}
    print(f"{'set':<4} {'class':<11} {'seconds':>7} {'rate':>6}  features  file")
    for dataset in ("a", "b"):
        recordings = pascal(dataset, root)
        for label in CLASSES[dataset]:
            rec = next(r for r in recordings if r.label == label)
            feats = features(rec.path)
            examples[(dataset, label)] = feats
            print(f"{dataset.upper():<4} {label:<11} {rec.duration_s:>7.2f} {rec.sample_rate:>6}"
                  f"  {feats.shape[0]}x{feats.shape[1]}    {rec.path.name}")
    figure = save_mfcc_figure(examples, out / "mfcc_per_class.png")
    print(f"\nMFCC map of one recording per class (the paper's Figure 4): {figure}")
    classify_test_sets(root, out)


def classify_test_sets(data: str | Path | None, out: Path) -> None:
    """The challenge's unlabelled test recordings through the shipped light models."""
    import time
    from collections import Counter

    from heartsound.atomic import write_csv
    from heartsound.infer import Classifier, prediction_rows
    from heartsound.registry import ModelError, resolve_model

    for dataset in ("a", "b"):
        name = f"pascal-{dataset}-light"
        try:
            classifier = Classifier(resolve_model(name))
        except (AudioError, ModelError) as exc:
            print(f"\n(skipping set {dataset.upper()}: {exc})")
            continue
        paths = [r.path for r in pascal(dataset, data) if r.split == "test"]
        start = time.perf_counter()
        rows, errors = prediction_rows(classifier, paths)
        seconds = time.perf_counter() - start
        counts = Counter(r["label"] for r in rows)
        target = write_csv(out / f"{name}-test-predictions.csv", rows,
                           classifier.csv_fields)
        print(f"\nset {dataset.upper()}: {len(rows)} unlabelled test recordings classified by "
              f"models/{name}.onnx in {seconds:.1f} s ({1000 * seconds / max(1, len(rows)):.1f}"
              f" ms each) → {target}")
        for c in classifier.classes:
            print(f"  {c:<11} {counts[c]:>4}")
        for line in errors:
            print(f"  failed: {line}")
