"""Whole-recording windows, the candidate recipe's pieces, and int8 models."""

import dataclasses
import json
import math

import numpy as np
import pytest
import scipy.fft
from conftest import heart_like

import heartsound as hs
from heartsound.features import windows

torch = pytest.importorskip("torch")


def test_windows_cover_the_whole_map():
    m = np.arange(1000 * 2, dtype=np.float32).reshape(1000, 2)
    w = windows(m, 872, 50)
    assert w.shape == (4, 872, 2)  # starts 0, 50, 100 and the end-aligned 128
    np.testing.assert_array_equal(w[0], m[:872])
    np.testing.assert_array_equal(w[-1], m[-872:])
    assert windows(m[:872], 872, 50).shape == (1, 872, 2)


def test_whole_features(make_wav):
    short = make_wav("short.wav", heart_like(3.0, 4000), 4000)
    np.testing.assert_array_equal(hs.features(short, whole=True), hs.features(short))
    long = make_wav("long.wav", heart_like(20.0, 4000), 4000)
    full = hs.features(long, whole=True)
    assert full.shape == (1 + (80_000 - 128) // 32, 20)
    # The first 7 s of the whole map match the 7-s map away from the filter edge, up to the
    # 80-dB floor being set by the whole map's peak rather than the first 7 s' (≤ 0.1).
    np.testing.assert_allclose(full[:800], hs.features(long)[:800], atol=0.1)


def test_class_weights_and_batches():
    from heartsound.training.train import Recipe, class_weights, make_batch

    y = np.array([0] * 8 + [1] * 2)
    w = class_weights(y, 2, "balanced")
    assert w[1] / w[0] == pytest.approx(4.0)
    assert (w[y]).sum() == pytest.approx(len(y))  # mean loss scale unchanged
    assert class_weights(y, 2, "sqrt")[1] / class_weights(y, 2, "sqrt")[0] == pytest.approx(2.0)
    assert class_weights(y, 2, "none") is None
    rng = np.random.default_rng(0)
    maps = [np.arange(1000 * 20, dtype=np.float32).reshape(1000, 20) for _ in range(3)]
    fill = np.full(20, -1.0, dtype=np.float32)
    first = make_batch(maps, np.array([0, 1]), 872, Recipe(), rng, fill)
    np.testing.assert_array_equal(first[0], maps[0][:872])
    crops = make_batch(maps, np.array([0, 1, 2]), 872, Recipe(crop="random"), rng, fill)
    starts = {int(c[0, 0]) // 20 for c in crops}
    assert all(0 <= s <= 128 for s in starts)
    aug = make_batch(maps, np.array([0]), 872, Recipe(spec_augment=True, gain_db=6.0),
                     np.random.default_rng(3), fill)
    assert aug.shape == (1, 872, 20) and not np.array_equal(aug[0], maps[0][:872])


def test_gain_moves_mfcc_c0_but_every_log_mel_band():
    """A gain of g dB is g on every log-mel band, g·√n_mels on c0 of an orthonormal DCT:
    each kind of map gets the gain as its own front end would compute it."""
    import dataclasses

    from heartsound.training.train import Recipe, make_batch

    recipe = Recipe(gain_db=6.0)
    mfcc = hs.DEFAULT
    log_mel = dataclasses.replace(mfcc, cepstrum=False)
    for cfg in (mfcc, log_mel):
        maps = [np.zeros((872, cfg.n_coefficients), dtype=np.float32)]
        fill = np.zeros(cfg.n_coefficients, dtype=np.float32)
        out = make_batch(maps, np.array([0]), 872, recipe, np.random.default_rng(0), fill, cfg)
        gain = np.random.default_rng(0).uniform(-6.0, 6.0)
        if cfg.cepstrum:
            np.testing.assert_allclose(out[0, :, 0], gain * np.sqrt(cfg.n_mels), rtol=1e-6)
            assert not out[0, :, 1:].any()
        else:
            np.testing.assert_allclose(out[0], gain, rtol=1e-6)
    # Natural-log maps move by g·ln 10/10; PCEN maps, which divide a gain out, not at all.
    for log, expected in (("ln", gain * np.log(10) / 10), ("pcen", 0.0)):
        cfg = dataclasses.replace(log_mel, log=log)
        maps = [np.zeros((872, 48), dtype=np.float32)]
        out = make_batch(maps, np.array([0]), 872, recipe, np.random.default_rng(0),
                         np.zeros(48, dtype=np.float32), cfg)
        np.testing.assert_allclose(out[0], expected, rtol=1e-6, atol=1e-12)
    # The same shift through the front end: c0 of the DCT of a log-mel map moved by g dB.
    x = np.random.default_rng(1).standard_normal(28_000)
    moved = hs.log_mel(x, log_mel) + 6.0
    dct = scipy.fft.dct(moved, type=2, norm="ortho", axis=-1)[:, :20]
    np.testing.assert_allclose(dct[:, 0] - hs.mfcc(x)[:, 0], 6.0 * np.sqrt(48), atol=1e-3)


@pytest.fixture(scope="module")
def candidate_run(tmp_path_factory):
    """A tiny run of the candidate recipe on 3 classes of synthetic recordings of 4-12 s."""
    import soundfile as sf

    from heartsound.training.train import RECIPES, run_cv

    root = tmp_path_factory.mktemp("candidate")
    lines = ["path,label"]
    for c, bpm in enumerate((50, 80, 120)):
        for i in range(4):
            x = heart_like(4.0 + 2 * i, 4000, bpm=bpm, seed=10 * c + i)
            sf.write(str(root / f"c{c}_{i}.wav"), x, 4000)
            lines.append(f"c{c}_{i}.wav,k{c}")
    (root / "set.csv").write_text("\n".join(lines) + "\n")
    out = root / "run"
    import dataclasses

    recipe = dataclasses.replace(RECIPES["candidate"], epochs=2)
    summary = run_cv(str(root / "set.csv"), "light", out, folds=2, recipe=recipe, quiet=True)
    return root, out, summary


def test_candidate_recipe_end_to_end(candidate_run):
    from heartsound.infer import Classifier

    root, out, summary = candidate_run
    assert summary["config"]["recipe"]["crop"] == "random"
    assert summary["final"]["epochs"] == 2  # fixed budget, not a validation-chosen epoch
    clf = Classifier(out / "final" / "model.onnx")
    assert clf.hop_frames == 250  # 2 s at 8-ms frames
    assert json.loads(clf.metadata["heartsound.recipe"])["class_weight"] == "sqrt"
    longest = root / "c0_3.wav"  # 10 s → 3 windows
    assert clf.file_windows(longest).shape == (3, 872, 20)
    results = list(clf.predict_files([longest, root / "c0_0.wav"]))
    expected = clf.predict_features(clf.file_windows(longest)).mean(axis=0)
    # Window mean, then the temperature train fitted on the folds (summary["calibration"]).
    from heartsound.calibration import scale

    assert clf.temperature == pytest.approx(summary["calibration"]["temperature"], abs=1e-4)
    np.testing.assert_allclose(results[0][1], scale(expected[None], clf.temperature)[0],
                               atol=1e-6)
    assert results[1][1].shape == (3,) and results[1][1].sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("fmt", "calibration"), [("qdq", "minmax"), ("qoperator", "minmax"),
                                                  ("qoperator", "percentile")])
def test_int8_model_agrees_with_float(candidate_run, tmp_path, fmt, calibration):
    from heartsound.infer import Classifier
    from heartsound.training.quantize import quantize_onnx

    root, out, _ = candidate_run
    maps = np.stack([hs.features(p) for p in sorted(root.glob("*.wav"))])
    int8 = quantize_onnx(out / "final" / "model.onnx", tmp_path / "int8.onnx", maps, fmt,
                         calibration)
    f32, q8 = Classifier(out / "final" / "model.onnx"), Classifier(int8)
    assert q8.config == f32.config and q8.classes == f32.classes
    assert q8.hop_frames == f32.hop_frames
    assert q8.metadata["heartsound.quantization"] == \
        f"int8 static {fmt}, per-channel, {calibration}, stem float"
    assert int8.stat().st_size < 0.6 * (out / "final" / "model.onnx").stat().st_size
    pf, pq = f32.predict_features(maps), q8.predict_features(maps)
    # Bound: at least 10 of 12 recordings keep their class, probabilities within 0.1.
    assert (pf.argmax(1) == pq.argmax(1)).sum() >= 10
    assert np.abs(pf - pq).max() < 0.1
    with pytest.raises(ValueError, match="calibration"):
        quantize_onnx(out / "final" / "model.onnx", tmp_path / "x.onnx", maps, fmt, "entropy")


def test_int8_page_names_each_calibration_and_the_largest_change_either_way():
    from heartsound.research.study import int8_markdown

    def study(calibration, float_acc, int8_acc):
        fold = {"float32": {"accuracy": float_acc}, "int8": {"accuracy": int8_acc}}
        scores = {"accuracy": 0.5, "macc": 0.5}
        return {"run": "runs/physionet-light", "format": "qoperator", "agreement": 0.99,
                "folds": [fold, {"float32": {"accuracy": 0.5}, "int8": {"accuracy": 0.49}}],
                "pooled": {"float32": scores, "int8": scores},
                **({"calibration": calibration} if calibration else {})}

    text = int8_markdown([study("minmax", 0.50, 0.54), study(None, 0.5, 0.5)])
    rows = [line for line in text.splitlines() if line.startswith("| physionet-light")]
    assert rows[0].startswith("| physionet-light | qoperator | minmax | 0.990 | 0.500 | 0.500 "
                              "| +1.0 | 4.0 |")
    assert "| unrecorded |" in rows[1]


def test_temperature_scaling_on_overconfident_probabilities():
    from heartsound.calibration import expected_calibration_error, nll, scale
    from heartsound.training.calibrate import fit_temperature

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    logits = rng.normal(0, 1, (2000, 3))
    logits[np.arange(2000), y] += 1.0
    true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    over = scale(true, 0.4)  # sharpened: overconfident
    t = fit_temperature(over, y)
    assert t == pytest.approx(1 / 0.4, rel=0.15)
    assert expected_calibration_error(scale(over, t), y) < expected_calibration_error(over, y)
    assert nll(scale(over, t), y) < nll(over, y)
    np.testing.assert_array_equal(scale(over, t).argmax(1), over.argmax(1))


def test_predict_applies_stored_temperature(candidate_run, tmp_path):
    import shutil

    from heartsound.calibration import scale
    from heartsound.infer import Classifier
    from heartsound.training.calibrate import set_temperature

    root, out, _ = candidate_run
    model = tmp_path / "m.onnx"
    shutil.copyfile(out / "final" / "model.onnx", model)
    set_temperature(model, 1.0)  # train stores the run's fitted T; start from none
    wav = root / "c1_2.wav"
    before = next(iter(Classifier(model).predict_files([wav])))[1]
    set_temperature(model, 2.0)
    clf = Classifier(model)
    assert clf.temperature == 2.0
    after = next(iter(clf.predict_files([wav])))[1]
    np.testing.assert_allclose(after, scale(before[None], 2.0)[0], atol=1e-6)


def test_recipe_overrides():
    from heartsound.training.train import RECIPES, recipe_with

    r = recipe_with(RECIPES["augment"], ["mixup=0.2", "epochs=60", "spec_augment=false",
                                         "crop=random", "eval_hop_s=2"])
    assert (r.mixup, r.epochs, r.spec_augment, r.crop, r.eval_hop_s) == (0.2, 60, False,
                                                                         "random", 2.0)
    assert r.gain_db == RECIPES["augment"].gain_db  # untouched fields kept
    with pytest.raises(ValueError, match="KEY=VALUE"):
        recipe_with(RECIPES["paper"], ["nonsense=1"])
    with pytest.raises(ValueError, match="not a valid epochs"):
        recipe_with(RECIPES["paper"], ["epochs=many"])


def test_weight_average_is_the_mean_of_epochs():
    from heartsound.training.train import average_into

    model = torch.nn.Linear(2, 1)
    seen, averaged = [], None
    for n in range(1, 4):
        with torch.no_grad():
            model.weight.fill_(float(n))
        seen.append(model.weight.clone())
        averaged = average_into(averaged, model, n)
    torch.testing.assert_close(averaged["weight"], torch.stack(seen).mean(0))


@pytest.mark.parametrize("arch", ["light-context", "base"])
def test_mixup_and_averaging_train(arch):
    """Mixup and weight averaging run end to end (base: BatchNorm refreshed after it)."""
    from heartsound.training.train import ResearchRecipe, fit

    rng = np.random.default_rng(0)
    maps = [rng.normal(size=(872, 20)).astype(np.float32) for _ in range(6)]
    y = np.array([0, 1, 2] * 2)
    recipe = ResearchRecipe(epochs=3, mixup=0.4, average_last=2, select="last")
    model, curve = fit(arch, maps, y, 3, recipe, seed=0)
    assert len(curve) == 3 and not model.training
    with pytest.raises(ValueError, match="fixed budget"):
        fit(arch, maps, y, 3, ResearchRecipe(epochs=1, average_last=1), seed=0)
    if arch == "base":
        bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert int(bn.num_batches_tracked) == 1  # one refresh pass over 6 maps, batch 64


def test_label_smoothing_bounds_the_loss():
    """With ε = 0.5 over 3 classes the target is (2/3, 1/6, 1/6): no model can push the
    loss below that target's entropy, 0.868."""
    from heartsound.training.train import Recipe, fit, recipe_with

    assert recipe_with(Recipe(), ["label_smoothing=0.5"]).label_smoothing == 0.5
    rng = np.random.default_rng(0)
    maps = [rng.normal(size=(872, 20)).astype(np.float32) for _ in range(6)]
    y = np.array([0, 1, 2] * 2)
    floor = -(2 / 3 * math.log(2 / 3) + 2 / 6 * math.log(1 / 6))
    curves = {eps: fit("light", maps, y, 3, Recipe(epochs=4, select="last", batch_size=2,
                                                   label_smoothing=eps), seed=0)[1]
              for eps in (0.0, 0.5)}
    smoothed = [row["train_loss"] for row in curves[0.5]]
    assert min(smoothed) >= floor - 1e-4
    assert smoothed != [row["train_loss"] for row in curves[0.0]]


def test_ablation_rows_and_rare_class_count():
    from heartsound.research.ablation import (
        ablation_recipes,
        rare_auc,
        rare_found,
        shared_patients,
        slug,
    )

    rows = ablation_recipes()
    assert slug("augmentation + mixup") == "augmentation-mixup"
    assert slug("paper (best val. epoch)") == "paper-best-val-epoch"  # existing run folders
    assert len({slug(n) for n in rows}) == len(rows)
    assert rows["+ context network"][0] == "light-context"
    assert rows["fixed budget"][1].select == "last"
    assert rows["paper (best val. epoch)"][1].select == "best"
    assert rows["fixed budget"].scale == 1 and rows["+ 4× frame length"].scale == 4
    assert rows["+ 4× frame length"].recipe == rows["fixed budget"].recipe
    sessions = [n for n, r in rows.items() if r.split != "grouped"]
    assert sessions and all(rows[n].split == "sessions" and "recording session" in n
                            for n in sessions)
    summary = {"config": {"classes": ["normal", "murmur", "extrastole"]},
               "folds": [{"validation": [
                   {"path": "extrastole__128_1306344005749_A.wav", "label": "extrastole",
                    "pred": "extrastole", "probs": [0.2, 0.1, 0.7]},
                   {"path": "extrastole__140_1306519735121_B.wav", "label": "extrastole",
                    "pred": "normal", "probs": [0.6, 0.1, 0.3]},
                   {"path": "normal__128_1306344005749_B.wav", "label": "normal",
                    "pred": "extrastole", "probs": [0.4, 0.1, 0.5]},
                   {"path": "murmur__140_1306519735121_C.wav", "label": "murmur",
                    "pred": "murmur", "probs": [0.0, 0.1, 0.9]}]}]}
    assert rare_found(summary, "extrastole") == (1, 2)
    # Against normal only: 0.7 > 0.5 but 0.3 < 0.5, so half the pairs are ranked right; the
    # murmur recording's high extrastole probability does not count.
    assert rare_auc(summary, "extrastole") == 0.5
    assert shared_patients(summary, "extrastole") == (1, 2)  # patient 128 has both labels
    del summary["folds"][0]["validation"][0]["probs"]  # a run from before probs were stored
    assert math.isnan(rare_auc(summary, "extrastole"))


def test_joint_training_answers_only_its_own_classes(tmp_path):
    """Set-A-style joint training: another dataset's recordings join every training fold,
    its extra class is learnt, but the models answer only the primary classes."""
    import soundfile as sf

    from heartsound.infer import Classifier
    from heartsound.training.train import RECIPES, recipe_with, run_cv

    def dataset(name, spec):
        lines = ["path,label"]
        for label, bpm, n in spec:
            for i in range(n):
                wav = tmp_path / f"{name}_{label}_{i}.wav"
                sf.write(str(wav), heart_like(4.0, 4000, bpm=bpm, seed=bpm + i),
                         4000)
                lines.append(f"{wav.name},{label}")
        path = tmp_path / f"{name}.csv"
        path.write_text("\n".join(lines) + "\n")
        return path

    primary = dataset("p", [("slow", 50, 4), ("fast", 120, 4)])
    extra = dataset("x", [("slow", 55, 3), ("odd", 90, 3)])
    recipe = recipe_with(RECIPES["paper"], ["epochs=2", "select=last", f"joint={extra}"])
    summary = run_cv(str(primary), "light", tmp_path / "run", folds=2, recipe=recipe,
                     quiet=True)
    assert summary["config"]["classes"] == ["fast", "slow"]
    fold = summary["folds"][0]
    assert fold["n_train"] == 4 and fold["n_joint"] == 6
    assert {v["pred"] for v in fold["validation"]} <= {"fast", "slow"}
    assert all(len(v["probs"]) == 2 for v in fold["validation"])
    clf = Classifier(tmp_path / "run" / "final" / "model.onnx")
    assert clf.classes == ["fast", "slow"]
    with pytest.raises(ValueError, match="dataset itself"):
        run_cv(str(primary), "light", tmp_path / "again", folds=2, quiet=True,
               recipe=recipe_with(recipe, [f"joint={primary}"]))
    assert not (tmp_path / "again").exists()  # refused before anything was written
    # A head per set: the other set's labels, "slow" included, get outputs of their own.
    from heartsound.training.train import joint_data

    merged = joint_data(recipe, str(primary), ["fast", "slow"], hs.DEFAULT)
    separate = joint_data(recipe_with(recipe, ["joint_labels=separate"]), str(primary),
                          ["fast", "slow"], hs.DEFAULT)
    assert merged.n_classes == 3 and sorted(merged.y) == [1, 1, 1, 2, 2, 2]
    assert separate.n_classes == 4 and sorted(separate.y) == [2, 2, 2, 3, 3, 3]
    assert merged.keep == separate.keep == [0, 1]
    # Shared labels only: the other set's "odd" recordings are left out.
    shared = joint_data(recipe_with(recipe, ["joint_labels=shared"]), str(primary),
                        ["fast", "slow"], hs.DEFAULT)
    assert shared.n_classes == 2 and sorted(shared.y) == [1, 1, 1] and shared.keep == [0, 1]
    with pytest.raises(ValueError, match="joint_labels"):
        run_cv(str(primary), "light", tmp_path / "bad", folds=2, quiet=True,
               recipe=recipe_with(recipe, ["joint_labels=both"]))


def test_improved_recipe_per_set(tmp_path, monkeypatch):
    from heartsound.config import front_end
    from heartsound.training.train import RECIPES, resolve_model, resolve_recipe

    assert resolve_recipe("improved", "pascal-a") == RECIPES["joint-augment-smooth-noise"]
    # Set B's choice trains on its recipe (white-noise copies at 10-30 dB SNR since
    # 2026-12-08) and reads 7-s windows every 3 s (Choice.window_hop_s)
    assert resolve_recipe("improved", "pascal-b") == dataclasses.replace(
        RECIPES["joint-augment-smooth-noise10"], eval_hop_s=3.0)
    assert RECIPES["joint-augment-smooth-noise"].eval_hop_s is None
    csv = tmp_path / "mine.csv"
    csv.write_text("path,label\n")
    assert resolve_recipe("improved", str(csv)) == RECIPES["augment"]
    # PhysioNet's reads its windows 17 frames (0.544 s) apart instead of the recipe's 2 s
    assert resolve_recipe("improved", "physionet2016") == dataclasses.replace(
        RECIPES["screening-joint"], eval_hop_s=0.544)
    assert RECIPES["screening-joint"].eval_hop_s == 2.0
    assert resolve_recipe("paper", "pascal-a") == RECIPES["paper"]
    with pytest.raises(ValueError, match="unknown recipe"):
        resolve_recipe("magic", "pascal-a")
    # The improved choice's network unless one is named; the paper's network for other
    # recipes (the choice is swapped here so that it differs from those defaults).
    from heartsound.training import train

    monkeypatch.setitem(train.IMPROVED, "a", train.Choice("light-context", "joint", 2, True))
    assert resolve_model(None, "improved", "pascal-a") == "light-context"
    assert resolve_recipe("improved", "pascal-a") == RECIPES["joint"]
    assert train.resolve_frontend(None, None, "improved", "pascal-a") == front_end(2, True)
    assert train.resolve_frontend(None, "mfcc", "improved", "pascal-a") == front_end(2)
    assert train.resolve_frontend(4, None, "improved", "pascal-a") == front_end(4, True)
    assert resolve_model(None, "paper", "pascal-a") == "light"
    assert resolve_model("base", "improved", "pascal-a") == "base"
    monkeypatch.undo()
    assert resolve_model(None, "improved", str(csv)) == "light"
    # The same for the front end; the studies that train the shipped models agree.
    from heartsound.research.study import STUDIES, Study
    from heartsound.training.train import IMPROVED, resolve_frontend

    for key in "ab":
        choice = IMPROVED[key]
        assert resolve_frontend(None, None, "improved", f"pascal-{key}") == front_end(
            choice.scale, choice.log_mel, top_db=choice.top_db)
        assert STUDIES[f"{key}-light-improved"]._replace(pretrain=None, top_db=80.0) == Study(
            f"pascal-{key}", choice.model, "grouped", choice.scale, "improved", choice.log_mel)
    # set A's shipped study: its choice on 40-dB maps (docs/batchnorm.md)
    assert STUDIES["b-light-improved"].config() == resolve_frontend(
        None, None, "improved", "pascal-b")
    assert STUDIES["a-light-improved"].config() == front_end(4, top_db=40.0)
    # set A's shipped study alone starts from a pre-training (docs/batchnorm.md)
    assert [n for n, s in STUDIES.items() if s.pretrain] == ["a-light-improved"]
    assert resolve_frontend(None, None, "paper", "pascal-a") == front_end()
    assert resolve_frontend(None, "log-mel", "paper", "pascal-a").shape == (872, 48)
    assert resolve_frontend(2, None, "improved", "pascal-a") == front_end(2)
    # a narrower dynamic range: the map's floor 40 dB under its peak, nothing else changed
    narrow = resolve_frontend(4, "mfcc", "screening", "physionet2016", 4000, 40.0)
    assert narrow.top_db == 40.0 and narrow.fingerprint() != front_end(4).fingerprint()
    assert dataclasses.replace(narrow, top_db=80.0) == front_end(4)
    from heartsound.research.physionet import ROWS

    args = ROWS["centred-bn-screening-joint-10ep-top40"].train_arguments()
    assert args[-2:] == ["--top-db", "40"] and "--top-db" not in ROWS[
        "centred-bn-screening-joint-10ep"].train_arguments()


def test_audio_noise_copies(make_wav, monkeypatch):
    """Noisy copies: one per draw, reproducible from the seed, further from the clean map
    the lower the SNR; shifts move the start by at most 0.5 s."""
    from heartsound.config import DEFAULT
    from heartsound.training import train

    wav = make_wav("beat.wav", heart_like(8.0, 4000), 4000)
    clean = hs.features(wav)
    copies = train.noisy_copies(wav, DEFAULT, 10.0, np.random.default_rng(0))
    assert copies.shape == (train.NOISE_COPIES, *clean.shape) and copies.dtype == np.float32
    np.testing.assert_array_equal(copies, train.noisy_copies(wav, DEFAULT, 10.0,
                                                             np.random.default_rng(0)))
    monkeypatch.setattr(train, "MAX_SHIFT_S", 0.0)  # noise alone

    def distance(snr):
        return np.abs(train.noisy_copies(wav, DEFAULT, snr, np.random.default_rng(1))
                      - clean).mean()

    assert distance(60.0) < 0.2 * distance(20.0) < 0.2 * distance(-20.0)
    pink = train.pink_noise(4096, np.random.default_rng(0))
    power = np.abs(np.fft.rfft(pink)) ** 2
    assert pink.std() == pytest.approx(1.0) and power[1:50].mean() > 10 * power[-500:].mean()


def test_whole_recording_noise_copies(make_wav):
    """Whole-recording copies: each as long as the clean whole map less its shift (≤ 0.5 s),
    reproducible; make_batch draws crops from any of them."""
    from heartsound.config import DEFAULT
    from heartsound.training import train

    wav = make_wav("long.wav", heart_like(12.0, 4000), 4000)
    clean = hs.features(wav, whole=True)
    copies = train.noisy_copies(wav, DEFAULT, 20.0, np.random.default_rng(0), whole=True)
    assert isinstance(copies, train.NoisyMaps) and len(copies) == train.NOISE_COPIES
    per_s = DEFAULT.sample_rate / DEFAULT.hop_length
    for c in copies:
        assert c.dtype == np.float32 and c.shape[1] == clean.shape[1]
        assert clean.shape[0] - 0.5 * per_s - 2 <= c.shape[0] <= clean.shape[0]
    again = train.noisy_copies(wav, DEFAULT, 20.0, np.random.default_rng(0), whole=True)
    assert all(np.array_equal(a, b) for a, b in zip(copies, again, strict=True))
    recording = hs.data.Recording(wav, "csv", "normal", "labelled", "long", 12.0, 4000)
    maps = train.with_noise([clean], [recording], DEFAULT,
                            train.Recipe(crop="random", noise_snr_db=20.0), 0)
    assert train.clean_map(maps[0]) is clean
    batch = train.make_batch(maps, np.zeros(8, dtype=int), DEFAULT.n_frames,
                             train.RECIPES["screening"], np.random.default_rng(0),
                             clean.mean(axis=0), DEFAULT)
    assert batch.shape == (8, DEFAULT.n_frames, clean.shape[1])


def two_class_csv(folder):
    """set.csv in ``folder``: 3 slow (50 bpm) and 3 fast (120 bpm) 5-s heart-like WAVs."""
    import soundfile as sf

    lines = ["path,label"]
    for label, bpm in (("slow", 50), ("fast", 120)):
        for i in range(3):
            sf.write(str(folder / f"{label}{i}.wav"), heart_like(5.0, 4000, bpm=bpm,
                                                                seed=bpm + i), 4000)
            lines.append(f"{label}{i}.wav,{label}")
    (folder / "set.csv").write_text("\n".join(lines) + "\n")


def test_noise_recipe_trains_on_fixed_and_whole_maps(tmp_path):
    from heartsound.training.train import RECIPES, recipe_with, run_cv

    two_class_csv(tmp_path)
    recipe = recipe_with(RECIPES["augment"], ["epochs=1", "noise_snr_db=10"])
    summary = run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "run", folds=2,
                     recipe=recipe, quiet=True, export=False)
    assert summary["config"]["recipe"]["noise_snr_db"] == 10.0
    assert summary["folds"][0]["n_train"] == 3  # copies are draws, not extra recordings
    whole = run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "whole", folds=2,
                   quiet=True, export=False,
                   recipe=recipe_with(recipe, ["crop=random", "eval_hop_s=2.0"]))
    assert whole["folds"][0]["n_train"] == 3
    with pytest.raises(ValueError, match="split 'patients'"):
        run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "split", folds=2, quiet=True,
               recipe=recipe, split="patients")
    assert not (tmp_path / "split").exists()


