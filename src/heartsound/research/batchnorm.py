"""``heartsound-lab batchnorm``: the light network with BatchNorm against LayerNorm, by the
shipped protocols over seeds (docs/batchnorm.md).

The paper normalises its light network with LayerNorm over channels, which ONNX Runtime runs
as Transpose → LayerNormalization → Transpose around every convolution: 3–7× the time of
the same network with BatchNorm folded into its convolutions (docs/lightness.md, *LayerNorm
against folded BatchNorm*). Whether the folded network is as accurate is measured here: the
BatchNorm rows are run folders under ``runs/batchnorm/<row>/seed<k>/`` (``--train`` trains
the missing ones); the LayerNorm rows are the same recipe's per-seed accuracies in
docs/ablation.md (``heartsound-lab ablation``, their own machine and date), compared seed by
seed where both ran.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any, NamedTuple

from heartsound.atomic import write_text
from heartsound.research import REPO_ROOT


class NormRow(NamedTuple):
    """One protocol: the BatchNorm run's ``heartsound train`` settings and the docs/ablation.md
    row (section, label) of the LayerNorm network with the same recipe."""

    label: str
    dataset: str
    model: str
    recipe: str
    split: str
    scale: int
    maps: str
    sets: tuple[str, ...]
    ablation: tuple[str, str] | None  # ("Set A", row label) or None: no LayerNorm reference
    folds: int = 5
    top_db: float = 80.0  # each map's dynamic range below its peak (config.top_db)
    # A row made without training: row ``rescores``'s fold models, seed by seed, reading
    # 7-s windows ``eval_hop_s`` apart over the whole recording (train.rescore_run).
    rescores: str | None = None
    eval_hop_s: float | None = None


LN_A = "augmentation + joint + 4× frame length + label smoothing"
LN_B = "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps"
SMOOTH, NOISE = "joint-augment-smooth", "joint-augment-smooth-noise"
ROWS: dict[str, NormRow] = {
    "a-by-file": NormRow("set A, folds by file", "pascal-a", "light-level-bn", SMOOTH,
                         "grouped", 4, "mfcc", (), ("Set A", LN_A)),
    "a-by-session": NormRow("set A, folds by recording session", "pascal-a", "light-level-bn",
                            SMOOTH, "sessions", 4, "mfcc", (),
                            ("Set A", f"{LN_A}, folds by recording session")),
    "b-by-patient": NormRow("set B, folds by patient", "pascal-b", "light-centred-bn", SMOOTH,
                            "grouped", 2, "log-mel", (), ("Set B", LN_B)),
    "a-level-ln-by-file": NormRow("set A, folds by file: LayerNorm on level-free maps",
                                  "pascal-a", "light-level", SMOOTH, "grouped", 4, "mfcc", (),
                                  ("Set A", LN_A)),
    "a-noise-by-file": NormRow("set A + white-noise copies (the shipped recipe), folds by "
                               "file", "pascal-a", "light-level-bn", NOISE, "grouped", 4,
                               "mfcc", (), ("Set A", LN_A)),
    "a-noise-by-session": NormRow("set A + white-noise copies (the shipped recipe), folds by "
                                  "recording session", "pascal-a", "light-level-bn", NOISE,
                                  "sessions", 4, "mfcc", (),
                                  ("Set A", f"{LN_A}, folds by recording session")),
    # PhysioNet 2016 as extra training data for set A (issue 23: PASCAL lifted by it): its
    # normals merged with set A's, its abnormals an output of their own, cut away.
    "a-physionet-by-session": NormRow("set A + white-noise copies + PhysioNet 2016 added to "
                                      "training, folds by recording session", "pascal-a",
                                      "light-level-bn", NOISE, "sessions", 4, "mfcc",
                                      ("joint=pascal+physionet2016",),
                                      ("Set A", f"{LN_A}, folds by recording session")),
    "a-physionet-by-file": NormRow("set A + white-noise copies + PhysioNet 2016 added to "
                                   "training, folds by file", "pascal-a", "light-level-bn",
                                   NOISE, "grouped", 4, "mfcc",
                                   ("joint=pascal+physionet2016",), ("Set A", LN_A)),
    # Set B's shipped LayerNorm recipe with PhysioNet added: paired with the ablation's seeds.
    "b-physionet-by-patient": NormRow("set B + PhysioNet 2016 added to training (the shipped "
                                      "LayerNorm network and recipe), folds by patient",
                                      "pascal-b", "light-centred", SMOOTH, "grouped", 2,
                                      "log-mel", ("joint=pascal+physionet2016",),
                                      ("Set B", LN_B)),
}

# PhysioNet 2016 as pre-training: each set's network (and front end) trained first on all
# five databases (the screening recipe; a 2-fold CV only because a run makes its final model
# after one), then the set's recipe from there (new head and standardisation).
PRETRAINS: dict[str, NormRow] = {
    "physionet-pretrain": NormRow(
        "set A's network pre-trained on PhysioNet 2016 (all five databases, the screening "
        "recipe; its final model is the start)", "physionet2016", "light-level-bn",
        "screening", "random", 4, "mfcc", (), None, folds=2),
    "physionet-pretrain-b": NormRow(
        "set B's network (LayerNorm, 434×48 log-mel maps centred over time) pre-trained on "
        "PhysioNet 2016 (the same, 10 epochs: on 2 cores the 434×48 LayerNorm network trains "
        "about 4× slower than set A's)", "physionet2016", "light-centred", "screening",
        "random", 2, "log-mel", ("epochs=10",), None, folds=2),
    "physionet-pretrain-top40": NormRow(
        "set A's network pre-trained on PhysioNet 2016 as above, on maps clipped to 40 dB "
        "below their peak", "physionet2016", "light-level-bn", "screening", "random", 4,
        "mfcc", (), None, folds=2, top_db=40.0),
    "physionet-pretrain-top40-blur": NormRow(
        "set A's network with anti-aliased strides pre-trained on PhysioNet 2016 as above, on "
        "maps clipped to 40 dB below their peak", "physionet2016", "light-level-bn-blur",
        "screening", "random", 4, "mfcc", (), None, folds=2, top_db=40.0),
}


def pretrained_path(name: str) -> str:
    """The state dict a row names with ``--set pretrained=``: the pre-training run's final
    model under runs/."""
    return f"runs/batchnorm/{name}/final/model.pt"


PRETRAINED = pretrained_path("physionet-pretrain")  # set A's pre-trained state dict
# Set A's shipped recipe, by session and by file: pre-trained on PhysioNet, and with MixStyle
# (docs/physionet.md's row of the same name; recording sessions are set A's devices and rooms).
for _split, _what in (("sessions", "recording session"), ("grouped", "file")):
    _ln = ("Set A", f"{LN_A}, folds by recording session" if _split == "sessions" else LN_A)
    _by = _what.split()[-1]
    ROWS[f"a-pretrained-by-{_by}"] = NormRow(
        f"set A + white-noise copies, pre-trained on PhysioNet 2016, folds by {_what}",
        "pascal-a", "light-level-bn", NOISE, _split, 4, "mfcc", (f"pretrained={PRETRAINED}",),
        _ln)
    ROWS[f"a-mixstyle-by-{_by}"] = NormRow(
        f"set A + white-noise copies + MixStyle (p 0.5), folds by {_what}", "pascal-a",
        "light-level-bn", NOISE, _split, 4, "mfcc", ("mixstyle=0.5",), _ln)
    ROWS[f"a-pretrained-top40-by-{_by}"] = NormRow(
        f"set A + white-noise copies, pre-trained on PhysioNet 2016, maps clipped to 40 dB "
        f"below their peak, folds by {_what}", "pascal-a", "light-level-bn", NOISE, _split, 4,
        "mfcc", (f"pretrained={pretrained_path('physionet-pretrain-top40')}",), _ln,
        top_db=40.0)
    ROWS[f"a-blur-by-{_by}"] = NormRow(
        f"set A's shipped recipe (white-noise copies, pre-trained on PhysioNet 2016, 40-dB "
        f"maps) with anti-aliased strides, folds by {_what}", "pascal-a", "light-level-bn-blur",
        NOISE, _split, 4, "mfcc",
        (f"pretrained={pretrained_path('physionet-pretrain-top40-blur')}",), _ln, top_db=40.0)
    ROWS[f"a-windows-by-{_by}"] = ROWS[f"a-pretrained-top40-by-{_by}"]._replace(
        label=f"set A's shipped recipe (white-noise copies, pre-trained on PhysioNet 2016, "
              f"40-dB maps) reading 7-s windows 17 frames (0.544 s) apart over the whole "
              f"recording, folds by {_what}",
        rescores=f"a-pretrained-top40-by-{_by}", eval_hop_s=0.544)
ROWS["b-top40-by-patient"] = NormRow(
    "set B on maps clipped to 40 dB below their peak (the shipped LayerNorm network and "
    "recipe), folds by patient", "pascal-b", "light-centred", SMOOTH, "grouped", 2, "log-mel",
    (), ("Set B", LN_B), top_db=40.0)
ROWS["b-pretrained-by-patient"] = NormRow(
    "set B pre-trained on PhysioNet 2016 (the shipped LayerNorm network and recipe), folds by "
    "patient", "pascal-b", "light-centred", SMOOTH, "grouped", 2, "log-mel",
    (f"pretrained={pretrained_path('physionet-pretrain-b')}",), ("Set B", LN_B))

# (row with PhysioNet 2016 added or pre-trained on, the same recipe without it: a row here, or
# None for the LayerNorm seeds of docs/ablation.md): issue 23's "PASCAL lifted".
LIFTED: list[tuple[str, str | None]] = [("a-physionet-by-file", "a-noise-by-file"),
                                        ("a-physionet-by-session", "a-noise-by-session"),
                                        ("a-pretrained-by-file", "a-noise-by-file"),
                                        ("a-pretrained-by-session", "a-noise-by-session"),
                                        ("b-physionet-by-patient", None),
                                        ("b-pretrained-by-patient", None)]
# (row with MixStyle, the same recipe without it)
MIXSTYLE: list[tuple[str, str]] = [("a-mixstyle-by-file", "a-noise-by-file"),
                                   ("a-mixstyle-by-session", "a-noise-by-session")]
# (row on maps clipped to 40 dB, the same recipe on librosa's 80 dB)
DYNAMIC_RANGE: list[tuple[str, str | None]] = [
    ("a-pretrained-top40-by-file", "a-pretrained-by-file"),
    ("a-pretrained-top40-by-session", "a-pretrained-by-session"),
    ("b-top40-by-patient", None)]  # None: the LayerNorm seeds of docs/ablation.md
# (row reading the whole recording, the same fold models on its first 7 s)
WINDOWS: list[tuple[str, str]] = [("a-windows-by-file", "a-pretrained-top40-by-file"),
                                  ("a-windows-by-session", "a-pretrained-top40-by-session")]
# (row with anti-aliased strides, the same recipe without them)
BLUR: list[tuple[str, str]] = [("a-blur-by-file", "a-pretrained-top40-by-file"),
                               ("a-blur-by-session", "a-pretrained-top40-by-session")]
CARRIED = "†"  # a seed's figure kept from the page as it was: its run is not in this checkout
MIXED = "‡"  # a pair of rows whose seeds ran in different checkouts


def train_arguments(row: NormRow, seed: int) -> list[str]:
    """The ``heartsound train`` options of one BatchNorm run (the doc prints them)."""
    return ["--dataset", row.dataset, "--model", row.model, "--recipe", row.recipe,
            "--split", row.split, "--scale", str(row.scale), "--maps", row.maps,
            *(["--folds", str(row.folds)] if row.folds != 5 else []),
            *(["--top-db", f"{row.top_db:g}"] if row.top_db != 80.0 else []),
            *(a for s in row.sets for a in ("--set", s)), "--seed", str(seed)]


def pretraining_of(row: NormRow) -> str | None:
    """The :data:`PRETRAINS` run a row starts from, or None."""
    return next((name for name in PRETRAINS
                 if f"pretrained={pretrained_path(name)}" in row.sets), None)


def is_pretrained(row: NormRow) -> bool:
    """Whether a row starts from a :data:`PRETRAINS` run's state dict."""
    return pretraining_of(row) is not None


