"""Models, training, export and prediction, end to end on tiny data."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import heart_like

torch = pytest.importorskip("torch")

import heartsound as hs  # noqa: E402
from heartsound.training.networks import (  # noqa: E402
    ARCHITECTURES,
    activation_peak_bytes,
    build,
    count_madds,
    count_parameters,
)


@pytest.mark.parametrize("n_classes", [3, 4])
def test_parameter_budgets(n_classes):
    assert count_parameters(build("light", n_classes)) <= 30_000
    assert count_parameters(build("light-context", n_classes)) <= 30_000
    assert count_madds(build("light-context", n_classes), 872) <= 35_000_000
    assert count_parameters(build("light-temporal", n_classes)) <= 30_000
    assert count_parameters(build("light-ensemble", n_classes)) <= 30_000
    assert count_madds(build("light-ensemble", n_classes), 872) <= 35_000_000
    assert 140_000 <= count_parameters(build("base", n_classes)) <= 175_000


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_any_input_size(arch, scale):
    cfg = hs.DEFAULT.scaled(scale)
    model = build(arch, 4).eval()
    with torch.no_grad():
        assert model(torch.randn(3, *cfg.shape)).shape == (3, 4)
    assert count_madds(model, cfg.n_frames) > 0 and activation_peak_bytes(model, cfg.n_frames) > 0


def test_madds_hand_count_for_one_conv():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1))

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, x):
            return self.m(x.unsqueeze(1))

    assert count_madds(Wrap(), 10, 20) == 3 * 3 * 1 * 8 * 10 * 20


def test_light_blocks_are_inverted_residuals():
    from heartsound.training.networks import ChannelLayerNorm, InvertedResidual

    model = build("light", 4)
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert blocks and any(b.residual for b in blocks) and not all(b.residual for b in blocks)
    assert any(isinstance(m, ChannelLayerNorm) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    # Depthwise: groups == channels.
    assert any(isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1
               for m in model.modules())


def test_receptive_field_explains_rhythm_blindness():
    from heartsound.training.networks import receptive_field

    # 43 frames of 8 ms = 0.34 s: less than one heart cycle (0.5-1.2 s)...
    assert receptive_field(build("light", 3)) == 43
    # ...while the context variant spans several beats (≥ 4 s).
    assert receptive_field(build("light-context", 3)) * 0.008 >= 4.0


def test_temporal_variant_convolves_along_time_only():
    """The coefficients are the stem's channels: every kernel is k×1, only time is strided,
    and the blocks are the lightweight network's rows."""
    from heartsound.training.networks import LIGHT_ROWS, TEMPORAL_KERNEL, InvertedResidual

    model = build("light-temporal", 3).eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == 20
    assert all(m.kernel_size[1] == 1 for m in convs)
    assert {m.kernel_size[0] for m in convs} == {1, TEMPORAL_KERNEL}
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == sum(n for _, _, n, _ in LIGHT_ROWS)
    with torch.no_grad():
        features = model.net.features(torch.randn(2, 1, 215, 20))
    assert features.shape[2:] == (27, 1)  # time strided 2·2·2 = 8 times, one "column"


def test_centred_variant_ignores_a_fixed_channel():
    """A constant added to each coefficient over the whole map (a fixed frequency response,
    a gain) does not change the centred network's output; it does change the plain one's,
    and the one that feeds the means to its classifier."""
    x = torch.randn(2, 215, 20)
    channel = 3.0 * torch.randn(1, 1, 20)
    for arch, same in (("light-centred", True), ("light-cmvn", True), ("light", False),
                       ("light-centred-means", False)):
        model = build(arch, 3).eval()
        with torch.no_grad():
            assert torch.allclose(model(x), model(x + channel), atol=1e-4) == same
    # With the means aside, the convolutions still see the centred map only.
    model = build("light-centred-means", 3).eval()
    with torch.no_grad():
        features = [model.net.features(model.standardise(m)) for m in (x, x + channel)]
    assert torch.allclose(*features, atol=1e-4)


