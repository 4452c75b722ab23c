"""heartsound-lab invariance: answers as predict gives them, agreement and probability
changes per perturbation, and the page that reports them."""

import numpy as np
from conftest import heart_like

from heartsound.infer import Classifier
from heartsound.research import invariance


def signals():
    return [(heart_like(9.0, 4000, bpm=bpm, seed=s), 4000) for bpm, s in ((60, 1), (90, 2))] + [
        (heart_like(20.0, 4000, seed=3), 4000)]


def test_answers_match_predict_on_files(tmp_path):
    """For a whole-recording model too: the same probabilities as predict_files on a file
    holding the signal; a refused signal is -1 / NaN."""
    import soundfile as sf

    clf = Classifier.load("physionet-light")
    assert clf.hop_frames is not None
    sigs = signals()
    paths = []
    for i, (x, rate) in enumerate(sigs):
        paths.append(tmp_path / f"s{i}.wav")
        sf.write(str(paths[-1]), x, rate, subtype="FLOAT")
    labels, probs = invariance.answers(clf, [*sigs, (np.zeros(40000), 4000)])
    by_file = [p for _, p, _ in clf.predict_files(paths, batch=1)]
    np.testing.assert_allclose(probs[:3], np.stack(by_file), atol=1e-5)
    assert list(labels[:3]) == [int(p.argmax()) for p in by_file]
    assert labels[3] == -1 and np.isnan(probs[3]).all()


def test_agreement_and_page(monkeypatch):
    """The identity keeps every label with no probability change; a perturbation that makes
    the front end refuse every recording keeps none and counts a change of 1."""
    monkeypatch.setattr(invariance, "PERTURBATIONS", {
        "same": lambda x, r: (x, r), "silenced": lambda x, r: (0 * x, r)})
    monkeypatch.setattr(invariance, "PROBES", {})
    r = invariance.agreement("pascal-a-light", signals())
    assert r["same"] == {"labels": 1.0, "dp": 0.0}
    assert r["silenced"] == {"labels": 0.0, "dp": 1.0}
    assert 0.0 <= r["near"] <= 1.0
    page = invariance.markdown({"synthetic": {"pascal-a-light": r}}, {"synthetic": 3}, 1.0)
    assert "## synthetic (3 recordings)" in page
    assert "| pascal-a-light | 100.0% | **0.0%** |" in page
    assert "| pascal-a-light | 0.000 | 1.000 |" in page


def test_a_window_hop_scores_the_whole_recording(monkeypatch):
    """--hop: a model shipped for one 7-s window reads 7-s windows over the whole
    recording, averaged (its answer on a 20-s signal changes; on the page, said so)."""
    monkeypatch.setattr(invariance, "PERTURBATIONS", {"same": lambda x, r: (x, r)})
    monkeypatch.setattr(invariance, "PROBES", {})
    clf = Classifier.load("pascal-a-light")
    assert clf.hop_frames is None
    r = invariance.agreement("pascal-a-light", signals(), hop_s=3.0)
    assert r["same"] == {"labels": 1.0, "dp": 0.0}
    one = clf.predict_signal(*signals()[2])
    clf.hop_frames = invariance.hop_frames(3.0, clf.config)
    assert not np.allclose(clf.predict_signal(*signals()[2]), one)
    page = invariance.markdown({"synthetic": {"pascal-a-light": r}}, {"synthetic": 3}, 1.0,
                               hop_s=3.0)
    assert "**Not as shipped** (`--hop 3`)" in page and "7-s windows 3 s apart" in page


def test_physionet_records_first_of_each_database(tmp_path):
    """The first records of each database by name, as long as predict reads them."""
    import soundfile as sf

    for db, names in (("a", ["a0002", "a0001", "a0003"]), ("b", ["b0001"])):
        folder = tmp_path / f"training-{db}"
        folder.mkdir()
        for n in names:
            seconds = 2.0 + int(n[1:])  # a0001: 3 s, a0002: 4 s ...
            sf.write(str(folder / f"{n}.wav"), heart_like(seconds, 2000, seed=1), 2000)
        (folder / "REFERENCE.csv").write_text("".join(f"{n},-1\n" for n in names))
    recs = invariance.physionet_recordings(str(tmp_path), per_database=2)
    assert [(x.size, rate) for x, rate in recs] == [(6000, 2000), (8000, 2000), (6000, 2000)]


def test_hop_must_be_positive_seconds(capsys):
    """--hop 0 (a window every frame), a negative or a non-number: refused, exit 2."""
    import pytest

    from heartsound.research.cli import build_parser

    assert build_parser().parse_args(["invariance", "--hop", "3"]).hop == 3.0
    for bad in ("0", "-1", "inf", "x"):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["invariance", "--hop", bad])
        assert exc.value.code == 2
        assert "a positive number of seconds" in capsys.readouterr().err