def row_sets(row: NormRow, runs: Path) -> list[str]:
    """A row's recipe overrides with the pre-trained state under ``runs`` (the doc and the
    commands say ``runs/``)."""
    name = pretraining_of(row)
    if name is None:
        return list(row.sets)
    return [s.replace(f"={pretrained_path(name)}", f"={pretrained_state(runs, name)}")
            for s in row.sets]


def pretrained_state(runs: Path, name: str) -> Path:
    return Path(runs) / Path(pretrained_path(name)).relative_to("runs")


def pretrain(runs: Path, threads: int | None, name: str) -> Path:
    """:data:`PRETRAINS` ``name``'s final state dict, trained first when it is missing."""
    from heartsound.training.train import (
        recipe_with,
        resolve_frontend,
        resolve_recipe,
        run_cv,
    )

    state = pretrained_state(runs, name)
    if not state.exists():
        row = PRETRAINS[name]
        print(f"== pre-training on PhysioNet 2016 → {state}", file=sys.stderr)
        run_cv(row.dataset, row.model, state.parent.parent, folds=row.folds, split=row.split,
               seed=0, recipe=recipe_with(resolve_recipe(row.recipe, row.dataset), row.sets),
               data_dir=None,
               quiet=True, final=True,
               config=resolve_frontend(row.scale, row.maps, row.recipe, row.dataset,
                                       top_db=row.top_db),
               threads=threads)
    return state