def test_distill_loss_is_a_tempered_kl():
    """Zero exactly when the student's softened probabilities are the target; T² scaling."""
    from heartsound.training.train import distill_loss

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    for t in (1.0, 2.0, 4.0):
        match = torch.softmax(logits / t, -1)
        assert float(distill_loss(logits, match, t)) == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((2, 3), 1 / 3)
    kl = (uniform * (uniform.log() - torch.log_softmax(logits / 2, -1))).sum(-1).mean()
    assert float(distill_loss(logits, uniform, 2.0)) == pytest.approx(4 * float(kl), rel=1e-5)


def test_teacher_targets_and_distilled_run(tmp_path):
    """Teachers' soft targets are distributions over the whole (joint) label set, sharpened
    less as T rises; a distilled CV run trains, records its recipe, refuses what it cannot."""
    from heartsound.config import DEFAULT
    from heartsound.training.train import (
        RECIPES,
        ResearchRecipe,
        recipe_with,
        run_cv,
        teacher_targets,
    )

    rng = np.random.default_rng(0)
    maps = [rng.normal(size=(872, 20)).astype(np.float32) for _ in range(6)]
    y = np.array([0, 1, 2] * 2)
    targets = {t: teacher_targets(maps, y, 4, ResearchRecipe(
        epochs=2, select="last", distill_from="light", distill_teachers=2,
        distill_temperature=t), 0, DEFAULT)
               for t in (1.0, 4.0)}
    for p in targets.values():
        assert p.shape == (6, 4) and np.allclose(p.sum(axis=1), 1.0)
    entropy = {t: -(p * np.log(p)).sum(axis=1).mean() for t, p in targets.items()}
    assert entropy[4.0] > entropy[1.0]

    two_class_csv(tmp_path)
    recipe = recipe_with(RECIPES["augment"], ["epochs=1", "distill_from=base"])
    summary = run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "run", folds=2,
                     recipe=recipe, quiet=True, final=False)
    assert summary["config"]["recipe"]["distill_from"] == "base"
    assert recipe_with(recipe, ["distill_from=none"]).distill_from is None
    for bad, match in ((["distill_from=resnet"], "expected one of"),
                       (["crop=random"], "fixed 7-s maps"),
                       (["distill_alpha=2"], "distill_alpha")):
        with pytest.raises(ValueError, match=match):
            run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "bad", folds=2, quiet=True,
                   recipe=recipe_with(recipe, bad))
        assert not (tmp_path / "bad").exists()


