"""A model file's metadata is input like any other: every bad field is one line, exit 2."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("onnx")

from heartsound.cli import main  # noqa: E402
from heartsound.config import DEFAULT  # noqa: E402
from heartsound.infer import Classifier, ModelError  # noqa: E402
from heartsound.registry import models_dir  # noqa: E402
from heartsound.training.export import set_metadata  # noqa: E402

BIG = json.dumps({**DEFAULT.to_dict(), "duration_s": 1e6})


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("heartsound.temperature", "0", "temperature"),
    ("heartsound.temperature", "nan", "temperature"),
    ("heartsound.temperature", "-1", "temperature"),
    ("heartsound.classes", '["normal", "murmur"]', "classes named but the model outputs 3"),
    ("heartsound.classes", '"normal"', "classes must be a list"),
    ("heartsound.frontend", BIG, "duration_s"),
    ("heartsound.frontend", json.dumps({**DEFAULT.to_dict(), "sample_rate": "4000"}),
     "sample_rate"),
    ("heartsound.frontend", json.dumps({**DEFAULT.to_dict(), "filter_order": 1000}),
     "filter_order"),
    ("heartsound.frontend", json.dumps({**DEFAULT.to_dict(), "n_mels": 10_000_000}), "n_mels"),
    ("heartsound.frontend", json.dumps({**DEFAULT.to_dict(), "min_duration_s": -1}),
     "min_duration_s"),
    ("heartsound.fingerprint", "0123456789abcdef", "fingerprint"),
    ("heartsound.window_hop_s", "0", "window hop"),
    ("padding", "x" * (2 << 20), "bytes of metadata"),
])
def test_bad_metadata_is_refused(tmp_path, capsys, make_wav, key, value, needle):
    model = tmp_path / "m.onnx"
    shutil.copy(models_dir() / "pascal-b-light.onnx", model)
    set_metadata(model, {key: value})
    with pytest.raises(ModelError, match=needle):
        Classifier(model)
    wav = make_wav("x.wav", [0.1, -0.1] * 14000)
    assert main(["predict", str(wav), "--model", str(model)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(model) in err[0] and needle.split()[0] in err[0]


def test_shipped_models_pass_the_checks():
    for path in sorted(models_dir().glob("*.onnx")):
        Classifier(path)