def ablation_seeds(text: str, section: str, label: str) -> list[float]:
    """The per-seed accuracies of one docs/ablation.md row (``## section``, first column
    ``label``); [] when the row is not there."""
    part = text.split(f"## {section}\n", 1)
    if len(part) < 2:
        return []
    body = part[1].split("\n## ", 1)[0]
    header: list[str] | None = None
    for line in body.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if cells[0] == label and "accuracy per seed" in header:
            return [float(v) for v in cells[header.index("accuracy per seed")].split(",")]
    return []


def bn_runs(runs: Path, name: str) -> dict[int, dict[str, Any]]:
    """Finished BatchNorm runs of one row: seed → summary.json."""
    out = {}
    for folder in sorted((runs / "batchnorm" / name).glob("seed*")):
        summary = folder / "summary.json"
        if summary.exists():
            out[int(folder.name[4:])] = json.loads(summary.read_text())
    return out


def title(row: NormRow) -> str:
    """A row's first cell on the page: its label, network and recipe overrides."""
    return f"{row.label} (`{row.model}`{', ' + ', '.join(row.sets) if row.sets else ''})"


def previous_seeds(text: str) -> dict[str, dict[int, float]]:
    """Per row label, the per-seed accuracies an earlier generation of this page shows
    (``0.703 (seed 0)``; carried ones too), so that a checkout without those runs keeps them."""
    out: dict[str, dict[int, float]] = {}
    labels = {title(row): name for name, row in ROWS.items()}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] in labels:
            found = re.findall(r"(\d\.\d+) \(seed (\d+)" + CARRIED + r"?\)", cells[3])
            out[labels[cells[0]]] = {int(k): float(v) for v, k in found}
    return out


