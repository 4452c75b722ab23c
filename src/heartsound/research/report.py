"""``heartsound-lab report``: one self-contained HTML page (and a markdown twin) of a study.

    heartsound-lab report runs/a-light runs/b-light [--bench bench.json] [--data DIR] --out report

Why one page: it can be mailed, archived beside the runs and read on a phone, and it fetches
nothing from the network. Figures are PNGs, embedded as ``data:`` URIs in ``index.html`` and
saved in ``img/`` for ``report.md``. Everything of ours is read from the run folders
(written by ``heartsound train``) and the bench JSON; the only numbers written here are the
paper's published ones, in :data:`PAPER_PUBLISHED`.

Sections: 1 data, 2 front end, 3 cross-validation, 4 comparison with the paper, 5 lightness,
6 reproduce. Each ``section_*`` function returns a (markdown, html) pair.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import json
import math
import re
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.atomic import write_text
from heartsound.config import DEFAULT, FrontEndConfig
from heartsound.data import CLASSES, DataError, Recording
from heartsound.figures import save_mfcc_figure
from heartsound.research import plots

Frag = tuple[str, str]  # (markdown, html)

# -------------------------------------------------------------------- the paper's numbers
# Yoo et al. 2021. Tables 3-4: best of five fold models, scored on the challenge's test
# files, beside the prior studies the paper lists. Table 2: 5-fold CV means on the labelled
# files (ungrouped folds). Table 6: size and speed (Intel i7-7700 + NVIDIA GTX 1080 Ti).
# None: the paper gives no number.
PAPER_PUBLISHED: dict[str, Any] = {
    "methods": ("Zhang 2017a", "Zhang 2017b", "Chakir 2018", "Bourouhou 2020",
                "paper Base", "paper Lightweight"),
    "table3": {  # set A; our metric key → (the paper's row name, one value per method)
        "precision_normal": ("Precision of Normal", (0.67, 0.61, 0.59, 0.7, 0.86, 0.85)),
        "precision_murmur": ("Precision of Murmur", (1, 0.91, 0.82, 0.63, 0.9, 0.75)),
        "precision_extrahls": ("Precision of ExtraHS", (0.43, 0.5, 0.83, 1, 0.57, 0.57)),
        "precision_artifact": ("Precision of Artifact", (0.8, 0.94, 0.72, 0.73, 0.71, 0.75)),
        "artifact_sensitivity": ("Artifact Sensitivity", (1, 1, 0.81, 1, 0.94, 0.94)),
        "artifact_specificity": ("Artifact Specificity", (0.64, 0.67, 0.67, 0.56, 0.69, 0.67)),
        "youden": ("Youden's Index", (0.64, 0.67, 0.48, 0.56, 0.63, 0.6)),
        "total_precision": ("Total Precision", (2.9, 2.96, 2.96, 3.06, 3.04, 2.92)),
        "accuracy": ("Accuracy", (0.75, 0.77, 0.71, 0.7, 0.77, 0.75)),
    },
    "table4": {  # set B
        "precision_normal": ("Precision of Normal", (0.83, 0.81, 0.82, 0.76, 0.81, 0.81)),
        "precision_murmur": ("Precision of Murmur", (0.7, 0.67, 0.59, 0.61, 0.96, 0.89)),
        "precision_extrastole": ("Precision of Extrasystole", (0.15, 0.14, 0.18, 1, 0.67, 0.5)),
        "heartproblem_sensitivity": ("Sensitivity of heart problem",
                                     (0.49, 0.51, 0.49, 0.36, 0.47, 0.47)),
        "heartproblem_specificity": ("Specificity of heart problem",
                                     (0.84, 0.8, 0.66, 0.9, 0.99, 0.96)),
        "youden": ("Youden's Index", (0.33, 0.31, 0.15, 0.26, 0.46, 0.44)),
        "discriminant_power": ("Discriminant Power", (0.39, 0.34, 0.15, 0.4, 0.98, 0.76)),
        "total_precision": ("Total Precision", (1.68, 1.62, 1.58, 2.37, 2.44, 2.21)),
        "accuracy": ("Accuracy", (0.73, 0.71, 0.61, 0.74, 0.83, 0.81)),
    },
    "table2_cv": {  # (set, model) → CV averages
        ("a", "base"): {"accuracy": 0.722, "total_precision": 2.84},
        ("a", "light"): {"accuracy": 0.706, "total_precision": 2.734},
        ("b", "base"): {"accuracy": 0.824, "total_precision": 2.154},
        ("b", "light"): {"accuracy": 0.80, "total_precision": 2.004},
    },
    "table6_machine": "Intel Core i7-7700 CPU + NVIDIA GTX 1080 Ti GPU",
    "table6": [  # per set: inference ms, total precision, accuracy (Tables 3-4 protocol)
        {"name": "Base 872×20", "model": "base", "frames": 872, "params_m": 0.158,
         "size_kb": 2009, "madds_m": 1090, "ms": {"a": 67, "b": 70},
         "total_precision": {"a": 3.04, "b": 2.44}, "accuracy": {"a": 0.77, "b": 0.83}},
        {"name": "Light 872×20", "model": "light", "frames": 872, "params_m": 0.028,
         "size_kb": 731, "madds_m": 326, "ms": {"a": 57, "b": 59},
         "total_precision": {"a": 2.92, "b": 2.21}, "accuracy": {"a": 0.75, "b": 0.81}},
        {"name": "Light 438×20", "model": "light", "frames": 438, "params_m": None,
         "size_kb": None, "madds_m": 163, "ms": {"a": 53, "b": 53},
         "total_precision": {"a": 2.85, "b": 2.16}, "accuracy": {"a": 0.71, "b": 0.80}},
        {"name": "Light 219×20", "model": "light", "frames": 219, "params_m": None,
         "size_kb": None, "madds_m": 81.6, "ms": {"a": 51, "b": 52},
         "total_precision": {"a": 2.71, "b": 2.00}, "accuracy": {"a": 0.69, "b": 0.79}},
    ],
}

NOT_COMPARABLE = (
    "**Not the same thing.** The paper's Table 3/4 columns (and the prior studies') are the "
    "*best* of five fold models scored on the challenge's test files, whose labels are "
    "withheld from us; our columns are cross-validation *means* over folds of the labelled "
    "files. A best fold is optimistic and a CV mean is not, so read the two side by side as "
    "orientation, not as a contest. The like-for-like comparison is the paper's Table 2 "
    "(its CV means), shown first."
)


# -------------------------------------------------------------------- markdown + html helpers
def inline(text: str) -> str:
    """The few markdown marks used here (`code`, **bold**, *em*) → escaped HTML."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)


