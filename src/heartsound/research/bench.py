"""``heartsound-lab bench``: the lightness study (the paper's Table 6), measured honestly.

For Base at 872×20 and Lightweight at 872/434/215×20: parameters, ONNX size (float32, int8),
multiply-adds, peak activation memory, CV scores from the ``make reproduce`` runs, and
latency on one CPU thread at batch 1 (median of many runs) split by stage; the paper's own
protocol (30 random test recordings, file to class including model load); throughput of
``heartsound predict`` with 1 and 2 workers; and a reference pipeline of the kind public
notebooks use (``benchmarks/reference.py``), timed in the same process, as a ratio.

Issue 21's figures, each a ratio against a reference measured in the same run: one
``heartsound predict`` process over all 247 PASCAL test files against one process of
``benchmarks/reference_process.py`` (librosa + scipy + the same ONNX model); cold start
against importing the runtime's libraries; the raw-audio models; LayerNorm against folded
BatchNorm networks; and file → class in process per 7-s recording, with the quality gate.

A benchmark is a command, not a test: nothing here asserts a speed; every figure says the
machine and the date.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib.util
import json
import os
import random
import statistics
import subprocess
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

# The shipped models the product figures run, by name: the files behind the names are
# replaced (BatchNorm versions) without renaming, so their architecture is read from them.
PROCESS_MODEL = "pascal-b-light"  # whole-process comparison and cold start
# the light network without LayerNorm: the whole-process comparison again, against its own
# reference (the same model in it)
PROCESS_MODEL_BN = "pascal-a-light"
SHIPPED_LIGHT = ("pascal-a-light", "pascal-b-light")  # in-process file → class
# LayerNorm network → its BatchNorm twin (folded into the convolutions by the export).
NORM_PAIRS = (("light", "light-bn"), ("light-centred", "light-centred-bn"),
              ("light-level", "light-level-bn"))
# front_end(scale, log_mel) of the LN/BN table: 872×20 MFCC, 434×48 log-mel, 215×20 MFCC.
NORM_SHAPES = ((1, False), (2, True), (4, False))
NORM_BATCHES = (8, 32)
# What issue 21 asks for, printed beside the measured values (never asserted).
TARGETS = {"process_ratio": 5.0, "cold_start_ratio": 1.5, "in_process_4k_ms": 1.0}
RUNTIME_IMPORTS = "import numpy, soundfile, soxr, onnxruntime"


def variants() -> tuple[tuple[str, str, Any, dict[str, str], str | None], ...]:
    """(name, architecture, front-end config, {set: run folder for the CV columns}, shipped
    model it times or None). The paper's lightness study — the base model and the
    lightweight network at each input size, CV from the paper's recipe — then one row per
    shipped lightweight model, CV from the study that trains it (study.SHIPPED_FROM)."""
    from heartsound.config import front_end
    from heartsound.research.study import SHIPPED_FROM, STUDIES

    # The paper's base model is no longer shipped: its run's final model, else an export.
    rows: list[tuple[str, str, Any, dict[str, str], str | None]] = [
        ("base-872", "base", front_end(), {s: f"{s}-base" for s in "ab"}, None)]
    for scale, frames in ((1, 872), (2, 434), (4, 215)):
        suffix = "" if scale == 1 else f"-x{scale}"
        rows.append((f"light-{frames}", "light", front_end(scale),
                     {s: f"{s}-light{suffix}" for s in "ab"}, None))
    for s in "ab":
        study = SHIPPED_FROM[f"pascal-{s}-light"]
        arch, cfg = shipped_facts(f"pascal-{s}-light", STUDIES[study].model,
                                  STUDIES[study].config())
        rows.append((f"pascal-{s}-light", arch, cfg, {s: study}, f"pascal-{s}-light"))
    if (models_dir() / "physionet-light.onnx").is_file():  # screening: no PASCAL CV columns
        study = SHIPPED_FROM["physionet-light"]
        arch, cfg = shipped_facts("physionet-light", STUDIES[study].model,
                                  STUDIES[study].config())
        rows.append(("physionet-light", arch, cfg, {}, "physionet-light"))
    return tuple(rows)


def shipped_facts(name: str, arch: str, config: Any) -> tuple[str, Any]:
    """(architecture, front end) of a shipped model as its file says (metadata "arch" and
    "heartsound.frontend"), else the given ones: a shipped file can be replaced by another
    network under the same name, and the row must count and time what is shipped."""
    from heartsound.infer import Classifier

    path = models_dir() / f"{name}.onnx"
    if not path.is_file():
        return arch, config
    clf = Classifier(path)
    return clf.metadata.get("arch", arch), clf.config


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


def pascal_test_files(data: str | None, dataset: str) -> list[Path]:
    """The unlabelled test recordings of one PASCAL set (52 in A, 195 in B), sorted."""
    from heartsound.data import pascal

    return [r.path for r in pascal(dataset, data) if r.split == "test"]


def pick_recordings(data: str | None, per_set: int, seed: int = 0,
                    sets: str = "ab") -> list[Path]:
    """``per_set`` random unlabelled test recordings of each set (seeded)."""
    rng = random.Random(seed)
    out: list[Path] = []
    for dataset in sets:
        recs = pascal_test_files(data, dataset)
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


def keep_cv(rows: list[dict[str, Any]], previous: dict[str, Any]) -> None:
    """A CV cell whose run folder is not in this checkout (None) takes the value of the
    previous bench's row of the same name (``previous``: its saved JSON), marked in
    ``cv_kept``: a bench of a fresh checkout does not erase what the runs measured."""
    before = {r.get("name"): r for r in previous.get("rows", [])}
    for row in rows:
        old = before.get(row["name"])
        if old is None:
            continue
        for key in ("cv_accuracy", "cv_total_precision"):
            for dataset, value in row[key].items():
                kept = old.get(key, {}).get(dataset)
                if value is None and kept is not None:
                    row[key][dataset] = kept
                    row.setdefault("cv_kept", []).append(f"{key}:{dataset}")


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
    if not arch.startswith("base"):  # the lightweight networks are the ones shipped in int8
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


# ---------------------------------------------------------------------------- issue 21
def one_thread_env() -> dict[str, str]:
    """This environment with every BLAS/OpenMP pool pinned to one thread (child processes)."""
    return {**os.environ, **{v: "1" for v in THREAD_VARS}}


def heartsound_command() -> list[str]:
    """The ``heartsound`` console script beside this interpreter (what a user runs), else
    ``python -m heartsound``."""
    script = Path(sys.executable).with_name("heartsound")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "heartsound"]


def wall_s(cmd: list[str], ok: tuple[int, ...] = (0,)) -> float:
    """Seconds of wall time of one process, start to exit, one thread; its output
    discarded. ``heartsound predict`` exits 2 when some files failed: still a timing."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=one_thread_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: "
                           f"{proc.stderr.strip()[-500:]}")
    return seconds


