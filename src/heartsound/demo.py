"""``make demo``: a first look at the data, the front end and (when shipped) the models."""

from __future__ import annotations

import argparse
from pathlib import Path

from heartsound.audio import AudioError
from heartsound.data import CLASSES, pascal
from heartsound.features import features


def run_demo(args: argparse.Namespace) -> int:
    from heartsound.figures import save_mfcc_figure

    out = Path(args.out)
    examples = {}
    print(f"{'set':<4} {'class':<11} {'seconds':>7} {'rate':>6}  features  file")
    for dataset in ("a", "b"):
        recordings = pascal(dataset, args.data)
        for label in CLASSES[dataset]:
            rec = next(r for r in recordings if r.label == label)
            feats = features(rec.path)
            examples[(dataset, label)] = feats
            print(f"{dataset.upper():<4} {label:<11} {rec.duration_s:>7.2f} {rec.sample_rate:>6}"
                  f"  {feats.shape[0]}x{feats.shape[1]}    {rec.path.name}")
    figure = save_mfcc_figure(examples, out / "mfcc_per_class.png")
    print(f"\nMFCC map of one recording per class (the paper's Figure 4): {figure}")
    classify_test_sets(args.data, out)
    report = Path(__file__).resolve().parents[2] / "docs" / "report" / "index.html"
    if report.exists():
        print(f"\nThe study report (every table and figure): {report}")
    return 0


def classify_test_sets(data: str | None, out: Path) -> None:
    """The challenge's unlabelled test recordings through the shipped light models."""
    import time
    from collections import Counter

    from heartsound.atomic import write_csv
    from heartsound.infer import Classifier, prediction_rows
    from heartsound.registry import resolve_model

    for dataset in ("a", "b"):
        name = f"pascal-{dataset}-light"
        try:
            classifier = Classifier(resolve_model(name))
        except AudioError as exc:
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