def join(*frags: Frag) -> Frag:
    return "\n\n".join(f[0] for f in frags if f[0]), "\n".join(f[1] for f in frags if f[1])


def heading(level: int, text: str, anchor: str | None = None) -> Frag:
    ident = f' id="{anchor}"' if anchor else ""
    return f"{'#' * level} {text}", f"<h{level}{ident}>{inline(text)}</h{level}>"


def para(text: str, cls: str | None = None) -> Frag:
    if cls == "note":
        return f"> {text}", f'<p class="note">{inline(text)}</p>'
    return text, f"<p>{inline(text)}</p>"


def code_block(lines: Sequence[str]) -> Frag:
    body = "\n".join(lines)
    return f"```sh\n{body}\n```", f"<pre><code>{html.escape(body)}</code></pre>"


NUMERIC = re.compile(r"^[*\s]*[-−+]?[\d.,]*\d[\d.,]*( ± [\d.,]+)?[*\s]*$|^[–∞−]*$")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Frag:
    """A table; in HTML wrapped so that it scrolls sideways on a narrow screen, not the page."""

    def md_cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    def td(s: str) -> str:
        return f'<td class="n">{inline(s)}</td>' if NUMERIC.match(s) else f"<td>{inline(s)}</td>"

    numeric = [bool(rows) and all(NUMERIC.match(r[i]) for r in rows if i < len(r))
               for i in range(len(header))]
    md = ["| " + " | ".join(md_cell(h) for h in header) + " |",
          "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    md += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    head = "".join(f"<th>{inline(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(td(c) for c in row) + "</tr>" for row in rows)
    return "\n".join(md), (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
                           f"<tbody>{body}</tbody></table></div>")


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table; "–" for anything missing or not a number."""
    if isinstance(value, bool) or value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.{digits}f}"
    return "–"


def mean_std(m: dict[str, float] | None, digits: int = 3) -> str:
    if not isinstance(m, dict) or fmt(m.get("mean"), digits) == "–":
        return "–"
    return f"{fmt(m['mean'], digits)} ± {fmt(m.get('std'), digits)}"


METRIC_NAMES = {"total_precision": "total precision", "accuracy": "accuracy",
                "youden": "Youden's index", "artifact_sensitivity": "artifact sensitivity",
                "artifact_specificity": "artifact specificity",
                "heartproblem_sensitivity": "heart-problem sensitivity",
                "heartproblem_specificity": "heart-problem specificity",
                "discriminant_power": "discriminant power", "macro_f1": "macro-F1"}


def metric_name(key: str) -> str:
    for prefix, name in (("precision_", "precision"), ("recall_", "recall"), ("f1_", "F1")):
        if key.startswith(prefix):
            return f"{name} of {key.removeprefix(prefix)}"
    return METRIC_NAMES.get(key, key.replace("_", " "))


class Images:
    """Figures of one report: PNG files in ``out/img`` (for report.md), also embedded in the
    page, so index.html needs nothing beside it."""

    def __init__(self, out: Path) -> None:
        self.dir = out / "img"
        self.written: list[Path] = []

    def path(self, name: str) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        p = self.dir / f"{len(self.written) + 1:02d}-{slug}.png"
        self.written.append(p)
        return p

    def embed(self, path: Path, caption: str) -> Frag:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return (f"![{caption}](img/{path.name})\n\n*{caption}*",
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                f"<figcaption>{inline(caption)}</figcaption></figure>")

    def remove_stale(self) -> None:
        """Drop figures a previous report left in img/ that this one did not write."""
        keep = {p.name for p in self.written}
        for p in self.dir.glob("[0-9][0-9]-*.png"):
            if p.name not in keep:
                p.unlink(missing_ok=True)


# -------------------------------------------------------------------- inputs
@dataclass
class Run:
    """One run folder of ``heartsound train``; a run still training (no summary.json yet) is
    read from its finished folds."""

    path: Path
    label: str
    summary: dict[str, Any]
    complete: bool

    @property
    def config(self) -> dict[str, Any]:
        return self.summary.get("config", {})

    @property
    def folds(self) -> list[dict[str, Any]]:
        return self.summary["folds"]

    @property
    def mean(self) -> dict[str, dict[str, float]]:
        return self.summary.get("mean", {})

    @property
    def dataset(self) -> str:
        return str(self.config.get("dataset", "?"))

    @property
    def pascal_set(self) -> str | None:
        """"a" / "b" for a PASCAL run, None for a CSV dataset."""
        key = self.dataset.lower().removeprefix("pascal-")
        return key if key in CLASSES else None

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    @property
    def split(self) -> str:
        return str(self.config.get("split", "?"))

    @property
    def frontend(self) -> FrontEndConfig | None:
        try:
            return FrontEndConfig.from_dict(self.config["frontend"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def frames(self) -> int | None:
        cfg = self.frontend
        return cfg.n_frames if cfg else None

    @property
    def input(self) -> str:
        """The map the run was trained on: "215×20", "215×48 log-mel" ("?" if unknown)."""
        cfg = self.frontend
        return cfg.label if cfg else "?"

    @property
    def classes(self) -> list[str]:
        return list(self.config.get("classes") or self.folds[0]["scores"].get("classes", []))


class RunNotStarted(ValueError):
    """A run folder whose first fold has not finished: left out of the report, not fatal."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read as JSON ({exc})") from None


def load_run(path: Path, label: str | None = None) -> Run:
    """Read a run folder; raises ValueError (one line) when it is not one."""
    label = label or path.resolve().name
    if (path / "summary.json").is_file():
        summary = _read_json(path / "summary.json")
        if not isinstance(summary, dict) or not summary.get("folds"):
            raise ValueError(f"{path / 'summary.json'}: no folds")
        return Run(path, label, summary, complete=True)
    if not (path / "config.json").is_file():
        raise ValueError(f"{path}: not a run folder of heartsound train (no summary.json)")
    from heartsound.training.train import summarise

    def fold_number(p: Path) -> int:
        digits = p.parent.name.removeprefix("fold")
        return int(digits) if digits.isdigit() else 0

    folds = [_read_json(p) for p in sorted(path.glob("fold*/metrics.json"), key=fold_number)]
    if not folds:
        raise RunNotStarted(f"{path}: run has no finished fold yet")
    summary = {"config": _read_json(path / "config.json"), "folds": folds,
               "mean": summarise(folds)}
    return Run(path, label, summary, complete=False)


def load_runs(paths: Sequence[Path]) -> tuple[list[Run], list[Path]]:
    """Every run, labelled by its folder name (made unique when two share one), and the run
    folders with no finished fold yet (so a report can be made while ``make reproduce`` is
    still going)."""
    runs: list[Run] = []
    not_started: list[Path] = []
    seen: dict[str, int] = {}
    for p in paths:
        name = p.resolve().name
        seen[name] = seen.get(name, 0) + 1
        try:
            runs.append(load_run(p, name if seen[name] == 1 else f"{name} ({seen[name]})"))
        except RunNotStarted as exc:
            print(f"heartsound: warning: {exc}; left out", file=sys.stderr)
            not_started.append(p)
    if not runs:
        raise ValueError("no run with a finished fold among " + ", ".join(map(str, paths)))
    return runs, not_started


def read_curve(path: Path) -> dict[str, np.ndarray] | None:
    """``fold<k>/curve.csv`` → column arrays (blank cells as NaN); None when absent."""
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None

    def number(s: str | None) -> float:
        try:
            return float(s) if s not in (None, "") else math.nan
        except ValueError:
            return math.nan

    cols = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "best")
    out = {c: np.array([number(r.get(c)) for r in rows]) for c in cols}
    out["best"] = np.nan_to_num(out["best"])
    return out


