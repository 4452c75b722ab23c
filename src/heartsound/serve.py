"""``heartsound serve``: the app and a JSON API over HTTP (Starlette + uvicorn, the ``[serve]``
extra; the runtime itself stays torch-free and ``import heartsound`` never imports this).

Endpoints:

- ``POST /v1/predict[?model=NAME]``: the recording as the body (WAV, FLAC or anything else
  libsndfile reads; ``Content-Type`` ``audio/*``, ``application/octet-stream`` or none) or
  as the file part of a ``multipart/form-data`` body. The answer is what ``heartsound
  predict`` writes for the same file (the same code path, quality gate included):
  ``{"label", "probabilities": {class: p} | null, "quality", "reason", "model"}``.
  ``probabilities`` is null and ``reason`` says why when the recording is ``unusable``.
- ``GET /v1/models``: the shipped models as ``heartsound models --json`` lists them, without
  their file system paths (the server's files are not the client's business).
- ``GET /healthz``: ``{"status": "ok", "models": n, ...}``.
- ``GET /``: the static web app when one is given, else a short pointer to the API.

Only shipped model names are accepted, never a path from the client. Every error is JSON,
``{"error": "one line"}``: 400 unreadable audio (the reason ``heartsound predict`` gives),
404 unknown model or route, 405, 408 a body slower to arrive than the time limit, 413 a body
over the size limit (its ``Content-Length`` or the bytes counted as they arrive), 415 a
content type that is not audio, 503 the queue full or the answer later than the time limit,
500 anything else (logged on the server, no traceback to the client).

At most ``max_concurrency`` recordings are classified at once, each in a worker thread (ONNX
Runtime sessions are shared between threads); ``max_queue`` more wait for a worker, and any
beyond that are answered 503 at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from heartsound import __version__
from heartsound.infer import Classifier, describe_models, prediction_rows
from heartsound.registry import DEFAULT_MODEL, shipped_names

if find_spec("python_multipart") is None and find_spec("multipart") is None:
    raise ImportError("python-multipart is not installed", name="python_multipart")

__all__ = ["BackgroundServer", "ServeError", "create_app", "default_concurrency", "serve"]

log = logging.getLogger("heartsound.serve")

MB = 1 << 20
DEFAULT_MAX_BODY = 20 * MB
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_QUEUE = 64
# The temporary file's name ends like the recording's: libsndfile reads most containers by
# their header, a few (raw MPEG without a tag) by their extension.
SUFFIXES = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav",
            "audio/vnd.wave": ".wav", "audio/flac": ".flac", "audio/x-flac": ".flac",
            "audio/ogg": ".ogg", "audio/opus": ".opus", "audio/mpeg": ".mp3",
            "audio/mp3": ".mp3", "audio/aiff": ".aiff", "audio/x-aiff": ".aiff",
            "audio/basic": ".au"}


def default_concurrency() -> int:
    """Recordings classified at once by default: one per core, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


def error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    """The one-line error every failure becomes (``{"error": message}``)."""
    return HTTPException(status, " ".join(message.split()), headers)


