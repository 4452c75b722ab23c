"""`heartsound bench --quick` produces every column (a benchmark prints, it never asserts speed)."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")


def test_bench_quick_has_every_column(data_dir, tmp_path):
    md = tmp_path / "lightness.md"
    proc = subprocess.run(
        [sys.executable, "-m", "heartsound.research", "bench", "--quick", "--json", "--data",
         str(data_dir), "--runs", str(tmp_path / "no-runs"), "--markdown", str(md)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["threads"] == 1 and result["machine"]["cpu"]
    from heartsound.research.study import SHIPPED_FROM, STUDIES

    names = [r["name"] for r in result["rows"]]
    assert names == ["base-872", "light-872", "light-434", "light-215", "pascal-a-light",
                     "pascal-b-light", "physionet-light"]
    for row in result["rows"]:
        for key in ("params", "madds", "activation_kb", "onnx_kb", "paper_protocol_ms"):
            assert row[key] > 0, (row["name"], key)
        assert row["windows_per_recording"] >= 1
        for key in ("frontend", "model_fp32", "end_to_end"):
            assert row["latency_ms"][key] > 0
        assert set(row["cv_accuracy"]) == {"a", "b"}
        if row["model"] != "base":
            assert row["onnx_int8_kb"] > 0 and row["latency_ms"]["model_int8"] > 0
            assert row["params"] <= 30_000
    shipped = [STUDIES[SHIPPED_FROM[name]].config().shape
               for name in ("pascal-a-light", "pascal-b-light", "physionet-light")]
    assert [(r["frames"], r["width"]) for r in result["rows"]] == [
        (872, 20), (872, 20), (434, 20), (215, 20), *shipped]
    assert [r["source"] for r in result["rows"][-3:]] == [
        f"src/heartsound/models/{n}.onnx"
        for n in ("pascal-a-light", "pascal-b-light", "physionet-light")]
    assert set(result["int8_formats"]) == {"qdq", "qoperator"}
    assert result["reference"]["ratio"] > 0 and result["throughput"]["workers_2"] > 0
    text = md.read_text()
    assert "| light-215 (light) | 215×20 |" in text and "Reference pipeline" in text
    # Issue 21: whole process, cold start, raw-audio models, LN vs folded BN, in process.
    proc = result["process"]
    assert proc["files"] == 20 and min(proc["ratio"].values()) > 0
    assert proc["same_label"]["no_gate"] is not None
    assert 0 < proc["network_s"] < proc["predict_s"]["no_gate"] and proc["imports_s"] > 0
    from heartsound.research import bench

    # The ceiling bounds the ratio up to timing noise: --quick times each command once,
    # under the suite's load, over 20 files, where the floor (imports + network) is most of
    # predict's time; a ceiling well under the ratio would be a mis-measured floor.
    assert bench.ceiling(proc) > 0.7 * proc["ratio"]["no_gate"]
    assert result["cold_start"]["ratio"]["predict"] > 0
    assert {r["name"] for r in result["audio_models"]} == {
        "pascal-a-light-audio", "pascal-a-light-int8-audio", "pascal-b-light-audio",
        "pascal-b-light-int8-audio", "physionet-light-audio", "physionet-light-int8-audio"}
    assert len(result["norms"]) == 9
    assert {r["model"] for r in result["run_batches"]} >= {"pascal-b-light", "pascal-a-light"}
    assert all(set(r["per_map_ms"]) == {"1", "2", "4", "8", "32"} for r in result["run_batches"])
    assert all(r["bn"]["ops"]["LayerNormalization"] == 0 for r in result["norms"])
    assert [r["model"] for r in result["in_process"]] == ["pascal-a-light", "pascal-b-light"]
    for r in result["in_process"]:
        for stages in r["sets"].values():
            assert all(stages[f"{k}_ms"] > 0 for k in ("end_to_end", "load", "front_end",
                                                      "gate", "network"))
    for heading in ("## Whole process", "## Cold start", "## Raw-audio models",
                    "## LayerNorm against folded BatchNorm", "## In process, file → class"):
        assert heading in text


def test_cv_cells_without_runs_keep_the_previous_bench_values():
    """A bench run where a study's folder is missing keeps that study's CV cell from the
    saved JSON, marked †; a value measured now is never replaced."""
    from heartsound.research.bench import _cv, keep_cv

    rows = [{"name": "b", "cv_accuracy": {"a": None, "b": None},
             "cv_total_precision": {"a": None, "b": 1.5}},
            {"name": "new", "cv_accuracy": {"a": None, "b": None},
             "cv_total_precision": {"a": None, "b": None}}]
    previous = {"rows": [{"name": "b", "cv_accuracy": {"a": None, "b": 0.835},
                          "cv_total_precision": {"a": None, "b": 1.75}}]}
    keep_cv(rows, previous)
    assert rows[0]["cv_accuracy"]["b"] == 0.835 and rows[0]["cv_total_precision"]["b"] == 1.5
    assert _cv(rows[0], "cv_accuracy", "b", "{:.3f}") == "0.835†"
    assert _cv(rows[0], "cv_total_precision", "b", "{:.2f}") == "1.50"
    assert _cv(rows[0], "cv_accuracy", "a", "{:.3f}") == "–"
    assert "cv_kept" not in rows[1]