def load_pascal(data: str | None) -> tuple[list[Recording], Path, str | None]:
    """Both PASCAL sets, the folder tried and, when unreadable, why (the report still builds)."""
    from heartsound.data import default_data_dir, pascal

    root = Path(data) if data else default_data_dir()
    try:
        return pascal("a", root) + pascal("b", root), root, None
    except (DataError, OSError) as exc:
        return [], root, str(exc)


# -------------------------------------------------------------------- 1. data
def section_data(recordings: list[Recording], root: Path, problem: str | None,
                 images: Images) -> Frag:
    from heartsound.data import summary_rows

    head = heading(2, "1. Data", "data")
    if problem:
        return join(head, para(
            f"The PASCAL recordings could not be read from `{root}` ({problem}), so this "
            "section and the front-end examples are left out. Pass `--data DIR` (or set "
            "`$HEARTSOUND_DATA`) to include them."))
    rows: list[list[str]] = []
    summary = summary_rows(recordings)
    for dataset in ("A", "B"):
        mine = [r for r in summary if r[0] == dataset]
        for s, split, label, n, seconds in mine:
            rows.append([s, split, label, fmt(n), fmt(seconds, 1), fmt(seconds / n, 1)])
        n_all, s_all = sum(r[3] for r in mine), sum(r[4] for r in mine)
        rows.append([dataset, "all", "**total**", f"**{n_all:,}**", f"**{s_all:.1f}**",
                     fmt(s_all / n_all if n_all else None, 1)])
    durations = {s.upper(): {c: [r.duration_s for r in recordings
                                 if r.dataset == s and (r.label or "test (unlabelled)") == c]
                             for c in (*CLASSES[s], "test (unlabelled)")} for s in CLASSES}
    hist = plots.save_duration_histograms(durations, images.path("durations"),
                                          DEFAULT.duration_s)
    patients = {r.patient for r in recordings if r.dataset == "b" and r.split == "labelled"}
    rates = {s: "/".join(f"{k / 1000:g} kHz" for k in sorted({r.sample_rate for r in recordings
                                                            if r.dataset == s}))
             for s in CLASSES}
    return join(
        head,
        para(f"PASCAL Classifying Heart Sounds Challenge 2011, read from `{root}`. The "
             "*labelled* files are all we train and validate on; the *test* files' labels "
             f"are withheld by the challenge. Set A: recorded at {rates['a']} with the "
             f"iStethoscope Pro phone app; set B: at {rates['b']} with a digital stethoscope "
             f"in hospitals, {len(patients)} patients in its labelled part."),
        table(["set", "split", "class", "recordings", "seconds", "mean s"], rows),
        images.embed(hist, "Recording durations per set, stacked by class; the dashed "
                           f"line is the {DEFAULT.duration_s:g}-s length every recording is "
                           "repeated or truncated to."),
    )