def test_ensemble_averages_its_members_probabilities():
    """The output's softmax is the mean of the members' softmaxes; training sees each
    member's logits; cutting the classes cuts every member's head alike."""
    from heartsound.training.networks import ENSEMBLE_MEMBERS, keep_classes

    model = build("light-ensemble", 5).eval()
    x = torch.randn(3, 215, 20)
    with torch.no_grad():
        members = model.member_logits(x)
        assert members.shape == (ENSEMBLE_MEMBERS, 3, 5)
        # Members start from different weights, so they disagree...
        assert not torch.allclose(members[0], members[1])
        expected = members.softmax(-1).mean(0)
        assert torch.allclose(model(x).softmax(-1), expected, atol=1e-6)
        keep_classes(model, [4, 0, 2])  # each member renormalised over 3 classes, averaged
        cut = members[:, :, [4, 0, 2]].softmax(-1).mean(0)
        assert model(x).shape == (3, 3)
        assert torch.allclose(model(x).softmax(-1), cut, atol=1e-6)
    # A single network is its own one member.
    light = build("light", 3).eval()
    with torch.no_grad():
        assert torch.equal(light.member_logits(x)[0], light(x))


@pytest.fixture(scope="module")
def five_class_csv(tmp_path_factory):
    """20 short synthetic recordings in 5 classes (a tone per class over a heartbeat)."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("five")
    lines = ["path,label,group"]
    for c, freq in enumerate((80, 160, 320, 640, 1200)):
        for i in range(4):
            rate = 8000
            t = np.arange(int(rate * (1.5 + i))) / rate
            x = heart_like(t.size / rate, rate, seed=10 * c + i)
            x = x + 0.3 * np.sin(2 * np.pi * freq * t)
            sf.write(str(root / f"c{c}_{i}.wav"), x / 2, rate)
            lines.append(f"c{c}_{i}.wav,class{c},p{c}{i // 2}")
    (root / "five.csv").write_text("\n".join(lines) + "\n")
    return root / "five.csv"


@pytest.fixture(scope="module")
def tiny_run(five_class_csv, tmp_path_factory):
    from heartsound.training.train import run_cv

    out = tmp_path_factory.mktemp("run")
    summary = run_cv(str(five_class_csv), "light", out, folds=2, epochs=2, seed=0, quiet=True)
    return out, summary


def test_training_writes_everything(tiny_run):
    out, summary = tiny_run
    assert summary["config"]["classes"] == [f"class{c}" for c in range(5)]
    for name in ("config.json", "summary.json", "summary.md", "fold1/curve.csv",
                 "fold1/checkpoint.pt", "fold2/metrics.json", "final/model.onnx",
                 "final/model.pt"):
        assert (out / name).exists(), name
    fold = json.loads((out / "fold1" / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "precision_class0", "recall_class4", "f1_class2"):
        assert key in fold["scores"]
    assert np.array(fold["scores"]["confusion_matrix"]).shape == (5, 5)
    assert set(summary["mean"]["accuracy"]) == {"mean", "std"}
    config = json.loads((out / "config.json").read_text())
    assert config["frontend"] == hs.DEFAULT.to_dict() and "torch" in config["versions"]
    # Grouped folds: a group never spans two folds.
    groups = [{r["path"][:3] + r["path"][3] for r in json.loads(
        (out / f"fold{f}" / "metrics.json").read_text())["validation"]} for f in (1, 2)]
    assert not groups[0] & groups[1]


def test_resume_skips_finished_folds(tiny_run, five_class_csv, capsys):
    from heartsound.training.train import run_cv

    out, first = tiny_run
    before = (out / "fold1" / "checkpoint.pt").stat().st_mtime_ns
    again = run_cv(str(five_class_csv), "light", out, folds=2, epochs=2, seed=0)
    assert "already done (resumed)" in capsys.readouterr().err
    assert (out / "fold1" / "checkpoint.pt").stat().st_mtime_ns == before
    assert again["mean"]["accuracy"] == first["mean"]["accuracy"]
    with pytest.raises(ValueError, match="other settings"):
        run_cv(str(five_class_csv), "light", out, folds=2, epochs=3, seed=0)


def test_onnx_equals_torch(tiny_run, five_class_csv):
    from heartsound.infer import Classifier

    out, summary = tiny_run
    model = build("light", 5)
    model.load_state_dict(torch.load(out / "final" / "model.pt"))
    model.eval()
    maps = np.stack([hs.features(p) for p in sorted(five_class_csv.parent.glob("*.wav"))[:6]])
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(maps)), -1).numpy()
    got = Classifier(out / "final" / "model.onnx").predict_features(maps, hs.DEFAULT)
    np.testing.assert_allclose(got, expected, atol=1e-5)  # float32 rounding between runtimes


def test_ensemble_trains_every_member_and_exports(five_class_csv, tmp_path):
    """Every member of the ensemble learns (its own loss, mixup included) and the exported
    ONNX model gives the torch ensemble's averaged probabilities."""
    from heartsound.infer import Classifier
    from heartsound.training.train import RECIPES, recipe_with, run_cv

    recipe = recipe_with(RECIPES["augment"], ["epochs=1", "mixup=0.4"])
    run_cv(str(five_class_csv), "light-ensemble", tmp_path, folds=2, seed=0, quiet=True,
           recipe=recipe)
    torch.manual_seed(0)  # fit seeds torch before building: these are the initial weights
    start = build("light-ensemble", 5)
    model = build("light-ensemble", 5)
    model.load_state_dict(torch.load(tmp_path / "final" / "model.pt"))
    model.eval()
    for before, after in zip(start.net.members, model.net.members, strict=True):
        assert not torch.equal(before.classifier[-1].weight, after.classifier[-1].weight)
        assert not torch.equal(before.features[0][0].weight, after.features[0][0].weight)
    maps = np.stack([hs.features(p) for p in sorted(five_class_csv.parent.glob("*.wav"))[:4]])
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(maps)), -1).numpy()
    got = Classifier(tmp_path / "final" / "model.onnx").predict_features(maps, hs.DEFAULT)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_log_mel_run_exports_and_predicts_from_audio(five_class_csv, tmp_path):
    """A model trained on log-mel maps stores that front end: its ONNX file classifies a WAV
    through the same maps and refuses MFCC maps of the same length."""
    import dataclasses

    from heartsound.infer import Classifier, FrontEndMismatch
    from heartsound.training.train import RECIPES, recipe_with, run_cv

    cfg = dataclasses.replace(hs.DEFAULT.scaled(4), cepstrum=False)
    run_cv(str(five_class_csv), "light-centred", tmp_path, folds=2, seed=0, quiet=True,
           recipe=recipe_with(RECIPES["augment"], ["epochs=1"]), config=cfg)
    assert json.loads((tmp_path / "config.json").read_text())["frontend"]["cepstrum"] is False
    model = build("light-centred", 5, cfg.n_coefficients)
    model.load_state_dict(torch.load(tmp_path / "final" / "model.pt"))
    model.eval()
    clf = Classifier(tmp_path / "final" / "model.onnx")
    assert clf.config == cfg
    wav = sorted(five_class_csv.parent.glob("*.wav"))[0]
    maps = hs.features(wav, cfg)[None]
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(maps)), -1).numpy()
    np.testing.assert_allclose(clf.predict_features(maps, cfg), expected, atol=1e-5)
    mfcc = hs.DEFAULT.scaled(4)
    with pytest.raises(FrontEndMismatch):
        clf.predict_features(hs.features(wav, mfcc), mfcc)