def test_own_repeat_draws_the_set_more_often(tmp_path, monkeypatch):
    """own_repeat=3: every own training recording three times per epoch (and in the final
    model), the recordings counted once; 0 is refused before anything is written."""
    from heartsound.training import train
    from heartsound.training.train import RECIPES, recipe_with, run_cv

    two_class_csv(tmp_path)
    seen = []
    real_fit = train.fit

    def spy(arch, maps, y, *args, **kwargs):
        seen.append(np.bincount(y).tolist())
        return real_fit(arch, maps, y, *args, **kwargs)

    monkeypatch.setattr(train, "fit", spy)
    recipe = recipe_with(RECIPES["augment"], ["epochs=1", "own_repeat=3"])
    summary = run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "run", folds=2,
                     recipe=recipe, quiet=True, export=False)
    assert summary["folds"][0]["n_train"] == 3
    assert [sum(c) for c in seen] == [9, 9, 18]  # two folds of 3 recordings, final of 6
    with pytest.raises(ValueError, match="own_repeat"):
        run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "bad", folds=2, quiet=True,
               recipe=recipe_with(recipe, ["own_repeat=0"]))
    assert not (tmp_path / "bad").exists()


def test_ablation_runs_are_a_rows_own_seeds(tmp_path):
    """A row's seed runs are "<row>-s<seed>" exactly: a longer row whose name continues with
    "s…" ("…-maps-stem-keeps-every-frame-s0") is not one of its seeds; seeds sort by number."""
    from heartsound.research.ablation import ablation_runs, slug

    name = "augmentation + centred log-mel maps"
    for folder in ("s0", "s2", "s10", "stem-keeps-every-frame-s0", "s1x"):
        run = tmp_path / "ablation" / f"b-{slug(name)}-{folder}"
        run.mkdir(parents=True)
        (run / "summary.json").write_text("{}")
    found = [p.parent.name.rsplit("-", 1)[1] for p in ablation_runs(tmp_path, "b", name)]
    assert found == ["s0", "s2", "s10"]