# -------------------------------------------------------------------- 2. front end
def pick_examples(recordings: list[Recording], keep_s: float) -> list[Recording]:
    """One labelled recording shorter than ``keep_s`` and one longer (the paper's Figure 2).

    Prefers set A (its 44.1 kHz shows the resampling) and normal recordings; the short one
    near 4 s so the tiling shows, the long one as long as possible.
    """
    labelled = [r for r in recordings if r.split == "labelled"]
    short = [r for r in labelled if 1.0 <= r.duration_s < keep_s]
    long = [r for r in labelled if r.duration_s > keep_s]
    out = []
    if short:
        out.append(min(short, key=lambda r: (r.dataset != "a", r.label != "normal",
                                             abs(r.duration_s - 4.0), r.path.name)))
    if long:
        out.append(min(long, key=lambda r: (r.dataset != "a", r.label != "normal",
                                            -r.duration_s, r.path.name)))
    return out


def section_frontend(recordings: list[Recording], images: Images,
                     cfg: FrontEndConfig = DEFAULT) -> Frag:
    from scipy.signal import sosfreqz

    from heartsound.audio import AudioError, band_key, bandpass_sos, load, preprocess
    from heartsound.features import features

    frags = [heading(2, "2. Front end", "frontend"), para(
        f"Every recording: load (mono) → resample to {cfg.sample_rate:,} Hz → band-pass "
        f"{cfg.band_low_hz:g}–{cfg.band_high_hz:g} Hz ({cfg.filter_order}th-order Butterworth, "
        f"forward and backward) → repeat or truncate to {cfg.duration_s:g} s → MFCC "
        f"({cfg.frame_length}-sample frames every {cfg.hop_length}, {cfg.n_mels} mel bands, "
        f"{cfg.n_mfcc} coefficients: a {cfg.n_frames}×{cfg.n_mfcc} map). These are the "
        "paper's settings; runs with other frame lengths are marked by their frame count.")]
    examples = []
    for rec in pick_examples(recordings, cfg.duration_s):
        try:
            raw, rate = load(rec.path)
            examples.append((f"{rec.dataset.upper()} {rec.label} ({rec.path.name})", raw, rate,
                             preprocess(raw, rate, cfg, path=rec.path), cfg.sample_rate))
        except AudioError:
            continue
    if examples:
        fig = plots.save_repeat_figure(examples, images.path("repeat"), cfg.duration_s)
        frags.append(images.embed(
            fig, f"The paper's Figure 2: a recording shorter than {cfg.duration_s:g} s is "
                 "tiled (dashed lines: where it starts again), a longer one is cut (shaded: "
                 f"dropped). Left: as recorded; right: what the MFCC sees "
                 f"({cfg.sample_rate:,} Hz, band-passed)."))

    sos = bandpass_sos(*band_key(cfg))
    freq, h = sosfreqz(sos, worN=4096, fs=cfg.sample_rate)
    gain_db = 20 * np.log10(np.maximum(np.abs(h) ** 2, 1e-12))  # forward-backward: |H|²
    fig = plots.save_bandpass_figure(freq, gain_db, cfg.band_low_hz, cfg.band_high_hz,
                                     images.path("bandpass"))
    frags.append(images.embed(
        fig, f"Band-pass magnitude response. The {cfg.filter_order}th-order Butterworth is "
             "run forward and backward (zero phase), so the effective gain is |H|²: −6 dB at "
             "the cut-offs, twice the roll-off of one pass."))

    maps: dict[tuple[str, str], np.ndarray] = {}
    for dataset in ("a", "b"):
        for label in CLASSES[dataset]:
            for rec in (r for r in recordings if r.dataset == dataset and r.label == label):
                try:
                    maps[(dataset, label)] = features(rec.path, cfg)
                    break
                except AudioError:
                    continue
    if maps:
        fig = save_mfcc_figure(maps, images.path("mfcc"), cfg.hop_length / cfg.sample_rate)
        frags.append(images.embed(
            fig, "The paper's Figure 4: MFCC map of the first labelled recording of each class "
                 "(coefficients 1–19; 0, the log energy, would swamp the colour scale)."))
    return join(*frags)


