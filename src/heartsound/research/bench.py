"""``heartsound-lab bench``: the lightness study (the paper's Table 6), measured honestly.

For Base at 872×20 and Lightweight at 872/434/215×20: parameters, ONNX size (float32, int8),
multiply-adds, peak activation memory, CV scores from the ``make reproduce`` runs, and
latency on one CPU thread at batch 1 (median of many runs) split by stage; the paper's own
protocol (30 random test recordings, file to class including model load); throughput of
``heartsound predict`` with 1 and 2 workers; and a reference pipeline of the kind public
notebooks use (``benchmarks/reference.py``), timed in the same process, as a ratio.

A benchmark is a command, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heartsound.provenance import machine
from heartsound.registry import models_dir
from heartsound.research import REPO_ROOT

# Thread-pool sizes that OpenBLAS/MKL/OpenMP read once, when numpy is first imported.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
ROOT = REPO_ROOT

def variants() -> tuple[tuple[str, str, Any, dict[str, str], str | None], ...]:
    """(name, architecture, front-end config, {set: run folder for the CV columns}, shipped
    model it times or None). The paper's lightness study — the base model and the
    lightweight network at each input size, CV from the paper's recipe — then one row per
    shipped lightweight model, CV from the study that trains it (study.SHIPPED_FROM)."""
    from heartsound.config import front_end
    from heartsound.research.study import SHIPPED_FROM, STUDIES

    rows: list[tuple[str, str, Any, dict[str, str], str | None]] = [
        ("base-872", "base", front_end(), {s: SHIPPED_FROM[f"pascal-{s}-base"] for s in "ab"},
         "pascal-b-base")]
    for scale, frames in ((1, 872), (2, 434), (4, 215)):
        suffix = "" if scale == 1 else f"-x{scale}"
        rows.append((f"light-{frames}", "light", front_end(scale),
                     {s: f"{s}-light{suffix}" for s in "ab"}, None))
    for s in "ab":
        study = SHIPPED_FROM[f"pascal-{s}-light"]
        rows.append((f"pascal-{s}-light", STUDIES[study].model, STUDIES[study].config(),
                     {s: study}, f"pascal-{s}-light"))
    return tuple(rows)


def ensure_one_thread() -> None:
    """Re-run this process with BLAS/OpenMP pools pinned to one thread.

    The pools size themselves when numpy is first imported, so the variables must be set
    before that: simplest is to restart the command with them in the environment.
    """
    if all(os.environ.get(v) == "1" for v in THREAD_VARS):
        return
    env = {**os.environ, **{v: "1" for v in THREAD_VARS}}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "heartsound.research", *sys.argv[1:]], env)


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def pick_recordings(data: str | None, per_set: int, seed: int = 0) -> list[Path]:
    """``per_set`` random unlabelled test recordings of each set (seeded)."""
    from heartsound.data import pascal

    rng = random.Random(seed)
    out: list[Path] = []
    for dataset in ("a", "b"):
        recs = [r.path for r in pascal(dataset, data) if r.split == "test"]
        out.extend(rng.sample(recs, min(per_set, len(recs))))
    return out


# ---------------------------------------------------------------------------- model files
def cv_scores(runs: Path, studies: dict[str, str]
              ) -> tuple[dict[str, float | None], dict[str, float | None]]:
    acc: dict[str, float | None] = {}
    tp: dict[str, float | None] = {}
    for dataset in "ab":  # a set without a study gets None
        path = runs / studies[dataset] / "summary.json" if dataset in studies else None
        mean = json.loads(path.read_text())["mean"] if path and path.exists() else {}
        acc[dataset] = mean.get("accuracy", {}).get("mean")
        tp[dataset] = mean.get("total_precision", {}).get("mean")
    return acc, tp


def model_files(name: str, arch: str, cfg: Any, study: str | None, shipped_name: str | None,
                runs: Path, tmp: Path, calibration: Any) -> tuple[Path, Path | None, str]:
    """(float32 ONNX, int8 ONNX or None, where they came from) for one variant.

    The shipped model (and its int8 file) if there is one, else the run's final model, else
    a freshly exported untrained network (same size and speed, no meaningful predictions).
    """
    from heartsound.training.quantize import quantize_onnx

    shipped = models_dir() / f"{shipped_name}.onnx" if shipped_name else None
    run_model = runs / study / "final" / "model.onnx" if study else None
    if shipped is not None and shipped.exists():
        fp32, source = shipped, f"src/heartsound/models/{shipped.name}"
    elif run_model is not None and run_model.exists():
        fp32, source = run_model, str(run_model)
    else:
        from heartsound.training.export import export_onnx
        from heartsound.training.networks import build

        fp32 = export_onnx(build(arch, 3, cfg.n_coefficients).eval(), cfg,
                           ["normal", "murmur", "extrastole"],
                           tmp / f"{name}.onnx")
        source = "untrained export"
    int8 = None
    if arch != "base":  # the lightweight networks are the ones shipped in int8
        shipped8 = shipped.with_name(f"{shipped_name}-int8.onnx") if shipped else None
        if fp32 == shipped and shipped8 is not None and shipped8.exists():
            int8 = shipped8
        else:
            int8 = quantize_onnx(fp32, tmp / f"{name}-int8.onnx", calibration(cfg))
    return fp32, int8, source


# ---------------------------------------------------------------------------- timings
def stage_timings(paths: list[Path], repeats: int, config: Any) -> dict[str, float]:
    """Median ms per front-end stage, averaged over ``paths``."""
    from heartsound import audio
    from heartsound.features import feature_map, features

    stages: dict[str, list[float]] = {"load": [], "resample": [], "filter+fit": [], "mfcc": [],
                                      "features": []}
    for p in paths:
        x, rate = audio.load(p, max_seconds=config.read_seconds)
        y = audio.resample(x, rate, config.sample_rate)
        z = audio.fit_length(audio.bandpass(y, config), config.n_samples)
        stages["load"].append(median_ms(lambda p=p: audio.load(p, config.read_seconds), repeats))
        stages["resample"].append(median_ms(
            lambda x=x, rate=rate: audio.resample(x, rate, config.sample_rate), repeats))
        stages["filter+fit"].append(median_ms(
            lambda y=y: audio.fit_length(audio.bandpass(y, config), config.n_samples), repeats))
        stages["mfcc"].append(median_ms(lambda z=z: feature_map(z, config), repeats))
        stages["features"].append(median_ms(lambda p=p: features(p, config), repeats))
    return {k: statistics.fmean(v) for k, v in stages.items()}


def model_ms(path: Path, repeats: int) -> float:
    import numpy as np

    from heartsound.infer import Classifier

    clf = Classifier(path, threads=1)
    m = np.random.default_rng(0).standard_normal((1, *clf.config.shape)).astype(np.float32)
    return median_ms(lambda: clf.predict_features(m), repeats * 3)


def classify(clf: Any, path: Path) -> int:
    """File to class exactly as ``heartsound predict`` does it (windows averaged if the
    model was trained for whole recordings)."""
    _, probs, _ = next(iter(clf.predict_files([path])))
    return int(probs.argmax())


def end_to_end_ms(path: Path, recordings: list[Path], repeats: int) -> tuple[float, float]:
    """(ms from file to class with the model loaded, mean windows per recording)."""
    from heartsound.infer import Classifier

    clf = Classifier(path, threads=1)
    ms = statistics.fmean(median_ms(lambda p=p: classify(clf, p), repeats) for p in recordings)
    return ms, statistics.fmean(len(clf.file_windows(p)) for p in recordings)


def paper_protocol_ms(path: Path, data: str | None, n: int = 30) -> float:
    """The paper's protocol: n random test recordings, each from file to class including
    model load (a new ONNX Runtime session per recording), averaged."""
    from heartsound.infer import Classifier

    times = []
    for p in pick_recordings(data, n // 2, seed=1):
        start = time.perf_counter()
        classify(Classifier(path, threads=1), p)
        times.append(time.perf_counter() - start)
    return statistics.fmean(times) * 1000


def throughput(model: Path, folder_paths: list[Path], workers: int) -> float:
    """Recordings per second of ``heartsound predict`` (its code path) with ``workers``."""
    from heartsound.infer import predict_parallel

    start = time.perf_counter()
    rows, _ = predict_parallel(str(model), folder_paths, workers)
    return len(rows) / (time.perf_counter() - start)


def reference_ms(recordings: list[Path], repeats: int) -> dict[str, float] | None:
    """Time benchmarks/reference.py (librosa + torch eager) and our pipeline on the same
    recordings with the same trained light network, warm, one thread."""
    ref_file = ROOT / "benchmarks" / "reference.py"
    if not ref_file.exists():
        return None
    try:
        import torch

        spec = importlib.util.spec_from_file_location("heartsound_reference", ref_file)
        ref = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(ref)  # type: ignore[union-attr]
    except ImportError as exc:
        print(f"heartsound: note: reference pipeline skipped ({exc})", file=sys.stderr)
        return None
    from heartsound.training.networks import build

    torch.set_num_threads(1)
    state = ROOT / "runs" / "b-light" / "final" / "model.pt"
    model = build("light", 3)
    if state.exists():
        model.load_state_dict(torch.load(state, weights_only=True))
    model.eval()
    reference = statistics.fmean(
        median_ms(lambda p=p: ref.reference_predict(str(p), model), repeats) for p in recordings)
    return {"end_to_end_ms": reference}


# ---------------------------------------------------------------------------- the command
def run_bench(args: argparse.Namespace) -> int:
    ensure_one_thread()
    from heartsound.config import DEFAULT
    from heartsound.infer import Classifier
    from heartsound.training.networks import (
        activation_peak_bytes,
        build,
        count_madds,
        count_parameters,
    )
    from heartsound.training.train import load_matrix

    per_set, repeats = (2, 5) if args.quick else (10, 30)
    runs = Path(args.runs)
    recordings = pick_recordings(args.data, per_set)
    from heartsound.data import pascal

    labelled = [r for r in pascal("b", args.data) if r.split == "labelled"]
    calibration_recordings = labelled[:: max(1, len(labelled) // (8 if args.quick else 64))]

    @functools.cache
    def calibration(cfg: Any) -> Any:  # int8 calibration maps for one front end
        return load_matrix(calibration_recordings, cfg)[0]

    result: dict[str, Any] = {"machine": machine(), "threads": 1, "recordings": len(recordings),
                              "repeats": repeats, "rows": []}
    result["frontend_ms"] = stage_timings(recordings, repeats, DEFAULT)
    files: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch, cfg, studies, shipped in variants():
            study = studies.get("b", studies.get("a"))
            fp32, int8, source = model_files(name, arch, cfg, study, shipped, runs,
                                             Path(tmp), calibration)
            # The timed file's own head and maps.
            model = build(arch, len(Classifier(fp32).classes), cfg.n_coefficients)
            acc, tp = cv_scores(runs, studies)
            feats = stage_timings(recordings, repeats, cfg)["features"] if cfg != DEFAULT \
                else result["frontend_ms"]["features"]
            m32 = model_ms(fp32, repeats)
            m8 = model_ms(int8, repeats) if int8 else None
            e2e, windows_per = end_to_end_ms(int8 or fp32, recordings, repeats)
            row = {
                "name": name, "model": arch, "frames": cfg.n_frames,
                "width": cfg.n_coefficients, "input": cfg.label, "source": source,
                "params": count_parameters(model),
                "madds": count_madds(model, *cfg.shape),
                "activation_kb": activation_peak_bytes(model, *cfg.shape) / 1024,
                "onnx_kb": fp32.stat().st_size / 1024,
                "onnx_int8_kb": int8.stat().st_size / 1024 if int8 else None,
                "cv_accuracy": acc, "cv_total_precision": tp,
                "latency_ms": {"frontend": feats, "model_fp32": m32, "model_int8": m8,
                               "end_to_end": e2e},
                "windows_per_recording": windows_per,
                "paper_protocol_ms": paper_protocol_ms(fp32, args.data,
                                                       4 if args.quick else 30),
            }
            result["rows"].append(row)
            files[name] = fp32
        from heartsound.training.quantize import FORMATS, quantize_onnx

        result["int8_formats"] = {}
        for fmt in FORMATS:  # which static-int8 graph format runs faster here
            q = quantize_onnx(files["light-872"], Path(tmp) / f"light-{fmt}.onnx",
                              calibration(DEFAULT), fmt)
            result["int8_formats"][fmt] = {"model_ms": model_ms(q, repeats),
                                           "kb": q.stat().st_size / 1024}
        light = next(r for r in result["rows"] if r["name"] == "light-872")
        ours, _ = end_to_end_ms(files["light-872"], recordings, repeats)
        ref = reference_ms(recordings, repeats)
        if ref:
            ref["ours_float32_ms"] = ours
            ref["ratio"] = ref["end_to_end_ms"] / ours
            ref["ratio_int8"] = ref["end_to_end_ms"] / light["latency_ms"]["end_to_end"]
        result["reference"] = ref
        folder = pick_recordings(args.data, 8 if args.quick else 60, seed=2)
        result["throughput"] = {f"workers_{w}": throughput(files["light-872"], folder, w)
                                for w in (1, 2)}
        result["throughput"]["recordings"] = len(folder)
    text = markdown(result)
    from heartsound.atomic import write_json, write_text

    if args.markdown:
        write_text(args.markdown, text)
    if args.save_json:
        write_json(args.save_json, result)
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Lightness study", "",
        f"`heartsound-lab bench` on {m['cpu']} ({m['cores']} cores), one thread, batch 1, "
        f"{m['date']}; median of {result['repeats']} runs per recording over "
        f"{result['recordings']} random PASCAL test recordings (half set A at 44.1 kHz, half "
        "set B at 4 kHz). Regenerate with `make bench`.", "",
        "Multiply-adds: convolutions k_h·k_w·(c_in/groups)·c_out·h_out·w_out plus linear "
        "layers (the paper's eq. 20); norms, activations and pooling not counted. Peak "
        "activation: the largest input+output of any one layer, float32.", "",
        "| model | input | params | MAdds (M) | peak act. (KB) | ONNX fp32 (KB) | "
        "ONNX int8 (KB) | front end (ms) | model fp32 (ms) | model int8 (ms) | "
        "windows / recording | end to end (ms) | paper protocol (ms) | CV acc A / B | "
        "CV total precision A / B |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lat = r["latency_ms"]
        lines.append(
            f"| {r['name']} ({r['model']}) | {r['input']} | {r['params']:,} | "
            f"{r['madds'] / 1e6:.1f} | "
            f"{r['activation_kb']:.0f} | {r['onnx_kb']:.0f} | {_f(r['onnx_int8_kb'], '{:.0f}')} | "
            f"{lat['frontend']:.2f} | {lat['model_fp32']:.2f} | {_f(lat['model_int8'])} | "
            f"{r['windows_per_recording']:.1f} | {lat['end_to_end']:.2f} | "
            f"{r['paper_protocol_ms']:.1f} | "
            f"{_f(r['cv_accuracy']['a'], '{:.3f}')} / {_f(r['cv_accuracy']['b'], '{:.3f}')} | "
            f"{_f(r['cv_total_precision']['a'], '{:.2f}')} / "
            f"{_f(r['cv_total_precision']['b'], '{:.2f}')} |")
    lines += ["", "End to end = file → class exactly as `heartsound predict` does it, with "
              "the model loaded (int8 where there is one): a model trained for whole "
              "recordings scores every 7-s window 2 s apart and averages them, so its cost "
              "grows with the recording (windows / recording). "
              "Paper protocol = file → class including model load, averaged over 30 random "
              "test recordings (the paper: 57 ms light / 67 ms base on an i7-7700 + GTX "
              "1080 Ti).", "", "Front-end stages (ms, 872×20):", ""]
    lines += [f"- {k}: {v:.2f}" for k, v in result["frontend_ms"].items()]
    formats = result.get("int8_formats")
    if formats:
        lines += ["", "Static int8 graph formats for the light model at 872×20 (same "
                  "calibration): " + "; ".join(
                      f"{k}: {v['model_ms']:.2f} ms, {v['kb']:.0f} KB" for k, v in formats.items())
                  + ". The shipped int8 files use QOperator."]
    ref = result.get("reference")
    if ref:
        lines += ["", f"Reference pipeline (`benchmarks/reference.py`: librosa.load at 4 kHz, "
                  f"same band-pass, librosa.feature.mfcc, torch eager, batch 1): "
                  f"{ref['end_to_end_ms']:.2f} ms per recording; ours {ref['ours_float32_ms']:.2f}"
                  f" ms float32 → **{ref['ratio']:.1f}× faster**, int8 "
                  f"**{ref['ratio_int8']:.1f}×**, same recordings, same process, one thread."]
        paper = next(r for r in result["rows"] if r["name"] == "light-872")
        shipped = [r for r in result["rows"] if r["name"].startswith("pascal-")
                   and r["frames"] != paper["frames"]]
        if shipped:
            lines += ["", "The shipped lightweight models read other maps: " + "; ".join(
                f"{r['name']} ({r['input']}, {r['madds'] / 1e6:.1f} M multiply-adds "
                f"against {paper['madds'] / 1e6:.1f} M) {r['latency_ms']['end_to_end']:.2f} "
                f"ms end to end, {ref['end_to_end_ms'] / r['latency_ms']['end_to_end']:.1f}× "
                "under the reference" for r in shipped) + " — a different amount of work as "
                "well as different code, so not the same comparison."]
    tp = result.get("throughput")
    if tp:
        lines += ["", f"`heartsound predict` throughput over {tp['recordings']} recordings: "
                  f"{tp['workers_1']:.0f} recordings/s with 1 worker, "
                  f"{tp['workers_2']:.0f} with 2."]
    return "\n".join(lines) + "\n"