def test_time_stretch_reads_the_map_faster_or_slower():
    """stretch_map at rate 1 is the map itself; at rate 2 every other frame; past the end it
    wraps round (the repeat rule); a stretch recipe keeps the batch shape and changes it."""
    from heartsound.training.train import ResearchRecipe, make_batch, stretch_map

    m = np.arange(100 * 3, dtype=np.float32).reshape(100, 3)
    np.testing.assert_array_equal(stretch_map(m, 0, 100, 0.0), m)
    np.testing.assert_allclose(stretch_map(m, 0, 50, np.log(2.0)), m[::2])
    slow = stretch_map(m, 0, 100, -np.log(2.0))  # half speed: midpoints between frames
    np.testing.assert_allclose(slow[1], (m[0] + m[1]) / 2)
    np.testing.assert_allclose(stretch_map(m, 0, 60, np.log(2.0))[50], m[0])  # wrapped
    fill = np.zeros(3, dtype=np.float32)
    batch = make_batch([m], np.array([0, 0]), 100, ResearchRecipe(stretch=0.2),
                       np.random.default_rng(1), fill)
    assert batch.shape == (2, 100, 3) and not np.array_equal(batch[0], m)


def test_joint_align_moves_the_other_set_to_this_sets_statistics():
    from heartsound.training.train import JointData, Recipe, ResearchRecipe, align_maps

    rng = np.random.default_rng(0)
    own = [rng.normal(5.0, 2.0, (50, 4)).astype(np.float32) for _ in range(6)]
    other = [rng.normal(-3.0, 0.5, (40, 4)).astype(np.float32) for _ in range(5)]
    moved = np.concatenate(align_maps(other, own))
    target = np.concatenate(own)
    np.testing.assert_allclose(moved.mean(axis=0), target.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(moved.std(axis=0), target.std(axis=0), rtol=1e-3)
    # A training set is the own maps, then the other set's: moved only with joint_align.
    joint = JointData(other, np.zeros(len(other), dtype=np.int64), 2, [0, 1])
    plain = joint.added_to(own, Recipe())
    assert len(plain) == 11 and plain[:6] == own and plain[6] is other[0]
    aligned = joint.added_to(own, ResearchRecipe(joint_align=True))
    np.testing.assert_allclose(np.concatenate(aligned[6:]), moved, atol=1e-6)


def test_device_option_refuses_an_unusable_device(tmp_path):
    """--device names where to train; one torch cannot use is one clear error before anything
    is written, and the CPU default writes no device into the run's config."""
    from heartsound.provenance import cpu_name
    from heartsound.training.train import RECIPES, recipe_with, run_cv, set_device

    two_class_csv(tmp_path)
    assert set_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="not usable"):
        set_device("nosuchdevice")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' is not usable"):
            run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "gpu", folds=2, quiet=True,
                   recipe=recipe_with(RECIPES["augment"], ["epochs=1"]), device="cuda")
        assert not (tmp_path / "gpu").exists()
    set_device("cpu")
    recipe = recipe_with(RECIPES["augment"], ["epochs=1", "stretch=0.1"])
    run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "run", folds=2, quiet=True,
           recipe=recipe, final=False)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "device" not in config and config["machine"] == cpu_name()
    assert config["recipe"]["stretch"] == 0.1