def seed_accuracies(bn: dict[int, dict[str, Any]], name: str,
                    previous: dict[str, dict[int, float]]) -> tuple[dict[int, float], set[int]]:
    """Seed → 5-fold mean accuracy of one row: its runs here (``bn``, :func:`bn_runs`), else
    the earlier page's figure (those seeds returned as carried)."""
    acc = {s: r["mean"]["accuracy"]["mean"] for s, r in bn.items()}
    carried = {s for s in previous.get(name, {}) if s not in acc}
    return {**acc, **{s: previous[name][s] for s in carried}}, carried


def _paired(diffs: list[float]) -> str:
    """Mean paired difference and how many seeds are better / the same / worse."""
    if not diffs:
        return "–"
    return (f"{statistics.fmean(diffs):+.3f} ({sum(d > 0 for d in diffs)}/"
            f"{sum(d == 0 for d in diffs)}/{sum(d < 0 for d in diffs)})")


def _ms(values: list[float]) -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


SHIFT_FILE = "shift-agreement.json"


def shift_cell(runs: Path, name: str) -> str:
    """Per seed, the share of labels kept one frame later (:data:`SHIFT_FILE`), or –."""
    found = {}
    for folder in sorted((runs / "batchnorm" / name).glob("seed*")):
        if (folder / SHIFT_FILE).is_file():
            found[int(folder.name[4:])] = json.loads((folder / SHIFT_FILE).read_text())
    return ", ".join(f"{r['1 frames later']:.1%} (seed {k})" for k, r in sorted(found.items())
                     ) or "–"


