"""PhysioNet/CinC 2016 screening: leave-one-database-out and 5-fold CV (docs/physionet.md).

``heartsound-lab physionet`` reads finished run folders ``runs/physionet/<row>/seed<k>/``
(one per row of ``ROWS`` and seed; ``--train`` trains the missing ones first) and writes
docs/physionet.md: for leave-one-database-out, each held-out database's sensitivity,
specificity, MAcc and AUROC, the mean over databases a, b, d and f (c, 31 records, apart),
each over seeds as mean ± std; an ROC figure per row (``docs/physionet/roc-<row>.svg``); the
5-fold CV figure; the prevalence per database; the 2016 challenge's best official MAcc for
comparison; and (``--cross``, cached) the shipped PASCAL models on PhysioNet and the PhysioNet
model on PASCAL set B.

Three decision rules are scored. *argmax*: abnormal when P(abnormal) ≥ 0.5, the network's own
answer. *other-fold threshold*: the held-out database's threshold is the one with the best
MAcc on the pooled out-of-fold predictions of the *other* folds (the other four databases,
each predicted by the model that did not train on it). *cross-database threshold*: the
threshold with the best *mean* of the other databases' MAcc, each database weighted equally
(so neither the largest database nor the prevalence of the pool picks it): a
leave-one-database-out choice of the threshold among the training databases. In both, the
held-out database's own predictions and labels never choose it; but the models behind those
other folds did train on the held-out database, so these are cheap stand-ins for a nested CV
inside the four training databases (four more trainings per fold), not one.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.metrics import best_threshold, roc_auc, screening_scores
from heartsound.rhythm import RHYTHM_MEASURES

DATASET = "physionet2016"
# The 2016 challenge's best official score (Potes et al., CinC 2016): MAcc on its hidden
# test set, whose records came from the same databases as the training set.
CHALLENGE_BEST_MACC = 0.8602
MAIN_DATABASES = ("a", "b", "d", "f")  # c (31 records, 7 normal) is reported apart
METRICS = ("sensitivity", "specificity", "macc", "auroc")
SHOWN = {"sensitivity": "Se", "specificity": "Sp", "macc": "MAcc", "auroc": "AUROC"}
# The decision rules of the leave-one-database-out tables (see the module docstring).
RULES = {"argmax": "Argmax (P(abnormal) ≥ 0.5)", "threshold": "Other-fold threshold",
         "xdb": "Cross-database threshold (the best mean of the other databases' MAcc, "
                "each database weighted equally)"}
FIGURES = "physionet"  # the figures' folder, beside the markdown (docs/physionet/)


@dataclass(frozen=True)
class PhysioRow:
    """One configuration: network, recipe, front end (``scale``, ``maps``), split, and the
    recipe fields it overrides (``sets``: ``heartsound train --set KEY=VALUE``, in order)."""

    label: str
    model: str
    recipe: str
    scale: int
    maps: str
    split: str  # "databases" (leave-one-database-out) or "random" (stratified 5-fold)
    sets: tuple[str, ...] = ()
    rate: int = 4000  # the front end's sample rate (config.at_rate)
    top_db: float = 80.0  # each map's dynamic range below its peak (config.top_db)
    # A row made without training: the fold models of row ``rescores``, seed by seed, read
    # with 7-s windows ``eval_hop_s`` apart (train.rescore_run), paired with that row's.
    rescores: str | None = None
    eval_hop_s: float | None = None

    def __post_init__(self) -> None:
        if (self.rescores is None) != (self.eval_hop_s is None):
            raise ValueError(f"{self.label}: a re-scored row needs both rescores and "
                             "eval_hop_s")

    def train_arguments(self) -> list[str]:
        """The ``heartsound train`` options of this row (the doc prints them)."""
        return ["--dataset", DATASET, "--model", self.model, "--recipe", self.recipe,
                "--scale", str(self.scale), "--maps", self.maps, "--split", self.split,
                "--folds", "5", *(a for s in self.sets for a in ("--set", s)),
                *(["--rate", str(self.rate)] if self.rate != 4000 else []),
                *(["--top-db", f"{self.top_db:g}"] if self.top_db != 80.0 else [])]


ROWS = {
    "light-x4": PhysioRow("light, augment, 215×20 MFCC (4× frame length)", "light", "augment",
                          4, "mfcc", "databases"),
    "centred-logmel-x2": PhysioRow("light-centred, augment, 434×48 log-mel (2× frame "
                                   "length, centred over time)", "light-centred", "augment",
                                   2, "log-mel", "databases"),
    "centred-bn-screening": PhysioRow("light-centred-bn (BatchNorm, maps centred over "
                                      "time), screening: augment, random 7-s crops, windows "
                                      "2 s apart averaged, each database×class drawn "
                                      "equally, 215×20 MFCC", "light-centred-bn", "screening",
                                      4, "mfcc", "databases"),
    "centred-bn-screening-joint": PhysioRow("the same with both PASCAL sets added as two "
                                            "more devices (findings as abnormal): "
                                            "screening-joint, on librosa's 80-dB maps "
                                            "(physionet-light before 2026-12-02)",
                                            "light-centred-bn", "screening-joint", 4, "mfcc",
                                            "databases"),
    "centred-bn-screening-joint-noise": PhysioRow(
        "the same with two white-noise copies of each recording (20-40 dB SNR, starts moved "
        "≤ 0.5 s): screening-joint-noise", "light-centred-bn", "screening-joint-noise", 4,
        "mfcc", "databases"),
    "centred-bn-screening-joint-dann": PhysioRow(
        "screening-joint with a domain-adversarial head (Ganin et al., 2016: the database or "
        "PASCAL set predicted from the pooled features through gradient reversal, weight "
        "ramped to 0.5)", "light-centred-bn", "screening-joint", 4, "mfcc", "databases",
        ("domain_adversarial=0.5",)),
    "centred-bn-screening-joint-stethoscope": PhysioRow(
        "screening-joint-noise with each noisy copy low-passed first at a cutoff drawn from "
        "150-1800 Hz (another stethoscope's bandwidth under its noise floor)",
        "light-centred-bn", "screening-joint-noise", 4, "mfcc", "databases",
        ("band_limit_hz=150",)),
    "centred-bn-screening-joint-2k": PhysioRow(
        "screening-joint on a 2-kHz front end (PhysioNet's own rate: band-pass 20-900 Hz, "
        "48 mel bands to 1 kHz, the same 215 frames)", "light-centred-bn", "screening-joint",
        4, "mfcc", "databases", (), 2000),
    "centred-bn-screening-joint-10ep": PhysioRow(
        "screening-joint trained 10 epochs per fold instead of 30 (less time to learn what "
        "tells the training databases apart)", "light-centred-bn", "screening-joint", 4,
        "mfcc", "databases", ("epochs=10",)),
    "centred-bn-screening-joint-10ep-mixstyle": PhysioRow(
        "screening-joint at 10 epochs with MixStyle (Zhou et al., 2021: with probability "
        "0.5 per batch, the early feature maps' channel mean and spread mixed with another "
        "map's, new devices between the training ones)", "light-centred-bn",
        "screening-joint", 4, "mfcc", "databases", ("epochs=10", "mixstyle=0.5")),
    "centred-bn-screening-joint-10ep-top40": PhysioRow(
        "screening-joint at 10 epochs on maps clipped to 40 dB below their peak (librosa's "
        "80 dB otherwise: a 2-kHz database's empty upper bands and another device's noise "
        "floor read the same)", "light-centred-bn", "screening-joint", 4, "mfcc",
        "databases", ("epochs=10",), top_db=40.0),
    "centred-bn-screening-joint-10ep-top40-noise": PhysioRow(
        "screening-joint-noise at 10 epochs on 40-dB maps (white-noise copies, 20-40 dB SNR)",
        "light-centred-bn", "screening-joint-noise", 4, "mfcc", "databases", ("epochs=10",),
        top_db=40.0),
    "centred-bn-screening-joint-10ep-top40-reverb": PhysioRow(
        "the same with each noisy copy reverberated first (a direct path and a decaying "
        "white-noise tail, reverberation time 0.05-0.3 s: another room and chest)",
        "light-centred-bn", "screening-joint-noise", 4, "mfcc", "databases",
        ("epochs=10", "reverb_s=0.3"), top_db=40.0),
    "centred-bn-screening-joint-top40": PhysioRow(
        "screening-joint (30 epochs) on maps clipped to 40 dB below their peak: the "
        "shipped physionet-light's training (before 2026-12-04 it read windows 2 s apart, "
        "as here)",
        "light-centred-bn", "screening-joint", 4, "mfcc", "databases", top_db=40.0),
    "centred-bn-screening-joint-top40-hop1": PhysioRow(
        "the same fold models reading 7-s windows 1 s apart instead of 2 s (no training: "
        "denser windows, fewer labels moved by a later start, docs/invariance.md)",
        "light-centred-bn", "screening-joint", 4, "mfcc", "databases", top_db=40.0,
        rescores="centred-bn-screening-joint-top40", eval_hop_s=1.0),
    "centred-bn-screening-joint-top40-hop0.5": PhysioRow(
        "the same fold models reading 7-s windows 0.5 s apart (16 frames: every window "
        "starts at the same phase of the network's 8-frame stride)",
        "light-centred-bn", "screening-joint", 4, "mfcc", "databases", top_db=40.0,
        rescores="centred-bn-screening-joint-top40", eval_hop_s=0.5),
    "centred-bn-screening-joint-top40-hop17f": PhysioRow(
        "the same fold models reading 7-s windows 17 frames (0.544 s) apart, a hop prime to "
        "the network's 8-frame stride, so that the windows start at every phase of it and "
        "their average does not hang on one: the shipped physionet-light",
        "light-centred-bn", "screening-joint", 4, "mfcc", "databases", top_db=40.0,
        rescores="centred-bn-screening-joint-top40", eval_hop_s=0.544),
    "light-x4-cv5": PhysioRow("light, augment, 215×20 MFCC", "light",
                              "augment", 4, "mfcc", "random"),
}


def run_folder(runs: Path, row: str, seed: int) -> Path:
    return Path(runs) / "physionet" / row / f"seed{seed}"


# ------------------------------------------------------------------------- reading runs
def read_run(folder: Path) -> dict[str, Any] | None:
    """A run folder's config and finished folds (``summary.json``, else the folds'
    ``metrics.json`` of an unfinished run: ``partial`` then says so); None if empty."""
    folder = Path(folder)
    summary = folder / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        return {"config": s["config"], "folds": s["folds"], "partial": False,
                "wall_seconds": s.get("wall_seconds"), "folder": folder}
    config = folder / "config.json"
    folds = sorted(folder.glob("fold*/metrics.json"), key=lambda p: int(p.parent.name[4:]))
    if not config.exists() or not folds:
        return None
    results = [json.loads(p.read_text()) for p in folds]
    return {"config": json.loads(config.read_text()), "folds": results, "partial": True,
            "wall_seconds": sum(f.get("seconds", 0.0) for f in results), "folder": folder}


def database_of(name: str) -> str:
    """A PhysioNet record's database from its name (``a0001.flac`` → ``a``)."""
    return Path(name).name[0].lower()