def test_model_refuses_other_front_end(tiny_run, five_class_csv):
    from heartsound.infer import Classifier, FrontEndMismatch

    out, _ = tiny_run
    clf = Classifier(out / "final" / "model.onnx")
    wav = sorted(five_class_csv.parent.glob("*.wav"))[0]
    other = hs.DEFAULT.scaled(2)
    with pytest.raises(FrontEndMismatch, match="trained on"):
        clf.predict_features(hs.features(wav, other), other)
    with pytest.raises(FrontEndMismatch, match="expects maps of shape"):
        clf.predict_features(hs.features(wav, other))
    import dataclasses

    subtle = dataclasses.replace(hs.DEFAULT, band_low_hz=25.0)  # same shape, other filter
    with pytest.raises(FrontEndMismatch):
        clf.predict_features(hs.features(wav, subtle), subtle)


def test_predict_cli_without_torch(tiny_run, five_class_csv, tmp_path):
    out, _ = tiny_run
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    csv_out = tmp_path / "preds.csv"
    code = (
        "import sys\n"
        "class NoTorch:  # any import of torch now fails\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from heartsound.cli import main\n"
        f"rc = main(['predict', {str(five_class_csv.parent)!r}, {str(bad)!r}, '--model', "
        f"{str(out / 'final' / 'model.onnx')!r}, '--out', {str(csv_out)!r}, "
        "'--no-quality-gate'])\n"
        "assert 'torch' not in sys.modules\n"
        "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr  # one bad file among good ones
    assert "Traceback" not in proc.stderr and f"{bad}: not a readable sound file" in proc.stderr
    lines = csv_out.read_text().splitlines()
    assert lines[0] == "path,label,quality,reason," + ",".join(f"prob_class{c}" for c in range(5))
    assert len(lines) == 1 + 20
    probs = np.array([[float(v) for v in line.split(",")[4:]] for line in lines[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)


def test_folds_stratified_and_grouped():
    from heartsound.training.train import make_folds

    labels = ["n"] * 60 + ["m"] * 20 + ["e"] * 10
    groups = [f"p{i // 2}" for i in range(90)]  # 5 groups hold the 10 "e" items
    folds = make_folds(labels, groups, 5, seed=1)
    assert sorted(np.concatenate(folds).tolist()) == list(range(90))
    for f in folds:
        assert 14 <= len(f) <= 22
        assert sum(labels[i] == "e" for i in f) >= 1
    owner = {}
    for k, f in enumerate(folds):
        for i in f:
            assert owner.setdefault(groups[i], k) == k
    ungrouped = make_folds(labels, groups, 5, seed=1, grouped=False)
    assert [len(f) for f in ungrouped] == [18] * 5


def test_context_variant_exports_and_quantizes(tmp_path):
    """The dilated time convolutions and max pooling survive ONNX export and int8."""
    from heartsound.infer import Classifier
    from heartsound.training.export import export_onnx
    from heartsound.training.quantize import quantize_onnx

    torch.manual_seed(0)
    model = build("light-context", 3).eval()
    maps = np.random.default_rng(0).normal(size=(4, 872, 20)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(maps)), -1).numpy()
    path = export_onnx(model, hs.DEFAULT, ["a", "b", "c"], tmp_path / "m.onnx", {})
    np.testing.assert_allclose(Classifier(path).predict_features(maps), expected, atol=1e-5)
    int8 = quantize_onnx(path, tmp_path / "m8.onnx", maps)
    assert Classifier(int8).predict_features(maps).shape == (4, 3)


def test_parallel_predict_matches_serial(tiny_run, five_class_csv, tmp_path):
    """Two spawned one-thread workers give the rows and errors of one process, in order."""
    from heartsound.infer import predict_parallel

    out, _ = tiny_run
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    paths = sorted(five_class_csv.parent.glob("*.wav"))[:5] + [bad]
    model = str(out / "final" / "model.onnx")
    serial = predict_parallel(model, paths, workers=1)
    parallel = predict_parallel(model, paths, workers=2)
    assert parallel == serial and len(serial[0]) == 5 and len(serial[1]) == 1


def test_stride_variants_move_strides_not_parameters():
    """The architecture search's variants keep the light network's parameters and change
    only where the map is downsampled: the last feature map of a 215×48 log-mel map keeps
    twice the frames, twice the bands, or twice both, and stays inside the MAdds budget."""
    from heartsound.training.networks import STRIDE_VARIANTS

    def last_map(arch):
        model = build(arch, 3, 48).eval()
        with torch.no_grad():
            return model.net.features(torch.zeros(1, 1, 215, 48)).shape[2:]

    base = last_map("light-centred")
    expect = {"keep-time": (2, 1), "keep-freq": (1, 2), "late": (2, 2)}
    assert set(STRIDE_VARIANTS) == set(expect)
    for name, (ft, ff) in expect.items():
        arch = f"light-centred-{name}"
        t, f = last_map(arch)
        assert (t, f) == (pytest.approx(base[0] * ft, abs=1), pytest.approx(base[1] * ff, abs=1))
        assert count_parameters(build(arch, 3, 48)) == count_parameters(build("light-centred",
                                                                              3, 48))
        assert count_madds(build(arch, 3, 48), 215, 48) <= 35_000_000


def test_width_variants_spend_the_same_budget_differently():
    """The architecture search's width variants stay inside the lightweight budget on both
    sets' default maps (≤ 30K parameters, ≤ 35M multiply-adds) and are what their rows say."""
    from heartsound.training.networks import WIDTH_VARIANTS, InvertedResidual

    assert set(WIDTH_VARIANTS) == {"wide", "expand6", "deeper"}
    for name, kwargs in WIDTH_VARIANTS.items():
        for arch, classes, frames, width in ((f"light-{name}", 4, 215, 20),
                                             (f"light-centred-{name}", 3, 434, 48)):
            model = build(arch, classes, width)
            assert count_parameters(model) <= 30_000
            assert count_madds(model, frames, width) <= 35_000_000
        blocks = [m for m in build(f"light-{name}", 4).modules()
                  if isinstance(m, InvertedResidual)]
        assert len(blocks) == sum(n for _, _, n, _ in kwargs["rows"])
        out = blocks[-1].block[-1][0].out_channels  # the last projection
        assert out == kwargs["rows"][-1][1]


def test_layer_norm_without_transposes_is_the_same_network():
    """The LayerNorm formulations the bench times give the same outputs as the module."""
    import torch

    from heartsound.training.networks import build, explicit_layer_norm

    torch.manual_seed(0)
    model = build("light", 3).eval()
    x = torch.randn(2, 215, 20)
    with torch.no_grad():
        expected = model(x)
        for how in ("reduce", "conv"):
            import copy

            other = explicit_layer_norm(copy.deepcopy(model), how).eval()
            assert torch.allclose(other(x), expected, atol=1e-5)


def test_blurred_strides_keep_shapes_and_parameters_and_low_pass_time(tmp_path):
    """The anti-aliased variant has the shipped set-A network's parameters and layer shapes
    for any map length; its blur passes a constant, removes the fastest oscillation over
    frames (alternating ±1: exactly what a stride of 2 aliases), and survives export."""
    from heartsound.infer import Classifier
    from heartsound.training.export import export_onnx
    from heartsound.training.networks import BlurTime

    assert count_parameters(build("light-level-bn-blur", 4)) == count_parameters(
        build("light-level-bn", 4))
    for frames in (215, 216, 100):
        shapes = []
        for arch in ("light-level-bn", "light-level-bn-blur"):
            model = build(arch, 4).eval()
            with torch.no_grad():
                shapes.append(model.net.features(torch.zeros(1, 1, frames, 20)).shape)
        assert shapes[0] == shapes[1]
    blur = BlurTime(2, 2)
    x = torch.ones(1, 2, 12, 3)
    assert torch.allclose(blur(x)[:, :, 1:-1], torch.ones(1, 2, 4, 3))
    alternating = (-1.0) ** torch.arange(12.0)
    assert blur(alternating.view(1, 1, 12, 1).repeat(1, 2, 1, 1))[:, :, 1:].abs().max() < 1e-6
    torch.manual_seed(0)
    model = build("light-level-bn-blur", 4).eval()
    maps = np.random.default_rng(0).normal(size=(2, 215, 20)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(maps)), -1).numpy()
    cfg = hs.DEFAULT.scaled(4)
    path = export_onnx(model, cfg, ["a", "b", "c", "d"], tmp_path / "blur.onnx", {})
    np.testing.assert_allclose(Classifier(path).predict_features(maps), expected, atol=1e-5)
