"""``heartsound report``: one self-contained page from hand-made run folders and bench JSON.

No model is trained here: the run folders are written by hand in the layout ``heartsound
train`` writes (summary.json, fold<k>/curve.csv, fold<k>/metrics.json), so the tests take
seconds. One test opens the page in headless Chromium (``make test`` installs Debian's
chromium when missing and running as root; skipped with the reason when it is absent).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from heartsound.atomic import OutputError
from heartsound.config import DEFAULT
from heartsound.data import CLASSES
from heartsound.metrics import scalar_keys, scores_from_confusion
from heartsound.research import cli
from heartsound.research.report import PAPER_PUBLISHED, build_report
from heartsound.training.train import summarise

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
HEADINGS = ("1. Data", "2. Front end", "3. Cross-validation",
            "4. Comparison with published results", "5. Lightness", "6. Reproduce")
# A mean written into summary.json that no fold reproduces: the report must show what the
# run folder says, not recompute or invent it.
MARKER_MEAN = {"mean": 0.4321, "std": 0.0123}


def write_run(root: Path, name: str, dataset: str = "pascal-a", model: str = "light",
              split: str = "grouped", folds: int = 2, seed: int = 0,
              finished: bool = True, total_folds: int | None = None) -> Path:
    """A run folder as ``heartsound train`` leaves it (``finished=False``: still training,
    only config.json and the finished folds)."""
    run = root / name
    key = dataset.removeprefix("pascal-")
    n = len(CLASSES[key])
    rng = np.random.default_rng(seed)
    config = {"dataset": dataset, "model": model, "folds": total_folds or folds, "seed": seed,
              "split": split, "frontend": DEFAULT.to_dict(),
              "recipe": {"epochs": 4, "batch_size": 8, "lr": 0.001, "restart_epochs": 10,
                         "min_lr": 1e-5, "weight_decay": 0.0},
              "classes": list(CLASSES[key]), "threads": 2, "limit": None,
              "versions": {"heartsound": "0.1.0", "python": "3.11.7", "numpy": "9.9.9",
                           "scipy": "1.17.1", "torch": "2.13.0+cpu"}}
    results = []
    for f in range(1, folds + 1):
        cm = rng.integers(0, 4, size=(n, n)) + 6 * np.eye(n, dtype=np.int64)
        results.append({"fold": f, "n_train": 40, "n_val": int(cm.sum()), "best_epoch": 3,
                        "seconds": 1.5, "scores": scores_from_confusion(cm, key),
                        "validation": []})
        fold_dir = run / f"fold{f}"
        fold_dir.mkdir(parents=True)
        lines = ["epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,best"]
        for e in range(1, 5):
            lines.append(f"{e},{1.2 / e:.4g},{0.4 + 0.1 * e:.4g},{1.3 / e + 0.1 * f:.4g},"
                         f"{0.35 + 0.08 * e:.4g},0.001,0.5,{1 if e == 3 else ''}")
        (fold_dir / "curve.csv").write_text("\n".join(lines) + "\n")
        (fold_dir / "metrics.json").write_text(json.dumps(results[-1]))
    (run / "config.json").write_text(json.dumps(config))
    if finished:
        mean = summarise(results)
        mean["accuracy"] = dict(MARKER_MEAN)
        (run / "summary.json").write_text(json.dumps(
            {"config": config, "folds": results, "mean": mean,
             "final": {"epochs": 3, "n_train": 50, "seconds": 2.0}, "wall_seconds": 12.0}))
    return run


BENCH = {
    "machine": {"cpu": "Test CPU 9000", "cores": 2, "python": "3.11.7", "platform": "Linux",
                "date": "2026-01-01"},
    "threads": 1,
    "rows": [
        {"name": "light-872", "model": "light", "frames": 872, "params": 28164,
         "madds": 326_000_000, "activation_kb": 120.5, "onnx_kb": 140.2, "onnx_int8_kb": 60.1,
         "cv_accuracy": {"a": 0.71, "b": 0.8}, "cv_total_precision": {"a": 2.7, "b": 2.0},
         "latency_ms": {"frontend": 3.2, "model_fp32": 4.5, "model_int8": 2.1,
                        "end_to_end": 8.75},
         "paper_protocol_ms": 41.25, "source": "models/pascal-b-light.onnx"},
        # Keys missing or null, as an older or newer bench may write: shown as "–".
        {"name": "light-215", "model": "light", "frames": 215, "params": 28164,
         "onnx_int8_kb": None, "cv_accuracy": {"a": None},
         "latency_ms": {"frontend": 3.0, "end_to_end": 5.5}},
        {"name": "base-872", "model": "base", "frames": 872, "params": 158000,
         "madds": 1_090_000_000, "onnx_kb": 640.0,
         "cv_accuracy": {"a": 0.72, "b": 0.82}, "cv_total_precision": {"a": 2.8, "b": 2.1},
         "latency_ms": {"frontend": 3.2, "model_fp32": 12.0, "end_to_end": 15.1}},
    ],
    "reference": {"end_to_end_ms": 57.0, "ratio": 6.5},
    "throughput": {"recordings_per_s": 123.4},
}


def images_of(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in DATA_URI.findall(page)]


def temp_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, object]:
    """Built once through the CLI: two set-A runs (grouped and random, side by side), one
    set-B run still training, a bench JSON, and no PASCAL folder."""
    root = tmp_path_factory.mktemp("report")
    runs = [write_run(root / "runs", "a-grouped", seed=1),
            write_run(root / "runs", "a-random", split="random", seed=2),
            write_run(root / "runs", "b-partial", dataset="pascal-b", model="base", folds=1,
                      finished=False, total_folds=5, seed=3)]
    bench = root / "bench.json"
    bench.write_text(json.dumps(BENCH))
    out = root / "out"
    code = cli.main(["report", *map(str, runs), "--bench", str(bench),
                     "--data", str(root / "no-such-folder"), "--out", str(out)])
    assert code == 0
    return {"out": out, "runs": runs, "html": (out / "index.html").read_text(),
            "md": (out / "report.md").read_text()}


def test_every_section_and_image(report):
    html, md, out = report["html"], report["md"], report["out"]
    for title in HEADINGS:
        assert f"## {title}" in md
        assert re.search(rf"<h2 id=\"\w+\">{re.escape(title)}</h2>", html)
    # Band-pass; 2 confusion + 3 curve figures; 2 paper bar charts; the lightness figure.
    images = images_of(html)
    assert len(images) == html.count("<img") == 9
    assert all(img.startswith(PNG_MAGIC) for img in images)
    files = sorted((out / "img").glob("*.png"))
    assert len(files) == 9
    for f in files:
        assert f"](img/{f.name})" in md
        assert f.read_bytes()[:8] == PNG_MAGIC
    # Self-contained and phone-ready: nothing fetched, viewport set, scrolling tables.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert '<meta name="viewport" content="width=device-width' in html
    assert "max-width:100%" in html
    assert html.count('<div class="scroll"><table>') == html.count("<table>") > 5
    assert temp_leftovers(out) == []


def test_missing_data_is_reported_not_fatal(report):
    assert "could not be read from" in report["md"]
    assert "no-such-folder" in report["html"]


def test_cv_tables_show_the_run_folders_numbers(report):
    md, html = report["md"], report["html"]
    summary = json.loads((report["runs"][0] / "summary.json").read_text())
    folds = summary["folds"]
    acc = [f"{f['scores']['accuracy']:.3f}" for f in folds]
    assert "| metric | fold 1 | fold 2 | mean ± std |" in md
    assert f"| accuracy | {acc[0]} | {acc[1]} | 0.432 ± 0.012 |" in md
    assert "0.432 ± 0.012" in html
    for key in scalar_keys(folds[0]["scores"]):
        assert f"{folds[1]['scores'][key]:.3f}" in md
    # Grouped and random runs of one dataset+model share one header row.
    heads = re.findall(r"<thead><tr>(.*?)</tr></thead>", html)
    assert any("a-grouped (grouped)" in h and "a-random (random)" in h for h in heads)
    # The run still training is read from its finished fold.
    assert "**In progress:** 1 of 5 folds finished" in md


def test_paper_tables_and_caveat(report):
    md = report["md"]
    assert "best* of five fold models scored on the challenge's test files" in md
    for table in ("table3", "table4"):
        for row_name, values in PAPER_PUBLISHED[table].values():
            assert f"| {row_name} | " + " | ".join(f"{v:.2f}" for v in values) in md
    # Ours beside them: the set-A runs in Table 3's layout, the set-B run in Table 4's.
    assert "ours: a-grouped (grouped, CV) | ours: a-random (random, CV) |" in md
    assert "ours: b-partial (grouped, CV) |" in md
    assert "| a-grouped | A | light | grouped | 872×20 | 0.432 ± 0.012 | 0.706 |" in md


def test_lightness_from_bench_and_table6(report):
    md = report["md"]
    assert "Test CPU 9000 (2 cores), 1 thread(s)" in md
    row = next(line for line in md.splitlines() if line.startswith("| light-215 |"))
    assert row.count("–") >= 8  # the keys that row lacks
    assert "| light-872 | light | 872 | 28,164 | 326.0 |" in md
    assert "| 8.75 | 41.2 | models/pascal-b-light.onnx |" in md
    assert "| throughput · recordings_per_s | 123.40 |" in md
    assert "| Light 219×20 | – | – | 81.6 | 51 | 2.71 | 0.69 | 52 | 2.00 | 0.79 |" in md


def test_reproduce_commands(report):
    md = report["md"]
    run = report["runs"][1]
    assert (f"heartsound train --dataset pascal-a --model light --folds 2 --seed 2 "
            f"--split random --epochs 4 --recipe paper --out {run}") in md
    assert "heartsound-lab bench --save-json docs/lightness.json" in md
    assert f"heartsound-lab report {report['runs'][0]}" in md
    assert "| a-grouped | 1 | 0.1.0 | 3.11.7 | 9.9.9 |" in md


def test_without_bench_says_how_to_make_one(tmp_path):
    run = write_run(tmp_path, "b-only", dataset="pascal-b")
    build_report([run], tmp_path / "out", data=str(tmp_path / "none"))
    md = (tmp_path / "out" / "report.md").read_text()
    assert "`heartsound-lab bench --save-json docs/lightness.json`" in md
    assert "Light 872×20" in md  # the paper's Table 6 is still there


def test_writes_are_atomic(report, tmp_path, monkeypatch):
    """A failure while writing the page leaves the previous page whole and no temp files;
    a later report replaces it and drops the old report's figures."""
    out = tmp_path / "out"
    shutil.copytree(report["out"], out)
    before = (out / "index.html").read_bytes()
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst).name == "index.html":
            raise OSError("disk full (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    run = report["runs"][0]
    with pytest.raises(OutputError, match="simulated"):  # one line: file and problem
        build_report([run], out, data=str(tmp_path / "none"))
    assert (out / "index.html").read_bytes() == before
    assert temp_leftovers(out) == []
    monkeypatch.setattr(os, "replace", real_replace)
    build_report([run], out, data=str(tmp_path / "none"))
    page = (out / "index.html").read_text()
    assert len(images_of(page)) == len(list((out / "img").glob("*.png"))) == 5
    assert temp_leftovers(out) == []
    assert oct((out / "index.html").stat().st_mode & 0o777) == "0o644"


def test_not_a_run_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert not (tmp_path / "o" / "index.html").exists()


def test_run_without_a_finished_fold_is_left_out(tmp_path, capsys):
    """While ``make reproduce`` runs, a run folder may hold only config.json: the report
    leaves it out (and says so) unless no run has a finished fold at all."""
    waiting = tmp_path / "b-waiting"
    waiting.mkdir()
    (waiting / "config.json").write_text(json.dumps({"dataset": "pascal-b", "model": "light"}))
    assert cli.main(["report", str(waiting), "--out", str(tmp_path / "o")]) == 2
    assert "no run with a finished fold" in capsys.readouterr().err
    run = write_run(tmp_path, "a-done")
    build_report([run, waiting], tmp_path / "out", data=str(tmp_path / "none"))
    assert f"Left out, no fold finished yet: `{waiting}`." in (tmp_path / "out" / "report.md"
                                                                ).read_text()
    assert "b-waiting: run has no finished fold yet; left out" in capsys.readouterr().err


def test_with_pascal_data(data_dir, tmp_path):
    """The data and front-end sections on the real recordings: counts, durations, Figure 2,
    the band-pass and Figure 4."""
    from heartsound.data import pascal, summary_rows

    run = write_run(tmp_path, "a-light")
    page = build_report([run], tmp_path / "out", data=str(data_dir)).read_text()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "could not be read" not in md
    for s, split, label, n, _ in summary_rows(pascal("a", data_dir) + pascal("b", data_dir)):
        assert f"| {s} | {split} | {label} | {n:,} |" in md
    for caption in ("Recording durations per set", "The paper's Figure 2",
                    "Band-pass magnitude response", "The paper's Figure 4"):
        assert caption in md
    # 4 data/front-end figures, confusion, curves, 2 paper charts.
    assert len(images_of(page)) == 8
    assert (tmp_path / "out" / "index.html").stat().st_size < 5_000_000


# ---------------------------------------------------------------- headless Chromium
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=412,2000"]
# Runs before anything else on the page: records errors, then on load counts images that
# did not decode and whether the page is wider than a phone screen.
CHECK_SCRIPT = """<script>
(function () {
  var errors = [];
  function note(text) { errors.push(String(text).slice(0, 200)); }
  window.addEventListener('error', function (e) {
    note(e.message || (e.target && (e.target.src || e.target.href)) || 'error');
  }, true);
  var original = console.error;
  console.error = function () {
    note(Array.prototype.join.call(arguments, ' '));
    original.apply(console, arguments);
  };
  window.addEventListener('load', function () {
    var imgs = Array.prototype.slice.call(document.images);
    var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
    var wide = document.documentElement.scrollWidth > window.innerWidth ? 1 : 0;
    document.body.dataset.check = 'ok imgs=' + imgs.length + ' broken=' + broken.length +
      ' errors=' + errors.length + ' overflow=' + wide + ' ' + errors.join('|');
  });
})();
</script>"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (``make chromium`` installs it as root); skip when it is absent."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if path is None:
        pytest.skip("headless Chromium check skipped: chromium not found (install it with "
                    "`make chromium` as root, or apt-get install -y chromium)")
    return path


def test_page_renders_in_headless_chromium(report, chromium, tmp_path):
    page = report["out"] / "index.html"
    checked = tmp_path / "check.html"
    checked.write_text(report["html"].replace("<head>", "<head>\n" + CHECK_SCRIPT, 1))
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile1'}",
         "--virtual-time-budget=5000", "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=120)
    match = re.search(r'data-check="([^"]*)"', result.stdout)
    assert match, f"no check result in the dumped DOM; chromium said: {result.stderr[-2000:]}"
    assert match.group(1).strip() == "ok imgs=9 broken=0 errors=0 overflow=0"

    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}",
                    f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    assert int.from_bytes(data[16:20], "big") == 412  # IHDR width: the phone-width window


def test_recipe_text_names_every_change():
    import dataclasses

    from heartsound.research.study import recipe_text
    from heartsound.training.train import RECIPES, replace_recipe

    text = recipe_text(dataclasses.asdict(RECIPES["joint-augment-smooth"]))
    assert text.startswith("batch 8, Adam lr 0.001")
    for part in ("SpecAugment-style masks", "random gain ±6 dB", "other PASCAL set",
                 "label smoothing ε = 0.1"):
        assert part in text
    assert recipe_text(dataclasses.asdict(RECIPES["paper"])).endswith("the paper's recipe")
    mixed = recipe_text(dataclasses.asdict(
        replace_recipe(RECIPES["joint-augment-smooth-noise"], mixstyle=0.5)))
    assert "MixStyle" in mixed and "p = 0.5" in mixed and "MixStyle" not in text


def test_model_cards_say_what_a_fold_holds(tmp_path):
    """A set-A card says its folds are by file and warns about recording sessions; a set-B
    card says by patient; a PhysioNet card gives leave-one-database-out MAcc."""
    import dataclasses

    from heartsound.config import front_end
    from heartsound.research.study import model_cards
    from heartsound.training.train import RECIPES

    def summary(dataset: str, split: str) -> dict:
        score = {"mean": 0.8, "std": 0.1}
        return {"config": {"dataset": dataset, "classes": ["normal", "murmur"], "folds": 5,
                           "split": split, "seed": 0, "model": "light",
                           "frontend": front_end(4).to_dict(),
                           "recipe": dataclasses.asdict(RECIPES["paper"])},
                "mean": {"accuracy": score, "total_precision": score, "youden": score},
                "final": {"n_train": 10, "epochs": 30}}

    for name in ("pascal-a-light", "pascal-b-light", "physionet-light"):
        (tmp_path / f"{name}.onnx").write_bytes(b"0" * 2048)
    physionet = summary("physionet2016", "databases")
    physionet["mean"] = {k: {"mean": 0.6, "std": 0.1}
                         for k in ("macc", "sensitivity", "specificity", "auroc")}
    text = model_cards({"a-light-improved": summary("pascal-a", "grouped"),
                        "b-light-improved": summary("pascal-b", "grouped"),
                        "physionet-light": physionet}, tmp_path)
    a, b, p = (text.split(f"## {n}\n")[1].split("\n## ")[0]
               for n in ("pascal-a-light", "pascal-b-light", "physionet-light"))
    assert "(5-fold, grouped: set A by file)" in a and "**Limits**: set A's recordings" in a
    assert "(5-fold, grouped: set B by patient)" in b and "**Limits**" not in b
    assert "leave-one-database-out" in p and "MAcc" in p and "PhysioNet/CinC 2016" in p
    # set A's shipped study starts from the PhysioNet pre-training: both commands, in order
    pre = ("--top-db 40 --seed 0 --out runs/batchnorm/physionet-pretrain-top40`, then "
           "`heartsound train --dataset pascal-a")
    assert pre in a and "--top-db 40 --set pretrained=runs/batchnorm/physionet-pretrain-top40/" \
        "final/model.pt" in a
    assert "pretrained" not in b and "pretrained" not in p


def test_a_pretrained_study_names_a_pretraining_of_its_own_network():
    from heartsound.research.batchnorm import PRETRAINS
    from heartsound.research.study import STUDIES

    for name, study in STUDIES.items():
        if study.pretrain:
            row = PRETRAINS[study.pretrain]
            assert (row.model, row.scale, row.maps) == (
                study.model, study.scale, "log-mel" if study.log_mel else "mfcc"), name


def test_a_shipped_model_without_its_run_keeps_its_card(tmp_path):
    from heartsound.research.study import card_sections, model_cards

    previous = ("# Shipped models\n\nintro\n\n## pascal-b-light\n\n- **CV**: 0.835\n\n"
                "`pascal-b-light-int8.onnx` (53 KB): the same model.\n\n## gone\n\n- old\n")
    assert list(card_sections(previous)) == ["pascal-b-light", "gone"]
    (tmp_path / "pascal-b-light.onnx").write_bytes(b"0" * 2048)
    (tmp_path / "pascal-b-light-int8.onnx").write_bytes(b"0" * 4096)
    text = model_cards({}, tmp_path, previous)
    assert "## pascal-b-light\n\n- **CV**: 0.835" in text
    assert "`pascal-b-light-int8.onnx` (4 KB)" in text  # the size as the file is now
    assert "## gone" not in text  # not a shipped model


def test_calibration_page_keeps_models_calibrated_elsewhere():
    from heartsound.research.study import calibration_markdown

    row = {"model": "physionet-light", "run": "runs/physionet-light", "temperature": 2.0,
           "ece_before": 0.2, "ece_after": 0.1, "nll_before": 0.9, "nll_after": 0.7}
    old = "| pascal-a-light | a-light-improved | 1.19 | 0.125 | 0.090 | 0.659 | 0.650 |\n" \
          "| physionet-light | physionet-light | 7.14 | 0.200 | 0.007 | 0.886 | 0.686 |\n"
    text = calibration_markdown([row], old)
    assert "| pascal-a-light | a-light-improved | 1.19 |" in text
    assert "| physionet-light | physionet-light | 2.00 | 0.200 | 0.100 | 0.900 | 0.700 |" in text
    assert "7.14" not in text
