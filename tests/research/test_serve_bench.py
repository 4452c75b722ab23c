"""heartsound-lab serve-bench: a server on 127.0.0.1, its answers checked against predict's."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")

from heartsound.research.cli import main  # noqa: E402


def test_serve_bench_runs(capsys):
    """A few requests: every answer equals predict's, the figures are there."""
    assert main(["serve-bench", "--requests", "12", "--clients", "3", "--files", "2",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] == 12 and result["mismatches"] == 0 and result["failed"] == 0
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert result["throughput_rps"] > 0 and result["machine"]["cores"]
