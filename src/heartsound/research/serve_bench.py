"""``heartsound-lab serve-bench``: latency and throughput of ``heartsound serve``.

The server (:mod:`heartsound.serve`) is started in this process on 127.0.0.1 (a free port);
``--clients`` threads, each on its own keep-alive connection, send ``--requests`` recordings
in turn from a handful of PASCAL set-B test files (generated heart-like WAVs when the data
is absent) and time each answer. Every answer is checked against ``prediction_rows`` on the
same files, which is also timed in-process, one file after another, as the reference. The
clients share the server's process (and its GIL): a floor on what a separate client sees.

A benchmark is a command, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.data import default_data_dir
from heartsound.provenance import machine


def generated_files(folder: Path, n: int) -> list[Path]:
    """``n`` heart-like WAVs (bursts at S1 and S2 every beat, a little noise), 4 kHz."""
    import soundfile as sf

    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        rate, seconds, beat = 4000, 8 + i % 5, 60.0 / (60 + 9 * i)
        t = np.arange(seconds * rate) / rate
        x = np.zeros_like(t)
        for onset, freq in ((0.0, 60.0), (0.3, 110.0)):
            phase = (t - onset) % beat
            x += np.exp(-phase / 0.03) * np.sin(2 * np.pi * freq * t) * (phase < 0.12)
        path = folder / f"generated-{i}.wav"
        sf.write(str(path), 0.5 * x + 0.01 * rng.standard_normal(t.size), rate,
                 subtype="PCM_16")
        out.append(path)
    return out


def pick_files(data: str | None, n: int, folder: Path) -> tuple[list[Path], str]:
    root = Path(data) if data else default_data_dir()
    found = sorted((root / "set_b").glob("Bunlabelledtest*.wav")) if root.is_dir() else []
    if found:
        step = max(1, len(found) // n)
        return found[::step][:n], f"PASCAL set B test files ({root})"
    return generated_files(folder, n), "generated heart-like WAVs (no PASCAL data found)"


def answer_of(row: dict[str, str], classes: list[str]) -> dict[str, Any]:
    """The server's answer for ``heartsound predict``'s CSV row (without the model)."""
    usable = row["label"] != "unusable"
    return {"label": row["label"],
            "probabilities": ({c: float(row[f"prob_{c}"]) for c in classes} if usable
                              else None),
            "quality": float(row["quality"]) if row["quality"] else None,
            "reason": row["reason"] or None}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from heartsound.infer import Classifier, prediction_rows

    try:
        from heartsound.serve import BackgroundServer, create_app, default_concurrency
    except ImportError as exc:
        raise ValueError(f"the server stack is missing ({exc.name or exc}): install "
                         "heartsound[serve]") from None

    if args.requests < 1 or args.clients < 1 or args.files < 1:
        raise ValueError("--requests, --clients and --files must be positive")
    from heartsound.registry import shipped_names

    if args.model not in shipped_names():
        raise ValueError(f"--model {args.model!r}: the server answers shipped models only "
                         f"({', '.join(shipped_names())})")
    with tempfile.TemporaryDirectory(prefix="heartsound-serve-bench-") as tmp:
        files, source = pick_files(args.data, args.files, Path(tmp))
        bodies = [p.read_bytes() for p in files]
        clf = Classifier.load(args.model)
        prediction_rows(clf, files[:1])  # warm
        start = time.perf_counter()
        rows, errors = prediction_rows(clf, files)
        reference_s = time.perf_counter() - start
        if errors:
            raise ValueError(f"the reference could not read every file: {errors[0]}")
        expected = [answer_of(r, clf.classes) | {"model": args.model} for r in rows]

        workers = args.workers or default_concurrency()
        app = create_app(max_concurrency=workers, max_queue=max(64, 2 * args.clients),
                         timeout_s=args.timeout)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        mismatches = failures = 0
        lock = threading.Lock()
        counter = iter(range(args.requests))

        def client(server: BackgroundServer) -> None:
            nonlocal mismatches, failures
            conn = http.client.HTTPConnection(server.host, server.port, timeout=args.timeout + 30)
            try:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    k = i % len(files)
                    t0 = time.perf_counter()
                    try:
                        conn.request("POST", f"/v1/predict?model={args.model}", body=bodies[k],
                                     headers={"Content-Type": "application/octet-stream"})
                        resp = conn.getresponse()
                        answer = json.loads(resp.read())
                        status = resp.status
                    except (OSError, http.client.HTTPException, ValueError):
                        conn.close()  # reconnects on the next request
                        status, answer = 0, None
                    elapsed = time.perf_counter() - t0
                    with lock:
                        statuses[status] = statuses.get(status, 0) + 1
                        if status == 200:
                            latencies.append(elapsed)
                            mismatches += answer != expected[k]
                        else:
                            failures += 1
            finally:
                conn.close()

        with BackgroundServer(app) as server:
            for body in bodies:  # warm: model loaded, buffers grown
                conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
                conn.request("POST", f"/v1/predict?model={args.model}", body=body,
                             headers={"Content-Type": "application/octet-stream"})
                conn.getresponse().read()
                conn.close()
            threads = [threading.Thread(target=client, args=(server,), daemon=True)
                       for _ in range(args.clients)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=args.timeout * args.requests + 60)
            wall = time.perf_counter() - start

    ms = [1000 * x for x in latencies]
    return {
        "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": args.model, "files": len(files), "source": source,
        "requests": args.requests, "clients": args.clients, "server_workers": workers,
        "ok": len(latencies), "failed": failures, "statuses": statuses,
        "mismatches": mismatches,
        "latency_ms": {"p50": percentile(ms, 50), "p90": percentile(ms, 90),
                       "p99": percentile(ms, 99), "mean": float(np.mean(ms)) if ms else None,
                       "max": max(ms) if ms else None},
        "throughput_rps": len(latencies) / wall if wall > 0 else None,
        "wall_s": wall,
        "reference": {"what": "prediction_rows in this process, one file after another",
                      "ms_per_file": 1000 * reference_s / len(files),
                      "files_per_s": len(files) / reference_s if reference_s > 0 else None},
    }


def report(result: dict[str, Any]) -> str:
    m, lat, ref = result["machine"], result["latency_ms"], result["reference"]
    return "\n".join([
        f"heartsound serve on 127.0.0.1: {result['requests']} requests, {result['clients']} "
        f"clients, {result['server_workers']} server workers, model {result['model']}",
        f"files: {result['files']} {result['source']}",
        f"machine: {m['cpu']} ({m['cores']} cores), Python {m['python']}, {result['date']}",
        "",
        f"{'':<24} {'value':>10}",
        f"{'answered 200':<24} {result['ok']:>10}",
        f"{'failed':<24} {result['failed']:>10}",
        f"{'differ from predict':<24} {result['mismatches']:>10}",
        f"{'latency p50 (ms)':<24} {lat['p50']:>10.1f}",
        f"{'latency p90 (ms)':<24} {lat['p90']:>10.1f}",
        f"{'latency p99 (ms)':<24} {lat['p99']:>10.1f}",
        f"{'throughput (req/s)':<24} {result['throughput_rps']:>10.1f}",
        f"{'reference (ms/file)':<24} {ref['ms_per_file']:>10.1f}",
        f"{'reference (files/s)':<24} {ref['files_per_s']:>10.1f}",
        "",
        "reference: prediction_rows in-process, one file after another, one ONNX thread; "
        "the clients run in the server's process.",
    ])


def run(args: argparse.Namespace) -> int:
    result = bench(args)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if result["ok"] == result["requests"] and not result["mismatches"] else 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requests", type=int, default=200, help="requests sent (default 200)")
    p.add_argument("--clients", type=int, default=8,
                   help="concurrent clients, one keep-alive connection each (default 8)")
    p.add_argument("--workers", type=int, default=None,
                   help="server's recordings at once (default: one per core, at most 8)")
    p.add_argument("--files", type=int, default=8, help="distinct recordings sent in turn")
    p.add_argument("--model", default="pascal-b-light", help="shipped model name")
    p.add_argument("--timeout", type=float, default=30, help="server's time limit per request")
    p.add_argument("--data", help="PASCAL folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