class Service:
    """The models, the worker threads and the limits behind the endpoints."""

    def __init__(self, max_body: int, timeout_s: float, max_concurrency: int,
                 max_queue: int) -> None:
        if max_body < 1 or timeout_s <= 0 or max_concurrency < 1 or max_queue < 0:
            raise ValueError("serve limits: body size, time limit and concurrency must be "
                             "positive, the queue not negative")
        self.max_body, self.timeout_s = max_body, timeout_s
        self.max_concurrency, self.max_queue = max_concurrency, max_queue
        self.names = shipped_names()
        self.pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="heartsound-serve")
        self.lock = threading.Lock()  # the classifiers and the in-flight count
        self.models_lock = threading.Lock()  # the model list (loads every model once)
        self.classifiers: dict[str, Classifier] = {}
        self.models: list[dict[str, Any]] | None = None
        self.in_flight = 0  # submitted to the pool and not finished: running or waiting

    # -- models
    def check_model(self, name: str) -> str:
        if name not in self.names:
            raise error(404, f"unknown model {name!r} (known: {', '.join(self.names)})")
        return name

    def classifier(self, name: str) -> Classifier:
        with self.lock:  # one session per model, shared by the worker threads
            if name not in self.classifiers:
                self.classifiers[name] = Classifier.load(name, threads=1)
            return self.classifiers[name]

    def describe(self) -> list[dict[str, Any]]:
        with self.models_lock:
            if self.models is None:
                self.models = [{k: v for k, v in m.items() if k != "path"}
                               for m in describe_models()]
            return self.models

    # -- work
    def predict_bytes(self, data: bytes, model: str, suffix: str) -> dict[str, Any]:
        """What ``heartsound predict`` answers for a file holding ``data``."""
        classifier = self.classifier(model)
        fd, name = tempfile.mkstemp(prefix="heartsound-serve-", suffix=suffix)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            rows, errors = prediction_rows(classifier, [path])
        finally:
            path.unlink(missing_ok=True)
        if errors or not rows:
            reason = errors[0].removeprefix(f"{path}: ") if errors else "no answer"
            raise error(400, reason.replace(str(path), "the body"))
        row = rows[0]
        usable = row["label"] != "unusable"
        return {"label": row["label"],
                "probabilities": ({c: float(row[f"prob_{c}"]) for c in classifier.classes}
                                  if usable else None),
                "quality": float(row["quality"]) if row["quality"] else None,
                "reason": row["reason"] or None,
                "model": model}

    async def run(self, fn: Callable[..., Any], *args: Any, deadline: float) -> Any:
        """``fn(*args)`` in a worker thread, answered by ``deadline`` (loop time) or 503.

        A job that times out while waiting is dropped; one already running finishes in its
        thread (Python threads cannot be stopped) and keeps its worker until then, so the
        pool never runs more than ``max_concurrency`` jobs.
        """
        with self.lock:
            if self.in_flight >= self.max_concurrency + self.max_queue:
                raise error(503, f"busy: {self.in_flight} recordings in progress or waiting "
                                 "(the server's limit); try again shortly",
                            {"Retry-After": "1"})
            self.in_flight += 1
        try:
            future: Future[Any] = self.pool.submit(fn, *args)
        except RuntimeError:  # shutting down
            with self.lock:
                self.in_flight -= 1
            raise error(503, "the server is shutting down") from None
        future.add_done_callback(self._done)
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future),
                                          max(0.0, deadline - loop.time()))
        except TimeoutError:
            future.cancel()
            raise error(503, f"no answer within the time limit ({self.timeout_s:g} s)",
                        {"Retry-After": "1"}) from None

    def _done(self, _: Future[Any]) -> None:
        with self.lock:
            self.in_flight -= 1


async def limited_stream(request: Request, max_body: int) -> AsyncGenerator[bytes, None]:
    """The body's chunks, 413 as soon as more than ``max_body`` bytes have arrived."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_body:
            raise error(413, f"body over {fmt_bytes(max_body)} (the server's limit)")
        if chunk:
            yield chunk


def fmt_bytes(n: int) -> str:
    return f"{n / MB:.4g} MB" if n >= MB else f"{n} bytes"


def suffix_of(filename: str | None, media_type: str) -> str:
    """The temporary file's extension: the upload's (letters and digits only) or the
    content type's."""
    ext = Path(filename or "").suffix.lower()
    if re.fullmatch(r"\.[a-z0-9]{1,8}", ext):
        return ext
    return SUFFIXES.get(media_type, ".audio")


