"""``heartsound serve`` against a real uvicorn server on 127.0.0.1 (a free port): its answers
equal ``heartsound predict``'s, a bad body is one 4xx JSON line and the server goes on, the
limits hold, and 200 concurrent requests lose nothing. Loopback traffic only."""

from __future__ import annotations

import http.client
import io
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")

from conftest import heart_like  # noqa: E402

from heartsound.data import default_data_dir  # noqa: E402
from heartsound.infer import Classifier, prediction_rows  # noqa: E402
from heartsound.serve import BackgroundServer, create_app  # noqa: E402

MB = 1 << 20


def request(server: BackgroundServer, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60
            ) -> tuple[int, dict, dict[str, str]]:
    """(status, JSON answer, headers) of one request on a fresh connection."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def post_audio(server, data: bytes, query: str = "", ctype: str = "audio/wav", **kw):
    return request(server, "POST", f"/v1/predict{query}", data, {"Content-Type": ctype}, **kw)


def read_reply(sock: socket.socket) -> str:
    """One HTTP response read off a raw socket (its head and a Content-Length body)."""
    data = b""
    for _ in range(100):
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(body) >= length:
                break
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


def multipart(data: bytes, filename: str, fields: dict[str, str] | None = None
              ) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = b""
    for k, v in (fields or {}).items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
                f"{v}\r\n").encode()
    out += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def expected(rows: list[dict], classes: list[str]) -> dict:
    """What the server should answer for ``heartsound predict``'s row of a file."""
    (row,) = rows
    return {"label": row["label"],
            "probabilities": (None if row["label"] == "unusable"
                              else {c: float(row[f"prob_{c}"]) for c in classes}),
            "quality": float(row["quality"]), "reason": row["reason"] or None}


def check_error(status: int, answer: dict, want: int) -> None:
    assert status == want, answer
    assert set(answer) == {"error"}
    line = answer["error"]
    assert isinstance(line, str) and line and "\n" not in line and "Traceback" not in line


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    """Generated heart-like WAVs (4 kHz and 44.1 kHz), one unusable one, a FLAC."""
    folder = tmp_path_factory.mktemp("serve")
    out = {}
    for i, (seconds, rate, bpm) in enumerate([(8, 4000, 72), (10, 4000, 95), (6, 2000, 60),
                                             (9, 44100, 80), (12, 4000, 130)]):
        out[f"beat{i}"] = folder / f"beat{i}.wav"
        sf.write(str(out[f"beat{i}"]), heart_like(seconds, rate, bpm, seed=i), rate,
                 subtype="PCM_16")
    out["noise"] = folder / "noise.wav"
    sf.write(str(out["noise"]), 0.3 * np.random.default_rng(5).standard_normal(8 * 4000),
             4000, subtype="PCM_16")
    out["flac"] = folder / "beat.flac"
    sf.write(str(out["flac"]), heart_like(8, 4000, 70, seed=9), 4000, format="FLAC")
    return out


@pytest.fixture(scope="module")
def pascal_files() -> dict[str, list[Path]]:
    root = default_data_dir()
    if not (root / "set_a").is_dir() or not (root / "set_b").is_dir():
        return {}
    return {"pascal-a-light": sorted((root / "set_a").glob("*.wav"))[:2],
            "pascal-b-light": sorted((root / "set_b").glob("*.wav"))[:3]}


@pytest.fixture(scope="module")
def server():
    app = create_app(max_body=8 * MB, timeout_s=60, max_concurrency=2, max_queue=64)
    with BackgroundServer(app) as s:
        yield s


def reference(model: str, path: Path) -> dict:
    clf = Classifier.load(model)
    rows, errors = prediction_rows(clf, [path])
    assert not errors
    return expected(rows, clf.classes) | {"model": model}


def test_health_models_and_index(server):
    status, health, _ = request(server, "GET", "/healthz")
    assert status == 200 and health["status"] == "ok" and health["models"] >= 1
    status, listed, _ = request(server, "GET", "/v1/models")
    assert status == 200 and listed["default"] == "pascal-b-light"
    names = [m["name"] for m in listed["models"]]
    assert len(names) == health["models"] and "pascal-a-light" in names
    assert all("path" not in m for m in listed["models"])  # no server file system paths
    status, index, _ = request(server, "GET", "/")
    assert status == 200 and "GET /v1/models" in index["endpoints"]