def p_abnormal(entry: dict[str, Any], classes: Sequence[str]) -> float:
    return float(entry["probs"][list(classes).index("abnormal")])


def predictions(run: dict[str, Any]) -> list[tuple[int, str, str, float]]:
    """(fold, database, true label, P(abnormal)) of every validation recording."""
    classes = run["config"]["classes"]
    return [(f["fold"], database_of(v["path"]), v["label"], p_abnormal(v, classes))
            for f in run["folds"] for v in f["validation"]]


def scores_at(rows: Sequence[tuple[int, str, str, float]], threshold: float = 0.5
              ) -> dict[str, object]:
    truth = [r[2] for r in rows]
    pred = ["abnormal" if r[3] >= threshold else "normal" for r in rows]
    return screening_scores(truth, pred, [r[3] for r in rows])


def cross_database_threshold(groups: Sequence[tuple[Sequence[bool], Sequence[float]]]
                             ) -> float:
    """The threshold (positive at ``score >= t``) with the highest *mean* MAcc over
    ``groups`` (one (truth, scores) pair per database), each group weighted equally: a
    database's size and prevalence do not pull it, as they do a pooled MAcc. Groups without
    both classes are left out; among ties, the threshold nearest 0.5; NaN with no group left.
    """
    kept = [(np.asarray(y, dtype=bool), np.asarray(s, dtype=float)) for y, s in groups]
    kept = [(y, s) for y, s in kept if y.any() and not y.all()]
    if not kept:
        return float("nan")
    values = np.unique(np.concatenate([s for _, s in kept]))
    cuts = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2,
                           [values[-1] + 1e-6]])
    macc = np.zeros(cuts.size)
    for y, s in kept:
        pos, neg = np.sort(s[y]), np.sort(s[~y])
        se = 1 - np.searchsorted(pos, cuts, side="left") / pos.size  # share >= t
        sp = np.searchsorted(neg, cuts, side="left") / neg.size  # share < t
        macc += (se + sp) / 2 / len(kept)
    best = np.flatnonzero(np.isclose(macc, macc.max()))
    return float(cuts[best[np.argmin(np.abs(cuts[best] - 0.5))]])


def per_database(run: dict[str, Any]) -> dict[str, dict[str, dict[str, object]]]:
    """Database → rule (``argmax``, ``threshold``, ``xdb``; see the module docstring) → its
    screening scores. For a leave-one-database-out run each database is one fold; for a CV
    run, the database's out-of-fold predictions pooled over the folds (argmax only)."""
    preds = predictions(run)
    out: dict[str, dict[str, dict[str, object]]] = {}
    lodo = run["config"]["split"] == "databases"
    dbs = sorted({p[1] for p in preds})
    for db in dbs:
        mine = [p for p in preds if p[1] == db]
        out[db] = {"argmax": scores_at(mine)}
        if lodo:
            others = [p for p in preds if p[1] != db]
            t = best_threshold([p[2] == "abnormal" for p in others], [p[3] for p in others])
            if math.isfinite(t):
                out[db]["threshold"] = {**scores_at(mine, t), "threshold": t}
            t = cross_database_threshold(
                [([p[2] == "abnormal" for p in preds if p[1] == e],
                  [p[3] for p in preds if p[1] == e]) for e in dbs if e != db])
            if math.isfinite(t):
                out[db]["xdb"] = {**scores_at(mine, t), "threshold": t}
    return out