def write_shift_agreement(runs: Path, data: str | None) -> None:
    """:data:`SHIFT_FILE` for every finished seed of the :data:`BLUR` rows that lacks it."""
    from heartsound.research.invariance import fold_shift_agreement

    for name in {row for pair in BLUR for row in pair}:
        for folder in sorted((runs / "batchnorm" / name).glob("seed*")):
            if (folder / "summary.json").exists() and not (folder / SHIFT_FILE).exists():
                result = fold_shift_agreement(folder, data_dir=data)
                write_text(folder / SHIFT_FILE, json.dumps(result, indent=2) + "\n")


def markdown(runs: Path, ablation_text: str, previous_text: str = "") -> str:
    from heartsound.provenance import machine

    m = machine()
    lines = ["# The light network with BatchNorm, folded at export", "",
             f"Generated by `heartsound-lab batchnorm` on {m['cpu']}, {m['date']}, from the run "
             "folders under `runs/batchnorm/` (5-fold CV, the recipe named in each command "
             "below, 30 epochs, one thread) and, for LayerNorm, the "
             "shipped LayerNorm recipe's per-seed accuracies in [docs/ablation.md](ablation.md) "
             "(`joint-augment-smooth` on `light` / `light-centred`; `heartsound-lab "
             "ablation`, its own machine and date). Cells: mean ± std over seeds of the "
             "5-fold mean accuracy; *paired*: the network measured here minus the LayerNorm "
             "row on each seed both ran, averaged, and how many seeds are better / the same / "
             "worse. The row *LayerNorm on level-free maps* separates the two changes of set "
             "A's network.", "",
             "Set A's BatchNorm network also reads *level-free* maps (`light-level-bn`: each "
             "map's c0 centred over time, so a gain moves nothing) where the LayerNorm one "
             "reads raw MFCCs (`light`); set B's are both centred over time (`light-centred`, "
             "`light-centred-bn`). Speed: docs/lightness.md.", "",
             "| protocol (network measured here) | LayerNorm, docs/ablation.md (seeds) | "
             "measured here (seeds) | per seed, measured here | paired | training time per "
             "run |", "|---|---|---|---|---|---|"]
    commands = []
    previous = previous_seeds(previous_text)
    per_row, ln_of, carried_of = {}, {}, {}
    for name, row in ROWS.items():
        bn = bn_runs(runs, name)
        ln = ablation_seeds(ablation_text, *row.ablation) if row.ablation else []
        acc, carried = seed_accuracies(bn, name, previous)
        per_row[name], ln_of[name], carried_of[name] = acc, ln, carried
        common = [s for s in acc if s < len(ln)]
        paired = _paired([acc[s] - ln[s] for s in common])
        minutes = [] if row.rescores else [
            (sum(f.get("seconds", 0.0) for f in r.get("folds", []))
             + r.get("final", {}).get("seconds", 0.0)) / 60 for r in bn.values()]
        lines.append(
            f"| {title(row)} | "
            f"{_ms(ln)} ({len(ln)}) | {_ms(list(acc.values()))} ({len(acc)}) | "
            + (", ".join(f"{acc[s]:.3f} (seed {s}{CARRIED if s in carried else ''})"
                         for s in sorted(acc)) or "not run")
            + f" | {paired} | "
            + (f"{statistics.fmean(minutes):.0f} min" if minutes else "–") + " |")
        commands.append(
            f"- {row.label}: `heartsound-lab batchnorm --train --only {name}` (re-scores "
            f"runs/batchnorm/{row.rescores}/seed0, 1, 2; no training)" if row.rescores else
            f"- {row.label}: `heartsound train {' '.join(train_arguments(row, 0))} "
            f"--out runs/batchnorm/{name}/seed0` (and seeds 1, 2)")
    lines += ["", "Training times are wall clock as run, two runs side by side on the 2 cores "
              "with other work: a comparison between rows, not a benchmark (runs in this "
              f"checkout only). {CARRIED}: a seed whose run is not in this checkout, its "
              "figure kept from this page as an earlier run of the same command wrote it. "
              f"{MIXED}: a paired figure whose seeds of one row ran here and of the other "
              "were carried from an earlier page (possibly another host: CPU runs are "
              "bit-identical only on one processor, DEVELOPERS.md).", "",
              "## PASCAL with PhysioNet 2016 added", "",
              "The shipped recipe of each set with PhysioNet 2016's 1,099 records *added* to "
              "every training fold (never validated on; its normals merged with the set's, its "
              "abnormals an output of their own, cut away from the model), or with the network "
              "*pre-trained* on them (its backbone first trained on all five databases with "
              "the screening recipe, normal against abnormal; then the set's recipe from there "
              "with a new head), against the same recipe without them, paired by seed; set "
              "B's without-row is the LayerNorm recipe's seeds in docs/ablation.md (issue "
              "23's aims: set A by session ≥ 0.65, set B ≥ 0.85).",
              "", "| protocol | PhysioNet | without PhysioNet (seeds) | with PhysioNet (seeds) | "
              "paired (better/same/worse) |", "|---|---|---|---|---|"]

    def compared(with_row: str, without_row: str | None) -> str:
        """The cells "without (seeds) | with (seeds) | paired" of a pair of rows; no
        without-row: the with-row's LayerNorm seeds of docs/ablation.md."""
        a = per_row[with_row]
        b = per_row[without_row] if without_row else dict(enumerate(ln_of[with_row]))
        common = sorted(set(a) & set(b))
        paired = _paired([a[s] - b[s] for s in common])
        if without_row and any((s in carried_of[with_row]) != (s in carried_of[without_row])
                               for s in common):
            paired += f" {MIXED}"
        return (f"{_ms(list(b.values()))} ({len(b)}) | {_ms(list(a.values()))} ({len(a)}) | "
                f"{paired}")

    def protocol(row: str) -> str:
        return ROWS[row].label.split(", ")[-1]

    for with_row, without_row in LIFTED:
        how = "pre-trained" if is_pretrained(ROWS[with_row]) else "added"
        lines.append(f"| {ROWS[with_row].dataset[-1].upper()}, {protocol(with_row)} | {how} | "
                     f"{compared(with_row, without_row)} |")
    lines += ["", "## MixStyle on set A", "",
              "Set A's shipped recipe with MixStyle (Zhou et al., 2021: with probability 0.5 "
              "per batch, the channel mean and spread of the feature maps after the stem and "
              "the first two rows of blocks mixed with another recording's; "
              "`--set mixstyle=0.5`), against the same recipe without it, paired by seed. "
              "Recording sessions are set A's phones and rooms: the by-session row is what "
              "MixStyle is for.", "",
              "| protocol | without MixStyle (seeds) | with MixStyle (seeds) | paired "
              "(better/same/worse) |", "|---|---|---|---|"]
    for with_row, without_row in MIXSTYLE:
        lines.append(f"| {protocol(with_row)} | {compared(with_row, without_row)} |")
    lines += ["", "## Maps clipped to 40 dB", "",
              "Each set's shipped recipe (set A's pre-trained on PhysioNet 2016) with every "
              "map's dB values clipped to 40 dB below its peak instead of librosa's 80 "
              "(`--top-db 40`, set A's pre-training too), against the same at 80 dB, paired by "
              "seed (set B: the LayerNorm seeds of docs/ablation.md). At 80 dB the map shows "
              "the bands where a recording is quiet (PhysioNet's records: 400 Hz-1 kHz, "
              "60-80 dB below their peak), and white noise fills them: docs/invariance.md.", "",
              "| set, protocol | 80 dB (seeds) | 40 dB (seeds) | paired (better/same/worse) |",
              "|---|---|---|---|"]
    for with_row, without_row in DYNAMIC_RANGE:
        lines.append(f"| {ROWS[with_row].dataset[-1].upper()}, {protocol(with_row)} | "
                     f"{compared(with_row, without_row)} |")
    lines += ["", "## Set A's fold models over the whole recording", "",
              "The fold models of set A's shipped recipe, each validation recording read as "
              "7-s windows 17 frames (0.544 s) apart over the whole recording and averaged "
              "(as physionet-light reads; 17 is prime to the network's 8-frame stride) instead "
              "of its first 7 s: no training (`train.rescore_run`), paired seed by seed with "
              "the same fold models. Most set-A recordings are 8–9 s long: about 4 windows.",
              "", "| protocol | first 7 s (seeds) | windows 0.544 s apart (seeds) | paired "
              "(better/same/worse) |", "|---|---|---|---|"]
    for with_row, without_row in WINDOWS:
        lines.append(f"| {protocol(with_row)} | {compared(with_row, without_row)} |")
    lines += ["", "## Anti-aliased strides on set A", "",
              "Set A's shipped recipe and network with every stride along time anti-aliased "
              "(`light-level-bn-blur`: the stem and the strided depthwise convolutions stride "
              "along frequency only, then a fixed [1, 2, 1]/4 low-pass over frames keeps every "
              "second frame; Zhang, 2019; its pre-training on PhysioNet 2016 with the same "
              "network), against the shipped network, paired by seed. Set A's model reads one "
              "7-s window, so a recording that starts a frame later is sampled at another phase "
              "of the network's 8-frame stride (docs/invariance.md, *32 ms later*).", "",
              "*One frame later*: per seed, the share of the fold models' labels on their own "
              "held-out recordings kept when each recording starts one frame (32 ms) later "
              "(`invariance.fold_shift_agreement`, written into each run folder as "
              f"`{SHIFT_FILE}` by `--train`).", "",
              "| protocol | strided (seeds) | anti-aliased (seeds) | paired "
              "(better/same/worse) | one frame later, strided | one frame later, "
              "anti-aliased |", "|---|---|---|---|---|---|"]
    for with_row, without_row in BLUR:
        lines.append(f"| {protocol(with_row)} | {compared(with_row, without_row)} | "
                     f"{shift_cell(runs, without_row)} | {shift_cell(runs, with_row)} |")
    lines += ["",
              "The runs (`heartsound-lab batchnorm --train` trains the missing ones, the "
              "pre-training first where a row starts from it):", "",
              *(f"- {row.label}: `heartsound train {' '.join(train_arguments(row, 0))} "
                f"--out {Path(pretrained_path(name)).parent.parent}` (its `final/model.pt`)"
                for name, row in PRETRAINS.items()),
              *commands, ""]
    return "\n".join(lines)


