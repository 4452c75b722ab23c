"""Issue 21's bench sections: the markdown from a result dict (no timing), the LayerNorm
against folded BatchNorm export on one small map, and the whole-process reference's maps
against the product's (the same work, else the ratio means nothing)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from heartsound.research import REPO_ROOT, bench
from heartsound.synthetic import heart_like

MACHINE = {"cpu": "Test CPU", "cores": 2, "python": "3", "platform": "x", "date": "2026-01-02"}


def fake_result() -> dict:
    """What run_bench returns, the old table empty and every new section filled in."""
    per_set = {"files": 2, "rate_hz": 4000.0, "end_to_end_ms": 0.9, "no_gate_ms": 0.7,
               "load_ms": 0.1,
               "gate_ms": 0.2, "resample_ms": 0.0, "front_end_ms": 0.5, "network_ms": 0.15}
    side = {"params": 28963, "madds": 5_604_960, "ms": 0.5, "kb": 115.0,
            "ops": {"LayerNormalization": 0, "BatchNormalization": 0, "Transpose": 0}}
    return {
        "machine": MACHINE, "threads": 1, "recordings": 4, "repeats": 5, "rows": [],
        "frontend_ms": {"load": 0.3}, "targets": bench.TARGETS,
        "process": {"model": "pascal-b-light", "files": 247, "files_44k": 52, "repeats": 3,
                    "reference_s": 12.5, "predict_s": {"gate": 2.5, "no_gate": 2.0},
                    "ratio": {"gate": 5.0, "no_gate": 6.25}, "target_ratio": 5.0,
                    "same_label": {"gate": 0.99, "no_gate": 1.0},
                    "unusable": {"gate": 7, "no_gate": 0},
                    "network_s": 1.6, "imports_s": 0.9},
        "process_more": [{"model": "pascal-a-light", "files": 247, "files_44k": 52,
                          "repeats": 3, "reference_s": 10.0,
                          "predict_s": {"gate": 2.0, "no_gate": 1.6},
                          "ratio": {"gate": 5.0, "no_gate": 6.25}, "target_ratio": 5.0,
                          "same_label": {"gate": 0.98, "no_gate": 1.0},
                          "unusable": {"gate": 7, "no_gate": 0}}],
        "cold_start": {"file": "/d/set_b/Bunlabelledtest__1.wav", "model": "pascal-b-light",
                       "repeats": 7, "target_ratio": 1.5,
                       "seconds": {"imports": 0.4, "predict": 0.6, "version": 0.5,
                                   "models": 1.1},
                       "ratio": {"predict": 1.5, "version": 1.25, "models": 2.75}},
        "audio_models": [{"name": "pascal-b-light-audio", "samples": 30000, "graph_ms": 3.1,
                          "end_to_end_ms": 3.5, "source": "pascal-b-light",
                          "source_end_to_end_ms": 2.9, "quantization": None}],
        "norms": [{"input": "215×20", "frames": 215, "width": 20, "ratio": 2.5,
                   "ln": {**side, "arch": "light", "ms": 1.25,
                          "ops": {"LayerNormalization": 16, "BatchNormalization": 0,
                                  "Transpose": 32}},
                   "bn": {**side, "arch": "light-bn", "best_batch": 8,
                          "per_recording_ms": {"1": 0.5, "8": 0.4, "32": 0.45}}}],
        "run_batches": [{"model": "pascal-b-light", "best_batch": 2,
                         "per_map_ms": {"1": 2.9, "2": 2.5, "32": 3.8}}],
        "in_process": [{"model": "pascal-b-light", "arch": "light-centred",
                        "input": "434×48 log-mel",
                        "sets": {"b": per_set, "a": {**per_set, "rate_hz": 44100.0,
                                                     "resample_ms": 0.4}}}],
    }


def test_markdown_renders_every_new_section():
    text = bench.markdown(fake_result())
    for heading in ("## Whole process", "## Cold start", "## Raw-audio models",
                    "## LayerNorm against folded BatchNorm", "## Maps per run",
                    "## In process, file → class"):
        assert heading in text
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        assert "Test CPU (2 cores), 2026-01-02" in section, heading  # where and when
    assert "| quality gate on (the default) | 2.50 | 12.50 | **5.0×** | 99.0 % | 7 |" in text
    assert "| `--no-quality-gate` | 2.00 | 12.50 | **6.2×** | 100.0 % | 0 |" in text
    assert "**1.50×** (target ≤ 1.5×)" in text and "target ≥ 5×" in text
    assert "| pascal-b-light-audio | 3.10 | 3.50 | pascal-b-light | 2.90 |" in text
    assert ("| 215×20 | light | light-bn | 28,963 / 28,963 | 5.6 | 1.25 | – | – | 0.50 | "
            "**2.50×** | 16/0/32; 0/0/0 | 0.500 / 0.400 / 0.450 | 8 |") in text
    assert ("| `--model pascal-a-light`, quality gate on (the default) | 2.00 | 10.00 | **5.0×** "
            "| 98.0 % | 7 |") in text
    assert "| 2 of set A at 44.1 kHz | **0.90** | 0.70 | 0.10 | 0.40 | 0.50 | 0.20 | 0.15 |" in text
    assert "≤ 1 ms" in text
    # the floor: network 1.6 s + imports 0.9 s against the reference's 12.5 s
    assert "`pascal-b-light` 1.60 s + 0.90 s, so at most **5.0×** the reference." in text
    assert "`pascal-a-light` 1.60" not in text  # no floor measured for it here
    assert "| pascal-b-light | 2.900 | 2.500 | 3.800 | 2 |" in text
    assert "| model | batch 1 (ms) | batch 2 (ms) | batch 32 (ms) | fastest |" in text


def test_markdown_without_new_sections():
    """An older JSON (or a run whose reference could not start) still renders."""
    result = {k: v for k, v in fake_result().items()
              if k in ("machine", "threads", "recordings", "repeats", "rows", "frontend_ms")}
    result["process"] = None
    text = bench.markdown(result)
    assert text.startswith("# Lightness study") and "## " not in text


def test_agreement_leaves_the_gate_out():
    ours = {"x": "normal", "y": "unusable", "z": "murmur"}
    assert bench.agreement(ours, {"x": "normal", "y": "normal", "z": "normal"}) == (0.5, 1)
    assert bench.agreement({"y": "unusable"}, {"y": "normal"}) == (None, 1)


def test_norm_table_folds_batchnorm(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    (row,) = bench.norm_table(1, tmp_path, pairs=(("light", "light-bn"),), shapes=((4, False),),
                              batches=(2,))
    assert (row["frames"], row["width"]) == (215, 20)
    assert row["ln"]["ops"]["LayerNormalization"] > 0
    assert row["bn"]["ops"] == {"LayerNormalization": 0, "BatchNormalization": 0,
                                "Transpose": 0}
    assert row["ln"]["params"] == row["bn"]["params"] and row["bn"]["madds"] > 0
    assert set(row["bn"]["per_recording_ms"]) == {"1", "2"}
    assert row["bn"]["best_batch"] in (1, 2) and row["ratio"] > 0


def test_reference_process_makes_the_products_maps(make_wav):
    """benchmarks/reference_process.py (librosa + scipy) and predict feed the model the same
    map, so the whole-process ratio compares code, not work."""
    pytest.importorskip("librosa")
    from scipy import signal

    from heartsound.infer import Classifier

    spec = importlib.util.spec_from_file_location(
        "reference_process", REPO_ROOT / "benchmarks" / "reference_process.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    wav = make_wav("beat.wav", heart_like(5.0, 4000), 4000)
    clf = Classifier.load(bench.PROCESS_MODEL)
    _, cfg, classes = ref.session(str(clf.path))
    sos = signal.butter(cfg["filter_order"], [cfg["band_low_hz"], cfg["band_high_hz"]],
                        btype="bandpass", fs=cfg["sample_rate"], output="sos")
    ours = clf.file_windows(Path(wav))[0]
    theirs = ref.feature_map(str(wav), cfg, sos)
    assert theirs.shape == ours.shape and classes == clf.classes
    np.testing.assert_allclose(theirs, ours, atol=1e-3 * np.abs(ours).max())
    # what each model gets for a long file: predict's windows (a whole-recording model's
    # every window_hop_s over up to 60 s, the last aligned to the end), or its first 7 s
    long = make_wav("long.wav", np.concatenate([heart_like(9.0, 4000, bpm=70, seed=1),
                                                0.3 * heart_like(11.3, 4000, bpm=95)]), 4000)
    for name in ("pascal-b-light", "pascal-a-light"):
        clf = Classifier.load(name)
        _, cfg, _ = ref.session(str(clf.path))
        sos = signal.butter(cfg["filter_order"], [cfg["band_low_hz"], cfg["band_high_hz"]],
                            btype="bandpass", fs=cfg["sample_rate"], output="sos")
        ours = np.asarray(clf.file_windows(Path(long)))
        theirs = ref.model_input(str(long), cfg, sos)
        assert theirs.shape == ours.shape, name
        assert (len(ours) > 1) == (clf.window_hop_s is not None), name
        np.testing.assert_allclose(theirs, ours, atol=1e-3 * np.abs(ours).max())