# ------------------------------------------------------------------------- over seeds
def cell(values: Sequence[float]) -> str:
    """``0.812 ± 0.021`` over seeds (sample std), the value alone for one seed."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "–"
    if len(finite) == 1:
        return f"{finite[0]:.3f}"
    return f"{statistics.fmean(finite):.3f} ± {statistics.stdev(finite):.3f}"


def seed_runs(runs: Path, row: str) -> list[dict[str, Any]]:
    """The row's runs that have at least one finished fold, by seed."""
    base = Path(runs) / "physionet" / row
    found = []
    folders = [p for p in base.glob("seed*") if p.is_dir() and p.name[4:].isdigit()]
    for folder in sorted(folders, key=lambda p: int(p.name[4:])):
        if (run := read_run(folder)) is not None:
            found.append(run)
    return found


def prevalence(runs: Sequence[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Database → (records, abnormal) from a run's validation recordings (every record is
    validated once in a finished CV run)."""
    counts: dict[str, list[int]] = {}
    for run in runs:
        if run["partial"]:
            continue
        seen: dict[str, list[int]] = {}
        for _, db, label, _ in predictions(run):
            c = seen.setdefault(db, [0, 0])
            c[0] += 1
            c[1] += label == "abnormal"
        counts = {**seen, **counts}
    return {db: (n, k) for db, (n, k) in sorted(counts.items())}


def _settings(run: dict[str, Any]) -> str:
    cfg = run["config"]
    recipe = cfg["recipe"]
    fe = cfg.get("frontend", {})
    frames = f", frame length {fe['frame_length']}" if "frame_length" in fe else ""
    return (f"{recipe['epochs']} epochs{frames}, {cfg['threads']} thread(s) on "
            f"{cfg.get('device') or cfg.get('machine', '?')}")


def command_of(row: PhysioRow, run: dict[str, Any]) -> str:
    cfg = run["config"]
    if row.rescores is not None:
        return (f"heartsound-lab physionet --train --only {_row_id(row)} --seeds {cfg['seed']}"
                f"   # re-scores {run_folder(Path('runs'), row.rescores, cfg['seed'])}")
    # A run that trained its final model (the shipped one's) is printed without --no-final.
    final = Path(run.get("folder", ".")) / "final" / "model.onnx"
    return (f"heartsound train {' '.join(row.train_arguments())} --epochs "
            f"{cfg['recipe']['epochs']} --seed {cfg['seed']} --threads {cfg['threads']} "
            + ("" if final.is_file() else "--no-final ")
            + f"--out {run_folder(Path('runs'), _row_id(row), cfg['seed'])}")


def _row_id(row: PhysioRow) -> str:
    return next(k for k, v in ROWS.items() if v == row)


def lodo_table(runs: Sequence[dict[str, Any]], rule: str) -> list[str]:
    """Markdown rows: each database's Se, Sp, MAcc, AUROC over seeds, then the mean over
    a, b, d, f, then c apart."""
    per_seed = [per_database(r) for r in runs]
    if not per_seed:
        return []
    dbs = sorted({db for p in per_seed for db in p})

    def values(db: str, metric: str) -> list[float]:
        return [float(p[db][rule][metric]) for p in per_seed  # type: ignore[arg-type]
                if db in p and rule in p[db]]

    tuned = rule != "argmax"
    lines = ["| held-out database | records | % abnormal | " + " | ".join(
        SHOWN[m] for m in METRICS) + (" | threshold |" if tuned else " |"),
        "|---|---|---|" + "---|" * len(METRICS) + ("---|" if tuned else "")]

    def tail(db: str) -> str:
        if not tuned:
            return ""
        return f" {cell(values(db, 'threshold'))} |"

    first = per_seed[0]
    for db in [d for d in dbs if d in MAIN_DATABASES]:
        s = first[db]["argmax"]
        lines.append(f"| {db} | {s['n']} | {float(s['prevalence']):.0%} | "  # type: ignore[arg-type]
                     + " | ".join(cell(values(db, m)) for m in METRICS) + " |" + tail(db))
    main = [d for d in dbs if d in MAIN_DATABASES]
    if main:
        means = {m: [statistics.fmean(float(p[d][rule][m]) for d in main  # type: ignore[arg-type]
                                      if d in p and rule in p[d]) for p in per_seed]
                 for m in METRICS}
        lines.append(f"| **mean of {', '.join(main)}** | | | "
                     + " | ".join(f"**{cell(means[m])}**" for m in METRICS) + " |"
                     + (" |" if tuned else ""))
    for db in [d for d in dbs if d not in MAIN_DATABASES]:
        s = first[db]["argmax"]
        lines.append(f"| {db} (apart) | {s['n']} | "
                     f"{float(s['prevalence']):.0%} | "  # type: ignore[arg-type]
                     + " | ".join(cell(values(db, m)) for m in METRICS) + " |" + tail(db))
    return lines


def paired_line(runs: Sequence[dict[str, Any]], sources: Sequence[dict[str, Any]]) -> str:
    """A re-scored row against the row whose fold models it re-scores, seed by seed: the
    paired differences of the mean over a, b, d, f (argmax MAcc, AUROC)."""
    from heartsound.research.ablation import paired_text

    by_seed = {r["config"]["seed"]: r for r in sources if not r["partial"]}
    pairs = [(r, by_seed[r["config"]["seed"]]) for r in runs if r["config"]["seed"] in by_seed]
    if not pairs:
        return "Against the fold models' own reading: their runs are not in this checkout."
    diffs = {m: [lodo_means([a])[m][0] - lodo_means([b])[m][0] for a, b in pairs]
             for m in ("macc", "auroc")}
    return ("Against the same fold models read as trained, seed by seed (mean over a, b, d, "
            f"f; seeds better / same / worse): MAcc (argmax) {paired_text(diffs['macc'])}, "
            f"AUROC {paired_text(diffs['auroc'])}.")


def lodo_means(runs: Sequence[dict[str, Any]], rule: str = "argmax") -> dict[str, list[float]]:
    """Per seed, the mean over databases a, b, d, f (those it has) of each metric."""
    per_seed = [per_database(r) for r in runs]
    return {m: [statistics.fmean(vs) if (vs := [
        float(p[d][rule][m]) for d in MAIN_DATABASES  # type: ignore[arg-type]
        if d in p and rule in p[d]]) else math.nan for p in per_seed] for m in METRICS}


# ------------------------------------------------------------------------- ROC curves
def roc_curve(y_true: Sequence[bool], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) from (0, 0) to (1, 1) as the threshold falls past each distinct score
    (positive at ``score >= t``); tied scores move together, a diagonal step, as
    :func:`heartsound.metrics.roc_auc` counts them half. Points inside a straight horizontal
    or vertical run are dropped: the same curve, a smaller figure."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if s.size == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last = np.concatenate([np.flatnonzero(np.diff(s)), [s.size - 1]])
    tpr = np.concatenate([[0.0], np.cumsum(y)[last] / max(1, int(y.sum()))])
    fpr = np.concatenate([[0.0], np.cumsum(~y)[last] / max(1, int((~y).sum()))])
    if fpr.size > 2:
        dx, dy = np.diff(fpr), np.diff(tpr)
        straight = (((dx[:-1] == 0) & (dx[1:] == 0)) | ((dy[:-1] == 0) & (dy[1:] == 0)))
        keep = np.concatenate([[True], ~straight, [True]])
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr


def operating_point(y_true: Sequence[bool], scores: Sequence[float],
                    threshold: float = 0.5) -> tuple[float, float]:
    """(FPR, TPR) of the rule ``score >= threshold``: where argmax sits on the curve."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    return float((s[~y] >= threshold).mean()), float((s[y] >= threshold).mean())


def roc_curves(runs: Sequence[dict[str, Any]]
               ) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[float, float] | None]]:
    """One ROC curve per held-out database and one of all of them pooled, each over the
    runs' (seeds') predictions pooled: a record counts once per seed. Legend labels carry
    the records and the AUROC of those pooled predictions. Databases (or a pool) without
    both classes are left out."""
    preds = [p for r in runs for p in predictions(r)]
    records: dict[str, set[str]] = {}
    for r in runs:
        for f in r["folds"]:
            for v in f["validation"]:
                records.setdefault(database_of(v["path"]), set()).add(v["path"])
    out: dict[str, tuple[np.ndarray, np.ndarray, tuple[float, float] | None]] = {}
    groups = [(db, [p for p in preds if p[1] == db]) for db in sorted(records)]
    n_all = sum(len(v) for v in records.values())
    groups.append((f"pooled ({', '.join(sorted(records))})", preds))
    for name, mine in groups:
        y = [p[2] == "abnormal" for p in mine]
        s = [p[3] for p in mine]
        if all(y) or not any(y):
            continue
        n = len(records[name]) if name in records else n_all
        fpr, tpr = roc_curve(y, s)
        out[f"{name}: {n} records, AUROC {roc_auc(y, s):.3f}"] = (fpr, tpr,
                                                                  operating_point(y, s))
    return out