def test_ablation_table_marks_runs_trained_elsewhere():
    """A run trained on a GPU, or on another processor or torch build, is named; one from
    this machine's CPU is not."""
    from heartsound.research.ablation import trained_where

    here, torch_here = "Xeon", "2.13.0+cpu"
    local = {"config": {"versions": {"torch": torch_here}, "machine": here}}
    old_local = {"config": {"versions": {"torch": torch_here}}}
    gpu = {"config": {"versions": {"torch": "2.11.0+cu130"}, "device": "cuda (H100)"}}
    other = {"config": {"versions": {"torch": "2.11.0+cu130"}}}
    assert trained_where(local, here, torch_here) is None
    assert trained_where(old_local, here, torch_here) is None
    assert trained_where(gpu, here, torch_here) == "cuda (H100), torch 2.11.0+cu130"
    assert "another machine" in trained_where(other, here, torch_here)
    same_name = {"config": {"versions": {"torch": "2.11.0+cu130"}, "machine": here}}
    assert trained_where(same_name, here, torch_here) == trained_where(other, here, torch_here)
    elsewhere = {"config": {"versions": {"torch": torch_here}, "machine": "Arm Cortex-A76"}}
    assert trained_where(elsewhere, here, torch_here) == "Arm Cortex-A76, torch 2.13.0+cpu"