# -------------------------------------------------------------------- 3. cross-validation
def run_description(run: Run) -> str:
    from heartsound.research.study import (
        recipe_text,  # one wording of a recipe, shared with the model cards
    )

    cfg = run.config
    recipe = cfg.get("recipe") or {}
    state = "" if run.complete else (
        f" **In progress:** {len(run.folds)} of {cfg.get('folds', '?')} folds finished "
        "(no summary.json yet); means are over the finished folds.")
    wall = run.summary.get("wall_seconds")
    return (f"`{run.path}`: {run.dataset}, {run.model} model, {cfg.get('folds', '?')}-fold "
            f"{run.split} CV, seed {cfg.get('seed', '?')}, {recipe.get('epochs', '?')} epochs "
            f"per fold, {run.input} maps; "
            + (recipe_text(recipe) + ("; best validation epoch kept"
                                      if recipe.get("select", "best") == "best"
                                      else "; a fixed budget, last epoch kept")
               if {"batch_size", "lr", "restart_epochs"} <= recipe.keys()
               else "recipe not recorded")
            + (f", {wall / 60:.1f} min wall time" if isinstance(wall, int | float) else "")
            + "." + state)


def fold_table(run: Run) -> Frag:
    """Table 2 style: one column per fold, then mean ± std over folds."""
    from heartsound.metrics import scalar_keys

    folds = run.folds
    header = ["metric", *(f"fold {f.get('fold', i + 1)}" for i, f in enumerate(folds)),
              "mean ± std"]
    rows = []
    for key in scalar_keys(folds[0]["scores"]):
        rows.append([metric_name(key), *(fmt(f["scores"].get(key)) for f in folds),
                     mean_std(run.mean.get(key))])
    for key, name, digits in (("n_val", "validation recordings", 0),
                              ("best_epoch", "best epoch", 0), ("seconds", "fold time (s)", 0)):
        rows.append([name, *(fmt(f.get(key), digits) for f in folds), ""])
    return table(header, rows)


def summed_confusion(run: Run) -> np.ndarray:
    return np.sum([np.asarray(f["scores"]["confusion_matrix"]) for f in run.folds], axis=0)