def test_answers_equal_predict(server, recordings, pascal_files):
    for name in ("beat0", "beat1", "beat2", "beat3", "noise", "flac"):
        path = recordings[name]
        ctype = "audio/flac" if path.suffix == ".flac" else "audio/wav"
        status, answer, _ = post_audio(server, path.read_bytes(), ctype=ctype)
        assert status == 200, answer
        assert answer == reference("pascal-b-light", path), name
    assert answer["label"] != "unusable"  # the FLAC is a heart sound
    status, answer, _ = post_audio(server, recordings["noise"].read_bytes())
    assert answer["label"] == "unusable" and answer["probabilities"] is None
    assert answer["reason"]
    for model, paths in pascal_files.items():
        for path in paths:
            status, answer, _ = post_audio(server, path.read_bytes(), f"?model={model}",
                                           ctype="application/octet-stream")
            assert status == 200, answer
            assert answer == reference(model, path), path.name


def test_multipart_and_model_choice(server, recordings):
    path = recordings["beat1"]
    body, ctype = multipart(path.read_bytes(), "beat1.wav")
    status, answer, _ = post_audio(server, body, ctype=ctype)
    assert status == 200 and answer == reference("pascal-b-light", path)
    body, ctype = multipart(path.read_bytes(), "beat1.wav", {"model": "pascal-a-light"})
    status, answer, _ = post_audio(server, body, ctype=ctype)
    assert status == 200 and answer == reference("pascal-a-light", path)
    status, answer, _ = post_audio(server, path.read_bytes(), "?model=pascal-a-light")
    assert status == 200 and answer == reference("pascal-a-light", path)
    assert list(answer["probabilities"]) == Classifier.load("pascal-a-light").classes


