"""The cross-dataset table: foreign classes mapped onto normal/abnormal, scored per
database, cached by model hash (no real data: fake probabilities, two synthetic records)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from heartsound.research.physionet import (
    abnormal_probability,
    cross_by_group,
    cross_lines,
    cross_predictions,
    cross_scores,
    cross_section,
    screening_answer,
    screening_truth,
)

A = ["normal", "murmur", "extrahls", "artifact"]
B = ["normal", "murmur", "extrastole"]
PN = ["normal", "abnormal"]


def test_abnormal_probability_per_class_set():
    assert abnormal_probability(PN, [0.3, 0.7]) == pytest.approx(0.7)
    assert abnormal_probability(B, [0.2, 0.5, 0.3]) == pytest.approx(0.8)  # 1 - P(normal)
    # Set A: murmur + extrahls; the artifact share counts for neither side.
    assert abnormal_probability(A, [0.1, 0.2, 0.1, 0.6]) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="cannot map"):
        abnormal_probability(["yes", "no"], [0.5, 0.5])


def test_screening_answer_is_the_models_own_argmax():
    assert screening_answer(B, [0.45, 0.3, 0.25]) == "normal"  # though 1 - P(normal) > 0.5
    assert screening_answer(B, [0.2, 0.1, 0.7]) == "abnormal"
    assert screening_answer(A, [0.1, 0.2, 0.1, 0.6]) == "unusable"  # artifact: no answer
    assert screening_answer(A, [0.1, 0.2, 0.5, 0.2]) == "abnormal"
    assert screening_answer(PN, [0.6, 0.4]) == "normal"
    assert [screening_truth(x) for x in ("normal", "abnormal", "murmur", "extrastole",
                                         "extrahls", "artifact", None)] == [
        "normal", "abnormal", "abnormal", "abnormal", "abnormal", None, None]


def fake_files() -> list[dict]:
    rows = [("a", "abnormal", [0.1, 0.6, 0.1, 0.2], True),   # right
            ("a", "abnormal", [0.1, 0.1, 0.1, 0.7], False),  # artifact: not correct
            ("a", "normal", [0.8, 0.1, 0.05, 0.05], True),   # right
            ("b", "normal", [0.3, 0.5, 0.1, 0.1], True),     # wrong
            ("b", "abnormal", [0.2, 0.1, 0.6, 0.1], True),   # right
            ("b", "normal", [0.5, 0.1, 0.1, 0.3], False)]    # right
    return [{"path": f"training-{g}/{g}{i:04d}.flac", "group": g, "label": label,
             "probs": probs, "usable": usable, "reason": "" if usable else "noise"}
            for i, (g, label, probs, usable) in enumerate(rows)]


def test_cross_scores_count_artifact_as_not_correct_and_the_gate_apart():
    s = cross_scores(fake_files(), A)
    assert s["n"] == 6 and s["artifact"] == 1 and s["gate_unusable"] == 2
    assert s["sensitivity"] == pytest.approx(2 / 3)  # the artifact answer stays in Se
    assert s["specificity"] == pytest.approx(2 / 3)
    assert s["macc"] == pytest.approx(2 / 3)
    groups = cross_by_group(fake_files(), A)
    assert list(groups) == ["a", "b", "all"]
    assert groups["a"]["sensitivity"] == pytest.approx(0.5)
    assert groups["a"]["auroc"] == pytest.approx(1.0)  # P(abn) 0.7, 0.2 against 0.15
    # A recording without screening truth (a PASCAL artifact) is not scored.
    extra = [*fake_files(), {**fake_files()[0], "label": "artifact"}]
    assert cross_scores(extra, A)["n"] == 6


def test_cross_table_rows_and_notes():
    res = {"model": "pascal-a-light", "file": "pascal-a-light.onnx", "sha256": "ab" * 32,
           "dataset": "physionet2016", "classes": A, "files": fake_files(), "errors": []}
    text = "\n".join(cross_lines([res], ["physionet-light on pascal-b: skipped."]))
    assert "| model | tested on | records | % abnormal | Se | Sp | MAcc (argmax) | AUROC |" \
           in text
    assert "| pascal-a-light | PhysioNet a | 3 | 67% | 0.500 | 1.000 | 0.750 | 1.000 | " \
           "1 (33%) | 1 (33%) |" in text
    assert "| pascal-a-light | **mean of a, b** |" in text
    assert "| pascal-a-light | **PhysioNet all, pooled** | 6 |" in text
    assert "sha256 abababababab…" in text and "physionet-light on pascal-b: skipped." in text
    b = {**res, "model": "physionet-light", "dataset": "pascal-b", "classes": PN,
         "files": [{**f, "group": "set B", "probs": [1 - f["probs"][0], f["probs"][0]]}
                   for f in fake_files()]}
    text = "\n".join(cross_lines([b], []))
    assert "| physionet-light | PASCAL set B labelled | 6 |" in text
    assert "predict` does. The PhysioNet" in text  # an old cache entry: what it reads unsaid
    both = [{**res, "reads": "the first 7 s"}, {**b, "reads": "7-s windows every 2 s, averaged"}]
    assert ("predict` does (pascal-a-light: the first 7 s; physionet-light: 7-s windows every "
            "2 s, averaged)." in "\n".join(cross_lines(both, [])).replace("\n", " "))
    assert "| – | 2 (33%) |" in text  # no artifact class: no artifact column value


def write_tree(root: Path) -> None:
    from heartsound.synthetic import heart_like

    folder = root / "training-a"
    folder.mkdir(parents=True)
    for i in range(2):
        sf.write(str(folder / f"a{i + 1:04d}.flac"), heart_like(8.0, 2000, seed=i), 2000,
                 subtype="PCM_16")
    (folder / "REFERENCE.csv").write_text("a0001,1\na0002,-1\n")


def test_predictions_are_cached_by_the_model_hash(tmp_path):
    from heartsound.features import file_digest
    from heartsound.registry import resolve_model

    write_tree(tmp_path / "pn")
    cache = tmp_path / "cache"
    assert cross_predictions("pascal-b-light", "physionet2016", cache, False,
                             str(tmp_path / "pn")) is None
    res = cross_predictions("pascal-b-light", "physionet2016", cache, True, str(tmp_path / "pn"))
    sha = file_digest(resolve_model("pascal-b-light"))
    stored = cache / f"physionet2016-{sha[:16]}.json"
    assert stored.is_file() and res["sha256"] == sha and res["classes"] == B
    from heartsound.infer import Classifier

    clf = Classifier(resolve_model("pascal-b-light"))  # what the model reads, from its file
    assert res["reads"] == clf.config.span(clf.window_hop_s)
    assert [f["path"] for f in res["files"]] == ["training-a/a0001.flac", "training-a/a0002.flac"]
    assert all(len(f["probs"]) == 3 and isinstance(f["usable"], bool) for f in res["files"])
    # Read back without predicting (the data folder is not even needed then).
    stored.write_text(json.dumps({**res, "files": res["files"][:1]}))
    again = cross_predictions("pascal-b-light", "physionet2016", cache, False, None)
    assert again is not None and len(again["files"]) == 1
    lines = "\n".join(cross_section(cache, False, str(tmp_path / "missing.onnx")))
    assert "| pascal-b-light | PhysioNet a | 1 |" in lines
    assert "pascal-a-light on physionet2016: not computed yet" in lines
    assert "missing.onnx on pascal-b: skipped, no model" in lines


def test_a_dataset_in_the_models_joint_training_is_flagged(tmp_path):
    """The PhysioNet model scored on PASCAL recordings it trained on is no held-out figure."""
    import json as _json

    pytest.importorskip("torch")
    from heartsound.config import front_end
    from heartsound.research.physionet import seen_in_training
    from heartsound.training.export import export_onnx, set_metadata
    from heartsound.training.networks import build

    path = export_onnx(build("light-centred-bn", 2).eval(), front_end(4), ["normal", "abnormal"],
                       tmp_path / "m.onnx")
    set_metadata(path, {"heartsound.recipe": _json.dumps({"joint": "pascal-b+pascal-a"})})
    assert seen_in_training(str(path), "pascal-b") and seen_in_training(str(path), "pascal-a")
    set_metadata(path, {"heartsound.recipe": _json.dumps({"joint": None})})
    assert not seen_in_training(str(path), "pascal-b")