def test_seed_ensemble_averages_each_recordings_probabilities():
    """Two runs that each get one of two recordings wrong, but less confidently than they get
    the other right: their average gets both right; the single runs score 0.5 each."""
    from heartsound.research.ablation import default_row, seed_ensemble

    def run(p_first, p_second):
        def row(path, label, p_normal):
            probs = [p_normal, 1 - p_normal, 0.0, 0.0]
            pred = "normal" if p_normal > 0.5 else "murmur"
            return {"path": path, "label": label, "pred": pred, "probs": probs}
        return {"config": {"classes": ["normal", "murmur", "extrahls", "artifact"]},
                "folds": [{"validation": [row("x.wav", "normal", p_first),
                                          row("y.wav", "murmur", p_second)]}]}

    together, single = seed_ensemble([run(0.9, 0.6), run(0.4, 0.1)], "a")
    assert together["accuracy"] == 1.0
    assert single["accuracy"] == 0.5
    assert default_row("a") and default_row("b")  # each set's default is a row of the table


def test_test_time_views_of_a_finished_run(tmp_path):
    """The one-view score of a run's fold checkpoints is the score its CV stored; every view
    is scored; each view function shows the map the way its name says."""
    import dataclasses

    import soundfile as sf

    from heartsound.config import front_end
    from heartsound.research.ablation import (
        TEST_TIME_VIEWS,
        WINDOW_VIEWS,
        view_scores,
        views_markdown,
    )
    from heartsound.training.train import RECIPES, run_cv

    lines = ["path,label"]
    for c, bpm in enumerate((50, 120)):
        for i in range(4):
            sf.write(str(tmp_path / f"c{c}_{i}.wav"), heart_like(3.0 + i, 4000, bpm=bpm,
                                                                 seed=10 * c + i), 4000)
            lines.append(f"c{c}_{i}.wav,k{c}")
    (tmp_path / "set.csv").write_text("\n".join(lines) + "\n")
    recipe = dataclasses.replace(RECIPES["paper"], epochs=1, select="last")
    summary = run_cv(str(tmp_path / "set.csv"), "light", tmp_path / "run", folds=2,
                     recipe=recipe, config=front_end(4), quiet=True, final=False)
    scored = view_scores(tmp_path / "run")
    assert set(scored) == set(TEST_TIME_VIEWS) | set(WINDOW_VIEWS)
    stored = [f["scores"]["accuracy"] for f in summary["folds"]]
    one = scored["one view (as trained)"]
    assert one["accuracy"] == pytest.approx(np.mean(stored))
    # Every recording here is under 7 s: its whole-recording map is the tiled 7-s map, one
    # window, so the window views are the one view.
    for name in WINDOW_VIEWS:
        assert scored[name]["views_per_recording"] == 1.0
        assert scored[name]["accuracy"] == one["accuracy"]
    text = views_markdown({"Set X": [scored, scored]})
    assert text.count("\n| ") == 1 + len(TEST_TIME_VIEWS) + len(WINDOW_VIEWS)
    assert "| 7-s windows every 1 s (whole recording) | 1 | 2 |" in text
    assert "| 4 circular shifts | 4 | 2 |" in text
    (tmp_path / "run" / "fold2" / "checkpoint.pt").unlink()
    with pytest.raises(ValueError, match="no checkpoint.pt in fold2"):
        view_scores(tmp_path / "run")

    m = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)
    np.testing.assert_array_equal(TEST_TIME_VIEWS["4 circular shifts"](m)[1][0], m[2])
    np.testing.assert_array_equal(TEST_TIME_VIEWS["forward and time-reversed"](m)[1][0], m[-1])
    slow, same, fast = TEST_TIME_VIEWS["3 heart rates (0.9×, 1×, 1.1×)"](m)
    np.testing.assert_allclose(same, m)
    assert slow[1, 0] == pytest.approx(0.9 * 2) and fast[1, 0] == pytest.approx(1.1 * 2)