def batchnorm(args: argparse.Namespace) -> int:
    runs = Path(args.runs)
    if args.train:
        from heartsound.research import run_claimed
        from heartsound.training.train import recipe_with, resolve_frontend, resolve_recipe, run_cv

        unknown = set(args.only or ()) - set(ROWS)
        if unknown:
            raise ValueError(f"--only {sorted(unknown)}: expected rows of {', '.join(ROWS)}")
        for name, row in ROWS.items():
            if args.only and name not in args.only:
                continue
            for seed in range(args.seeds):
                folder = runs / "batchnorm" / name / f"seed{seed}"
                if (folder / "summary.json").exists():
                    continue
                if row.rescores is not None:
                    from heartsound.training.train import rescore_run

                    source = runs / "batchnorm" / row.rescores / f"seed{seed}"
                    if (source / "summary.json").exists() and row.eval_hop_s is not None:
                        rescore_run(source, folder, row.eval_hop_s, args.data)
                    continue
                if (pretraining := pretraining_of(row)) is not None:
                    pretrain(runs, args.threads, pretraining)
                recipe = recipe_with(resolve_recipe(row.recipe, row.dataset),
                                     row_sets(row, runs))
                # claimed: several processes can share the missing runs
                run_claimed(folder, f"{name} seed {seed}", functools.partial(
                    run_cv, row.dataset, row.model, folder, split=row.split, seed=seed,
                    recipe=recipe, data_dir=args.data, quiet=True, final=False,
                    config=resolve_frontend(row.scale, row.maps, row.recipe, row.dataset,
                                            top_db=row.top_db),
                    threads=args.threads))
        write_shift_agreement(runs, args.data)
    ablation = (REPO_ROOT / "docs" / "ablation.md").read_text()

    out = Path(args.out)
    write_text(out, markdown(runs, ablation, out.read_text() if out.is_file() else ""))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", default="runs", help="folder holding runs/batchnorm/ (default runs)")
    p.add_argument("--data", help="data folder")
    p.add_argument("--train", action="store_true", help="train the missing BatchNorm runs")
    p.add_argument("--only", nargs="*", metavar="ROW",
                   help="with --train: train only these rows' missing runs (default: all)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per row for --train (default 3)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(REPO_ROOT / "docs" / "batchnorm.md"))