def test_a_probe_is_reported_but_not_held_to_the_bar(monkeypatch):
    """A probe's column follows the bar's, never bold, and leaves the exit status alone."""
    monkeypatch.setattr(invariance, "PERTURBATIONS", {"same": lambda x, r: (x, r)})
    monkeypatch.setattr(invariance, "PROBES", {"silenced": lambda x, r: (0 * x, r)})
    r = invariance.agreement("pascal-a-light", signals())
    assert r["silenced"] == {"labels": 0.0, "dp": 1.0}
    page = invariance.markdown({"synthetic": {"pascal-a-light": r}}, {"synthetic": 3}, 1.0)
    assert "| model | same | silenced | near |" in page
    assert "| pascal-a-light | 100.0% | 0.0% |" in page and "*silenced*: not held" in page


def test_fold_shift_agreement_reads_fold_models_and_rescored_runs(tmp_path, make_wav,
                                                                   monkeypatch):
    """Shifted by 0 frames every label is kept; only recordings longer than a window plus
    the shift count; a re-scored run reads its source's checkpoints at its own hop."""
    import pytest

    pytest.importorskip("torch")
    from heartsound.cli import main
    from heartsound.training.train import rescore_run

    lines = ["path,label"]
    for label, bpm in (("fast", 110), ("slow", 55)):
        for i in range(3):
            make_wav(f"{label}/{i}.wav", heart_like(5.0 + 2 * i, 4000, bpm=bpm, seed=i))
            lines.append(f"{label}/{i}.wav,{label}")
    (tmp_path / "set.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "set.csv", "--folds", "2", "--epochs", "1",
                 "--threads", "1", "--quiet", "--set", "eval_hop_s=2", "--no-final",
                 "--out", "run"]) == 0
    r = invariance.fold_shift_agreement(tmp_path / "run", shifts=(0, 1))
    assert r["recordings"] == 2  # the 9-s ones; 5 and 7 s are one window or less
    assert r["0 frames later"] == 1.0 and 0.0 <= r["1 frames later"] <= 1.0
    rescore_run(tmp_path / "run", tmp_path / "hop1", 1.0)
    again = invariance.fold_shift_agreement(tmp_path / "hop1", shifts=(0, 1))
    assert again["recordings"] == 2 and again["0 frames later"] == 1.0
    table = invariance.fold_shift_table([r])
    assert "| held-out recordings | 0 frames later | 1 frames later |" in table
    assert f"| {tmp_path / 'run'} | 2 | 100.0% |" in table


def test_phase_windows_read_the_first_seconds_at_every_phase(monkeypatch):
    """--phases N: N 7-s windows one frame apart from the start, averaged — the mean of the
    model's answers on the map cut at each of those frames, nothing read beyond them."""
    monkeypatch.setattr(invariance, "PERTURBATIONS", {"same": lambda x, r: (x, r)})
    monkeypatch.setattr(invariance, "PROBES", {})
    r = invariance.agreement("pascal-a-light", signals(), phases=4)
    assert r["same"] == {"labels": 1.0, "dp": 0.0}
    clf = Classifier.load("pascal-a-light")
    clf.hop_frames, clf.span_frames = 1, clf.config.n_frames + 3
    x, rate = signals()[2]  # 20 s: a whole-recording reader would see far more
    maps = clf.signal_windows(x, rate)
    assert maps.shape[0] == 4
    # the map of the span's sound alone: the same as the signal cut there, read whole
    from heartsound.audio import band_limited, fit_length
    from heartsound.features import feature_map, windows

    cfg = clf.config
    y = band_limited(x, rate, cfg, whole=True)[:cfg.n_samples + 3 * cfg.hop_length]
    np.testing.assert_array_equal(
        windows(feature_map(fit_length(y, y.size), cfg), cfg.n_frames, 1), maps)
    full = Classifier.load("pascal-a-light")
    full.hop_frames = 1  # the whole 20 s read: its maps are normalised over all of it
    assert not np.array_equal(full.signal_windows(x, rate)[:4], maps)
    page = invariance.markdown({"synthetic": {"pascal-a-light": r}}, {"synthetic": 3}, 1.0,
                               phases=4)
    assert "**Not as shipped** (`--phases 4`)" in page


def test_phases_is_a_count_and_not_beside_hop(capsys):
    import pytest

    from heartsound.research.cli import build_parser

    assert build_parser().parse_args(["invariance", "--phases", "8"]).phases == 8
    for bad in (["--phases", "1"], ["--phases", "x"], ["--phases", "8", "--hop", "3"]):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["invariance", *bad])
        assert exc.value.code == 2