def test_ablation_markdown_describes_every_row_kind(tmp_path):
    """With no finished runs the table is empty but its preamble is whole: the cost of each
    architecture variant is counted from the networks themselves."""
    from heartsound.research.ablation import ablation_markdown, width_summary
    from heartsound.training.networks import build, count_parameters

    text = ablation_markdown(tmp_path)
    assert text.startswith("# Ablation") and "## Set A" in text and "## Set B" in text
    assert width_summary() in text
    for name in ("wide", "expand6", "deeper"):
        assert f"{count_parameters(build(f'light-{name}', 4, 20)):,}" in width_summary()


def test_session_rows_are_set_beside_the_default_by_session(tmp_path):
    """In the table, a row with folds by recording session is compared with the default's
    session row, not with the default by file; the paragraph under set A's table reads both."""
    from heartsound.research.ablation import ablation_folder, ablation_markdown, default_row
    from heartsound.training.train import versions

    classes = ["normal", "murmur", "extrahls", "artifact"]
    names = ["murmur__201108222221.wav", "murmur__201108222222.wav", "normal__201101010000.wav",
             "extrahls__201102020000.wav", "artifact__201103030000.wav"]

    def write(row: str, seed: int, accuracy: float) -> None:
        out = ablation_folder(tmp_path, "a", row, seed)
        out.mkdir(parents=True)
        val = [{"path": n, "label": n.split("__")[0], "pred": n.split("__")[0],
                "probs": [0.25] * 4} for n in names]
        scores = {f"precision_{c}": 1.0 for c in classes}
        scores["confusion_matrix"] = np.eye(4, dtype=int).tolist()
        mean = {k: {"mean": accuracy, "std": 0.0}
                for k in ("accuracy", "total_precision", "youden")}
        (out / "summary.json").write_text(json.dumps({
            "config": {"classes": classes, "dataset": "pascal-a", "versions": versions(),
                       "seed": seed},
            "folds": [{"scores": scores, "validation": val}], "mean": mean}))

    default = default_row("a")
    by_session = f"{default}, folds by recording session"
    weighted = ("augmentation + joint + 4× frame length + label smoothing + class weights, "
                "folds by recording session")
    for seed in (0, 1):
        write(default, seed, 0.75)
        write(by_session, seed, 0.55)
        write(weighted, seed, 0.55 + 0.01 * seed)
    table = {line.split(" | ")[0].lstrip("| "): line for line in
             ablation_markdown(tmp_path).splitlines() if line.startswith("| ")}
    assert "| the default |" in table[default]
    assert "| the default, by session |" in table[by_session]
    assert "+0.005 (1/1/0) against the default by session" in table[weighted]
    text = ablation_markdown(tmp_path)
    assert "reads 0.550 ± 0.000 over 2 seeds" in text


