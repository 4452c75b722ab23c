"""PhysioNet/CinC 2016 screening: leave-one-database-out and 5-fold CV (docs/physionet.md).

``heartsound-lab physionet`` reads finished run folders ``runs/physionet/<row>/seed<k>/``
(one per row of ``ROWS`` and seed; ``--train`` trains the missing ones first) and writes
docs/physionet.md: for leave-one-database-out, each held-out database's sensitivity,
specificity, MAcc and AUROC, the mean over databases a, b, d and f (c, 31 records, apart),
each over seeds as mean ± std; the 5-fold CV figure; the prevalence per database; and the
2016 challenge's best official MAcc for comparison.

Two decision rules are scored. *argmax*: abnormal when P(abnormal) ≥ 0.5, the network's own
answer. *other-fold threshold*: the held-out database's threshold is the one with the best
MAcc on the out-of-fold predictions of the *other* folds (the other four databases, each
predicted by the model that did not train on it). The held-out database's own predictions
and labels never choose it; but the models behind those other folds did train on the
held-out database, so this is a cheap stand-in for a nested CV inside the four training
databases, not one.
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

from heartsound.metrics import best_threshold, screening_scores

DATASET = "physionet2016"
# The 2016 challenge's best official score (Potes et al., CinC 2016): MAcc on its hidden
# test set, whose records came from the same databases as the training set.
CHALLENGE_BEST_MACC = 0.8602
MAIN_DATABASES = ("a", "b", "d", "f")  # c (31 records, 7 normal) is reported apart
METRICS = ("sensitivity", "specificity", "macc", "auroc")
SHOWN = {"sensitivity": "Se", "specificity": "Sp", "macc": "MAcc", "auroc": "AUROC"}


@dataclass(frozen=True)
class PhysioRow:
    """One configuration: network, recipe, front end (``scale``, ``maps``) and split."""

    label: str
    model: str
    recipe: str
    scale: int
    maps: str
    split: str  # "databases" (leave-one-database-out) or "random" (stratified 5-fold)

    def train_arguments(self) -> list[str]:
        """The ``heartsound train`` options of this row (the doc prints them)."""
        return ["--dataset", DATASET, "--model", self.model, "--recipe", self.recipe,
                "--scale", str(self.scale), "--maps", self.maps, "--split", self.split,
                "--folds", "5"]


ROWS = {
    "light-x4": PhysioRow("light, augment, 215×20 MFCC (4× frame length)", "light", "augment",
                          4, "mfcc", "databases"),
    "centred-logmel-x2": PhysioRow("light-centred, augment, 434×48 log-mel (2× frame "
                                   "length, centred over time)", "light-centred", "augment",
                                   2, "log-mel", "databases"),
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


def per_database(run: dict[str, Any]) -> dict[str, dict[str, dict[str, object]]]:
    """Database → rule (``argmax``, ``threshold``) → its screening scores. For a
    leave-one-database-out run each database is one fold; for a CV run, the database's
    out-of-fold predictions pooled over the folds (argmax only)."""
    preds = predictions(run)
    out: dict[str, dict[str, dict[str, object]]] = {}
    lodo = run["config"]["split"] == "databases"
    for db in sorted({p[1] for p in preds}):
        mine = [p for p in preds if p[1] == db]
        out[db] = {"argmax": scores_at(mine)}
        if lodo:
            others = [p for p in preds if p[1] != db]
            t = best_threshold([p[2] == "abnormal" for p in others], [p[3] for p in others])
            if math.isfinite(t):
                out[db]["threshold"] = {**scores_at(mine, t), "threshold": t}
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
    return (f"heartsound train {' '.join(row.train_arguments())} --epochs "
            f"{cfg['recipe']['epochs']} --seed {cfg['seed']} --threads {cfg['threads']} "
            f"--no-final --out {run_folder(Path('runs'), _row_id(row), cfg['seed'])}")


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

    lines = ["| held-out database | records | % abnormal | " + " | ".join(
        SHOWN[m] for m in METRICS) + (" | threshold |" if rule == "threshold" else " |"),
        "|---|---|---|" + "---|" * len(METRICS) + ("---|" if rule == "threshold" else "")]

    def tail(db: str) -> str:
        if rule != "threshold":
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
                     + (" |" if rule == "threshold" else ""))
    for db in [d for d in dbs if d not in MAIN_DATABASES]:
        s = first[db]["argmax"]
        lines.append(f"| {db} (apart) | {s['n']} | "
                     f"{float(s['prevalence']):.0%} | "  # type: ignore[arg-type]
                     + " | ".join(cell(values(db, m)) for m in METRICS) + " |" + tail(db))
    return lines


def lodo_means(runs: Sequence[dict[str, Any]], rule: str = "argmax") -> dict[str, list[float]]:
    """Per seed, the mean over databases a, b, d, f (those it has) of each metric."""
    per_seed = [per_database(r) for r in runs]
    return {m: [statistics.fmean(vs) if (vs := [
        float(p[d][rule][m]) for d in MAIN_DATABASES  # type: ignore[arg-type]
        if d in p and rule in p[d]]) else math.nan for p in per_seed] for m in METRICS}


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


def headline(found: dict[str, list[dict[str, Any]]]) -> list[str]:
    """One table, a row per configuration: its headline MAcc (argmax) and AUROC, the mean
    over a, b, d, f for leave-one-database-out, the mean of the 5 folds for CV."""
    rows = []
    for row_id, rs in found.items():
        row = ROWS[row_id]
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


def physionet_markdown(runs: Path, generated: dict[str, Any] | None = None) -> str:
    """docs/physionet.md from the run folders under ``runs/physionet/``."""
    from heartsound.provenance import machine

    m = generated or machine()
    found = {row: seed_runs(runs, row) for row in ROWS}
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
             "score).", "",
             "Decision rules: *argmax* predicts abnormal when P(abnormal) ≥ 0.5. "
             "*Other-fold threshold*: for each held-out database, the threshold with the "
             "best MAcc on the pooled out-of-fold predictions of the other four folds; the "
             "held-out database's predictions never choose it, but the models behind the "
             "other folds did train on it, so this approximates, and is not, a threshold "
             "chosen by a nested CV inside the training databases (not run: it would cost "
             "four more trainings per fold).", ""]
    preval = prevalence([r for rs in found.values() for r in rs])
    if preval:
        lines += ["Prevalence per database: " + ", ".join(
            f"{db} {k}/{n} ({k / n:.0%} abnormal)" for db, (n, k) in preval.items())
            + ". A fixed threshold that suits one prevalence does not suit another; AUROC "
            "does not depend on it.", ""]
    lines += headline(found)
    any_run = False
    for row_id, row in ROWS.items():
        rs = found[row_id]
        if not rs:
            continue
        any_run = True
        partial = [r for r in rs if r["partial"]]
        done = [r for r in rs if not r["partial"]]
        kind = "leave-one-database-out" if row.split == "databases" else "stratified 5-fold CV"
        lines += [f"## {row.label} ({kind})", "",
                  f"`{row_id}`: {_seed_list(done) if done else 'no finished seed'}; "
                  + "; ".join(_settings(r) for r in rs[:1]) + ". Timing (wall clock as "
                  "run; runs beside it on the machine slow it): " + _timing(rs) + ".", ""]
        epochs = {r["config"]["recipe"]["epochs"] for r in rs}
        if epochs != {30}:
            lines += [f"Trained {', '.join(map(str, sorted(epochs)))} epochs per fold, not "
                      "the recipe's 30 (time).", ""]
        # A leave-one-database-out fold is one database: with no finished seed, the finished
        # folds of the unfinished runs are shown; a CV run's folds mean nothing alone.
        shown = done or (partial if row.split == "databases" else [])
        if partial:
            held = ["".join(sorted({database_of(v["path"]) for f in r["folds"]
                                    for v in f["validation"]})) for r in partial]
            use = ("their finished folds are tabulated below (the other-fold threshold then "
                   "rests on the finished folds only)" if shown and not done
                   else "not in the tables")
            lines += [f"Unfinished: {', '.join(str(r['folder']) for r in partial)} "
                      f"({', '.join(str(len(r['folds'])) for r in partial)} fold(s) done: "
                      f"database(s) {', '.join(held)}); {use}.", ""]
        label = "Mean over a, b, d, f" if done else "Mean over the finished ones of a, b, d, f"
        if row.split == "databases" and shown:
            means, tuned = lodo_means(shown), lodo_means(shown, "threshold")
            lines += ["Argmax (P(abnormal) ≥ 0.5):", "", *lodo_table(shown, "argmax"), "",
                      "Other-fold threshold:", "", *lodo_table(shown, "threshold"), "",
                      f"{label}: MAcc {cell(means['macc'])} at argmax, "
                      f"{cell(tuned['macc'])} at the other-fold threshold; AUROC "
                      f"{cell(means['auroc'])}; against the challenge's best official MAcc "
                      f"{CHALLENGE_BEST_MACC:.4f} (within-database, see above).", ""]
        elif done:
            lines += ["At argmax:", "", *cv_lines(done), ""]
        lines += ["The `heartsound train` command of each run (what `heartsound-lab physionet "
                  "--train` runs; `heartsound-lab physionet` then reads the folder):", "",
                  "```", *(command_of(row, r) for r in rs), "```", ""]
    if not any_run:
        lines += ["No finished run yet: `heartsound-lab physionet --train` trains them.", ""]
    lines += ["Regenerate this page: `heartsound-lab physionet` (add `--train --seeds 0 1 2 "
              "--threads N` to train the missing runs first).", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------- the command
def physionet(args: argparse.Namespace) -> int:
    """``heartsound-lab physionet``: train the missing runs (``--train``), write the doc."""
    from heartsound.research.ablation import claim, write_doc

    runs = Path(args.runs)
    rows = args.only or list(ROWS)
    for name in rows:
        if name not in ROWS:
            raise ValueError(f"--only {name!r}: expected one of {', '.join(ROWS)}")
    if args.train:
        from heartsound.training.train import (
            recipe_with,
            resolve_frontend,
            resolve_recipe,
            run_cv,
        )

        for name in rows:
            row = ROWS[name]
            for seed in args.seeds:
                out = run_folder(runs, name, seed)
                if (out / "summary.json").exists() and not (out / ".running").exists():
                    continue
                lock = claim(out)
                if lock is None:
                    print(f"== {out}: another process is on it, skipped", file=sys.stderr)
                    continue
                print(f"== {out}", file=sys.stderr)
                t0 = time.perf_counter()
                try:
                    run_cv(DATASET, row.model, out, folds=5, epochs=args.epochs, seed=seed,
                           split=row.split,
                           config=resolve_frontend(row.scale, row.maps, row.recipe, DATASET),
                           recipe=recipe_with(resolve_recipe(row.recipe, DATASET), []),
                           data_dir=args.data, quiet=True, final=False,
                           threads=args.threads, device=args.device)
                finally:
                    lock.unlink(missing_ok=True)
                print(f"== {out}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    write_doc(args.out, "physionet.md", physionet_markdown(runs))
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
    p.add_argument("--out", help="markdown written (default: docs/physionet.md)")