def group_runs(runs: list[Run]) -> dict[tuple[str, str, str], list[Run]]:
    """Runs of one dataset, model and input together (grouped vs random side by side)."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.model, run.input), []).append(run)
    return groups


def section_cv(runs: list[Run], images: Images, not_started: Sequence[Path] = ()) -> Frag:
    from heartsound.metrics import scalar_keys

    frags = [heading(2, "3. Cross-validation", "cv"), para(
        "Per-fold scores on each fold's validation files (the challenge's formulas), mean ± "
        "sample standard deviation over folds. *Grouped* folds keep all recordings of one "
        "patient (set B) in one fold; *random* folds are the paper's ungrouped protocol, in "
        "which one patient's recordings can sit on both sides of a split.")]
    if not_started:
        frags.append(para("Left out, no fold finished yet: "
                          + ", ".join(f"`{p}`" for p in not_started) + "."))
    for (dataset, model, maps), group in group_runs(runs).items():
        frags.append(heading(3, f"{dataset} · {model} · {maps}"))
        if len(group) > 1:
            keys = list(dict.fromkeys(k for r in group for k in scalar_keys(r.folds[0]["scores"])))
            frags.append(table(["metric (mean ± std)", *(f"{r.label} ({r.split})" for r in group)],
                               [[metric_name(k), *(mean_std(r.mean.get(k)) for r in group)]
                                for k in keys]))
        panels = [(f"{r.label} ({r.split}), {len(r.folds)} folds", r.classes, summed_confusion(r))
                  for r in group]
        fig = plots.save_confusion_figure(panels, images.path(f"confusion {dataset} {model}"))
        frags.append(images.embed(fig, "Confusion matrices summed over folds (rows: true "
                                       "class, columns: predicted), "
                                       + ", ".join(f"{r.label} ({r.split})" for r in group)
                                       + "."))
        for run in group:
            frags += [heading(4, f"{run.label} ({run.split})"), para(run_description(run)),
                      fold_table(run)]
            curves = {int(f.get("fold", i + 1)): c for i, f in enumerate(run.folds)
                      if (c := read_curve(run.path / f"fold{f.get('fold', i + 1)}" / "curve.csv"))
                      is not None}
            if curves:
                fig = plots.save_curves_figure(curves, images.path(f"curves {run.label}"),
                                               f"{run.label} ({run.split})")
                frags.append(images.embed(fig, f"{run.label}: training (solid) and validation "
                                               "(dashed) loss and accuracy per epoch, one "
                                               "colour per fold; dots: the epoch kept."))
            else:
                frags.append(para(f"No `fold<k>/curve.csv` in `{run.path}`: no curves."))
    return join(*frags)


# -------------------------------------------------------------------- 4. the paper
def section_paper(runs: list[Run], images: Images) -> Frag:
    methods = list(PAPER_PUBLISHED["methods"])
    frags = [heading(2, "4. Comparison with published results", "paper"),
             para(NOT_COMPARABLE, "note")]
    rows = []
    for run in runs:
        if run.pascal_set is None:
            continue
        paper = (PAPER_PUBLISHED["table2_cv"].get((run.pascal_set, run.model))
                 if run.input == DEFAULT.label else None) or {}
        rows.append([run.label, run.pascal_set.upper(), run.model, run.split, run.input,
                     mean_std(run.mean.get("accuracy")), fmt(paper.get("accuracy")),
                     mean_std(run.mean.get("total_precision")),
                     fmt(paper.get("total_precision"))])
    frags.append(heading(3, "Cross-validation means (the paper's Table 2)"))
    if rows:
        frags.append(table(["run", "set", "model", "split", "input", "our accuracy",
                            "paper accuracy", "our total precision", "paper total precision"],
                           rows))
    else:
        frags.append(para("No PASCAL run given."))
    for pascal_set, name in (("a", "table3"), ("b", "table4")):
        published = PAPER_PUBLISHED[name]
        ours = [r for r in runs if r.pascal_set == pascal_set]
        title = f"Set {pascal_set.upper()} (the paper's Table {name[-1]})"
        frags.append(heading(3, title))
        header = ["metric", *methods, *(f"ours: {r.label} ({r.split}, CV)" for r in ours)]
        body = [[row_name, *(fmt(float(v), 2) for v in values),
                 *(mean_std(r.mean.get(key), 2) for r in ours)]
                for key, (row_name, values) in published.items()]
        frags.append(table(header, body))
        labels = methods + [f"ours: {r.label} ({r.split})" for r in ours]
        values = {m: [float(v) for v in published[k][1]]
                  + [r.mean.get(k, {}).get("mean") for r in ours]
                  for k, m in (("total_precision", "total precision"),
                               ("accuracy", "accuracy (fraction)"))}
        errors = {m: [None] * len(methods) + [r.mean.get(k, {}).get("std") for r in ours]
                  for k, m in (("total_precision", "total precision"),
                               ("accuracy", "accuracy (fraction)"))}
        fig = plots.save_method_bars(labels, values, errors,
                                     [False] * len(methods) + [True] * len(ours),
                                     images.path(f"paper set {pascal_set}"),
                                     f"set {pascal_set.upper()}: published (best fold, test "
                                     "files) vs ours (CV mean ± std, labelled files)")
        frags.append(images.embed(
            fig, f"In the style of the paper's Figure {7 if pascal_set == 'a' else 8}: total "
                 f"precision and accuracy on set {pascal_set.upper()}; hatched bars are ours"
                 + ("" if ours else f" (no set-{pascal_set.upper()} run given)") + "."))
    return join(*frags)


# -------------------------------------------------------------------- 5. lightness
def load_bench(path: Path) -> dict[str, Any]:
    bench = _read_json(path)
    if not isinstance(bench, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return bench


def _get(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]... or None anywhere along the way (the bench schema may grow or shrink)."""
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, dict):
        return [kv for k, v in obj.items() for kv in _flatten(v, f"{prefix}{k} · ")]
    text = fmt(obj, 2) if isinstance(obj, int | float) and not isinstance(obj, bool) else (
        "–" if obj is None else json.dumps(obj) if isinstance(obj, list) else str(obj))
    return [(prefix.removesuffix(" · "), text)]


def paper_row_for(model: str | None, frames: int | None) -> dict[str, Any] | None:
    """The Table 6 row of the same model and input size. Within 8 frames, because centred
    and uncentred framing differ by 4: our 434/215 frames are the paper's 438/219."""
    for row in PAPER_PUBLISHED["table6"]:
        if row["model"] == model and isinstance(frames, int) and abs(row["frames"] - frames) <= 8:
            return row
    return None