def test_errors_text_pools_the_confusion_over_runs():
    from heartsound.research.ablation import errors_text, pooled_confusion

    def run(cm):
        return {"config": {"classes": ["normal", "murmur", "extrastole"]},
                "folds": [{"scores": {"confusion_matrix": cm}}]}

    runs = [run([[3, 1, 0], [0, 2, 0], [1, 0, 0]]), run([[4, 0, 0], [2, 2, 0], [2, 0, 0]])]
    classes, cm = pooled_confusion(runs)
    assert cm.tolist() == [[7, 1, 0], [2, 4, 0], [3, 0, 0]]
    assert errors_text(runs) == ("normal 0.88 (else mostly murmur, 0.12), murmur 0.67 (else "
                                 "mostly normal, 0.33), extrastole 0.00 (else mostly normal, "
                                 "1.00)")


def test_largest_session_found_inside_and_outside():
    """Three murmurs made minutes apart form the largest session; the text says how many of
    them and of the other murmur are found, with folds by file and by session."""
    from heartsound.research.ablation import largest_session, session_text

    def run(found: dict[str, bool], accuracy: float) -> dict:
        rows = [{"path": p, "label": p.split("__")[0],
                 "pred": p.split("__")[0] if hit else "normal"} for p, hit in found.items()]
        labels = ["normal", "murmur"]
        cm = [[sum(r["label"] == t and r["pred"] == p for r in rows) for p in labels]
              for t in labels]
        return {"config": {"classes": labels}, "mean": {"accuracy": {"mean": accuracy}},
                "folds": [{"validation": rows, "scores": {"confusion_matrix": cm}}]}

    names = ["murmur__201108222221.wav", "murmur__201108222222.wav", "murmur__201108222230.wav",
             "murmur__201101010000.wav", "normal__201103030303.wav"]
    by_file = [run(dict(zip(names, (True, True, True, False, True), strict=True)), 0.8),
               run(dict(zip(names, (True, True, False, True, True), strict=True)), 0.8)]
    assert largest_session(by_file) == ("201108222221", "murmur", 3, 4, 5 / 6, 0.5)
    by_session = [run(dict(zip(names, (False, False, False, False, True), strict=True)), 0.2)]
    text = session_text(by_file, by_session)
    assert "3 of its 4 murmur recordings were made in one session from 2011-08-22 22:21" in text
    assert "finds 0.83 of them and 0.50 of the other 1 murmur" in text
    assert "reads 0.200 ± 0.000 over 1 seeds and finds 0.00 and 0.00" in text
    assert text.endswith("every class by session — normal 1.00, murmur 0.00 (else mostly "
                         "normal, 1.00).")
    assert session_text(by_file, []).endswith("(2 seeds' folds pooled).")
    set_b = [run({"normal__101_1305030823364_A.wav": True}, 1.0)]
    assert largest_session(set_b) is None and session_text(set_b, []) is None


def test_against_default_pairs_runs_by_seed():
    from heartsound.research.ablation import against_default

    def run(seed, acc):
        return {"config": {"seed": seed}, "mean": {"accuracy": {"mean": acc}}}

    default = [run(0, 0.80), run(1, 0.76), run(2, 0.74)]
    assert against_default([run(0, 0.78), run(1, 0.76), run(2, 0.78), run(9, 0.99)],
                           default) == "+0.007 (1/1/1)"  # seed 9: no pair, left out
    assert against_default([run(0, 0.80)], default) == "+0.000 (0/1/0)"
    assert against_default([run(5, 0.80)], default) == "–"


def test_a_model_on_the_2khz_front_end_trains_and_predicts(tmp_path):
    """train --rate 2000: the model stores its 2-kHz front end, and predict resamples a
    4-kHz file to it."""
    from heartsound.cli import main
    from heartsound.infer import Classifier

    two_class_csv(tmp_path)
    assert main(["train", "--dataset", str(tmp_path / "set.csv"), "--model", "light-centred-bn",
                 "--recipe", "augment", "--scale", "4", "--rate", "2000", "--folds", "2",
                 "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]) == 0
    clf = Classifier.load(str(tmp_path / "run" / "final"))
    assert clf.config.sample_rate == 2000 and clf.config.shape == (215, 20)
    rows = list(clf.predict_files([tmp_path / "slow0.wav"], batch=1))
    assert rows[0][1] is not None and abs(float(rows[0][1].sum()) - 1.0) < 1e-5
