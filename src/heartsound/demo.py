"""``make demo``: a first look at the data, the front end and (when shipped) the models."""

from __future__ import annotations

import argparse
from pathlib import Path

from .data import CLASSES, pascal
from .features import features


def run_demo(args: argparse.Namespace) -> int:
    from .plots import save_mfcc_figure

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
    return 0