def section_lightness(bench: dict[str, Any] | None, bench_path: Path | None,
                      images: Images) -> Frag:
    frags = [heading(2, "5. Lightness", "lightness")]
    paper_rows = [[r["name"], fmt(r["params_m"]), fmt(r["size_kb"], 0), fmt(r["madds_m"], 1),
                   *(fmt(r[k][s], 2 if k != "ms" else 0) for s in ("a", "b")
                     for k in ("ms", "total_precision", "accuracy"))]
                  for r in PAPER_PUBLISHED["table6"]]
    paper_table = table(["model (paper)", "params (M)", "size (KB)", "MAdds (M)", "A ms",
                         "A total precision", "A accuracy", "B ms", "B total precision",
                         "B accuracy"], paper_rows)
    paper_note = para(f"The paper's Table 6, measured on an {PAPER_PUBLISHED['table6_machine']}; "
                      "its accuracy and total precision are the Tables 3–4 best folds on the "
                      "test files, and its times are not measured the way ours are.")
    if bench is None:
        return join(*frags, para("No bench JSON given. Produce one with "
                                 "`heartsound-lab bench --save-json docs/lightness.json` and pass "
                                 "`--bench docs/lightness.json`."), paper_note, paper_table)
    machine = bench.get("machine") if isinstance(bench.get("machine"), dict) else {}
    frags.append(para(
        f"From `{bench_path}`: measured on {machine.get('cpu', '–')} "
        f"({machine.get('cores', '–')} cores), {bench.get('threads', '–')} thread(s), "
        f"Python {machine.get('python', '–')}, {machine.get('platform', '–')}, "
        f"{machine.get('date', '–')}. Latencies are per recording in ms; CV scores are our "
        "cross-validation means."))
    rows = [r for r in bench.get("rows") or [] if isinstance(r, dict)]
    if rows:
        body = []
        for r in rows:
            madds = r.get("madds")
            body.append([str(r.get("name", "–")), str(r.get("model", "–")), fmt(r.get("frames")),
                         fmt(r.get("params")),
                         fmt(madds / 1e6, 1) if isinstance(madds, int | float) else "–",
                         fmt(r.get("activation_kb"), 0), fmt(r.get("onnx_kb"), 0),
                         fmt(r.get("onnx_int8_kb"), 0),
                         *(fmt(_get(r, k, s)) for k in ("cv_accuracy", "cv_total_precision")
                           for s in ("a", "b")),
                         *(fmt(_get(r, "latency_ms", k), 2)
                           for k in ("frontend", "model_fp32", "model_int8", "end_to_end")),
                         fmt(r.get("paper_protocol_ms"), 1), str(r.get("source", "–"))])
        frags.append(table(["name", "model", "frames", "params", "MAdds (M)", "activations (KB)",
                            "ONNX (KB)", "ONNX int8 (KB)", "CV accuracy A", "CV accuracy B",
                            "CV total precision A", "CV total precision B", "front end ms",
                            "model fp32 ms", "model int8 ms", "end to end ms",
                            "paper-protocol ms", "model file"], body))
        frags.append(para(
            "*Paper-protocol ms* times what the paper's Table 6 times: file to class for one "
            "recording, loading the model each time; the other latencies are medians with the "
            "model loaded once."))
        labels = [str(r.get("name", "?")) for r in rows]
        paper = [paper_row_for(r.get("model"), r.get("frames")) for r in rows]

        def scaled(values: list[Any], factor: float) -> list[float | None]:
            return [v / factor if isinstance(v, int | float) else None for v in values]

        def score(key: str) -> dict[str, list[float | None]]:
            return {"ours A (CV)": scaled([_get(r, f"cv_{key}", "a") for r in rows], 1),
                    "ours B (CV)": scaled([_get(r, f"cv_{key}", "b") for r in rows], 1),
                    "paper A (test)": [p[key]["a"] if p else None for p in paper],
                    "paper B (test)": [p[key]["b"] if p else None for p in paper]}

        panels = [
            ("parameters", "parameters (millions)",
             {"ours": scaled([r.get("params") for r in rows], 1e6),
              "paper": [p["params_m"] if p else None for p in paper]}),
            ("multiply-adds per recording", "MAdds (millions)",
             {"ours": scaled([r.get("madds") for r in rows], 1e6),
              "paper": [p["madds_m"] if p else None for p in paper]}),
            ("accuracy", "accuracy (fraction)", score("accuracy")),
            ("total precision", "total precision (sum of class precisions)",
             score("total_precision")),
        ]
        fig = plots.save_grouped_bars(labels, panels, images.path("lightness"))
        frags.append(images.embed(
            fig, "In the style of the paper's Figure 9: size, cost and scores per model and "
                 "input size; hatched bars are the paper's (accuracy and total precision on "
                 "the test files, best fold), plain bars ours (CV means)."))
    else:
        frags.append(para("The bench JSON has no per-model rows."))
    other = [[k, v] for key, value in bench.items() if key not in ("machine", "threads", "rows")
             for k, v in _flatten(value, f"{key} · ")]
    if other:
        frags += [heading(3, "Other measurements from the bench"), table(["what", "value"], other)]
    return join(*frags, heading(3, "The paper's Table 6"), paper_note, paper_table)


# -------------------------------------------------------------------- 6. reproduce
def recipe_preset(recipe: dict[str, Any]) -> str | None:
    """The name of the ``--recipe`` preset a run used (epochs aside), if any."""
    import dataclasses

    from heartsound.training.train import RECIPES, recipe_from_dict

    try:
        stored = recipe_from_dict(recipe)
    except TypeError:  # a field this version does not know: no preset matches
        return None
    return next((name for name, r in RECIPES.items()
                 if dataclasses.replace(stored, epochs=r.epochs) == r), None)


