"""The audio-parity measure on tiny hand-built models and four synthetic recordings (no data,
no torch): a whole-recording PhysioNet model's rows (PASCAL and PhysioNet files, windows
checked), a fixed-length model's one row, the seeded sample and the doc's table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("scipy")

from heartsound.config import FrontEndConfig  # noqa: E402
from heartsound.research.audio_parity import (  # noqa: E402
    PARITY_HEADING,
    main,
    model_sources,
    physionet_set,
    splice_parity,
    trained_on_physionet,
)
from heartsound.synthetic import heart_like  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CFG = FrontEndConfig().scaled(4)  # the light models' front end: 215 × 20 maps


def tiny_model(path: Path, meta: dict[str, str]) -> Path:
    """A network of two ops (the frames' mean, then a linear map and a softmax) with the
    front-end metadata a Classifier needs: enough for a graph whose answer moves with the
    recording, without training."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = rng.normal(0.0, 0.02, (CFG.n_coefficients, 2)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["maps"], ["mean"], axes=[1], keepdims=0),
         helper.make_node("MatMul", ["mean", "w"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)],
        "tiny",
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["batch", *CFG.shape])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {"heartsound.frontend": CFG.to_json(),
                       "heartsound.fingerprint": CFG.fingerprint(), **meta}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def _write(path: Path, seconds: float, rate: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = (0.2 + 0.1 * seed) * heart_like(seconds, rate, bpm=60 + 15 * seed, seed=seed)
    sf.write(str(path), x, rate, subtype="PCM_16")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Models (whole PhysioNet, fixed PASCAL B) and data: two PASCAL test files (4 kHz: a
    short one, tiled, and one of several windows), two PhysioNet records (2 kHz)."""
    base = tmp_path_factory.mktemp("parity")
    models = base / "models"
    models.mkdir()
    whole = tiny_model(models / "tiny-light.onnx", {
        "heartsound.classes": json.dumps(["normal", "abnormal"]), "dataset": "physionet2016",
        "heartsound.window_hop_s": "2.0", "heartsound.temperature": "1.7"})
    fixed = tiny_model(models / "fixed-light.onnx", {
        "heartsound.classes": json.dumps(["normal", "murmur"]), "dataset": "b"})
    pascal, physionet = base / "pascal", base / "physionet"
    _write(pascal / "set_a" / "Aunlabelledtest__201108011112.wav", 5.0, 4000, 0)
    _write(pascal / "set_b" / "Bunlabelledtest__103_1305031931079_A.wav", 11.3, 4000, 1)
    _write(physionet / "training-a" / "a0001.flac", 12.0, 2000, 2)
    _write(physionet / "training-a" / "a0002.flac", 23.3, 2000, 3)
    (physionet / "training-a" / "REFERENCE.csv").write_text("a0001,1\na0002,-1\n")
    doc = base / "audio-models.md"
    doc.write_text((ROOT / "docs" / "audio-models.md").read_text(encoding="utf-8"))
    return {"whole": whole, "fixed": fixed, "models": models, "pascal": pascal,
            "physionet": physionet, "doc": doc, "json": base / "parity.json"}


@pytest.fixture(scope="module")
def run(world) -> list[dict]:
    """One run over both models, writing the JSON and rewriting the doc's copy."""
    assert main(["--models", str(world["models"]), "--data", str(world["pascal"]),
                 "--physionet-data", str(world["physionet"]), "--physionet-sample", "all",
                 "--json", str(world["json"]), "--doc", str(world["doc"])]) == 0
    return json.loads(world["json"].read_text())


def test_whole_model_rows_on_pascal_and_physionet(run):
    rows = {(r["model"], r["file_set"]): r for r in run}
    assert set(rows) == {("tiny-light", "pascal-test"), ("tiny-light", "physionet2016"),
                         ("fixed-light", "pascal-test")}  # PhysioNet only for its model
    for key in (("tiny-light", "pascal-test"), ("tiny-light", "physionet2016")):
        r = rows[key]
        assert r["whole"] and r["window_hop_s"] == 2.0 and r["audio_model_built"]
        assert r["files"] == 2 and not r["skipped"] and not r["shape_mismatched"]
        assert r["label_agreement"] == 1.0 and r["prob_max_diff"] < 1e-3
        assert r["meets_criterion"]
        assert r["window_starts_equal"] == 2
        assert r["signal_max_rel_err"] < 1e-4 and r["map_max_abs_err"] < 0.05
        assert r["windows_max_abs_err"] <= r["map_max_abs_err"] + 1e-6
        assert {"ReduceMean", "Min", "Range"} <= set(r["ops"])
        # a map run alone against beside a copy of itself: a difference, never a NaN
        assert 0 <= r["alone_max_diff"] < 1e-3
    # windows per file, features.windows's count (215 frames every 62): 5 s tiled to 7 s
    # (1), 11.3 s (350 frames, 4: 0, 62, 124, end-aligned 135); 12 s (372 frames, 4) and
    # 23.3 s (725 frames, 10: 0 to 496, then 510)
    assert rows["tiny-light", "pascal-test"]["windows"] == 1 + 4
    assert rows["tiny-light", "physionet2016"]["windows"] == 4 + 10
    assert rows["tiny-light", "physionet2016"]["file_set_label"] == "PhysioNet 2016, all 2"
    fixed = rows["fixed-light", "pascal-test"]
    assert not fixed["whole"] and fixed["windows"] is None and fixed["files"] == 2
    assert fixed["label_agreement"] == 1.0 and fixed["meets_criterion"]


def test_doc_table_names_each_rows_files_and_keeps_the_rest(run, world):
    before = (ROOT / "docs" / "audio-models.md").read_text(encoding="utf-8")
    after = world["doc"].read_text(encoding="utf-8")
    head, tail = before.split(PARITY_HEADING)
    assert after.startswith(head + PARITY_HEADING)
    rest = tail[tail.index("\n\nThe remaining differences"):]  # after the old table
    assert after.endswith(rest)
    section = after[len(head):-len(rest)]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| audio model | files |")
    assert len(table) == 2 + len(run)  # the header, its rule, a row per model and files
    assert "| tiny-light-audio | PhysioNet 2016, all 2 |" in section
    assert "| tiny-light-audio | PASCAL test (2) |" in section
    assert table[0].endswith("| a map run alone, max \\|Δp\\| |") and "`infer.runs`" in section
    assert ", whole recording |" in section  # the whole map, not a 7-s cut
    assert "set A 1, set B 1" in section and "every row does" in section
    # regenerating replaces the generated part only: the page does not grow
    again = splice_parity(after, section.split("\n", 2)[2] + "\n")
    assert again == after


def test_physionet_sample_is_seeded(world):
    one = physionet_set(world["physionet"], sample=1, seed=3)
    assert one.label == "PhysioNet 2016, 1 of 2 (seed 3)" and len(one.paths) == 1
    assert physionet_set(world["physionet"], sample=1, seed=3) == one
    both = physionet_set(world["physionet"], sample=None)
    assert both.seed is None and [p.name for p in both.paths] == ["a0001.flac", "a0002.flac"]


def test_file_sets_from_metadata():
    assert trained_on_physionet({"dataset": "physionet2016"})
    assert not trained_on_physionet({"dataset": "b", "heartsound.classes": '["normal", '
                                                                        '"abnormal"]'})
    assert trained_on_physionet({"heartsound.classes": '["normal", "abnormal"]'})
    assert not trained_on_physionet({"heartsound.classes": '["normal", "murmur"]'})


def test_model_sources_folder_and_paths(world):
    found, notes = model_sources([], str(world["models"]))
    assert [p.name for p in found] == ["fixed-light.onnx", "tiny-light.onnx"] and not notes
    given, _ = model_sources([str(world["whole"])], None)
    assert given == [world["whole"]]
    with pytest.raises(ValueError, match="audio graph"):
        model_sources([str(world["models"] / "tiny-light-audio.onnx")], None)


def test_splice_refuses_a_page_without_the_table():
    with pytest.raises(ValueError, match="Parity"):
        splice_parity("# Title\n\n## Parity\n\nno table\n\n## Next\n\n| a |\n", "x\n")


def test_a_page_without_the_table_fails_before_measuring(world, tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nno parity here\n")
    assert main([str(world["whole"]), "--data", str(world["pascal"]), "--doc", str(page)]) == 1
    assert "Parity" in capsys.readouterr().err
    assert page.read_text() == "# Title\n\nno parity here\n"