async def read_multipart(headers: Headers, stream: AsyncGenerator[bytes, None], max_body: int
                         ) -> tuple[bytes, str | None, str | None]:
    """(the file part's bytes, its file name, a ``model`` field) of a multipart body."""
    parser = MultiPartParser(headers, stream, max_files=1, max_fields=16,
                             max_part_size=min(max_body, MB))
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise error(400, f"unreadable multipart body ({exc.message})") from None
    try:
        files = [v for k, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise error(400, "multipart body without a file part (send the recording as a "
                             "file, e.g. curl -F file=@beat.wav)")
        model = form.get("model")
        return await files[0].read(), files[0].filename, (model if isinstance(model, str)
                                                           else None)
    finally:
        await form.close()


def create_app(app_dir: Path | None = None, max_body: int = DEFAULT_MAX_BODY,
               timeout_s: float = DEFAULT_TIMEOUT_S, max_concurrency: int | None = None,
               max_queue: int = DEFAULT_QUEUE) -> Starlette:
    """The Starlette app: the API under ``/v1``, ``/healthz``, and ``app_dir`` (a built
    static web app) at ``/`` when given."""
    service = Service(max_body, timeout_s, max_concurrency or default_concurrency(), max_queue)
    if app_dir is not None and not Path(app_dir).is_dir():
        raise ValueError(f"{app_dir}: no such folder (the web app to serve)")

    async def predict(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + service.timeout_s
        model = request.query_params.get("model")
        if model is not None:
            service.check_model(model)
        ctype = request.headers.get("content-type", "")
        media = ctype.split(";")[0].strip().lower()
        multipart = media == "multipart/form-data"
        if not (multipart or not media or media.startswith("audio/")
                or media == "application/octet-stream"):
            raise error(415, f"content type {media!r}: send the recording's bytes as audio/* "
                             "or application/octet-stream (curl --data-binary @beat.wav -H "
                             "'Content-Type: audio/wav') or as a multipart file (curl -F "
                             "file=@beat.wav)")
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise error(400, f"bad Content-Length {length!r}")
            if int(length) > service.max_body:
                raise error(413, f"body of {fmt_bytes(int(length))} over "
                                 f"{fmt_bytes(service.max_body)} (the server's limit)")
        stream = limited_stream(request, service.max_body)
        try:
            async with asyncio.timeout_at(deadline):
                if multipart:
                    data, filename, field = await read_multipart(request.headers, stream,
                                                                 service.max_body)
                    if model is None and field:
                        model = service.check_model(field)
                else:
                    data, filename = b"".join([c async for c in stream]), None
        except TimeoutError:
            raise error(408, f"the body did not arrive within the time limit "
                             f"({service.timeout_s:g} s)") from None
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening
        if not data:
            raise error(400, "empty body: send the recording's bytes (WAV, FLAC, ...)")
        result = await service.run(service.predict_bytes, data, model or DEFAULT_MODEL,
                                   suffix_of(filename, media), deadline=deadline)
        return JSONResponse(result)

    async def models(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        listed = await service.run(service.describe,
                                   deadline=loop.time() + service.timeout_s)
        return JSONResponse({"default": DEFAULT_MODEL, "models": listed})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__,
                             "models": len(service.names), "default": DEFAULT_MODEL,
                             "in_flight": service.in_flight,
                             "limits": {"max_body_bytes": service.max_body,
                                        "timeout_s": service.timeout_s,
                                        "concurrency": service.max_concurrency,
                                        "queue": service.max_queue}})

    async def index(request: Request) -> Response:
        return JSONResponse({"name": "heartsound", "version": __version__,
                             "endpoints": {"POST /v1/predict[?model=NAME]":
                                           "a WAV or FLAC body (or multipart file) → label, "
                                           "probabilities, quality, reason, model",
                                           "GET /v1/models": "the shipped models",
                                           "GET /healthz": "health"}})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc,
                  exc_info=exc)
        return JSONResponse({"error": "internal error (logged on the server)"}, 500)

    routes: list[BaseRoute] = [
        Route("/v1/predict", predict, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/v1/health", health, methods=["GET"]),
    ]
    if app_dir is not None:
        routes.append(Mount("/", StaticFiles(directory=str(app_dir), html=True)))
    else:
        routes.append(Route("/", index, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.pool.shutdown(wait=False, cancel_futures=True)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.service = service
    return app


def uvicorn_config(app: Starlette, host: str, port: int, quiet: bool = False
                   ) -> uvicorn.Config:
    service: Service = app.state.service
    # uvicorn's own guard (plain-text 503) sits well above the app's queue, so health
    # checks still get through while recordings queue.
    limit = 2 * (service.max_concurrency + service.max_queue) + 32
    extra: dict[str, Any] = {"log_config": None} if quiet else {}
    return uvicorn.Config(app, host=host, port=port, log_level="warning" if quiet else "info",
                          access_log=not quiet, limit_concurrency=limit, timeout_keep_alive=5,
                          server_header=False, **extra)


class ServeError(ValueError):
    """The server cannot start (the address is taken, the host unknown): one line."""


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one), or one line why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return sock


def serve(app: Starlette, host: str = "127.0.0.1", port: int = 8000,
          on_listening: Callable[[], None] | None = None) -> None:
    """Run ``app`` until interrupted (Ctrl-C); ``on_listening`` once the address is bound."""
    with bind(host, port) as sock:
        if on_listening is not None:
            on_listening()
        uvicorn.Server(uvicorn_config(app, host, port)).run(sockets=[sock])


class BackgroundServer:
    """``app`` on ``host`` (a free port unless given) in a thread, for tests and benches::

        with BackgroundServer(create_app()) as server:
            urllib.request.urlopen(server.url + "/healthz")
    """

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0,
                 start_timeout_s: float = 30.0) -> None:
        self.app, self.host, self.port = app, host, port
        self.start_timeout_s = start_timeout_s
        self.url = ""

    def __enter__(self) -> BackgroundServer:
        self.sock = bind(self.host, self.port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(self.app, self.host, self.port, quiet=True))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="heartsound-serve", daemon=True)
        self.thread.start()
        end = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