def roc_figure(row_id: str, runs: Sequence[dict[str, Any]], folder: Path) -> Path | None:
    """``folder/roc-<row>.svg``: the row's ROC curves (:func:`roc_curves`); None when no
    database has both classes."""
    from heartsound.research.plots import save_roc_figure

    curves = roc_curves(runs)
    if not curves:
        return None
    pooled = next((k for k in curves if k.startswith("pooled")), None)
    seeds = ", ".join(str(r["config"]["seed"]) for r in runs)
    title = (f"{row_id}: P(abnormal) of each held-out database\n"
             f"seed{'s' if len(runs) != 1 else ''} {seeds}"
             + (" pooled" if len(runs) > 1 else ""))
    return save_roc_figure(curves, Path(folder) / f"roc-{row_id}.svg", title=title,
                           emphasis=pooled)


def cv_lines(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The 5-fold CV figure: the fold mean of each metric, and the pooled out-of-fold
    scores per database, each over seeds."""
    done = [r for r in runs if not r["partial"]]
    if not done:
        return []
    fold_mean = {m: [statistics.fmean(float(f["scores"][m]) for f in r["folds"]) for r in done]
                 for m in METRICS}
    pooled = [scores_at(predictions(r)) for r in done]
    lines = ["| | " + " | ".join(SHOWN[m] for m in METRICS) + " |",
             "|---|" + "---|" * len(METRICS),
             "| **mean of the 5 folds** | " + " | ".join(f"**{cell(fold_mean[m])}**"
                                                    for m in METRICS) + " |",
             "| pooled out-of-fold | " + " | ".join(cell([float(p[m]) for p in pooled])  # type: ignore[arg-type]
                                                  for m in METRICS) + " |"]
    per_db = [per_database(r) for r in done]
    for db in sorted({d for p in per_db for d in p}):
        lines.append(f"| database {db} (out-of-fold) | " + " | ".join(
            cell([float(p[db]["argmax"][m]) for p in per_db if db in p])  # type: ignore[arg-type]
            for m in METRICS) + " |")
    return lines


def _seed_list(runs: Sequence[dict[str, Any]]) -> str:
    seeds = [str(r["config"]["seed"]) for r in runs]
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(seeds)})"


def _timing(runs: Sequence[dict[str, Any]]) -> str:
    parts = []
    for r in runs:
        wall = r.get("wall_seconds") or 0.0
        folds = ", ".join(f"{f['seconds'] / 60:.1f}" for f in r["folds"])
        parts.append(f"seed {r['config']['seed']}: {wall / 60:.1f} min in all (folds: "
                     f"{folds} min)")
    return "; ".join(parts)


CARRIED = "†"


def _kind(row: PhysioRow) -> str:
    return "leave-one-database-out" if row.split == "databases" else "stratified 5-fold CV"


def carried_parts(previous_text: str) -> dict[str, tuple[str, list[str]]]:
    """Per row id, its headline-table line and its section as an earlier generation of the
    page shows them (carried ones too), for rows whose run folders a checkout lacks."""
    out: dict[str, tuple[str, list[str]]] = {}
    sections = ("\n" + previous_text).split("\n## ")
    for row_id, row in ROWS.items():
        line = next((x for x in previous_text.splitlines()
                     if x.startswith(f"| {row.label} |")
                     or x.startswith(f"| {row.label} {CARRIED} |")), None)
        body = next((part for part in sections[1:]
                     if part.startswith(f"{row.label} ({_kind(row)})")), None)
        if line is not None and body is not None:
            out[row_id] = (line, ("## " + body.rstrip("\n")).split("\n"))
    return out


def headline(found: dict[str, list[dict[str, Any]]],
             carried: dict[str, tuple[str, list[str]]] | None = None) -> list[str]:
    """One table, a row per configuration: its headline MAcc (argmax) and AUROC, the mean
    over a, b, d, f for leave-one-database-out, the mean of the 5 folds for CV; a row with
    no run here but in ``carried`` keeps its earlier line, marked."""
    rows = []
    for row_id, rs in found.items():
        row = ROWS[row_id]
        if not rs and carried and row_id in carried:
            line = carried[row_id][0]
            rows.append(line if f"| {row.label} {CARRIED} |" in line
                        else line.replace(f"| {row.label} |", f"| {row.label} {CARRIED} |", 1))
            continue
        done = [r for r in rs if not r["partial"]]
        if row.split == "databases":
            shown = done or rs
            if not shown:
                continue
            means = lodo_means(shown)
            what = "leave-one-database-out, mean of a, b, d, f" + (
                "" if done else " (unfinished: finished folds only)")
            macc, auroc = means["macc"], means["auroc"]
        else:
            if not done:
                continue
            what = "stratified 5-fold CV, mean of the folds"
            macc = [statistics.fmean(float(f["scores"]["macc"]) for f in r["folds"])
                    for r in done]
            auroc = [statistics.fmean(float(f["scores"]["auroc"]) for f in r["folds"])
                     for r in done]
            shown = done
        epochs = ", ".join(sorted({str(r["config"]["recipe"]["epochs"]) for r in shown}))
        rows.append(f"| {row.label} | {what} | {len(shown)} | {epochs} | {cell(macc)} | "
                    f"{cell(auroc)} |")
    if not rows:
        return []
    return ["| configuration | evaluation | seeds | epochs | MAcc (argmax) | AUROC |",
            "|---|---|---|---|---|---|", *rows, "",
            f"The 2016 challenge's best official MAcc: {CHALLENGE_BEST_MACC:.4f} "
            "(within-database).", ""]


def physionet_markdown(runs: Path, generated: dict[str, Any] | None = None,
                       figures: Path | None = None, cross: Sequence[str] | None = None,
                       previous_text: str = "") -> str:
    """docs/physionet.md from the run folders under ``runs/physionet/``. With ``figures``
    (a folder beside the markdown), each leave-one-database-out row's ROC figure is written
    there and linked; ``cross``: the lines of the cross-dataset section
    (:func:`cross_section`), else a line on how to make it. A row with no run folder here
    keeps its line and section from ``previous_text`` (the page as it was), marked †."""
    from heartsound.provenance import machine

    m = generated or machine()
    found = {row: seed_runs(runs, row) for row in ROWS}
    carried = {k: v for k, v in carried_parts(previous_text).items() if not found[k]}
    lines = ["# PhysioNet/CinC 2016: screening across databases", "",
             f"Generated by `heartsound-lab physionet` on {m['cpu']}, {m['date']}, from the run "
             "folders under `runs/physionet/`. Task: normal against abnormal (a confirmed "
             "cardiac diagnosis), abnormal the positive class; Se = sensitivity, Sp = "
             "specificity, MAcc = (Se + Sp) / 2 (the challenge's official score), AUROC = "
             "ROC AUC of P(abnormal). Data: the five training databases a, b, c, d, f "
             "(1,099 records, 482 abnormal; `../shared/data/README.md`); the sixth, e, is "
             "withheld and scored from outside.", "",
             "**Leave-one-database-out** (`--split databases`): each fold trains on four "
             "databases and tests on the fifth, never seen: another group, stethoscope, "
             "place and population. It says how the model does on a new device. **5-fold CV** "
             "(`--split random`, stratified by label): records are spread over the folds; "
             "record names carry no patient id, so a patient with several records in one "
             "database can be in training and validation at once, and every database is "
             "seen in training. It is the optimistic, within-database figure. Database c "
             "has 31 records (7 normal): its Sp rests on 7 recordings, so it is reported "
             "apart and left out of the mean over a, b, d, f.", "",
             f"For comparison: the best official score of the 2016 challenge was MAcc "
             f"{CHALLENGE_BEST_MACC:.4f} (Potes et al., CinC 2016), on the challenge's hidden "
             "test set, whose records came from the same databases as the training set "
             "(within-database, like the 5-fold CV here, not like a leave-one-database-out "
             "score). Why the two differ: each database's device and protocol leave marks a "
             "network learns before the heart; from a handful of spectral statistics the "
             "database of a PhysioNet 2016 record can be told with 98 % accuracy (D. Shariat "
             "Panah, A. Hines, S. McKeever, \"Exploring composite dataset biases for heart "
             "sound classification\", AICS 2020).", "",
             "Decision rules: *argmax* predicts abnormal when P(abnormal) ≥ 0.5. "
             "*Other-fold threshold*: for each held-out database, the threshold with the "
             "best MAcc on the pooled out-of-fold predictions of the other four folds. "
             "*Cross-database threshold*: for held-out database D, the threshold with the "
             "best *mean* over the other four databases of each one's MAcc on its "
             "out-of-fold predictions, each database weighted equally (c too), so neither "
             "the largest database nor the pool's prevalence picks it: the threshold that "
             "carries best from database to database, chosen by leave-one-database-out "
             "among the training databases. In both, D's own predictions and labels never "
             "choose it; but the models behind the other folds did train on D (the fold "
             "holding out b trained on a, c, d, f), so both approximate, and are not, a "
             "threshold chosen by a nested CV inside the four training databases (not run: "
             "it would cost four more trainings per fold).", ""]
    preval = prevalence([r for rs in found.values() for r in rs])
    if preval:
        lines += ["Prevalence per database: " + ", ".join(
            f"{db} {k}/{n} ({k / n:.0%} abnormal)" for db, (n, k) in preval.items())
            + ". A fixed threshold that suits one prevalence does not suit another; AUROC "
            "does not depend on it.", ""]
    lines += headline(found, carried)
    if carried:
        lines += [f"{CARRIED}: a configuration whose run folders are not in this checkout: "
                  "its line and section are kept from this page as an earlier generation "
                  "wrote them (their own machine and date are in the section; the ROC figure "
                  "is the one written then).", ""]
    missing = [k for k, v in found.items() if not v and k not in carried]
    if missing:
        lines += ["Not run yet (no finished fold): " + "; ".join(
            f"`{k}` ({ROWS[k].label})" for k in missing) + ". `heartsound-lab physionet "
            f"--train --only {' '.join(missing)}` trains "
            f"{'it' if len(missing) == 1 else 'them'}.", ""]
    any_run = False
    for row_id, row in ROWS.items():
        rs = found[row_id]
        if not rs and row_id in carried:
            any_run = True
            section = carried[row_id][1]
            note = f"{CARRIED} Kept from this page as generated before: no run folder here."
            lines += [section[0], "", *([] if note in section else [note, ""]),
                      *section[2:], ""]
            continue
        if not rs:
            continue
        any_run = True
        partial = [r for r in rs if r["partial"]]
        done = [r for r in rs if not r["partial"]]
        kind = _kind(row)
        lines += [f"## {row.label} ({kind})", "",
                  f"`{row_id}`: {_seed_list(done) if done else 'no finished seed'}; "
                  + "; ".join(_settings(r) for r in rs[:1]) + ". Timing (wall clock as "
                  "run; runs beside it on the machine slow it): " + _timing(rs) + ".", ""]
        if row.sets:
            lines += ["Recipe overrides: " + ", ".join(f"`--set {s}`" for s in row.sets)
                      + f" on the {row.recipe} recipe.", ""]
        epochs = {r["config"]["recipe"]["epochs"] for r in rs}
        if epochs != {30} and not any(s.startswith("epochs=") for s in row.sets):
            lines += [f"Trained {', '.join(map(str, sorted(epochs)))} epochs per fold, not "
                      "the recipe's 30 (time).", ""]
        # A leave-one-database-out fold is one database: with no finished seed, the finished
        # folds of the unfinished runs are shown; a CV run's folds mean nothing alone.
        shown = done or (partial if row.split == "databases" else [])
        if partial:
            held = ["".join(sorted({database_of(v["path"]) for f in r["folds"]
                                    for v in f["validation"]})) for r in partial]
            use = ("their finished folds are tabulated below (the thresholds then rest on "
                   "the finished folds only)" if shown and not done
                   else "not in the tables")
            lines += [f"Unfinished: {', '.join(str(r['folder']) for r in partial)} "
                      f"({', '.join(str(len(r['folds'])) for r in partial)} fold(s) done: "
                      f"database(s) {', '.join(held)}); {use}.", ""]
        label = "Mean over a, b, d, f" if done else "Mean over the finished ones of a, b, d, f"
        if row.split == "databases" and shown:
            means = {rule: lodo_means(shown, rule) for rule in RULES}
            for rule, title in RULES.items():
                lines += [f"{title}:", "", *lodo_table(shown, rule), ""]
            lines += [f"{label}: MAcc {cell(means['argmax']['macc'])} at argmax, "
                      f"{cell(means['threshold']['macc'])} at the other-fold threshold, "
                      f"{cell(means['xdb']['macc'])} at the cross-database threshold; AUROC "
                      f"{cell(means['argmax']['auroc'])}; against the challenge's best "
                      f"official MAcc {CHALLENGE_BEST_MACC:.4f} (within-database, see "
                      "above).", ""]
            if figures is not None and (fig := roc_figure(row_id, shown, figures)):
                lines += [f"![ROC curves of {row_id}]({Path(figures).name}/{fig.name})", "",
                          "ROC of P(abnormal): one curve per held-out database, each "
                          "predicted by the fold model that never saw it, and all of them "
                          "pooled (black)"
                          + (", the seeds' predictions pooled (a record counts once per "
                             "seed; the legend's AUROC is that of the pooled predictions, "
                             "the tables' the mean of the seeds' AUROCs)" if len(shown) > 1
                             else "") + ". The pooled curve sweeps one threshold across "
                          "databases of other devices and prevalence, so it can lie below "
                          "each database's own. Dots: argmax (P(abnormal) ≥ 0.5).", ""]
        elif done:
            lines += ["At argmax:", "", *cv_lines(done), ""]
        if row.rescores is not None and row.split == "databases" and done:
            lines += [paired_line(done, found.get(row.rescores, [])), ""]
        lines += [("The command of each run (no training: it re-scores the fold models of "
                   f"`{row.rescores}`, seed by seed):" if row.rescores is not None else
                   "The `heartsound train` command of each run (what `heartsound-lab "
                   "physionet --train` runs; `heartsound-lab physionet` then reads the "
                   "folder):"), "",
                  "```", *(command_of(row, r) for r in rs), "```", ""]
    if not any_run:
        lines += ["No finished run yet: `heartsound-lab physionet --train` trains them.", ""]
    lines += list(cross) if cross is not None else [
        "Across datasets (the PASCAL models on PhysioNet, the PhysioNet model on PASCAL "
        "set B): not in this page; `heartsound-lab physionet --cross` adds it.", ""]
    lines += ["Regenerate this page: `heartsound-lab physionet` (add `--train --seeds 0 1 2 "
              "--threads N` to train the missing runs first; `--cross` to predict the "
              "cross-dataset table's missing models, otherwise read from its cache).", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------- across datasets
CROSS_PASCAL_MODELS = ("pascal-b-light", "pascal-a-light")  # scored on PhysioNet
PHYSIONET_MODEL = "physionet-light"  # scored on PASCAL set B (--physionet-model)
# A foreign class is mapped onto the screening task: these mean "abnormal" (a murmur, an
# extra sound or beat is a finding), ``normal`` normal; ``artifact`` is no heart sound at
# all, so an artifact answer is no screening answer (an abstention).
ABNORMAL_CLASSES = ("abnormal", "murmur", "extrastole", "extrahls")
NOT_HEART_CLASSES = ("artifact",)


def _check_classes(classes: Sequence[str]) -> None:
    known = ("normal", *ABNORMAL_CLASSES, *NOT_HEART_CLASSES)
    unknown = [c for c in classes if c not in known]
    if unknown or "normal" not in classes:
        raise ValueError(f"classes {list(classes)}: cannot map onto normal/abnormal "
                         f"(expected normal and some of {', '.join(known[1:])})")


def abnormal_probability(classes: Sequence[str], probs: Sequence[float]) -> float:
    """P(abnormal) of a model with its own classes: the summed probability of the abnormal
    ones (pascal-b-light: 1 − P(normal); pascal-a-light: P(murmur) + P(extrahls), its
    artifact share counting for neither side; a screening model: P(abnormal))."""
    _check_classes(classes)
    return float(sum(p for c, p in zip(classes, probs, strict=True) if c in ABNORMAL_CLASSES))


def screening_answer(classes: Sequence[str], probs: Sequence[float]) -> str:
    """The model's own argmax class as a screening answer: ``normal``, ``abnormal`` (any
    finding class), or ``unusable`` for ``artifact`` (an abstention, which
    :func:`heartsound.metrics.screening_scores` counts as not correct)."""
    _check_classes(classes)
    best = classes[int(np.argmax(np.asarray(probs, dtype=float)))]
    if best in NOT_HEART_CLASSES:
        return "unusable"
    return "abnormal" if best in ABNORMAL_CLASSES else "normal"


def screening_truth(label: str | None) -> str | None:
    """A dataset's label as screening truth (PASCAL murmur / extrastole / extrahls are
    abnormal); None for what has no screening truth (artifact, unlabelled)."""
    if label == "normal":
        return "normal"
    return "abnormal" if label in ABNORMAL_CLASSES else None


def cross_scores(files: Sequence[dict[str, Any]], classes: Sequence[str]) -> dict[str, object]:
    """Screening scores of one model on recordings of another dataset (``files``: cache
    entries with ``label``, ``probs``, ``usable``), the quality gate not applied: Se, Sp,
    MAcc at the model's argmax, AUROC of :func:`abnormal_probability`; ``artifact``: how many
    it called artifact; ``gate_unusable``: how many the gate would have called unusable."""
    kept = [f for f in files if screening_truth(f["label"]) is not None]
    answers = [screening_answer(classes, f["probs"]) for f in kept]
    scores = screening_scores([str(screening_truth(f["label"])) for f in kept], answers,
                              [abnormal_probability(classes, f["probs"]) for f in kept])
    scores["artifact"] = sum(a == "unusable" for a in answers)
    scores["gate_unusable"] = sum(not f["usable"] for f in kept)
    return scores


def cross_by_group(files: Sequence[dict[str, Any]], classes: Sequence[str]
                   ) -> dict[str, dict[str, object]]:
    """:func:`cross_scores` per group (a PhysioNet database, PASCAL's set) and, with more
    than one group, ``all`` of them pooled."""
    groups = sorted({f["group"] for f in files})
    out = {g: cross_scores([f for f in files if f["group"] == g], classes) for g in groups}
    if len(groups) > 1:
        out["all"] = cross_scores(files, classes)
    return out


def _cache_path(cache_dir: Path, dataset: str, sha256: str) -> Path:
    return Path(cache_dir) / f"{dataset}-{sha256[:16]}.json"


def cross_predictions(model: str, dataset: str, cache_dir: Path, compute: bool,
                      data_dir: str | None = None) -> dict[str, Any] | None:
    """One model's probabilities on every labelled recording of ``dataset``
    (``physionet2016`` or ``pascal-b``), predicted without the quality gate but with its
    verdict kept; cached in ``cache_dir`` under the model file's sha256, so only a changed
    model is predicted again. None when not cached and not ``compute``. Raises
    :class:`heartsound.registry.ModelError` for a model that is not found."""
    from heartsound.atomic import write_json
    from heartsound.features import file_digest
    from heartsound.registry import resolve_model

    path = resolve_model(model)
    sha = file_digest(path)
    cache = _cache_path(cache_dir, dataset, sha)
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("sha256") == sha and cached.get("dataset") == dataset:
            return cached
    if not compute:
        return None
    from heartsound.data import load_dataset
    from heartsound.infer import Classifier

    recordings = [r for r in load_dataset(dataset, data_dir)
                  if screening_truth(r.label) is not None]
    clf = Classifier.load(str(path))
    by_path = {r.path: r for r in recordings}
    verdicts: dict[Path, Any] = {}
    files, errors = [], []
    t0 = time.perf_counter()
    for k, (p, probs, error) in enumerate(clf.predict_files([r.path for r in recordings],
                                                            verdicts=verdicts), start=1):
        r = by_path[p]
        verdict = verdicts.pop(p, None)
        name = f"{p.parent.name}/{p.name}"
        if probs is None:
            errors.append(f"{name}: {error}")
        else:
            files.append({"path": name, "label": r.label,
                          "group": r.group if dataset == DATASET else "set B",
                          "probs": [round(float(x), 5) for x in probs],
                          "usable": verdict is None or verdict.usable,
                          "reason": "" if verdict is None or verdict.usable else verdict.reason})
        if k % 200 == 0 or k == len(recordings):
            print(f"   {model} on {dataset}: {k}/{len(recordings)} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    result = {"model": model, "file": path.name, "sha256": sha, "dataset": dataset,
              "classes": list(clf.classes), "reads": clf.config.span(clf.window_hop_s),
              "files": files, "errors": errors}
    write_json(cache, result)
    return result


def _pct(k: int, n: int) -> str:
    return f"{k} ({k / n:.0%})" if n else "–"


def cross_table(results: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown rows: per model and group, records, prevalence, Se, Sp, MAcc at argmax,
    AUROC, the share called artifact and the gate's unusable count; for PhysioNet, the mean
    over a, b, d, f and all databases pooled too."""
    lines = ["| model | tested on | records | % abnormal | Se | Sp | MAcc (argmax) | AUROC | "
             "called artifact | gate: unusable |", "|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        classes = res["classes"]
        groups = cross_by_group(res["files"], classes)
        has_artifact = any(c in NOT_HEART_CLASSES for c in classes)

        def row(name: str, s: dict[str, object], model: str = res["model"],
                artifact: bool = has_artifact) -> str:
            n = int(s["n"])  # type: ignore[call-overload]
            return (f"| {model} | {name} | {n} | {float(s['prevalence']):.0%} | "  # type: ignore[arg-type]
                    + " | ".join(f"{float(s[m]):.3f}" for m in METRICS)  # type: ignore[arg-type]
                    + f" | {_pct(int(s['artifact']), n) if artifact else '–'} | "  # type: ignore[call-overload]
                    f"{_pct(int(s['gate_unusable']), n)} |")  # type: ignore[call-overload]

        where = "PhysioNet " if res["dataset"] == DATASET else "PASCAL "
        for g in [g for g in groups if g != "all" and g in MAIN_DATABASES]:
            lines.append(row(f"{where}{g}", groups[g]))
        main = [g for g in groups if g in MAIN_DATABASES]
        if len(main) > 1:
            lines.append(f"| {res['model']} | **mean of {', '.join(main)}** | | | " + " | ".join(
                f"**{statistics.fmean(float(groups[g][m]) for g in main):.3f}**"  # type: ignore[arg-type]
                for m in METRICS) + " | | |")
        for g in [g for g in groups if g != "all" and g not in MAIN_DATABASES]:
            apart = " (apart)" if res["dataset"] == DATASET else " labelled"
            lines.append(row(f"{where}{g}{apart}", groups[g]))
        if "all" in groups:
            lines.append(row(f"**{where}all, pooled**", groups["all"]))
    return lines


def cross_lines(results: Sequence[dict[str, Any]], notes: Sequence[str]) -> list[str]:
    """The doc's section on other datasets: what is scored and how, the table, the notes
    (models not found, results not computed)."""
    spans = [f"{r['model']}: {r['reads']}" for r in results if r.get("reads")]
    reads = f" ({'; '.join(spans)})" if spans else ""
    lines = ["## Across datasets: PASCAL models on PhysioNet, the PhysioNet model on PASCAL", "",
             "The shipped PASCAL models (each trained on all labelled recordings of its set) "
             "on the 1,099 PhysioNet records, and the PhysioNet model on PASCAL set B's 461 "
             "labelled recordings (normal 320 against murmur 95 + extrastole 46 as abnormal). "
             "A foreign model's classes are mapped onto the screening task: P(abnormal) is "
             "the summed probability of its finding classes (pascal-b-light: 1 − P(normal) "
             "= P(murmur) + P(extrastole); pascal-a-light: P(murmur) + P(extrahls)), and its "
             "AUROC ranks that. *Argmax* is the model's own class: normal → normal, a finding "
             "→ abnormal; pascal-a-light's *artifact* (not a heart sound) is no screening "
             "answer: it counts as not correct, in the denominators of Se and Sp (as "
             "`heartsound.metrics.screening_scores` counts an abstention), and the share "
             "called artifact is its own column. Prediction runs without the quality gate "
             "(every recording is scored); *gate: unusable* says how many the gate would "
             "have answered unusable instead. Each model reads a recording as `heartsound "
             f"predict` does{reads}. The PhysioNet records are "
             "sampled at 2 kHz: resampled to the front end's 4 kHz they hold nothing above "
             "1 kHz, where the "
             "PASCAL models' band-pass reaches 1,800 Hz (set B: 4 kHz recordings).", ""]
    if results:
        lines += cross_table(results) + [""]
        lines += ["Models: " + "; ".join(
            f"{r['model']} (`{r['file']}`, sha256 {r['sha256'][:12]}…"
            + (f"; {len(r['errors'])} unreadable recording(s) left out" if r["errors"] else "")
            + ")" for r in results) + ". The per-recording probabilities are cached in "
            "`runs/physionet/cross/<dataset>-<sha256 prefix>.json`: a changed model file "
            "is predicted again, an unchanged one is read back.", ""]
    lines += [*notes, ""] if notes else []
    return lines


def cross_section(cache_dir: Path, compute: bool, physionet_model: str = PHYSIONET_MODEL,
                  physionet_data: str | None = None, pascal_data: str | None = None
                  ) -> list[str]:
    """The cross-dataset section from cached or (``compute``) new predictions; a model not
    found or a result not computed is said in a note, never an error."""
    from heartsound.data import DataError
    from heartsound.registry import ModelError

    jobs = [(m, DATASET, physionet_data) for m in CROSS_PASCAL_MODELS]
    jobs.append((physionet_model, "pascal-b", pascal_data))
    results, notes = [], []
    for model, dataset, data in jobs:
        try:
            res = cross_predictions(model, dataset, cache_dir, compute, data)
        except ModelError:
            notes.append(f"{model} on {dataset}: skipped, no model `{model}` (neither shipped "
                         "nor a file or run folder)"
                         + ("; `--physionet-model NAME_OR_PATH` names another." if
                            dataset != DATASET else "."))
            continue
        except DataError as exc:
            notes.append(f"{model} on {dataset}: skipped, no data ({exc}).")
            continue
        if res is None:
            notes.append(f"{model} on {dataset}: not computed yet (`heartsound-lab physionet "
                         "--cross` predicts it once and caches it).")
        else:
            results.append(res)
            if seen_in_training(model, dataset):
                notes.append(f"{model} on {dataset}: **not a held-out figure** — the model "
                             f"trained on these recordings too (its recipe adds {dataset}'s "
                             "labelled recordings as another device); it shows what the "
                             "joint training fits, not how it generalises.")
    return cross_lines(results, notes)


# Without a network: research.baseline's 207 statistics of a whole recording (log-mel and
# MFCC statistics, then the beat-regularity measures of heartsound.rhythm, last).
STATISTICS_SETS = {
    "beat regularity alone (the least similar cycle, the share of dissimilar cycles, "
    "aperiodicity)": slice(-len(RHYTHM_MEASURES), None),
    "spectral statistics and beat regularity (all 207)": slice(None),
}


def statistics_lodo(X: np.ndarray, abnormal: Sequence[bool], databases: Sequence[str]
                    ) -> dict[str, dict[str, dict[str, object]]]:
    """Per feature set and held-out database, the screening scores of a logistic regression
    (``research.baseline.SoftmaxRegression``, C 0.1) fitted on the other databases' records:
    leave-one-database-out with no network and no seed."""
    from heartsound.research.baseline import SoftmaxRegression

    y = np.asarray(abnormal, dtype=int)
    dbs = np.asarray(databases)
    out: dict[str, dict[str, dict[str, object]]] = {}
    for name, cols in STATISTICS_SETS.items():
        out[name] = {}
        for db in sorted(set(databases)):
            train, test = dbs != db, dbs == db
            p = SoftmaxRegression().fit(X[train][:, cols], y[train], 2).predict_proba(
                X[test][:, cols])[:, 1]
            truth = ["abnormal" if v else "normal" for v in y[test]]
            out[name][db] = screening_scores(
                truth, ["abnormal" if v >= 0.5 else "normal" for v in p], list(p))
    return out


def statistics_section(cache: Path, compute: bool, data: str | None = None) -> list[str]:
    """The no-network section from ``cache`` (a JSON of :func:`statistics_lodo`'s scores),
    computed first with ``compute`` (a minute or two: every record's statistics)."""
    from heartsound.atomic import write_json
    from heartsound.audio import WHOLE_MAX_S, load
    from heartsound.data import physionet2016
    from heartsound.provenance import machine
    from heartsound.research.baseline import summary_statistics

    head = ["## Without a network: spectral and beat-level statistics (leave-one-database-out)",
            ""]
    if compute:
        recs = [r for r in physionet2016(data) if r.label is not None]
        X = np.stack([summary_statistics(*load(r.path, max_seconds=WHOLE_MAX_S))
                      for r in recs])
        m = machine()
        write_json(cache, {"machine": m["cpu"], "date": m["date"], "records": len(recs),
                           "scores": statistics_lodo(X, [r.label == "abnormal" for r in recs],
                                                     [r.group for r in recs])})
    if not cache.is_file():
        return [*head, "Not computed yet (`heartsound-lab physionet --statistics`).", ""]
    stored = json.loads(cache.read_text())
    lines = [*head,
             f"Computed by `heartsound-lab physionet --statistics` on {stored['machine']}, "
             f"{stored['date']}: each of the {stored['records']} records (its first 60 s) "
             "described by fixed statistics of its whole spectrum and of its beats "
             "(`research.baseline.summary_statistics`: per log-mel band the mean, spread and "
             "10–90 % range; per MFCC the mean, spread and mean change; three beat-regularity "
             "measures of `heartsound.rhythm`: how unlike the others its least similar heart "
             "cycle is, the share of cycles unlike the rest, and the envelope's aperiodicity), "
             "and a logistic regression (L2, C = 0.1) fitted on four databases, tested on the "
             "fifth: beat-level features against the networks above, with no seed to vary. "
             "Cells: MAcc at P(abnormal) ≥ 0.5 / AUROC.", "",
             "| features | " + " | ".join(f"{db}" for db in sorted(
                 next(iter(stored["scores"].values())))) + " | mean of a, b, d, f |",
             "|---|" + "---|" * (len(next(iter(stored["scores"].values()))) + 1)]
    for name, by_db in stored["scores"].items():
        cells = [f"{float(s['macc']):.3f} / {float(s['auroc']):.3f}" for _, s in
                 sorted(by_db.items())]
        main = [by_db[db] for db in MAIN_DATABASES if db in by_db]
        mean = (f"**{np.mean([float(s['macc']) for s in main]):.3f}** / "
                f"{np.mean([float(s['auroc']) for s in main]):.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
    return [*lines, ""]


def seen_in_training(model: str, dataset: str) -> bool:
    """Whether ``model``'s recipe (its metadata) added ``dataset``'s recordings to training."""
    from heartsound.infer import Classifier

    try:
        recipe = json.loads(Classifier.load(model).metadata.get("heartsound.recipe", "{}"))
    except Exception:  # an unreadable model is reported where it is loaded
        return False
    return dataset in (recipe.get("joint") or "").split("+")


# ------------------------------------------------------------------------- the command
def physionet(args: argparse.Namespace) -> int:
    """``heartsound-lab physionet``: train the missing runs (``--train``), write the doc."""
    from heartsound.research import run_claimed
    from heartsound.research.ablation import write_doc

    runs = Path(args.runs)
    rows = args.only or list(ROWS)
    for name in rows:
        if name not in ROWS:
            raise ValueError(f"--only {name!r}: expected one of {', '.join(ROWS)}")
    if args.train:
        from heartsound.training.train import (
            recipe_with,
            rescore_run,
            resolve_frontend,
            resolve_recipe,
            run_cv,
        )

        for name in rows:
            row = ROWS[name]
            for seed in args.seeds:
                out = run_folder(runs, name, seed)
                t0 = time.perf_counter()
                if row.rescores is not None and row.eval_hop_s is not None:  # both or none
                    source = run_folder(runs, row.rescores, seed)
                    if not (source / "summary.json").exists():
                        print(f"== {out}: skipped, {source} is not finished (train "
                              f"--only {row.rescores} first)", file=sys.stderr)
                    elif run_claimed(out, str(out), lambda out=out, source=source, row=row:
                                     rescore_run(source, out, row.eval_hop_s, args.data)):
                        print(f"== {out}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
                    continue
                if run_claimed(out, str(out), lambda out=out, row=row, seed=seed: run_cv(
                        DATASET, row.model, out, folds=5, epochs=args.epochs, seed=seed,
                        split=row.split,
                        config=resolve_frontend(row.scale, row.maps, row.recipe, DATASET,
                                                row.rate, row.top_db),
                        recipe=recipe_with(resolve_recipe(row.recipe, DATASET), list(row.sets)),
                        data_dir=args.data, quiet=True, final=False, threads=args.threads,
                        device=args.device)):
                    print(f"== {out}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    from heartsound.research import REPO_ROOT

    out = Path(args.out) if args.out else REPO_ROOT / "docs" / "physionet.md"
    cache = Path(args.cross_cache) if args.cross_cache else runs / "physionet" / "cross"
    cross = (statistics_section(runs / "physionet" / "statistics.json", args.statistics,
                                args.data)
             + cross_section(cache, args.cross, args.physionet_model, args.data,
                             args.pascal_data))
    write_doc(str(out), "physionet.md",
              physionet_markdown(runs, figures=out.parent / FIGURES, cross=cross,
                                 previous_text=out.read_text() if out.is_file() else ""))
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="PhysioNet 2016 folder holding training-a ... (default: "
                                  "$HEARTSOUND_DATA/physionet2016, data/physionet2016, "
                                  "../shared/data/physionet2016)")
    p.add_argument("--runs", default="runs", help="parent of the physionet/ run folders")
    p.add_argument("--only", nargs="*", metavar="ROW",
                   help=f"rows to train (default: all: {', '.join(ROWS)})")
    p.add_argument("--train", action="store_true", help="train the missing runs first")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs per fold (default 30)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run")
    p.add_argument("--out", help="markdown written (default: docs/physionet.md); its figures "
                                 f"go to {FIGURES}/ beside it")
    p.add_argument("--cross", action="store_true",
                   help="predict the cross-dataset table's models not yet cached (minutes); "
                        "without it, cached ones are shown")
    p.add_argument("--statistics", action="store_true",
                   help="compute the no-network section (a logistic regression on spectral "
                        "and beat-level statistics, leave-one-database-out; a minute or two); "
                        "without it, its cached scores are shown")
    p.add_argument("--physionet-model", default=PHYSIONET_MODEL, metavar="NAME_OR_PATH",
                   help="the PhysioNet model scored on PASCAL set B (default: %(default)s; "
                        "skipped with a note when not found)")
    p.add_argument("--pascal-data", help="PASCAL folder (default: $HEARTSOUND_DATA, "
                                         "data/pascal, ../shared/data/pascal)")
    p.add_argument("--cross-cache", metavar="DIR",
                   help="cache of the cross-dataset predictions (default: "
                        "RUNS/physionet/cross)")