def train_command(run: Run) -> str:
    """The ``heartsound train`` line that (re)makes a run, from its stored config."""
    cfg = run.config
    args = ["heartsound", "train", "--dataset", run.dataset, "--model", run.model,
            "--folds", str(cfg.get("folds", 5)), "--seed", str(cfg.get("seed", 0)),
            "--split", run.split]
    frontend = run.frontend
    if frontend and frontend.frame_length != DEFAULT.frame_length:
        args += ["--scale", str(frontend.frame_length // DEFAULT.frame_length)]
    epochs = _get(cfg, "recipe", "epochs")
    if epochs is not None and epochs != 30:
        args += ["--epochs", str(epochs)]
    preset = recipe_preset(cfg.get("recipe") or {})
    if preset:
        args += ["--recipe", preset]
    if cfg.get("limit"):
        args += ["--limit", str(cfg["limit"])]
    if run.complete and "final" not in run.summary:
        args.append("--no-final")
    return shlex.join([*args, "--out", str(run.path)])


def section_reproduce(runs: list[Run], report_command: str) -> Frag:
    from heartsound.provenance import machine

    here = machine()
    lines = ["make reproduce   # every study into runs/, the shipped models, docs/results.md",
             "", "# or one run at a time (add --data DIR if the PASCAL folder is elsewhere):",
             *(train_command(r) for r in runs), "",
             "heartsound-lab bench --save-json docs/lightness.json", report_command]
    keys = list(dict.fromkeys(k for r in runs for k in (r.config.get("versions") or {})))
    rows = [[r.label, str(r.config.get("seed", "–")),
             *(str((r.config.get("versions") or {}).get(k, "–")) for k in keys)] for r in runs]
    return join(
        heading(2, "6. Reproduce", "reproduce"),
        code_block(lines),
        para("Versions each run was trained with (from its `config.json`):"),
        table(["run", "seed", *keys], rows),
        para(f"Report generated {time.strftime('%Y-%m-%d %H:%M %Z')} on {here['cpu']} "
             f"({here['cores']} cores), Python {here['python']}, {here['platform']}."),
    )


# -------------------------------------------------------------------- the page
CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
background:#fff}
.wrap{max-width:980px;margin:0 auto;padding:12px 16px 48px}
h1{font-size:1.6em;margin:.4em 0}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
h3{margin-top:1.4em}h4{margin-bottom:.3em}
img{max-width:100%;height:auto;display:block}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:1em 0}
table{border-collapse:collapse;font-size:.85em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 7px;white-space:nowrap}
td.n{text-align:right}th{background:#f4f4f4}
pre{overflow-x:auto;background:#f6f6f6;padding:10px;font-size:.85em}
code{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:8px 12px}
nav a{margin-right:.8em;white-space:nowrap}
"""

SECTIONS = (("data", "Data"), ("frontend", "Front end"), ("cv", "Cross-validation"),
            ("paper", "Published results"), ("lightness", "Lightness"),
            ("reproduce", "Reproduce"))


def page(title: str, body: str) -> str:
    nav = " ".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t in SECTIONS)
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f'<div class="wrap">\n<h1>{html.escape(title)}</h1>\n<nav>{nav}</nav>\n{body}\n'
            "</div>\n</body>\n</html>\n")


def build_report(run_dirs: Sequence[str | Path], out: str | Path,
                 bench: str | Path | None = None, data: str | None = None) -> Path:
    """Write ``out/index.html``, ``out/report.md`` and ``out/img/*.png``; return the page."""
    out = Path(out)
    runs, not_started = load_runs([Path(p) for p in run_dirs])  # fail before any plotting
    bench_path = Path(bench) if bench else None
    bench_json = load_bench(bench_path) if bench_path else None
    recordings, root, problem = load_pascal(data)
    images = Images(out)
    sections = [section_data(recordings, root, problem, images)]
    if recordings:
        sections.append(section_frontend(recordings, images))
    else:
        sections.append(join(section_frontend([], images), para(
            "No PASCAL folder, so no example recordings (see section 1).")))
    command = shlex.join(["heartsound-lab", "report", *map(str, run_dirs),
                          *(["--bench", str(bench)] if bench else []),
                          *(["--data", str(data)] if data else []), "--out", str(out)])
    sections += [section_cv(runs, images, not_started), section_paper(runs, images),
                 section_lightness(bench_json, bench_path, images),
                 section_reproduce(runs, command)]
    md, body = join(*sections)
    title = "heartsound-lab report: " + (", ".join(r.label for r in runs) if len(runs) <= 3
                                     else f"{len(runs)} cross-validation runs")
    intro = ("Heart-sound classification with the light CNN of Yoo et al. (JKIIE 47(6), 2021) "
             "on PASCAL CHSC2011. Generated by `heartsound-lab report`; every number of ours is "
             "read from the run folders and the bench JSON.")
    written = [write_text(out / "report.md", f"# {title}\n\n{intro}\n\n{md}\n"),
               write_text(out / "index.html", page(title, f"<p>{inline(intro)}</p>\n{body}")),
               *images.written]
    for path in written:
        path.chmod(0o644)  # temp files are created 0600; a report is meant to be shared
    images.remove_stale()
    return out / "index.html"


def run_report(args: argparse.Namespace) -> int:
    path = build_report(args.runs, args.out, bench=args.bench, data=args.data)
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1e6:.1f} MB, self-contained) and {path.parent / 'report.md'}")
    return 0