def csv_labels(path: Path) -> dict[str, str]:
    """path → label of a prediction CSV (``heartsound predict`` or the reference)."""
    with open(path, newline="") as fh:
        return {row["path"]: row["label"] for row in csv.DictReader(fh)}


def agreement(ours: dict[str, str], reference: dict[str, str]) -> tuple[float | None, int]:
    """(share of the files we classified that got the reference's label, files we answered
    unusable): the gate's answers are no disagreement, the reference has no gate."""
    classified = [p for p, label in ours.items() if label != "unusable"]
    same = sum(ours[p] == reference.get(p) for p in classified)
    return (same / len(classified) if classified else None), len(ours) - len(classified)


def network_s(files: list[Path], model: str) -> float:
    """Seconds the model's network alone takes over the files' maps as ``predict`` makes
    them (in process, one thread, each run once warm; files the front end refuses left
    out): with the interpreter and the runtime's imports, the least any ``predict``
    process over these files can take, however fast the rest."""
    from heartsound.audio import AudioError
    from heartsound.infer import Classifier

    clf = Classifier.load(model, threads=1)
    total_ms = 0.0
    for p in files:
        try:
            maps = clf.file_windows(p)
        except AudioError:
            continue
        total_ms += median_ms(lambda maps=maps: clf.predict_features(maps, clf.config), 1,
                              warmup=1)
    return total_ms / 1000


