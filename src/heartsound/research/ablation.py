"""``heartsound-lab ablation`` and ``heartsound-lab views``: what each change to the recipe gives.

Every row is one network, recipe and front end, cross-validated on several seeds
(``runs/ablation/<set>-<row>-s<seed>``, named from the row's label) and summarised in
docs/ablation.md: mean ± std over seeds of the 5-fold means, the rare class found, where a
run was trained, and the seed ensemble of each set's default. ``heartsound-lab views``
re-scores the default rows' fold checkpoints with test-time views (docs/test-time-views.md).
docs/experiments.md tells the story. The rows are one table, ``ablation_table``: a short
id for each (``--only``, ``--all-seeds-for``), the label the page shows beside it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from heartsound.atomic import write_text
from heartsound.config import DEFAULT, FrontEndConfig, front_end
from heartsound.research import REPO_ROOT, run_claimed
from heartsound.research.study import noise_text

ABLATION_SNR_DB = 10.0  # lowest SNR of the ablation's audio-noise rows


class Row(NamedTuple):
    """One ablation row: the network, the recipe, the front end's frame-length factor
    (1: the paper's 872×20 map; 4: 4× longer frames and hop, a 215×20 map), any other
    front-end fields changed from the paper's, and how the CV folds are drawn
    (data.SPLITS)."""

    network: str
    recipe: Any
    scale: int = 1
    frontend: tuple[tuple[str, Any], ...] = ()
    split: str = "grouped"

    def config(self) -> FrontEndConfig:
        import dataclasses

        return dataclasses.replace(front_end(self.scale), **dict(self.frontend))


# The architecture search's stride variants (models.STRIDE_VARIANTS) as the table names them.
STRIDE_WORDS = {"keep-time": "stem keeps every frame", "keep-freq": "stem keeps every band",
                "late": "last row unstrided"}


# The architecture search's width variants (models.WIDTH_VARIANTS) as the table names them.
WIDTH_WORDS = {"wide": "wider rows, expansion 2", "expand6": "narrower rows, expansion 6",
               "deeper": "a fourth row"}

STRETCH = 0.15  # time-stretch rows: rates in [1/1.15, 1.15]


class Entry(NamedTuple):
    """One line of the ablation: a short id (``--only``, ``--all-seeds-for``), the label
    docs/ablation.md shows (the row's run folders are named from it, ``slug``), and the row."""

    id: str
    label: str
    row: Row


@functools.cache
def ablation_table() -> tuple[Entry, ...]:
    """The ablation, in the order docs/ablation.md shows it: each change alone on top of an
    honest baseline (a fixed budget), then combinations, most of them on set A's default
    (aug-joint-x4-smooth) or set B's (aug-joint-x2-smooth-centred-logmel)."""
    from heartsound.training.train import RECIPES
    from heartsound.training.train import replace_recipe as vary

    paper = RECIPES["paper"]
    fixed = vary(paper, select="last")
    aug = RECIPES["augment"]
    joint, aug_joint = RECIPES["joint"], RECIPES["joint-augment"]
    noisy = vary(aug_joint, noise_snr_db=ABLATION_SNR_DB)
    smooth = RECIPES["joint-augment-smooth"]  # the base of the later rows (set A's default)
    log_mel = (("cepstrum", False),)  # front-end change: log-mel maps instead of MFCCs
    pcen = (*log_mel, ("log", "pcen"))
    f512h64 = (("frame_length", 512), ("n_fft", 512), ("hop_length", 64))
    return (
        Entry("paper", "paper (best val. epoch)", Row("light", paper)),
        Entry("fixed", "fixed budget", Row("light", fixed)),
        Entry("whole", "+ whole recording", Row("light", vary(fixed, crop="random",
                                                              eval_hop_s=2.0))),
        Entry("cw", "+ class weights", Row("light", vary(fixed, class_weight="sqrt"))),
        Entry("aug", "+ augmentation", Row("light", aug)),
        Entry("mixup", "+ mixup", Row("light", vary(fixed, mixup=0.4))),
        Entry("swa", "+ weight averaging", Row("light", vary(fixed, average_last=10))),
        Entry("lr3e-3", "+ learning rate 3e-3", Row("light", vary(fixed, lr=3e-3))),
        Entry("context", "+ context network", Row("light-context", fixed)),
        Entry("joint", "+ joint A+B training", Row("light", joint)),
        Entry("centred", "+ centred maps", Row("light-centred", fixed)),
        Entry("candidate", "all four (candidate)", Row("light", RECIPES["candidate"])),
        Entry("aug-mixup", "augmentation + mixup", Row("light", vary(aug, mixup=0.4))),
        Entry("aug-swa", "augmentation + weight averaging",
              Row("light", vary(aug, average_last=10))),
        Entry("aug-lr3e-3", "augmentation + learning rate 3e-3", Row("light", vary(aug, lr=3e-3))),
        Entry("aug-context", "augmentation + context network", Row("light-context", aug)),
        Entry("aug-joint", "augmentation + joint A+B training", Row("light", aug_joint)),
        Entry("joint-context", "joint A+B training + context network",
              Row("light-context", joint)),
        Entry("aug-joint-context", "augmentation + joint + context network",
              Row("light-context", aug_joint)),
        Entry("noise", "+ audio noise and shifts",
              Row("light", vary(fixed, noise_snr_db=ABLATION_SNR_DB))),
        Entry("aug-joint-noise", "augmentation + joint + audio noise", Row("light", noisy)),
        Entry("aug-joint-context-noise", "augmentation + joint + context network + audio noise",
              Row("light-context", noisy)),
        Entry("aug-joint-context-cw", "augmentation + joint + context network + class weights",
              Row("light-context", vary(aug_joint, class_weight="sqrt"))),
        Entry("x4", "+ 4× frame length", Row("light", fixed, 4)),
        Entry("aug-joint-x4", "augmentation + joint + 4× frame length",
              Row("light", aug_joint, 4)),
        Entry("smooth", "+ label smoothing",
              Row("light", vary(fixed, label_smoothing=smooth.label_smoothing))),
        Entry("aug-joint-smooth", "augmentation + joint + label smoothing", Row("light", smooth)),
        Entry("aug-joint-context-smooth",
              "augmentation + joint + context network + label smoothing",
              Row("light-context", smooth)),
        Entry("aug-joint-x4-smooth", "augmentation + joint + 4× frame length + label smoothing",
              Row("light", smooth, 4)),
        Entry("aug-joint-x4-smooth-cw",
              "augmentation + joint + 4× frame length + label smoothing + class weights",
              Row("light", vary(smooth, class_weight="sqrt"), 4)),
        Entry("aug-joint-x4-smooth-context",
              "augmentation + joint + 4× frame length + label smoothing + context network",
              Row("light-context", smooth, 4)),
        Entry("aug-joint-x4-smooth-kd-base",
              "augmentation + joint + 4× frame length + label smoothing + distilled from base",
              Row("light", vary(smooth, distill_from="base"), 4)),
        Entry("aug-joint-x4-smooth-kd-3light",
              "augmentation + joint + 4× frame length + label smoothing + distilled from 3 light",
              Row("light", vary(smooth, distill_from="light", distill_teachers=3), 4)),
        Entry("base-aug-joint-x4-smooth",
              "base network, augmentation + joint + 4× frame length + label smoothing",
              Row("base", smooth, 4)),
        Entry("aug-joint-x4-smooth-temporal",
              "augmentation + joint + 4× frame length + label smoothing + temporal network",
              Row("light-temporal", smooth, 4)),
        Entry("aug-joint-x4-smooth-own3",
              "augmentation + joint + 4× frame length + label smoothing + own set 3×",
              Row("light", vary(smooth, own_repeat=3), 4)),
        Entry("aug-joint-x4-smooth-ensemble",
              "augmentation + joint + 4× frame length + label smoothing + ensemble network",
              Row("light-ensemble", smooth, 4)),
        Entry("aug-joint-x4-smooth-ep50",
              "augmentation + joint + 4× frame length + label smoothing + 50 epochs",
              Row("light", vary(smooth, epochs=50), 4)),
        Entry("aug-joint-x4-smooth-windows",
              "augmentation + joint + 4× frame length + label smoothing + windows averaged",
              Row("light", vary(smooth, eval_hop_s=1.0), 4)),
        Entry("aug-joint-x4-smooth-centred",
              "augmentation + joint + 4× frame length + label smoothing + centred maps",
              Row("light-centred", smooth, 4)),
        Entry("aug-joint-x4-smooth-centred-means",
              "augmentation + joint + 4× frame length + label smoothing + centred maps, "
              "means aside",
              Row("light-centred-means", smooth, 4)),
        Entry("aug-joint-x2-smooth-centred",
              "augmentation + joint + 2× frame length + label smoothing + centred maps",
              Row("light-centred", smooth, 2)),
        Entry("aug-joint-x4-smooth-cmvn",
              "augmentation + joint + 4× frame length + label smoothing + centred and scaled "
              "maps",
              Row("light-cmvn", smooth, 4)),
        Entry("aug-joint-x4-smooth-centred-own3",
              "augmentation + joint + 4× frame length + label smoothing + centred maps + "
              "own set 3×",
              Row("light-centred", vary(smooth, own_repeat=3), 4)),
        Entry("aug-x4-smooth-centred",
              "augmentation + 4× frame length + label smoothing + centred maps (no joint)",
              Row("light-centred", vary(smooth, joint=None), 4)),
        Entry("aug-joint-x2-smooth", "augmentation + joint + 2× frame length + label smoothing",
              Row("light", smooth, 2)),
        Entry("aug-joint-heads-x4-smooth",
              "augmentation + joint (a head per set) + 4× frame length + label smoothing",
              Row("light", vary(smooth, joint_labels="separate"), 4)),
        Entry("aug-joint-heads-x4-smooth-centred-logmel",
              "augmentation + joint (a head per set) + 4× frame length + label smoothing + "
              "centred log-mel maps",
              Row("light-centred", vary(smooth, joint_labels="separate"), 4, log_mel)),
        Entry("aug-nogain-joint-x4-smooth",
              "augmentation without gain + joint + 4× frame length + label smoothing",
              Row("light", vary(smooth, gain_db=0.0), 4)),
        Entry("aug-joint-x4-smooth-pcen",
              "augmentation + joint + 4× frame length + label smoothing + PCEN maps",
              Row("light", smooth, 4, pcen)),
        Entry("aug-joint-x4-smooth-centred-pcen",
              "augmentation + joint + 4× frame length + label smoothing + centred PCEN maps",
              Row("light-centred", smooth, 4, pcen)),
        Entry("aug-joint-x4-smooth-logmel",
              "augmentation + joint + 4× frame length + label smoothing + log-mel maps",
              Row("light", smooth, 4, log_mel)),
        Entry("aug-joint-x4-smooth-centred-logmel",
              "augmentation + joint + 4× frame length + label smoothing + centred log-mel maps",
              Row("light-centred", smooth, 4, log_mel)),
        Entry("aug-joint-x4-smooth-cmvn-logmel",
              "augmentation + joint + 4× frame length + label smoothing + centred and scaled "
              "log-mel maps",
              Row("light-cmvn", smooth, 4, log_mel)),
        Entry("aug-joint-x4-smooth-centred-logmel-mel64",
              "augmentation + joint + 4× frame length + label smoothing + centred log-mel maps, "
              "64 bands",
              Row("light-centred", smooth, 4, (*log_mel, ("n_mels", 64)))),
        *(Entry(f"aug-joint-x4-smooth-centred-logmel-{variant}",
                "augmentation + joint + 4× frame length + label smoothing + centred log-mel "
                f"maps, {words}",
                Row(f"light-centred-{variant}", smooth, 4, log_mel))
          for variant, words in STRIDE_WORDS.items()),
        *(Entry(f"aug-joint-x4-smooth-{variant}",
                f"augmentation + joint + 4× frame length + label smoothing, {words}",
                Row(f"light-{variant}", smooth, 4))
          for variant, words in WIDTH_WORDS.items()),
        *(Entry(f"aug-joint-x2-smooth-centred-logmel-{variant}",
                "augmentation + joint + 2× frame length + label smoothing + centred log-mel "
                f"maps, {words}",
                Row(f"light-centred-{variant}", smooth, 2, log_mel))
          for variant, words in WIDTH_WORDS.items()),
        Entry("aug-joint-x4-smooth-keep-time",
              "augmentation + joint + 4× frame length + label smoothing, stem keeps every frame",
              Row("light-keep-time", smooth, 4)),
        Entry("aug-joint-shared-x4-smooth",
              "augmentation + joint (shared labels only) + 4× frame length + label smoothing",
              Row("light", vary(smooth, joint_labels="shared"), 4)),
        Entry("aug-joint-shared-x2-smooth-centred-logmel",
              "augmentation + joint (shared labels only) + 2× frame length + label smoothing + "
              "centred log-mel maps",
              Row("light-centred", vary(smooth, joint_labels="shared"), 2, log_mel)),
        Entry("aug-joint-x4-smooth-wd1e-3",
              "augmentation + joint + 4× frame length + label smoothing + weight decay 1e-3",
              Row("light", vary(smooth, weight_decay=1e-3), 4)),
        Entry("aug-joint-x4-smooth-fmax1k",
              "augmentation + joint + 4× frame length + label smoothing, mel bands up to "
              "1000 Hz",
              Row("light", smooth, 4, (("fmax_hz", 1000.0),))),
        Entry("aug-joint-x2-smooth-centred-logmel-fmax1k",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps, "
              "mel bands up to 1000 Hz",
              Row("light-centred", smooth, 2, (*log_mel, ("fmax_hz", 1000.0)))),
        Entry("aug-joint-x4-smooth-mfcc30",
              "augmentation + joint + 4× frame length + label smoothing, 30 coefficients",
              Row("light", smooth, 4, (("n_mfcc", 30),))),
        Entry("aug-joint-x2-smooth-centred-logmel",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps",
              Row("light-centred", smooth, 2, log_mel)),
        # BatchNorm, folded into the convolutions at export (heartsound-lab batchnorm):
        # set A's on level-free maps, set B's on the centred log-mel maps.
        Entry("aug-joint-x4-smooth-level-bn",
              "augmentation + joint + 4× frame length + label smoothing + level-free maps, "
              "BatchNorm",
              Row("light-level-bn", smooth, 4)),
        Entry("aug-joint-x4-smooth-level-bn-noise",
              "augmentation + joint + 4× frame length + label smoothing + level-free maps, "
              "BatchNorm, white noise",
              Row("light-level-bn", vary(smooth, noise_snr_db=20.0, noise_color="white"), 4)),
        # Set B's default on 2026-12-08, then with louder copies (train.IMPROVED["b"]; both
        # trained outside this table first: docs/experiments.md, *Set B's shipped model
        # trains with white-noise copies*).
        Entry("aug-joint-x2-smooth-centred-logmel-noise10",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel "
              "maps, white noise at 10-30 dB SNR",
              Row("light-centred", vary(smooth, noise_snr_db=10.0, noise_color="white"), 2,
                  log_mel)),
        Entry("aug-joint-x2-smooth-centred-logmel-noise",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel "
              "maps, white noise",
              Row("light-centred", vary(smooth, noise_snr_db=20.0, noise_color="white"), 2,
                  log_mel)),
        Entry("aug-joint-x2-smooth-centred-logmel-bn",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel "
              "maps, BatchNorm",
              Row("light-centred-bn", smooth, 2, log_mel)),
        Entry("aug-joint-smooth-centred-logmel-f512h64",
              "augmentation + joint + label smoothing + centred log-mel maps, 512-sample frames "
              "every 64 samples",
              Row("light-centred", smooth, 1, (*log_mel, *f512h64))),
        Entry("aug-joint-x4-smooth-whole",
              "augmentation + joint + 4× frame length + label smoothing + whole recording",
              Row("light", vary(smooth, crop="random", eval_hop_s=1.0), 4)),
        Entry("aug-joint-aligned-x4-smooth",
              "augmentation + joint (aligned) + 4× frame length + label smoothing",
              Row("light", vary(smooth, joint_align=True), 4)),
        Entry("aug-joint-x4-smooth-stretch",
              "augmentation + joint + 4× frame length + label smoothing + time stretch",
              Row("light", vary(smooth, stretch=STRETCH), 4)),
        Entry("aug-joint-aligned-x2-smooth-centred-logmel",
              "augmentation + joint (aligned) + 2× frame length + label smoothing + centred "
              "log-mel maps",
              Row("light-centred", vary(smooth, joint_align=True), 2, log_mel)),
        Entry("aug-joint-x2-smooth-centred-logmel-stretch",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps "
              "+ time stretch",
              Row("light-centred", vary(smooth, stretch=STRETCH), 2, log_mel)),
        Entry("aug-joint-x2-smooth-centred-logmel-mel64",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps, "
              "64 bands",
              Row("light-centred", smooth, 2, (*log_mel, ("n_mels", 64)))),
        Entry("aug-joint-x2-smooth-centred-logmel-ep50",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps "
              "+ 50 epochs",
              Row("light-centred", vary(smooth, epochs=50), 2, log_mel)),
        Entry("aug-joint-x2-smooth-centred-logmel-cw-balanced",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps "
              "+ balanced class weights",
              Row("light-centred", vary(smooth, class_weight="balanced"), 2, log_mel)),
        Entry("aug-joint-x8-smooth", "augmentation + joint + 8× frame length + label smoothing",
              Row("light", smooth, 8)),
        Entry("aug-joint-x8-smooth-own3",
              "augmentation + joint + 8× frame length + label smoothing + own set 3×",
              Row("light", vary(smooth, own_repeat=3), 8)),
        Entry("aug-joint-smooth-f512h64",
              "augmentation + joint + label smoothing, 512-sample frames every 64 samples",
              Row("light", smooth, 1, f512h64)),
        Entry("aug-joint-x4-smooth0.2",
              "augmentation + joint + 4× frame length + label smoothing 0.2",
              Row("light", vary(smooth, label_smoothing=0.2), 4)),
        Entry("aug-joint-x4-smooth-batch16",
              "augmentation + joint + 4× frame length + label smoothing + batch 16",
              Row("light", vary(smooth, batch_size=16), 4)),
        Entry("aug-joint-x4-smooth-lr5e-4",
              "augmentation + joint + 4× frame length + label smoothing + learning rate 5e-4",
              Row("light", vary(smooth, lr=5e-4), 4)),
        Entry("aug-joint-x4-smooth-one-cycle",
              "augmentation + joint + 4× frame length + label smoothing + one cosine cycle",
              Row("light", vary(smooth, restart_epochs=30), 4)),
        Entry("aug-joint-x4-smooth-ep60-cycle20",
              "augmentation + joint + 4× frame length + label smoothing + 60 epochs, cycles of "
              "20",
              Row("light", vary(smooth, epochs=60, restart_epochs=20), 4)),
        Entry("aug-joint-x4-smooth-ep50-stretch",
              "augmentation + joint + 4× frame length + label smoothing + 50 epochs + time "
              "stretch",
              Row("light", vary(smooth, epochs=50, stretch=STRETCH), 4)),
        Entry("aug-joint-x4-smooth-ep50-own3",
              "augmentation + joint + 4× frame length + label smoothing + 50 epochs + own set 3×",
              Row("light", vary(smooth, epochs=50, own_repeat=3), 4)),
        Entry("aug-joint-x4-smooth-mixup0.2",
              "augmentation + joint + 4× frame length + label smoothing + mixup 0.2",
              Row("light", vary(smooth, mixup=0.2), 4)),
        Entry("aug-joint-x4-smooth-swa",
              "augmentation + joint + 4× frame length + label smoothing + weight averaging",
              Row("light", vary(smooth, select="last", average_last=10), 4)),
        Entry("aug-joint-x2-smooth-centred-logmel-mixup0.2",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps "
              "+ mixup 0.2",
              Row("light-centred", vary(smooth, mixup=0.2), 2, log_mel)),
        Entry("aug-joint-x2-smooth-centred-logmel-swa",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps "
              "+ weight averaging",
              Row("light-centred", vary(smooth, select="last", average_last=10), 2, log_mel)),
        # Set A's folds drawn by recording session (data.session_groups), not by file; on
        # set B these are the patient folds already.
        Entry("paper-sessions", "paper (best val. epoch), folds by recording session",
              Row("light", paper, split="sessions")),
        Entry("fixed-sessions", "fixed budget, folds by recording session",
              Row("light", fixed, split="sessions")),
        Entry("aug-joint-x4-smooth-sessions",
              "augmentation + joint + 4× frame length + label smoothing, folds by recording "
              "session",
              Row("light", smooth, 4, split="sessions")),
        Entry("aug-joint-x4-smooth-centred-sessions",
              "augmentation + joint + 4× frame length + label smoothing + centred maps, folds by "
              "recording session",
              Row("light-centred", smooth, 4, split="sessions")),
        Entry("aug-joint-aligned-x4-smooth-sessions",
              "augmentation + joint (aligned) + 4× frame length + label smoothing, folds by "
              "recording session",
              Row("light", vary(smooth, joint_align=True), 4, split="sessions")),
        Entry("aug-joint-x4-smooth-cw-sessions",
              "augmentation + joint + 4× frame length + label smoothing + class weights, folds "
              "by recording session",
              Row("light", vary(smooth, class_weight="sqrt"), 4, split="sessions")),
        Entry("aug-joint-x4-smooth-own3-sessions",
              "augmentation + joint + 4× frame length + label smoothing + own set 3×, folds by "
              "recording session",
              Row("light", vary(smooth, own_repeat=3), 4, split="sessions")),
        Entry("base-aug-joint-x4-smooth-sessions",
              "base network, augmentation + joint + 4× frame length + label smoothing, folds by "
              "recording session",
              Row("base", smooth, 4, split="sessions")),
        *(Entry(f"aug-joint-x4-smooth-{variant}-sessions",
                f"augmentation + joint + 4× frame length + label smoothing, {words}, folds by "
                "recording session",
                Row(f"light-{variant}", smooth, 4, split="sessions"))
          for variant, words in WIDTH_WORDS.items()),
        Entry("aug-joint-x2-smooth-centred-logmel-sessions",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps, "
              "folds by recording session",
              Row("light-centred", smooth, 2, log_mel, split="sessions")),
        Entry("aug-joint-x4-smooth-level-bn-sessions",
              "augmentation + joint + 4× frame length + label smoothing + level-free maps, "
              "BatchNorm, folds by recording session",
              Row("light-level-bn", smooth, 4, split="sessions")),
        Entry("aug-joint-x4-smooth-level-bn-noise-sessions",
              "augmentation + joint + 4× frame length + label smoothing + level-free maps, "
              "BatchNorm, white noise, folds by recording session",
              Row("light-level-bn", vary(smooth, noise_snr_db=20.0, noise_color="white"), 4,
                  split="sessions")),
        Entry("aug-joint-x2-smooth-centred-logmel-windows",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps "
              "+ windows averaged",
              Row("light-centred", vary(smooth, eval_hop_s=1.0), 2, log_mel)),
        Entry("aug-joint-x2-smooth-centred-logmel-whole",
              "augmentation + joint + 2× frame length + label smoothing + centred log-mel maps "
              "+ whole recording",
              Row("light-centred", vary(smooth, crop="random", eval_hop_s=1.0), 2, log_mel)),
    )


def ablation_recipes() -> dict[str, Row]:
    """The ablation's rows by label, in the table's order."""
    return {entry.label: entry.row for entry in ablation_table()}


def row_label(name: str) -> str:
    """The label of the row ``name`` (its id or its label); any other name as it is."""
    return next((e.label for e in ablation_table() if name in (e.id, e.label)), name)


def row_labels(names: Sequence[str], option: str) -> list[str]:
    """Labels of rows named by id or label (``--only``, ``--all-seeds-for``); an unknown name
    is a ValueError naming ``option`` and the ids."""
    table = ablation_table()
    by_name = {e.id: e.label for e in table} | {e.label: e.label for e in table}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"{option}: no ablation row {unknown[0]!r} (ids: "
                         f"{', '.join(e.id for e in table)}; or a row's label)")
    return [by_name[n] for n in names]


def slug(name: str) -> str:
    """Folder name of an ablation row: "augmentation + mixup" → "augmentation-mixup"."""
    import re

    return re.sub(r"[^0-9A-Za-z]+", "-", name).strip("-")


def ablation(args: argparse.Namespace) -> int:
    """CV of every ablation recipe × set × seed (light model, grouped folds)."""
    from heartsound.training.train import run_cv

    runs = Path(args.runs)
    recipes = ablation_recipes()
    names = row_labels(args.only, "--only") if args.only else list(recipes)
    all_seeds = set(row_labels(args.all_seeds_for, "--all-seeds-for"))
    for name in [] if args.markdown_only else names:
        seeds = args.seeds if name in all_seeds else args.seeds[:1]
        for dataset in args.sets:
            for seed in seeds:
                out = ablation_folder(runs, dataset, name, seed)
                row = recipes[name]
                run_claimed(out, out.name, lambda out=out, row=row, dataset=dataset, seed=seed:
                            run_cv(f"pascal-{dataset}", row.network, out, seed=seed,
                                   recipe=row.recipe, config=row.config(), data_dir=args.data,
                                   quiet=True, split=row.split, final=False,
                                   threads=args.threads, device=args.device))
    write_doc(args.out, "ablation.md", ablation_markdown(runs))
    return 0


# Seed-0 runs of these rows (by id) are the main studies (same settings): reused, not rerun.
ABLATION_STUDIES = {"paper": "{}-light", "candidate": "{}-light-candidate"}
# (set B's "+ augmentation" seed-0 run also became the b-light-augment study: same settings)


def study_of(name: str) -> str | None:
    """The main study (folder pattern) whose seed-0 run row ``name`` (id or label) reuses."""
    label = row_label(name)
    return next((ABLATION_STUDIES[e.id] for e in ablation_table()
                 if e.label == label and e.id in ABLATION_STUDIES), None)


def ablation_folder(runs: Path, dataset: str, name: str, seed: int) -> Path:
    """The run folder of row ``name`` (id or label) on ``dataset`` with ``seed``, named from
    the row's label."""
    study = study_of(name)
    if seed == 0 and study:
        return runs / study.format(dataset)
    return runs / "ablation" / f"{dataset}-{slug(row_label(name))}-s{seed}"


def ablation_runs(runs: Path, dataset: str, name: str) -> list[Path]:
    """Summaries of one ablation row (id or label): its own seed runs plus the main study it
    reuses."""
    import re

    # "-s<seed>" exactly: a longer row's folder ("…-maps-stem-keeps-…-s0") is not a seed.
    prefix = f"{dataset}-{slug(row_label(name))}-s"
    found = sorted((p for p in (runs / "ablation").glob(f"{prefix}*/summary.json")
                    if re.fullmatch(r"\d+", p.parent.name.removeprefix(prefix))),
                   key=lambda p: int(p.parent.name.removeprefix(prefix)))
    study = ablation_folder(runs, dataset, name, 0) / "summary.json"
    if study_of(name) and study.exists():
        found.insert(0, study)
    return found


def madds_by_scale(scales: Sequence[int] = (8, 4), n_classes: int = 4) -> str:
    """The lightweight network's multiply-adds on the MFCC maps of each frame-length factor
    (set A's 4 classes by default): "2.8 M on 106×20 maps against 5.6 M on 215×20"."""
    from heartsound.training.networks import build, count_madds

    net = build("light", n_classes, DEFAULT.n_mfcc)
    parts = [f"{count_madds(net, n, DEFAULT.n_mfcc) / 1e6:.1f} M on {n}×{DEFAULT.n_mfcc}"
             for n in (DEFAULT.scaled(k).n_frames for k in scales)]
    return parts[0] + " maps against " + ", ".join(parts[1:])


def cost_against_light(arch: str, n_classes: int = 3, scale: int = 1,
                       width: int = 20) -> str:
    """A network's parameters and multiply-adds on ``scale``'s maps ``width`` wide, against
    the paper's lightweight network on its 20 MFCCs of the same length."""
    from heartsound.training.networks import build, count_madds, count_parameters

    frames = DEFAULT.scaled(scale).n_frames
    light_width = DEFAULT.n_mfcc
    light, other = build("light", n_classes, light_width), build(arch, n_classes, width)
    return (f"{count_parameters(other):,} parameters and "
            f"{count_madds(other, frames, width) / 1e6:.1f} M multiply-adds on "
            f"{frames}×{width} maps for {n_classes} classes against "
            f"{count_parameters(light):,} and "
            f"{count_madds(light, frames, light_width) / 1e6:.1f} M"
            + (f" on {frames}×{light_width}" if width != light_width else ""))


def stride_summary(n_classes: int = 3) -> str:
    """The architecture search's stride variants in words, with their measured cost."""
    from heartsound.training.networks import build, count_madds, count_parameters

    frames, width = DEFAULT.scaled(4).n_frames, DEFAULT.n_mels
    centred = build("light-centred", n_classes, width)
    cost = " / ".join(
        f"{count_madds(build(f'light-centred-{name}', n_classes, width), frames, width) / 1e6:.1f}"
        for name in STRIDE_WORDS)
    return ("*" + ", ".join(STRIDE_WORDS.values()) + "*: the architecture search's "
            + ", ".join(f"`light-centred-{name}`" for name in STRIDE_WORDS)
            + " variants (`light-keep-time` etc. without centring; the same blocks and "
            f"{count_parameters(centred):,} parameters, the map downsampled elsewhere: the "
            "stem striding along frequency only, along time only, or the last row not "
            f"striding; {cost} M multiply-adds on {frames}×{width} log-mel maps against "
            f"{count_madds(centred, frames, width) / 1e6:.1f} M)")


def width_summary() -> str:
    """The architecture search's width variants in words, with their measured size and cost
    on each set's default maps."""
    from heartsound.training.networks import WIDTH_VARIANTS, build, count_madds, count_parameters

    def cost(prefix: str, n_classes: int, scale: int, width: int) -> str:
        frames = DEFAULT.scaled(scale).n_frames
        nets = [build(f"{prefix}{name}", n_classes, width) for name in WIDTH_WORDS]
        base = build(prefix.rstrip("-"), n_classes, width)
        return (" / ".join(f"{count_parameters(n):,}" for n in nets) + " parameters and "
                + " / ".join(f"{count_madds(n, frames, width) / 1e6:.1f}" for n in nets)
                + f" M multiply-adds on {frames}×{width} maps against "
                f"{count_parameters(base):,} and {count_madds(base, frames, width) / 1e6:.1f} M")

    rows = "; ".join(f"`{name}` {WIDTH_VARIANTS[name]['rows'][1:]}" for name in WIDTH_WORDS)
    from heartsound.training.networks import LIGHT_HEAD, LIGHT_ROWS

    return ("*" + "*, *".join(WIDTH_WORDS.values()) + "*: the architecture search's "
            "`light-wide`, `light-expand6`, `light-deeper` variants (`light-centred-…` on "
            "set B), the channels spent differently within the budget — the rows after the "
            f"first, as (expansion, channels, repeats, stride): {rows}"
            + (f", head {WIDTH_VARIANTS['deeper']['head']}" if 'head' in
               WIDTH_VARIANTS['deeper'] else "")
            + f" (the paper's network: {LIGHT_ROWS[1:]}, head {LIGHT_HEAD})"
            + f"; set A {cost('light-', 4, 4, DEFAULT.n_mfcc)}, set B "
            f"{cost('light-centred-', 3, 2, DEFAULT.n_mels)})")


def context_summary(n_classes: int = 3) -> str:
    """What the context network changes, measured: receptive field, size, cost."""
    from heartsound.training.networks import build, receptive_field

    frame_s = DEFAULT.hop_length / DEFAULT.sample_rate
    rf_light = receptive_field(build("light", n_classes))
    rf_context = receptive_field(build("light-context", n_classes))
    return (f"receptive field {rf_context} frames = {rf_context * frame_s:.2f} s instead of "
            f"{rf_light} = {rf_light * frame_s:.2f} s, mean+max pooling, "
            f"{cost_against_light('light-context', n_classes)}")


# The rarest class of each set: the one a plain model stops predicting.
RARE = {"a": "extrahls", "b": "extrastole"}


def rare_found(summary: dict[str, Any], label: str) -> tuple[int, int]:
    """(recordings of ``label`` predicted as ``label``, recordings of ``label``) over folds."""
    hits = [v["pred"] == label for f in summary["folds"] for v in f["validation"]
            if v["label"] == label]
    return sum(hits), len(hits)


def rare_auc(summary: dict[str, Any], label: str, against: str = "normal") -> float:
    """How well the models' ``label`` probability ranks ``label`` recordings above
    ``against`` ones: ROC AUC over the validation folds pooled (0.5: chance, so no
    threshold on the probability would find the class). NaN for runs written before the
    validation probabilities were stored."""
    from heartsound.metrics import roc_auc

    k = summary["config"]["classes"].index(label)
    rows = [v for f in summary["folds"] for v in f["validation"] if v["label"] in (label, against)]
    if not all("probs" in v for v in rows):
        return float("nan")
    return roc_auc([v["label"] == label for v in rows], [v["probs"][k] for v in rows])


def shared_patients(summary: dict[str, Any], label: str, other: str = "normal") -> tuple[int, int]:
    """(patients with a ``label`` recording who also have an ``other`` one, patients with a
    ``label`` recording), from the set-B file names of a run's validation folds."""
    from heartsound.data import parse_name

    by_label: dict[str, set[str | None]] = {label: set(), other: set()}
    for f in summary["folds"]:
        for v in f["validation"]:
            if v["label"] in by_label:
                by_label[v["label"]].add(parse_name(v["path"])[1])
    return len(by_label[label] & by_label[other]), len(by_label[label])


def default_row(dataset: str) -> str | None:
    """The ablation row that is ``dataset``'s default (train.IMPROVED): same network,
    recipe and front end."""
    from heartsound.training.train import IMPROVED, RECIPES, resolve_frontend

    choice = IMPROVED[dataset]
    cfg = resolve_frontend(None, None, "improved", f"pascal-{dataset}")
    return next((name for name, row in ablation_recipes().items()
                 if row.network == choice.model and row.recipe == RECIPES[choice.recipe]
                 and row.config() == cfg and row.split == "grouped"), None)


def seed_ensemble(summaries: Sequence[dict[str, Any]], dataset: str
                  ) -> tuple[dict[str, Any], dict[str, float]]:
    """Scores, pooled over every labelled recording, of the mean of its validation
    probabilities over the runs (each run held it out: N networks per recording, N times
    the budget), and the same pooled scores of the single runs averaged over the runs —
    what averaging away the seeds' variance buys."""
    from heartsound.metrics import pascal_scores

    classes = summaries[0]["config"]["classes"]
    probs: dict[str, list[list[float]]] = {}
    labels: dict[str, str] = {}
    singles = []
    for s in summaries:
        rows = [v for f in s["folds"] for v in f["validation"]]
        singles.append(pascal_scores([v["label"] for v in rows], [v["pred"] for v in rows],
                                     dataset))
        for v in rows:
            probs.setdefault(v["path"], []).append(v["probs"])
            labels[v["path"]] = v["label"]
    names = sorted(probs)
    pred = [classes[int(np.argmax(np.mean(probs[n], axis=0)))] for n in names]
    together = pascal_scores([labels[n] for n in names], pred, dataset)
    keys = [k for k, v in singles[0].items() if isinstance(v, float)]
    return together, {k: float(np.mean([x[k] for x in singles])) for k in keys}


def _shifts(k: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    return lambda m: [np.roll(m, -j * len(m) // k, axis=0) for j in range(k)]


def _rates(*rates: float) -> Callable[[np.ndarray], list[np.ndarray]]:
    from heartsound.training.train import stretch_map

    return lambda m: [stretch_map(m, 0, len(m), float(np.log(r))) for r in rates]


# Test-time augmentation: ways of showing one recording's 7-s map to a network, whose
# probabilities are averaged. A short recording's map is tiled, so a circular shift shows the
# same sounds from another start; the rates are those of the time-stretch augmentation.
ONE_VIEW = "one view (as trained)"
TEST_TIME_VIEWS: dict[str, Callable[[np.ndarray], list[np.ndarray]]] = {
    ONE_VIEW: lambda m: [m],
    "2 circular shifts": _shifts(2),
    "4 circular shifts": _shifts(4),
    "3 heart rates (0.9×, 1×, 1.1×)": _rates(0.9, 1.0, 1.1),
    "forward and time-reversed": lambda m: [m, m[::-1]],
}


# Views of the whole recording rather than its first 7 s: 7-s windows this many seconds apart
# (the last one aligned to the end), as a recipe's eval_hop_s and `predict` average them.
WINDOW_VIEWS: dict[str, float] = {
    "7-s windows every 1 s (whole recording)": 1.0,
    "7-s windows every 3 s (whole recording)": 3.0,
}


def view_scores(rundir: str | Path, data_dir: str | None = None,
                views: dict[str, Callable[[np.ndarray], list[np.ndarray]]] | None = None,
                window_views: dict[str, float] | None = None
                ) -> dict[str, dict[str, float]]:
    """Scores of a run's fold models on their validation recordings, each recording's
    probabilities averaged over its test-time views, per entry of ``views`` (views of the
    7-s map the run was scored on) and of ``window_views`` (windows over the whole
    recording's map): the mean over folds, as a CV summary gives them, and
    ``views_per_recording``, the mean number of maps the network reads per recording."""
    from heartsound.features import hop_frames, windows
    from heartsound.training.train import (
        dataset_key,
        open_run,
        predict_proba,
        scores_for,
    )

    views = TEST_TIME_VIEWS if views is None else views
    window_views = WINDOW_VIEWS if window_views is None else window_views
    missing = [f.name for f in sorted(Path(rundir).glob("fold*"))
               if not (f / "checkpoint.pt").exists()]
    if missing:
        raise ValueError(f"{rundir}: no checkpoint.pt in {', '.join(missing)}; test-time "
                         "views re-score the fold models")
    run = open_run(rundir, data_dir)
    if run.recipe.whole:
        raise ValueError(f"{rundir}: test-time views need the fixed 7-s maps; this run "
                         "reads whole recordings")
    n = run.frontend.n_frames
    whole = run.whole_maps() if window_views else []
    key = dataset_key(run.config["dataset"])
    per_fold: dict[str, list[dict[str, Any]]] = {name: [] for name in [*views, *window_views]}

    def scored(truth: list[str | None], probs: Sequence[np.ndarray], counts: Sequence[int]
               ) -> dict[str, Any]:
        pred = [run.classes[int(np.argmax(p))] for p in probs]
        return {**scores_for(key, run.classes, truth, pred),
                "views_per_recording": float(np.mean(counts))}

    for _, val, model in run.fold_models():
        truth = [run.recordings[i].label for i in val]
        for name, view in views.items():
            shown = [view(run.maps[i][:n]) for i in val]
            probs = predict_proba(model, [v for vs in shown for v in vs], n)
            ends = np.cumsum([len(vs) for vs in shown])
            per_fold[name].append(scored(truth, [p.mean(axis=0)
                                                 for p in np.split(probs, ends[:-1])],
                                         [len(vs) for vs in shown]))
        for name, seconds in window_views.items():
            hop = hop_frames(seconds, run.frontend)
            maps = [whole[i] for i in val]
            per_fold[name].append(scored(truth, predict_proba(model, maps, n, hop),
                                         [len(windows(m, n, hop)) for m in maps]))
    return {name: fold_means(folds) for name, folds in per_fold.items()}


def fold_means(folds: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The mean over folds of every float score, as a CV summary gives them."""
    return {k: float(np.mean([f[k] for f in folds])) for k, v in folds[0].items()
            if isinstance(v, float)}


def seeds_cell(values: Sequence[float]) -> str:
    """Mean ± sample standard deviation over seeds, as every table here shows them (the
    ablation's cells, a CV summary's folds); "–" for none, ± 0 for one."""
    if not len(values):
        return "–"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}"


def paired_text(diffs: Sequence[float], same_within: float = 5e-4) -> str:
    """Paired differences, one per seed: their mean and how many seeds are better / the
    same (within ``same_within``) / worse, e.g. "+0.003 (3/2/2)"; "–" without any."""
    if not len(diffs):
        return "–"
    better = sum(d > same_within for d in diffs)
    worse = sum(d < -same_within for d in diffs)
    mean = statistics.fmean(diffs)
    mean = 0.0 if abs(mean) < same_within else mean  # no "-0.000"
    return f"{mean:+.3f} ({better}/{len(diffs) - better - worse}/{worse})"


def default_rows_found(runs: Path, sets: Sequence[str], command: str
                       ) -> dict[str, tuple[str, list[Path]]] | None:
    """Each set's default row and its finished runs' summaries, for the commands that
    re-score them; None, after one error line naming ``command``, when a set has none."""
    found = {}
    for dataset in sets:
        row = default_row(dataset)
        paths = ablation_runs(runs, dataset, row) if row else []
        if not paths or row is None:
            print(f"heartsound-lab {command}: no finished runs of set {dataset.upper()}'s default "
                  f"row under {runs} (run `heartsound-lab ablation` first)", file=sys.stderr)
            return None
        found[dataset] = (row, paths)
    return found


def write_doc(out: str | None, name: str, text: str) -> None:
    """Write a generated page to ``out``, by default ``docs/<name>`` of the repository."""
    path = Path(out or REPO_ROOT / "docs" / name)
    write_text(path, text)
    print(f"wrote {path}", file=sys.stderr)


def views_markdown(scored: dict[str, list[dict[str, dict[str, Any]]]]) -> str:
    """docs/test-time-views.md: per set (its default row's seed runs), each view's mean ± std
    over seeds of the pooled validation scores."""
    from heartsound.provenance import cpu_name

    keys = ("accuracy", "total_precision", "youden")
    lines = ["# Test-time views: averaging several views of a recording", "",
             f"Generated by `heartsound-lab views` on {cpu_name()}, "
             f"{time.strftime('%Y-%m-%d')}, from the fold checkpoints of each set's default row "
             "in `docs/ablation.md` (no training): each validation recording's map is shown "
             "to its fold's network several ways and the probabilities are averaged "
             "(test-time augmentation), or the network reads 7-s windows over the whole "
             "recording instead of its first 7 s and averages them (as `predict --hop` does). "
             "A cell is the mean ± std over seeds of the 5-fold mean, as in `docs/ablation.md`; "
             "*maps read* is the mean number of 7-s maps the network reads per recording (the "
             "cost per recording, against 1); *against one view* pairs each seed with the "
             "one-view score (seeds better / same / worse).", ""]
    for title, runs in scored.items():
        lines += [f"## {title}", "", "| view | maps read | seeds | " + " | ".join(keys)
                  + " | accuracy per seed | against one view |", "|---" * (len(keys) + 5) + "|"]
        one = np.array([r[ONE_VIEW]["accuracy"] for r in runs]) if ONE_VIEW in runs[0] else None
        for name in [*TEST_TIME_VIEWS, *WINDOW_VIEWS]:
            if name not in runs[0]:
                continue
            cells = [seeds_cell([r[name][k] for r in runs if k in r[name]]) for k in keys]
            acc = np.array([r[name]["accuracy"] for r in runs])
            per_seed = ", ".join(f"{a:.3f}" for a in acc)
            count = np.mean([r[name]["views_per_recording"] for r in runs])
            paired = (paired_text(acc - one, same_within=1e-9)
                      if one is not None and name != ONE_VIEW else "–")
            lines.append(f"| {name} | {count:.3g} | {len(runs)} | " + " | ".join(cells)
                         + f" | {per_seed} | {paired} |")
        lines.append("")
    return "\n".join(lines)


def views(args: argparse.Namespace) -> int:
    """Score each set's default ablation row under every test-time view."""
    found = default_rows_found(Path(args.runs), args.sets, "views")
    if found is None:
        return 1
    scored = {}
    for dataset, (row, paths) in found.items():
        scored[f"Set {dataset.upper()}: {row}"] = [view_scores(p.parent, args.data)
                                                   for p in paths]
        print(f"set {dataset.upper()}: {len(paths)} runs scored", file=sys.stderr)
    write_doc(args.out, "test-time-views.md", views_markdown(scored))
    return 0


def against_default(summaries: Sequence[dict[str, Any]],
                    default: Sequence[dict[str, Any]]) -> str:
    """A row's accuracy against the default's on the seeds both ran (paired by seed): the
    mean difference and how many seeds are better / the same / worse, e.g. "+0.003 (3/2/2)".
    "–" without a shared seed."""
    base = {s["config"]["seed"]: s["mean"]["accuracy"]["mean"] for s in default}
    return paired_text([s["mean"]["accuracy"]["mean"] - base[s["config"]["seed"]]
                        for s in summaries if s["config"]["seed"] in base])


def pooled_confusion(summaries: Sequence[dict[str, Any]]) -> tuple[list[str], np.ndarray]:
    """(classes, confusion matrix summed over every fold of every run): rows true, columns
    predicted — where a recipe's errors are, over all its seeds."""
    classes = summaries[0]["config"]["classes"]
    total = sum(np.array(f["scores"]["confusion_matrix"]) for s in summaries
                for f in s["folds"])
    return classes, np.asarray(total)


def errors_text(summaries: Sequence[dict[str, Any]]) -> str:
    """Each class's recall over the runs' pooled folds and what it is mistaken for most."""
    classes, cm = pooled_confusion(summaries)
    parts = []
    for i, c in enumerate(classes):
        share = cm[i] / max(cm[i].sum(), 1)
        wrong = [(share[j], classes[j]) for j in range(len(classes)) if j != i and share[j] > 0]
        part = f"{c} {share[i]:.2f}"
        if wrong:
            most_share, most = max(wrong)
            part += f" (else mostly {most}, {most_share:.2f})"
        parts.append(part)
    return ", ".join(parts)


def largest_session(summaries: Sequence[dict[str, Any]]
                    ) -> tuple[str, str, int, int, float, float] | None:
    """Set A's largest recording session (data.sessions_of) seen by the runs' validation
    folds: (its first minute, its commonest label, that label's recordings in it, that
    label's recordings in all, the share of those inside found, of those outside found),
    pooled over every run; None when no file name carries a minute."""
    from heartsound.data import sessions_of

    rows = [v for s in summaries for f in s["folds"] for v in f["validation"]]
    names = sorted({v["path"] for v in rows})
    session = dict(zip(names, sessions_of(names), strict=True))
    sizes = Counter(x for x in session.values() if x)
    if not sizes:
        return None
    biggest = sizes.most_common(1)[0][0]
    label_of = {v["path"]: v["label"] for v in rows}
    label = Counter(label_of[n] for n in names if session[n] == biggest).most_common(1)[0][0]
    ours = [(session[v["path"]] == biggest, v["pred"] == label) for v in rows
            if v["label"] == label]
    inside = [hit for within, hit in ours if within]
    outside = [hit for within, hit in ours if not within]
    n_in = sum(1 for n in names if session[n] == biggest and label_of[n] == label)
    n_all = sum(1 for n in names if label_of[n] == label)
    return (biggest.removeprefix("session:"), label, n_in, n_all,
            float(np.mean(inside)) if inside else math.nan,
            float(np.mean(outside)) if outside else math.nan)


def session_text(default_runs: Sequence[dict[str, Any]],
                 session_runs: Sequence[dict[str, Any]]) -> str | None:
    """Under set A's table: how much of a class the largest recording session is, what the
    default finds inside and outside it, and what it reads with folds by session."""
    found = largest_session(default_runs)
    if found is None:
        return None
    start, label, n_in, n_all, inside, outside = found
    when = f"{start[:4]}-{start[4:6]}-{start[6:8]} {start[8:10]}:{start[10:]}"
    text = (f"**Set A's largest recording session**: {n_in} of its {n_all} {label} recordings "
            f"were made in one session from {when} (`heartsound data`; file-name minutes at "
            "most 15 apart). With folds by file the default finds "
            f"{inside:.2f} of them and {outside:.2f} of the other {n_all - n_in} {label} "
            f"recordings ({len(default_runs)} seeds' folds pooled)")
    if session_runs:
        accs = [s["mean"]["accuracy"]["mean"] for s in session_runs]
        held = largest_session(session_runs)
        text += (f"; with folds that hold out whole sessions (`--split sessions`, rows "
                 f"*…, folds by recording session*) it reads {seeds_cell(accs)} over "
                 f"{len(accs)} seeds")
        if held is not None:
            text += f" and finds {held[4]:.2f} and {held[5]:.2f}"
        text += f"; every class by session — {errors_text(session_runs)}"
    return text + "."


def trained_where(summary: dict[str, Any], here: str, torch_here: str) -> str | None:
    """Where a run was trained, when not on this machine (``here``, torch ``torch_here``):
    its device, else its recorded processor when that differs; a run on a processor of the
    same name (or from before the processor was recorded) is placed by its torch build.
    None for this machine's CPU."""
    cfg = summary["config"]
    torch = cfg.get("versions", {}).get("torch", torch_here)
    if cfg.get("device"):
        return f"{cfg['device']}, torch {torch}"
    if cfg.get("machine", here) != here:
        return f"{cfg['machine']}, torch {torch}"
    if torch != torch_here:
        return f"the CPU of another machine, torch {torch}"
    return None


def ablation_markdown(runs: Path) -> str:
    """docs/ablation.md: mean ± std over seeds of the per-seed 5-fold CV means."""
    from heartsound.provenance import machine
    from heartsound.training.networks import ENSEMBLE_MEMBERS, ENSEMBLE_WIDTH
    from heartsound.training.train import NOISE_COPIES, RECIPES, ResearchRecipe, versions

    smoothing = RECIPES["joint-augment-smooth"].label_smoothing
    kd = ResearchRecipe()
    metrics = {"a": ["accuracy", "total_precision", "youden"],
               "b": ["accuracy", "total_precision", "youden", "discriminant_power"]}
    m = machine()
    torch_here = versions()["torch"]
    lines = ["# Ablation: what each change to the recipe gives", "",
             f"Generated by `heartsound-lab ablation` on {m['cpu']}, {m['date']}. Lightweight "
             "model, 5-fold CV (set B grouped by patient), every cell the mean ± std over "
             "seeds of the 5-fold mean. *paper* selects the best epoch on the validation "
             "fold itself (optimistic); every other row trains a fixed budget of epochs and "
             "keeps the last. *context network* rows use the `light-context` variant "
             f"({context_summary()}); *audio noise* rows draw each training map from the "
             f"recording and {NOISE_COPIES} copies of it with "
             f"{noise_text(ABLATION_SNR_DB)} (`Recipe.noise_snr_db`); *4× frame length* rows "
             "use the paper's 4× front-end variant (512-sample frames and FFT, 128-sample hop: "
             "a 215×20 map, a quarter of the multiply-adds); *label smoothing* rows train on "
             f"targets (1 − ε)·one-hot + ε/classes with ε = {smoothing:g}; *2× frame "
             "length*: 256-sample frames, a 434×20 map (434×48 as log-mel); *512-sample "
             "frames every 64 samples*: the 4× frame length's frames at the 2× hop, a 430×20 "
             "map (430×48 as log-mel); *8× frame length*: 1024-sample frames and FFT every "
             f"256 samples ({madds_by_scale()} for set A's 4 classes); *whole recording*: "
             "random 7-s crops in training, 7-s windows 1 s apart averaged at validation; "
             "*own set 3×*: each of the set's own training recordings drawn three times per "
             "epoch, the other "
             "set's once; *temporal network*: "
             "the `light-temporal` variant (the same rows as 1-D convolutions along time, "
             "kernel 5, the 20 coefficients as the stem's channels; "
             f"{cost_against_light('light-temporal', scale=4)}); *distilled* rows "
             "first train the named teacher network(s) with the same recipe on each training "
             f"fold, then the lightweight model on (1 − α)·cross-entropy + α·T²·KL at "
             f"α = {kd.distill_alpha:g}, T = {kd.distill_temperature:g} (Hinton et al., "
             "2015); the *base network* row is the paper's Base model itself "
             f"({cost_against_light('base', scale=4)}: not lightweight), there to show "
             "what a teacher gets; *ensemble network*: the `light-ensemble` variant, "
             f"{ENSEMBLE_MEMBERS} lightweight networks at {ENSEMBLE_WIDTH:g}× the channels, "
             "each trained on its own loss in the same loop, their probabilities averaged "
             f"({cost_against_light('light-ensemble', scale=4)}); *50 epochs*: five "
             "cosine cycles instead of three; *windows averaged*: trained on the first 7 s "
             "as the default, validated on 7-s windows 1 s apart averaged; *centred maps*: "
             "the `light-centred` variant, each map's mean over time subtracted from every "
             "coefficient inside the network (cepstral mean normalisation: a fixed channel, "
             "such as a stethoscope's frequency response, removed); *means aside*: the same, "
             "with the map's 20 means (its channel and level) fed to the classifier beside "
             "the pooled features; *centred and scaled*: the `light-cmvn` variant, also "
             "divided by each coefficient's own spread over time (mean and variance "
             "normalisation); *log-mel maps*: the front end without its DCT "
             "(`cepstrum=False`), the 48 log mel-band energies themselves, so that "
             "neighbouring columns are neighbouring bands for the 3×3 kernels "
             f"({cost_against_light('light-centred', scale=4, width=DEFAULT.n_mels)}; with 64 "
             f"bands {cost_against_light('light-centred', scale=4, width=64)}; at the 2× "
             f"frame length {cost_against_light('light-centred', scale=2, width=DEFAULT.n_mels)}"
             f", with 64 bands {cost_against_light('light-centred', scale=2, width=64)}); "
             "*a head per "
             "set*: joint training with the other set's labels on outputs of their own "
             "(`--set joint_labels=separate`) instead of one output per label name across "
             "the two sets; *shared labels only*: joint training on the other set's "
             "normal and murmur recordings only (`--set joint_labels=shared`), without the "
             "classes this set does not have; *PCEN maps*: the 48 mel bands through "
             "per-channel energy normalisation (front-end field `log=\"pcen\"`: each band "
             "divided by its own level smoothed over 0.4 s, then a square root; Wang et al., 2017) "
             f"instead of a log; {stride_summary()}; *weight decay 1e-3*: Adam's L2 penalty "
             "(`--set weight_decay=1e-3`); *30 coefficients*: 30 MFCCs instead of 20 "
             "(front-end field `n_mfcc`); *mel bands up to 1000 Hz*: the 48 mel filters over "
             "0–1000 Hz instead of 0–2000 Hz (front-end field `fmax_hz`; on set B its 48 "
             "log-mel bands), finer at the low frequencies of third and fourth heart sounds; "
             "*label smoothing 0.2*: ε = 0.2 instead of 0.1; "
             "*batch 16*, *learning rate 5e-4*: those two settings instead of the paper's 8 and "
             "1e-3; "
             "*balanced class weights*: the loss weighted by inverse "
             "class frequency (`--set class_weight=balanced`; *class weights* alone are its "
             "square root); *one cosine cycle*: the learning rate annealed once over "
             "the 30 epochs instead of restarting every 10; *60 epochs, cycles of 20*: three "
             "restarts 20 epochs apart; *joint (aligned)*: the other set's maps moved, "
             "coefficient by coefficient, to the mean and standard deviation of this set's "
             "training maps before joint training (`--set joint_align=true`), so a different "
             "stethoscope's level and colouring are no label cue; *time stretch*: each "
             "training map read faster or slower by a factor drawn log-uniformly from "
             f"[1/{1 + STRETCH:g}, {1 + STRETCH:g}] (`--set stretch={STRETCH:g}`, heart-rate "
             "augmentation); *mixup 0.2*: map pairs and their targets mixed with a "
             "Beta(0.2, 0.2) weight (`--set mixup=0.2`; *mixup* alone is α = 0.4); *weight "
             "averaging* on top of the default: the weights of the last 10 epochs (one cosine "
             f"cycle) averaged (`--set average_last=10`); {width_summary()}. "
             "*Against the default, same seeds*: the row's accuracy minus the set's default "
             "row's (`--recipe improved`) on each seed both ran, averaged, and how many of "
             "those seeds are better / the same / worse — the paired comparison every "
             "decision here rests on. The last columns count, per seed, the "
             "recordings of the "
             "rarest class found over the five "
             "validation folds, and give the ROC AUC of that class's probability against "
             "normal recordings over the pooled validation folds (mean over the seeds whose "
             "runs stored probabilities; 0.5 is chance).", ""]
    rows = ablation_recipes()
    for dataset in ("a", "b"):
        head = " | ".join(metrics[dataset])
        lines += [f"## Set {dataset.upper()}", "", f"| recipe | seeds | {head} | "
                  "accuracy per seed | against the default, same seeds | class-folds with "
                  f"precision 0 | {RARE[dataset]} found | {RARE[dataset]} AUC vs normal |",
                  "|---|---|" + "---|" * (len(metrics[dataset]) + 5)]
        # Every row's runs read once, before the loop: each row is set beside the default.
        loaded = {name: summaries for name in rows
                  if (summaries := [json.loads(p.read_text())
                                    for p in ablation_runs(runs, dataset, name)])}
        default_name = default_row(dataset)
        default_runs = loaded.get(default_name, []) if default_name else []
        # A row with folds by recording session is set beside the default's own session row.
        by_session = rows[default_name]._replace(split="sessions") if default_name else None
        session_default = next((n for n in loaded if rows[n] == by_session), None)
        first = None
        marks: dict[str, str] = {}  # where runs were trained elsewhere → its footnote mark
        for name, summaries in loaded.items():
            cells = []
            for k in metrics[dataset]:
                vals = [v for s in summaries if k in s["mean"]
                        if math.isfinite(v := s["mean"][k]["mean"])]
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                cells.append(f"{statistics.fmean(vals):.3f} ± {sd:.3f}" if vals else "–")
            cells.append(", ".join(f"{s['mean']['accuracy']['mean']:.3f}" for s in summaries))
            if name in (default_name, session_default):
                cells.append("the default" + (", by session" if name == session_default
                                              else ""))
            elif rows[name].split == "sessions" and session_default:
                cells.append(against_default(summaries, loaded[session_default])
                             + " against the default by session")
            else:
                cells.append(against_default(summaries, default_runs))
            never = sum(1 for s in summaries for f in s["folds"]
                        for c in s["config"]["classes"]
                        if f["scores"][f"precision_{c}"] == 0.0)
            rare = ", ".join(f"{hit}/{n}" for hit, n in (rare_found(s, RARE[dataset])
                                                          for s in summaries))
            aucs = [a for s in summaries if math.isfinite(a := rare_auc(s, RARE[dataset]))]
            auc = f"{statistics.fmean(aucs):.2f}" if aucs else "–"
            elsewhere = sorted({w for s in summaries
                                if (w := trained_where(s, m["cpu"], torch_here))})
            for w in elsewhere:
                marks.setdefault(w, "†‡§¶"[len(marks) % 4] * (1 + len(marks) // 4))
            seeds = f"{len(summaries)}{''.join(marks[w] for w in elsewhere)}"
            lines.append(f"| {name} | {seeds} | {' | '.join(cells)} | {never} | "
                         f"{rare} | {auc} |")
            first = first or summaries[0]
        name, runs_of_default = default_name, default_runs
        if len(runs_of_default) > 1:
            together, single = seed_ensemble(runs_of_default, dataset)
            shown, n = metrics[dataset][:3], len(runs_of_default)
            lines += ["", f"**Seed ensemble of the default** (*{name}*, {n} seeds): "
                      "each recording's validation probabilities averaged over the runs, all "
                      f"of which held it out ({n} networks per recording, beyond the "
                      "budget), scored over the pooled recordings: "
                      + ", ".join(f"{k.replace('_', ' ').replace('youden', 'Youden')} "
                                   f"{together[k]:.3f}" for k in shown)
                      + ", against " + " / ".join(f"{single[k]:.3f}" for k in shown)
                      + " for the single runs scored the same way (their mean) — what "
                      "averaging away the seeds' variance buys, and no more.",
                      "", f"**Where the default's errors are** (its {n} seeds' validation "
                      "folds pooled): the share of each class's recordings called that class "
                      f"— {errors_text(runs_of_default)}."]
            text = session_text(runs_of_default, loaded.get(session_default, []))
            if dataset == "a" and text:
                lines += ["", text]
        for where, mark in marks.items():
            gpu = " on a GPU (`heartsound-lab ablation --device cuda`)" if where.startswith(
                "cuda") else ""
            lines += ["", f"{mark} Trained on {where}, not on this table's {m['cpu']}: the "
                      f"same code and seeds, not the same arithmetic (another torch build{gpu}),"
                      " so these runs compare with the others in distribution only."]
        if dataset == "b" and first is not None:
            both, total = shared_patients(first, RARE[dataset])
            lines += ["", f"{both} of the {total} patients with an {RARE[dataset]} recording "
                      "also have a recording labelled normal: the label marks a recording in "
                      "which an extra beat was heard, not a patient, and the patient-grouped "
                      "folds keep each such pair on the same side."]
        lines.append("")
    return "\n".join(lines)
