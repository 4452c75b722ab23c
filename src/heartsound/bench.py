"""``heartsound bench``: time each stage of the pipeline on real recordings.

A benchmark is a command, not a test: it prints medians over many runs on one thread, and
says on what machine it ran. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def ensure_one_thread() -> None:
    """Re-run this process with BLAS/OpenMP pools pinned to one thread.

    The pools size themselves when numpy is first imported, so the variables must be set
    before that: simplest is to restart the command with them in the environment.
    """
    if all(os.environ.get(v) == "1" for v in THREAD_VARS):
        return
    env = {**os.environ, **{v: "1" for v in THREAD_VARS}}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "heartsound", *sys.argv[1:]], env)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d")}


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def frontend_timings(paths: list[Path], repeats: int) -> dict[str, float]:
    """Median ms per stage of the front end, averaged over ``paths``."""
    from . import audio
    from .config import DEFAULT
    from .features import mfcc

    stages: dict[str, list[float]] = {"load": [], "resample": [], "filter+fit": [], "mfcc": [],
                                      "features (end to end)": []}
    for p in paths:
        x, rate = audio.load(p, max_seconds=DEFAULT.read_seconds)
        y = audio.resample(x, rate, DEFAULT.sample_rate)
        z = audio.fit_length(audio.bandpass(y), DEFAULT.n_samples)
        stages["load"].append(median_ms(lambda p=p: audio.load(p, DEFAULT.read_seconds), repeats))
        stages["resample"].append(median_ms(
            lambda x=x, rate=rate: audio.resample(x, rate, DEFAULT.sample_rate), repeats))
        stages["filter+fit"].append(median_ms(
            lambda y=y: audio.fit_length(audio.bandpass(y), DEFAULT.n_samples), repeats))
        stages["mfcc"].append(median_ms(lambda z=z: mfcc(z), repeats))
        from .features import features

        stages["features (end to end)"].append(median_ms(lambda p=p: features(p), repeats))
    return {k: statistics.fmean(v) for k, v in stages.items()}


def pick_recordings(data: str | None, per_set: int) -> list[Path]:
    from .data import pascal

    out: list[Path] = []
    for dataset in ("a", "b"):
        recs = [r for r in pascal(dataset, data) if r.split == "test"]
        step = max(1, len(recs) // per_set)
        out.extend(r.path for r in recs[::step][:per_set])
    return out


def run_bench(args: argparse.Namespace) -> int:
    ensure_one_thread()
    per_set, repeats = (2, 5) if args.quick else (10, 30)
    paths = pick_recordings(args.data, per_set)
    result: dict[str, Any] = {"machine": machine(), "recordings": len(paths),
                              "repeats": repeats, "threads": 1}
    result["frontend_ms"] = frontend_timings(paths, repeats)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    print(f"heartsound bench on {m['cpu']} ({m['cores']} cores), one thread, {m['date']}")
    print(f"{len(paths)} PASCAL test recordings (set A 44.1 kHz, set B 4 kHz), "
          f"median of {repeats} runs each, averaged\n")
    print(f"{'front-end stage':<24} {'ms':>7}")
    for stage, ms in result["frontend_ms"].items():
        print(f"{stage:<24} {ms:>7.2f}")
    return 0