def process_comparison(files: list[Path], model: str, repeats: int) -> dict[str, Any] | None:
    """Wall time of one ``heartsound predict`` process over ``files`` (quality gate on, then
    off) against one process of benchmarks/reference_process.py with the same ONNX model,
    median of ``repeats`` runs each, interleaved so that both see the same machine load."""
    script = ROOT / "benchmarks" / "reference_process.py"
    if not script.is_file() or importlib.util.find_spec("librosa") is None:
        print("heartsound: note: whole-process reference skipped (needs "
              "benchmarks/reference_process.py and librosa)", file=sys.stderr)
        return None
    model_path = models_dir() / f"{model}.onnx"
    names = [str(p) for p in files]
    times: dict[str, list[float]] = {"reference": [], "gate": [], "no_gate": [],
                                     "imports": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = {k: Path(tmp) / f"{k}.csv" for k in times}
        predict = [*heartsound_command(), "predict", "--model", model, "--threads", "1",
                   "--quiet"]
        commands = {
            "reference": [sys.executable, str(script), str(model_path), str(out["reference"]),
                          *names],
            "gate": [*predict, "--out", str(out["gate"]), *names],
            "no_gate": [*predict, "--no-quality-gate", "--out", str(out["no_gate"]), *names],
            "imports": [sys.executable, "-c", RUNTIME_IMPORTS]}
        for _ in range(repeats):
            for key, cmd in commands.items():
                out[key].unlink(missing_ok=True)  # predict refuses nothing, but start clean
                times[key].append(wall_s(cmd, ok=(0,) if key == "reference" else (0, 2)))
        labels = {k: csv_labels(v) for k, v in out.items() if k != "imports"}
    seconds = {k: statistics.median(v) for k, v in times.items()}
    result: dict[str, Any] = {
        "model": model, "files": len(files), "repeats": repeats,
        "files_44k": sum(1 for p in files if p.parent.name == "set_a"),
        "reference_s": seconds["reference"],
        "predict_s": {"gate": seconds["gate"], "no_gate": seconds["no_gate"]},
        "ratio": {k: seconds["reference"] / seconds[k] for k in ("gate", "no_gate")},
        "imports_s": seconds["imports"], "network_s": network_s(files, model),
        "target_ratio": TARGETS["process_ratio"], "same_label": {}, "unusable": {}}
    for key in ("gate", "no_gate"):
        result["same_label"][key], result["unusable"][key] = agreement(
            labels[key], labels["reference"])
    # The cold start's file: a 4-kHz one (set B) that the gate lets through to the model.
    usable = [p for p in names if Path(p).parent.name == "set_b"
              and labels["gate"].get(p, "unusable") != "unusable"]
    result["usable_file"] = usable[0] if usable else None
    return result


def cold_start(one_file: Path, model: str, repeats: int) -> dict[str, Any]:
    """Median wall time of one-file ``heartsound predict`` (and two cheaper commands)
    against a process that only imports the runtime's libraries: the floor any Python
    classifier on this stack pays before its first file.

    The package's bytecode is compiled first, as installing the wheel does (pip compiles
    every module at install time); an editable install under ``PYTHONDONTWRITEBYTECODE``
    would otherwise compile each module from source on every start (~50 ms here), a cost
    no installed user pays."""
    import compileall

    import heartsound

    compileall.compile_dir(str(Path(heartsound.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "one.csv"
        commands = {
            "imports": [sys.executable, "-c", RUNTIME_IMPORTS],
            "predict": [*heartsound_command(), "predict", "--model", model, "--threads", "1",
                        "--quiet", "--out", str(out), str(one_file)],
            "version": [*heartsound_command(), "--version"],
            "models": [*heartsound_command(), "models"]}
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(repeats):
            for key, cmd in commands.items():
                out.unlink(missing_ok=True)
                times[key].append(wall_s(cmd, ok=(0, 2)))
    seconds = {k: statistics.median(v) for k, v in times.items()}
    return {"file": str(one_file), "model": model, "repeats": repeats, "seconds": seconds,
            "ratio": {k: v / seconds["imports"] for k, v in seconds.items() if k != "imports"},
            "target_ratio": TARGETS["cold_start_ratio"]}


def audio_models(recordings: list[Path], repeats: int) -> list[dict[str, Any]]:
    """Each shipped raw-audio model (``*-audio.onnx``): ms of the graph alone on a 4-kHz
    waveform (the front end is inside it) of a full-length recording (the file repeated to
    the 7.5 s the graph reads, so short files do not flatter it), ms from file to class, and
    its source feature-map model's file → class on the same recordings."""
    import math

    from heartsound.audio import fit_length
    from heartsound.infer import Classifier
    from heartsound.registry import shipped_names

    rows = []
    source_ms: dict[str, float] = {}
    for name in (n for n in shipped_names() if n.endswith("-audio")):
        clf = Classifier(models_dir() / f"{name}.onnx", threads=1)
        full = math.ceil(clf.config.read_seconds * clf.config.sample_rate)
        waves = [fit_length(clf.file_audio(p), full) for p in recordings]
        graph = statistics.fmean(median_ms(lambda x=x, c=clf: c.predict_audio(x), repeats)
                                 for x in waves)
        e2e = statistics.fmean(median_ms(lambda p=p, c=clf: classify(c, p), repeats)
                               for p in recordings)
        source = clf.metadata.get("heartsound.source_model", name.removesuffix("-audio"))
        source_path = models_dir() / f"{source}.onnx"
        if source not in source_ms and source_path.is_file():
            source_ms[source] = end_to_end_ms(source_path, recordings, repeats)[0]
        rows.append({"name": name, "samples": int(statistics.fmean(len(x) for x in waves)),
                     "graph_ms": graph, "end_to_end_ms": e2e, "source": source,
                     "source_end_to_end_ms": source_ms.get(source),
                     "quantization": clf.metadata.get("heartsound.quantization")})
    return rows


def randomise_batchnorm(model: Any, seed: int = 0) -> Any:
    """Random running statistics and affine weights in every BatchNorm, so that the export
    folds real numbers into the convolutions, not an identity."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return model.eval()


def batch_ms(path: Path, batch: int, repeats: int) -> float:
    """Median ms per recording of one ONNX Runtime run at ``batch`` (one thread)."""
    import numpy as np

    from heartsound.infer import Classifier

    clf = Classifier(path, threads=1)
    m = np.random.default_rng(0).standard_normal((batch, *clf.config.shape)).astype(np.float32)
    # the session itself: predict_features splits a batch into runs of infer.RUN_BATCH
    return median_ms(lambda: clf.session.run(None, {clf.input_name: m}), repeats) / batch


RUN_BATCHES = (1, 2, 4, 8, 32)  # maps per run measured for the shipped models


def run_batches(repeats: int) -> list[dict[str, Any]]:
    """Per shipped feature-map model (float and int8): ms per map of one ONNX Runtime run
    at each of :data:`RUN_BATCHES` (one thread), the measurement behind infer.RUN_BATCH."""
    from heartsound.training.audio_model import sources

    rows = []
    for path in sources(models_dir()):
        per = {str(b): batch_ms(path, b, max(3, repeats * 3 // b)) for b in RUN_BATCHES}
        rows.append({"model": path.stem, "per_map_ms": per,
                     "best_batch": int(min(per, key=per.__getitem__))})
    return rows


def norm_ops(path: Path) -> dict[str, int]:
    """Normalisation nodes left in an exported graph: a folded BatchNorm leaves none."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    return {op: sum(n.op_type == op for n in nodes)
            for op in ("LayerNormalization", "BatchNormalization", "Transpose")}


def norm_table(repeats: int, tmp: Path, pairs: tuple[tuple[str, str], ...] = NORM_PAIRS,
               shapes: tuple[tuple[int, bool], ...] = NORM_SHAPES,
               batches: tuple[int, ...] = NORM_BATCHES) -> list[dict[str, Any]]:
    """LayerNorm network against its BatchNorm twin, untrained, exported as shipped models
    are (BatchNorm folded), at each map size: ms at batch 1 and their ratio, parameters and
    multiply-adds, and the folded network per recording at larger batches."""
    from heartsound.config import front_end
    from heartsound.training.export import export_onnx
    from heartsound.training.networks import build, count_madds, count_parameters

    rows = []
    for scale, log_mel in shapes:
        cfg = front_end(scale, log_mel)
        for ln, bn in pairs:
            row: dict[str, Any] = {"input": cfg.label, "frames": cfg.n_frames,
                                   "width": cfg.n_coefficients}
            for key, arch in (("ln", ln), ("bn", bn)):
                net = randomise_batchnorm(build(arch, 3, cfg.n_coefficients))
                path = export_onnx(net, cfg, ["normal", "murmur", "extrastole"],
                                   tmp / f"{arch}-{cfg.n_frames}x{cfg.n_coefficients}.onnx")
                row[key] = {"arch": arch, "params": count_parameters(net),
                            "madds": count_madds(net, *cfg.shape),
                            "ms": batch_ms(path, 1, repeats * 3), "ops": norm_ops(path),
                            "kb": path.stat().st_size / 1024}
                if key == "ln":  # the same LayerNorm written without transposes
                    from heartsound.training.networks import explicit_layer_norm

                    for how in ("reduce", "conv"):
                        other = export_onnx(
                            explicit_layer_norm(build(arch, 3, cfg.n_coefficients), how).eval(),
                            cfg, ["normal", "murmur", "extrastole"],
                            tmp / f"{arch}-{how}-{cfg.n_frames}x{cfg.n_coefficients}.onnx")
                        row[key][f"ms_{how}"] = batch_ms(other, 1, repeats * 3)
                if key == "bn":  # ms per recording when files are batched
                    per = {"1": row[key]["ms"], **{
                        str(b): batch_ms(path, b, max(3, repeats * 3 // b)) for b in batches}}
                    row[key]["per_recording_ms"] = per
                    row[key]["best_batch"] = int(min(per, key=per.__getitem__))
            row["ratio"] = row["ln"]["ms"] / row["bn"]["ms"]
            rows.append(row)
    return rows


def product_ms(model: str, sets: dict[str, list[Path]], repeats: int) -> dict[str, Any]:
    """File → class per recording as ``heartsound predict`` does it (prediction_rows, the
    quality gate on, batch 1, the model loaded, one thread) and as ``--no-quality-gate``
    does it, for each set of files, with its stages timed alone: reading, the resampler,
    the front end (resampled, band-passed, the map), the gate as predict runs it (from the
    front end's band-limited signal) and the network."""
    import numpy as np

    from heartsound import audio
    from heartsound.infer import Classifier, prediction_rows
    from heartsound.quality import assess_prepared

    clf = Classifier.load(model, threads=1)
    cfg = clf.config
    out: dict[str, Any] = {"model": model, "arch": clf.metadata.get("arch"),
                           "input": cfg.label, "sets": {}}
    for key, paths in sets.items():
        stages: dict[str, list[float]] = {"end_to_end": [], "no_gate": [], "load": [],
                                          "resample": [], "front_end": [], "gate": [],
                                          "network": []}
        rates = []
        for p in paths:
            x, rate = audio.load(p, max_seconds=cfg.read_seconds)
            x = x[: int(np.ceil(cfg.read_seconds * rate))]
            y = audio.band_limited(x, rate, cfg)
            maps = clf._windows(y)
            rates.append(rate)
            stages["end_to_end"].append(median_ms(
                lambda p=p: prediction_rows(clf, [p], batch=1), repeats))
            stages["no_gate"].append(median_ms(
                lambda p=p: prediction_rows(clf, [p], batch=1, quality_gate=False), repeats))
            stages["load"].append(median_ms(
                lambda p=p: audio.load(p, max_seconds=cfg.read_seconds), repeats))
            stages["resample"].append(median_ms(
                lambda x=x, rate=rate: audio.resample(x, rate, cfg.sample_rate), repeats))
            stages["front_end"].append(median_ms(
                lambda x=x, rate=rate: clf._windows(audio.band_limited(x, rate, cfg)), repeats))
            stages["gate"].append(median_ms(
                lambda x=x, rate=rate, y=y: assess_prepared(
                    x, rate, y, config=cfg, max_seconds=cfg.read_seconds), repeats))
            stages["network"].append(median_ms(
                lambda maps=maps: clf.predict_features(maps, cfg), repeats))
        out["sets"][key] = {"files": len(paths), "rate_hz": statistics.median(rates),
                            **{f"{k}_ms": statistics.fmean(v) for k, v in stages.items()}}
    return out


# ---------------------------------------------------------------------------- the command
def run_bench(args: argparse.Namespace) -> int:
    ensure_one_thread()
    from heartsound.cli import keep_heap

    # predict's heap setting, for every in-process timing (ours and the reference alike)
    heap_kept = keep_heap()
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

    result: dict[str, Any] = {"machine": machine(), "threads": 1, "heap_kept": heap_kept,
                              "recordings": len(recordings), "repeats": repeats, "rows": []}
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
        result.update(issue21(args, repeats, per_set, Path(tmp)))
    if args.save_json and Path(args.save_json).is_file():
        keep_cv(result["rows"], json.loads(Path(args.save_json).read_text()))
    text = markdown(result)
    from heartsound.atomic import write_json, write_text

    if args.markdown:
        write_text(args.markdown, text)
    if args.save_json:
        write_json(args.save_json, result)
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def issue21(args: argparse.Namespace, repeats: int, per_set: int, tmp: Path
            ) -> dict[str, Any]:
    """Issue 21's figures: whole process, cold start, raw-audio models, LayerNorm against
    folded BatchNorm, and file → class in process per 7-s recording."""
    out: dict[str, Any] = {"targets": TARGETS}
    b_files = pascal_test_files(args.data, "b")
    every = pascal_test_files(args.data, "a") + b_files
    files = pick_recordings(args.data, 10, seed=3) if args.quick else every
    out["process"] = process_comparison(files, PROCESS_MODEL, 1 if args.quick else 3)
    usable = out["process"].pop("usable_file") if out["process"] else None
    if usable is None:  # a 4-kHz file the gate lets through, so the model runs too
        from heartsound.infer import Classifier, prediction_rows

        rows, _ = prediction_rows(Classifier.load(PROCESS_MODEL), b_files[:20])
        usable = next((r["path"] for r in rows if r["label"] != "unusable"), str(b_files[0]))
    out["cold_start"] = cold_start(Path(usable), PROCESS_MODEL, 3 if args.quick else 15)
    if (models_dir() / f"{PROCESS_MODEL_BN}.onnx").is_file():
        more = process_comparison(files, PROCESS_MODEL_BN, 1 if args.quick else 3)
        if more:
            more.pop("usable_file")
            out["process_more"] = [more]
    set_b = pick_recordings(args.data, per_set, seed=0, sets="b")
    set_a = pick_recordings(args.data, per_set, seed=0, sets="a")
    out["audio_models"] = audio_models(set_b, repeats)
    out["norms"] = norm_table(repeats, tmp)
    out["run_batches"] = run_batches(repeats)
    out["in_process"] = [product_ms(m, {"b": set_b, "a": set_a}, repeats)
                         for m in SHIPPED_LIGHT if (models_dir() / f"{m}.onnx").is_file()]
    return out


def _cv(row: dict[str, Any], key: str, dataset: str, fmt: str) -> str:
    """A CV cell: "–" without a value, † after one kept from the previous bench."""
    return _f(row[key][dataset], fmt) + ("†" if f"{key}:{dataset}" in row.get("cv_kept", [])
                                         else "")


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def _where(result: dict[str, Any]) -> str:
    m = result["machine"]
    return f"{m['cpu']} ({m['cores']} cores), {m['date']}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def ceiling(process: dict[str, Any]) -> float:
    """The largest whole-process ratio a ``predict`` over these files could reach: the
    reference's seconds over the network's and the bare imports' (``process_comparison``)."""
    return process["reference_s"] / (process["network_s"] + process["imports_s"])


def markdown_issue21(result: dict[str, Any]) -> list[str]:
    """Issue 21's sections, each saying what it measures and where; absent ones skipped
    (an older JSON, or a reference that could not run)."""
    where, targets = _where(result), result.get("targets", TARGETS)
    lines: list[str] = []
    proc = result.get("process")
    if proc:
        lines += [
            "", "## Whole process", "",
            f"Wall time of one `heartsound predict --model {proc['model']}` process over "
            f"{proc['files']} unlabelled PASCAL test files ({proc['files_44k']} of set A at "
            f"44.1 kHz, {proc['files'] - proc['files_44k']} of set B at 4 kHz), CSV to a "
            "temporary file, against one process of `benchmarks/reference_process.py` over "
            "the same files (librosa.load at 4 kHz, scipy sosfiltfilt with the same "
            "band-pass, fit to 7 s, librosa's map of the model's front end, the same ONNX "
            "model in onnxruntime, warm, batch 1, a CSV; for a whole-recording model up to "
            "60 s and the mean over its 7-s windows, as `predict` reads it). Start to exit, "
            "interpreter and imports included; both pinned to one thread "
            "(OMP/OPENBLAS/MKL_NUM_THREADS=1); "
            f"median of {proc['repeats']} run(s), interleaved; {where}. Same label: share of "
            "the files `predict` classified that got the reference's label (the gate's "
            "`unusable` answers left out: the reference has no gate). Below the default "
            "model, the same comparison for another shipped model where there is one (its "
            "reference runs that model too).", "",
            f"| `heartsound predict` | seconds | reference (s) | ratio (target ≥ "
            f"{targets['process_ratio']:g}×) | same label | unusable |",
            "|---|---|---|---|---|---|"]
        for p in [proc, *result.get("process_more", [])]:
            model = "" if p is proc else f"`--model {p['model']}`, "
            for key, what in (("gate", "quality gate on (the default)"),
                              ("no_gate", "`--no-quality-gate`")):
                lines.append(
                    f"| {model}{what} | {p['predict_s'][key]:.2f} | {p['reference_s']:.2f} | "
                    f"**{p['ratio'][key]:.1f}×** | {_pct(p['same_label'][key])} | "
                    f"{p['unusable'][key]} |")
        floors = [p for p in [proc, *result.get("process_more", [])] if "network_s" in p]
        if floors:
            lines += ["", "The floor under each ratio: the network alone over the files' "
                      "maps (in process, one thread, warm) and a process that only imports "
                      "the runtime's libraries (the cold start's floor, timed beside them) — "
                      "no `predict` process over these files can take less than their sum, "
                      "however fast its front end, gate and output: " + "; ".join(
                          f"`{p['model']}` {p['network_s']:.2f} s + {p['imports_s']:.2f} s, "
                          f"so at most **{ceiling(p):.1f}×** the reference" for p in floors)
                      + "."]
    cold = result.get("cold_start")
    if cold:
        sec, ratio = cold["seconds"], cold["ratio"]
        lines += [
            "", "## Cold start", "",
            f"Median wall time of {cold['repeats']} runs of each command, start to exit, one "
            f"thread, {where}: `heartsound predict` on one 4-kHz set-B file "
            f"(`{Path(cold['file']).name}`, `--model {cold['model']}`, CSV to a temporary "
            f"file) against `python -c \"{RUNTIME_IMPORTS}\"`, the floor of any Python "
            "classifier on this stack. The package's bytecode is compiled first, as a wheel "
            "install does (an editable install under PYTHONDONTWRITEBYTECODE would compile "
            "every module from source at each start).", "",
            "| command | seconds | × the imports |", "|---|---|---|",
            f"| `python -c \"{RUNTIME_IMPORTS}\"` | {sec['imports']:.3f} | 1.00 |",
            f"| `heartsound predict one.wav` | {sec['predict']:.3f} | "
            f"**{ratio['predict']:.2f}×** (target ≤ {targets['cold_start_ratio']:g}×) |",
            f"| `heartsound --version` | {sec['version']:.3f} | {ratio['version']:.2f}× |",
            f"| `heartsound models` | {sec['models']:.3f} | {ratio['models']:.2f}× |"]
    audio_rows = result.get("audio_models")
    if audio_rows:
        lines += [
            "", "## Raw-audio models", "",
            "Each shipped `*-audio.onnx` (the front end as ONNX operators before the "
            "network), in process, one thread, batch 1, median ms per recording averaged "
            f"over set-B test files, {where}. Graph: onnxruntime on the 4-kHz waveform "
            f"alone, each file repeated to the {audio_rows[0]['samples']:,} samples (7.5 s) "
            "the graph reads; file → class: reading the file too (`predict_files`, no gate, "
            "the files as they are); "
            "beside it the feature-map model it was made from, file → class on the same "
            "files.", "",
            "| model | graph (ms) | file → class (ms) | feature-map model | its file → class "
            "(ms) |", "|---|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['graph_ms']:.2f} | {r['end_to_end_ms']:.2f} | "
                  f"{r['source']} | {_f(r['source_end_to_end_ms'])} |" for r in audio_rows]
    norms = result.get("norms")
    if norms:
        lines += [
            "", "## LayerNorm against folded BatchNorm", "",
            "Untrained networks of each pair (BatchNorm's running statistics and affine "
            "weights randomised, so the fold is real) exported as the shipped models are "
            "(the export folds BatchNorm into the convolutions; LayerNorm over channels "
            "stays Transpose → LayerNormalization → Transpose), timed in onnxruntime, one "
            f"thread, batch 1, median ms; {where}. Nodes left: LayerNormalization / "
            "BatchNormalization / Transpose in the graph. Per recording at batch 1 / "
            f"{' / '.join(str(b) for b in NORM_BATCHES)}: the folded network's ms per map "
            "when maps are batched; best: the batch with the least. *LN reduce* / *LN "
            "conv*: the same LayerNorm network written without transposes "
            "(`networks.explicit_layer_norm`: channel mean and variance by ReduceMean, or by "
            "a 1×1 convolution with weights 1/C) — the formulations tried for a LayerNorm "
            "that runs fast.", "",
            "| input | LayerNorm | BatchNorm | params LN / BN | MAdds (M) | LN (ms) | "
            "LN reduce (ms) | LN conv (ms) | BN (ms) "
            "| LN / BN | nodes left LN; BN | BN per recording (ms) | best batch |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in norms:
            ln, bn = r["ln"], r["bn"]
            per = " / ".join(f"{v:.3f}" for v in bn["per_recording_ms"].values())
            lines.append(
                f"| {r['input']} | {ln['arch']} | {bn['arch']} | {ln['params']:,} / "
                f"{bn['params']:,} | {ln['madds'] / 1e6:.1f} | {ln['ms']:.2f} | "
                f"{_f(ln.get('ms_reduce'))} | {_f(ln.get('ms_conv'))} | "
                f"{bn['ms']:.2f} | **{r['ratio']:.2f}×** | "
                f"{'/'.join(str(v) for v in ln['ops'].values())}; "
                f"{'/'.join(str(v) for v in bn['ops'].values())} | {per} | "
                f"{bn['best_batch']} |")
    batches = result.get("run_batches")
    if batches:
        from heartsound.infer import RUN_BATCH

        sizes = list(batches[0]["per_map_ms"])
        lines += [
            "", "## Maps per run", "",
            "Each shipped feature-map model in onnxruntime (one thread), random maps of its "
            "own shape, ms per map of one run at each batch size, median; "
            f"{where}. `predict` runs each recording's maps by themselves, {RUN_BATCH} at a "
            "time (`infer.RUN_BATCH`), a lone last one in the run before it (`infer.runs`: "
            "a batch of one takes another path through onnxruntime, docs/audio-models.md).", "",
            "| model | " + " | ".join(f"batch {b} (ms)" for b in sizes) + " | fastest |",
            "|---|" + "---|" * len(sizes) + "---|"]
        for r in batches:
            lines.append(f"| {r['model']} | "
                         + " | ".join(f"{r['per_map_ms'][b]:.3f}" for b in sizes)
                         + f" | {r['best_batch']} |")
    inproc = result.get("in_process")
    if inproc:
        lines += [
            "", "## In process, file → class", "",
            "Per 7-s recording as `heartsound predict` does it (`prediction_rows`, the "
            "quality gate on, one file per call, the model loaded, one thread), median ms "
            f"per file averaged over the files, {where}; then the same with "
            "`--no-quality-gate`; beside them, the stages timed alone: reading the file, "
            "the resampler (44.1 → 4 kHz for set A, nothing for set B), the front end "
            "(resampler included: band-pass and map), the gate as `predict` "
            "runs it (its indices from the front end's band-limited signal) and the "
            "network. Like `predict`, the bench keeps freed memory in the process "
            "(`cli.keep_heap`: without it each recording's ~1-MB arrays are mapped and "
            "zeroed anew) for its in-process timings, the references' included"
            f"{'' if result.get('heap_kept', True) else ' (not available here: off)'}. "
            "Target for a 4-kHz file: ≤ "
            f"{targets['in_process_4k_ms']:g} ms.", "",
            "| model | files | file → class (ms) | without the gate (ms) | read (ms) "
            "| resample (ms) | front end (ms) | gate (ms) | network (ms) |",
            "|---|---|---|---|---|---|---|---|---|"]
        for r in inproc:
            for key, s in r["sets"].items():
                lines.append(
                    f"| {r['model']} ({r['arch'] or '?'}, {r['input']}) | {s['files']} of "
                    f"set {key.upper()} at {s['rate_hz'] / 1000:g} kHz | "
                    f"**{s['end_to_end_ms']:.2f}** | {_f(s.get('no_gate_ms'))} | "
                    f"{s['load_ms']:.2f} | "
                    f"{s['resample_ms']:.2f} | {_f(s.get('front_end_ms'))} | "
                    f"{s['gate_ms']:.2f} | {_f(s.get('network_ms'))} |")
    return lines


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
            f"{_cv(r, 'cv_accuracy', 'a', '{:.3f}')} / {_cv(r, 'cv_accuracy', 'b', '{:.3f}')} | "
            f"{_cv(r, 'cv_total_precision', 'a', '{:.2f}')} / "
            f"{_cv(r, 'cv_total_precision', 'b', '{:.2f}')} |")
    lines += ["", "End to end = file → class exactly as `heartsound predict` does it, with "
              "the model loaded (int8 where there is one): a model trained for whole "
              "recordings scores its 7-s windows (as far apart as its metadata "
              "`heartsound.window_hop_s` says) and averages them, so its cost "
              "grows with the recording (windows / recording). "
              + ("CV cells marked † come from the previous bench's run folders, not in this "
                 "checkout. " if any(r.get("cv_kept") for r in result["rows"]) else "")
              + "Paper protocol = file → class including model load, averaged over 30 random "
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
    lines += markdown_issue21(result)
    return "\n".join(lines) + "\n"