def test_bad_requests_are_one_line_and_the_server_goes_on(server, recordings):
    wav = recordings["beat0"].read_bytes()
    no_file, no_file_type = multipart(b"", "x")  # a file part that is empty
    only_field = (b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\n'
                  b'pascal-a-light\r\n--b--\r\n')
    cases = [
        (b"", "audio/wav", "", 400),  # empty body
        (b"hello, not audio", "application/octet-stream", "", 400),  # text as audio
        (b"hello, not audio", "text/plain", "", 415),  # text
        (b'{"a": 1}', "application/json", "", 415),
        (wav[:len(wav) // 2], "audio/wav", "", 400),  # truncated WAV
        (wav[:30], "audio/wav", "", 400),  # a header only
        (wav, "audio/wav", "?model=nope", 404),
        (wav, "audio/wav", "?model=../../etc/passwd", 404),  # never a path
        (wav, "audio/wav", "?model=/tmp/x.onnx", 404),
        (no_file, no_file_type, "", 400),
        (only_field, "multipart/form-data; boundary=b", "", 400),
        (b"--b\r\ngarbage", "multipart/form-data; boundary=b", "", 400),
    ]
    for body, ctype, query, want in cases:
        status, answer, _ = post_audio(server, body, query, ctype=ctype)
        check_error(status, answer, want)
        status, health, _ = request(server, "GET", "/healthz")  # still there
        assert status == 200 and health["status"] == "ok"
    status, answer, _ = post_audio(server, wav[:len(wav) // 2])
    assert "truncated" in answer["error"] and "heartsound-serve" not in answer["error"]
    check_error(*request(server, "GET", "/v1/predict")[:2], 405)
    check_error(*request(server, "GET", "/no/such/page")[:2], 404)
    status, answer, _ = post_audio(server, wav)
    assert status == 200 and answer["label"] != "unusable"


def test_oversized_body_is_413(server):
    big = b"RIFF" + bytes(9 * MB)
    check_error(*post_audio(server, big)[:2], 413)  # by its Content-Length
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:  # no Content-Length: counted as it arrives
        conn.request("POST", "/v1/predict", body=iter([bytes(MB)] * 9),
                     headers={"Content-Type": "audio/wav"}, encode_chunked=True)
        resp = conn.getresponse()
        check_error(resp.status, json.loads(resp.read()), 413)
    finally:
        conn.close()
    assert request(server, "GET", "/healthz")[0] == 200


def test_limits_time_and_queue(recordings):
    """A slow body is 408, an answer later than the limit and a full queue are 503, an
    internal error is 500 without its message, and the server goes on after each."""
    app = create_app(max_body=MB, timeout_s=0.6, max_concurrency=1, max_queue=0)
    service = app.state.service
    wav = recordings["beat0"].read_bytes()
    with BackgroundServer(app) as server:
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav"
                         b"\r\nContent-Length: 1000\r\n\r\nRIFF")  # and nothing more
            reply = read_reply(sock)
        assert reply.startswith("HTTP/1.1 408"), reply
        check_error(408, json.loads(reply.split("\r\n\r\n", 1)[1]), 408)

        real = service.predict_bytes
        release = threading.Event()
        service.predict_bytes = lambda *a: (release.wait(10), real(*a))[1]
        try:
            with ThreadPoolExecutor(2) as pool:
                slow = pool.submit(post_audio, server, wav)
                for _ in range(200):  # until the first one holds the only worker
                    if service.in_flight:
                        break
                    time.sleep(0.01)
                status, answer, headers = post_audio(server, wav)
                check_error(status, answer, 503)
                assert "busy" in answer["error"] and headers["retry-after"] == "1"
                status, answer, _ = slow.result(timeout=30)
                check_error(status, answer, 503)
                assert "time limit" in answer["error"]
        finally:
            release.set()
            service.predict_bytes = real
        for _ in range(500):  # the abandoned job finishes and gives its worker back
            if not service.in_flight:
                break
            time.sleep(0.01)
        assert service.in_flight == 0

        def broken(*args):
            raise RuntimeError("secret /internal/path")

        service.predict_bytes = broken
        try:
            status, answer, _ = post_audio(server, wav)
        finally:
            service.predict_bytes = real
        check_error(status, answer, 500)
        assert "secret" not in answer["error"]
        status, answer, _ = post_audio(server, wav, timeout=30)
        assert status == 200 and answer["label"] != "unusable"


@pytest.mark.slow  # make test-fast leaves it to make test
def test_200_concurrent_requests_lose_nothing(server, recordings, pascal_files):
    files = [recordings[n] for n in ("beat0", "beat1", "beat2", "beat4", "noise", "flac")]
    files += pascal_files.get("pascal-b-light", [])[:2]
    refs = {p: reference("pascal-b-light", p) for p in files}
    bodies = {p: p.read_bytes() for p in files}
    jobs = [files[i % len(files)] for i in range(200)]
    start = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda p: post_audio(server, bodies[p], timeout=60), jobs))
    elapsed = time.monotonic() - start
    assert len(results) == 200
    assert [status for status, _, _ in results] == [200] * 200
    for path, (_, answer, _) in zip(jobs, results, strict=True):
        assert answer == refs[path], path.name
    assert elapsed < 90
    assert request(server, "GET", "/healthz")[1]["in_flight"] == 0


def test_import_heartsound_loads_no_server_stack():
    code = ("import sys, heartsound, heartsound.cli, heartsound.infer\n"
            "print(','.join(m for m in ('starlette', 'uvicorn', 'anyio', 'heartsound.serve')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_flac_and_mono_stereo_bodies(server):
    """A stereo FLAC made in memory (never on disk on the client side)."""
    x = heart_like(8, 4000, 75, seed=3)
    buf = io.BytesIO()
    sf.write(buf, np.stack([x, x], axis=1), 4000, format="FLAC")
    status, answer, _ = post_audio(server, buf.getvalue(), ctype="audio/flac")
    assert status == 200 and answer["label"] in {"normal", "murmur", "extrastole"}
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-3


def test_serve_without_the_extra_is_one_line():
    """Without starlette (blocked here), ``heartsound serve`` says what to install, exit 2."""
    code = ("import sys\n"
            "sys.modules['starlette'] = None\n"
            "from heartsound.cli import main\n"
            "sys.exit(main(['serve', '--port', '0']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "install heartsound[serve]" in lines[0], proc.stderr

