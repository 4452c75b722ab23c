"""The measurements behind ``heartsound predict``'s --batch and --workers defaults (a script,
never a test: no timed assertions). Medians of interleaved repeats; needs the PASCAL data.

    python benchmarks/predict_settings.py batch [MODEL...]   model time per recording at
                                                             batch 1, 8, 32, then file → row
    python benchmarks/predict_settings.py workers            wall time of `heartsound predict`
                                                             over 60 files, 1 against 2 workers
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from heartsound.cli import keep_heap
from heartsound.data import pascal
from heartsound.infer import Classifier, prediction_rows

MODELS = ["pascal-b-light", "pascal-a-light", "pascal-b-light-int8", "pascal-a-base"]
BATCHES = (1, 8, 32)


def batch(models: list[str], repeats: int = 15) -> None:
    """CPU ms per recording of the model alone (32 set-B maps per repeat), then of
    prediction_rows (16 set-A and 32 set-B files, the gate on), as predict runs them (CPU
    time, one thread: steadier than wall time on a shared machine)."""
    threadpool_limits(1)  # as predict does (numpy is loaded by now)
    keep_heap()
    b_files = [r.path for r in pascal("b")]
    files = [r.path for r in pascal("a")[::7]][:16] + b_files[::13][:32]
    for name in models:
        clf = Classifier.load(name)
        if clf.audio:
            print(f"{name}: an audio model runs one recording at a time")
            continue
        maps = np.concatenate([clf.file_windows(p) for p in b_files[:32]])
        model: dict[int, list[float]] = {b: [] for b in BATCHES}
        whole: dict[int, list[float]] = {b: [] for b in BATCHES}
        prediction_rows(clf, files[:4], 1)  # warm-up
        for _ in range(repeats):
            for b in BATCHES:
                t = time.process_time()
                for i in range(0, len(maps), b):
                    clf.session.run(None, {clf.input_name: maps[i:i + b]})
                model[b].append((time.process_time() - t) / len(maps) * 1e3)
        for _ in range(max(3, repeats // 2)):
            for b in BATCHES:
                t = time.process_time()
                prediction_rows(clf, files, b)
                whole[b].append((time.process_time() - t) / len(files) * 1e3)
        print(f"{name}: model " + ", ".join(f"batch {b} {statistics.median(v):.2f}"
                                            for b, v in model.items())
              + " CPU ms/rec; file → row " + ", ".join(f"batch {b} {statistics.median(v):.2f}"
                                                   for b, v in whole.items()) + " CPU ms/rec",
              flush=True)


def workers(repeats: int = 5) -> None:
    """Seconds of one `heartsound predict --quiet` process over 30 set-A and 30 set-B files."""
    files = ([str(r.path) for r in pascal("a")[::6]][:30]
             + [str(r.path) for r in pascal("b")[::20]][:30])
    exe = str(Path(sys.executable).with_name("heartsound"))
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for w in times:
            t = time.perf_counter()
            subprocess.run([exe, "predict", "--quiet", "--workers", str(w), *files],
                           check=True, stderr=subprocess.DEVNULL)
            times[w].append(time.perf_counter() - t)
    for w, v in times.items():
        print(f"--workers {w}: median {statistics.median(v):.2f} s over {len(files)} files "
              f"({', '.join(f'{x:.2f}' for x in v)})")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "batch"
    if what == "batch":
        batch(sys.argv[2:] or MODELS)
    elif what == "workers":
        workers()
    else:
        raise SystemExit(__doc__)
