"""``make reproduce``: every cross-validation study, the shipped models and the results table.

Each study is one ``heartsound train`` run folder under ``runs/``; re-running skips what is
finished. The final models of the four main studies are copied to ``src/heartsound/models/``, and
``docs/results.md`` compares our fold means with the paper's Table 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from heartsound.atomic import write_text, write_with
from heartsound.config import DEFAULT, FrontEndConfig, front_end
from heartsound.registry import models_dir
from heartsound.research import REPO_ROOT
from heartsound.training.train import IMPROVED, PHYSIONET


class Study(NamedTuple):
    """One cross-validation study: a ``heartsound train`` run folder under runs/."""

    dataset: str
    model: str
    split: str
    scale: int  # front-end frame-length factor (1: 872 frames; 4: 215)
    recipe: str
    log_mel: bool = False  # log-mel maps instead of MFCCs
    # A heartsound.research.batchnorm.PRETRAINS run whose final state the backbone starts
    # from (trained first when missing), or None.
    pretrain: str | None = None
    top_db: float = 80.0  # each map's dynamic range below its peak (config.DEFAULT's)

    def config(self) -> FrontEndConfig:
        return front_end(self.scale, self.log_mel, top_db=self.top_db)


STUDIES: dict[str, Study] = {
    "a-light": Study("pascal-a", "light", "grouped", 1, "paper"),
    "a-base": Study("pascal-a", "base", "grouped", 1, "paper"),
    "b-light": Study("pascal-b", "light", "grouped", 1, "paper"),
    "b-base": Study("pascal-b", "base", "grouped", 1, "paper"),
    "b-light-random": Study("pascal-b", "light", "random", 1, "paper"),
    "b-base-random": Study("pascal-b", "base", "random", 1, "paper"),
    "a-light-x2": Study("pascal-a", "light", "grouped", 2, "paper"),
    "a-light-x4": Study("pascal-a", "light", "grouped", 4, "paper"),
    "b-light-x2": Study("pascal-b", "light", "grouped", 2, "paper"),
    "b-light-x4": Study("pascal-b", "light", "grouped", 4, "paper"),
    "a-light-candidate": Study("pascal-a", "light", "grouped", 1, "candidate"),
    "b-light-candidate": Study("pascal-b", "light", "grouped", 1, "candidate"),
    "b-light-augment": Study("pascal-b", "light", "grouped", 1, "augment"),
    "a-light-joint": Study("pascal-a", "light", "grouped", 1, "joint"),
    # Set A's shipped model starts from a backbone pre-trained on PhysioNet 2016: by recording
    # session 0.608 ± 0.019 against 0.573 ± 0.030 without (3 seeds, 3/0/0), by file the same
    # (docs/batchnorm.md, "PASCAL with PhysioNet 2016 added"); both on maps clipped to 40 dB
    # below their peak: +0.016 by file, +0.007 by session (3 seeds), and white noise no
    # longer moves 45 % of its labels on PhysioNet records (docs/batchnorm.md, "Maps
    # clipped to 40 dB"; docs/invariance.md).
    "a-light-improved": Study("pascal-a", IMPROVED["a"].model, "grouped", 4, "improved",
                              pretrain="physionet-pretrain-top40", top_db=40.0),
    "b-light-improved": Study("pascal-b", IMPROVED["b"].model, "grouped", 2, "improved",
                              log_mel=True),
    "physionet-light": Study(PHYSIONET, IMPROVED[PHYSIONET].model, "databases",
                             IMPROVED[PHYSIONET].scale, "improved",
                             top_db=IMPROVED[PHYSIONET].top_db),
}
# Shipped: the lightweight models with the improved recipe, network and front end
# (train.IMPROVED). The paper's base models are trained by the studies above, not shipped:
# 5.6× the parameters, no more accurate, and their labels move with the recording's level.
SHIPPED_FROM = {"pascal-a-light": "a-light-improved", "pascal-b-light": "b-light-improved",
                "physionet-light": "physionet-light"}

# The paper's Table 2 averages (5-fold CV) and Table 3/4 best folds on the test files.
PAPER_CV = {("a", "base"): (0.722, 2.84), ("a", "light"): (0.706, 2.734),
            ("b", "base"): (0.824, 2.154), ("b", "light"): (0.80, 2.004)}


def run_study(name: str, runs: Path, data: str | None, epochs: int | None,
              threads: int | None = None) -> dict[str, Any]:
    from heartsound.training.train import recipe_with, resolve_recipe, run_cv

    study = STUDIES[name]
    recipe = resolve_recipe(study.recipe, study.dataset)
    if study.pretrain:
        from heartsound.research.batchnorm import pretrain

        recipe = recipe_with(recipe, [f"pretrained={pretrain(runs, threads, study.pretrain)}"])
    return run_cv(study.dataset, study.model, runs / name, split=study.split, epochs=epochs,
                  data_dir=data, config=study.config(), quiet=True, recipe=recipe,
                  threads=threads)


def load_summaries(runs: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for name in STUDIES:
        path = runs / name / "summary.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out


def training_seconds(summary: dict[str, Any]) -> float:
    """Time spent training a study: its folds plus its final model (robust to resumes)."""
    return (sum(f.get("seconds", 0.0) for f in summary["folds"])
            + summary.get("final", {}).get("seconds", 0.0))


def results_markdown(summaries: dict[str, dict[str, Any]], wall_s: float | None,
                     previous: str = "") -> str:
    """docs/results.md: a row per study with a run here; a study whose run is not in this
    checkout keeps the row ``previous`` (the page as it was) shows, marked †."""
    from heartsound.provenance import machine

    m = machine()
    lines = [
        "# Cross-validation results", "",
        "Generated by `make reproduce` (`heartsound-lab reproduce`) on "
        f"{m['cpu']} ({m['cores']} cores), {m['date']}"
        + (f" (this invocation {wall_s / 60:.1f} min: finished studies are resumed, not "
           "retrained; *training time* is each study's folds plus final model)"
           if wall_s else "") + ".",
        "Each row is a 5-fold CV run on the labelled files (mean ± std over folds, seed 0). "
        "Set-B *grouped* folds keep every patient in one fold; *random* is the paper's "
        "ungrouped protocol (recordings of one patient on both sides of a split, so it "
        "flatters). Set A has no patient ids, so its folds are per recording.", "",
        "| study | recipe | map | accuracy | total precision | Youden | paper CV accuracy | "
        "paper CV total precision | training time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    import re

    # Where each carried row was made: the previous page's note names the origin of the
    # rows it carried (one origin for all in pages before 2026-12-08); a row carried for the
    # first time was made where the previous page was generated (its header).
    header = (re.search(r"\(`heartsound-lab reproduce`\) on (.+?) \(this invocation", previous)
              or re.search(r"\(`heartsound-lab reproduce`\) on (.+?)\.\n", previous))
    single = re.search(r"row kept from the page as an earlier run wrote it \((.+?)\)\.",
                       previous)
    before = single or header  # where the previous page's carried (†) rows were made
    origins: dict[str, str] = {}
    listed = re.search(r"rows kept from the pages earlier runs wrote: (.+?)\.$", previous,
                       re.MULTILINE)
    for part in (listed.group(1).split("; ") if listed else []):
        names, _, where = part.partition(" (")
        for n in names.split(", "):
            origins[n] = where.removesuffix(")")
    kept = {}
    for line in previous.splitlines():
        cell = line.strip("|").split("|")[0].strip() if line.startswith("| ") else ""
        if " (" in cell:
            name = cell.split(" (")[0]
            kept[name] = line
            where = before if cell.endswith("†") else header
            origins.setdefault(name, where.group(1) if where else "unrecorded")
    carried: dict[str, list[str]] = {}
    for name in STUDIES:
        if name not in summaries:
            if name in kept:
                cells = kept[name].split("|")
                cells[1] = " " + cells[1].strip().rstrip("†") + "† "
                lines.append("|".join(cells))
                carried.setdefault(origins[name], []).append(name)
            continue
        s = summaries[name]
        if "total_precision" not in s["mean"]:  # PhysioNet: docs/physionet.md
            continue
        cfg = s["config"]
        mean = s["mean"]
        # The paper's lightweight CV beside either lightweight network.
        family = "base" if cfg["model"] == "base" else "light"
        key = (cfg["dataset"].removeprefix("pascal-"), family)
        study = STUDIES[name]  # paper columns only beside the paper's 872×20 maps
        paper = PAPER_CV.get(key) if study.config() == DEFAULT else None

        def fmt(k: str, mean=mean) -> str:
            return f"{mean[k]['mean']:.3f} ± {mean[k]['std']:.3f}" if k in mean else "–"

        lines.append(
            f"| {name} ({cfg['split']}) | {study.recipe} | {study.config().label} | "
            f"{fmt('accuracy')} | "
            f"{fmt('total_precision')} | {fmt('youden')} | "
            f"{f'{paper[0]:.3f}' if paper else '–'} | {f'{paper[1]:.3f}' if paper else '–'} | "
            f"{training_seconds(s) / 60:.1f} min |")
    lines += ["", "The paper's columns are its Table 2 averages (5-fold CV, ungrouped). Its "
              "Tables 3-4 (set A accuracy 0.77 base / 0.75 light, set B 0.83 / 0.81) are the "
              "best of five fold models scored on the challenge's test files, which are not "
              "comparable with a CV mean."
              + (" †: a study whose run is not in this checkout, its row kept from the page; "
                 "rows kept from the pages earlier runs wrote: "
                 + "; ".join(f"{', '.join(names)} ({where})" for where, names in carried.items())
                 + "." if carried else ""), ""]
    return "\n".join(lines)


def ship_models(summaries: dict[str, dict[str, Any]], runs: Path, models: Path) -> list[Path]:
    """Copy each shipped study's final model; remove the shipped files of models no longer
    shipped (their int8 and raw-audio twins too)."""
    for path in models.glob("*.onnx"):
        if not any(path.stem == t or path.stem.startswith(f"{t}-") for t in SHIPPED_FROM):
            path.unlink()
    shipped = []
    for target, study in SHIPPED_FROM.items():
        onnx_path = runs / study / "final" / "model.onnx"
        if study in summaries and onnx_path.exists():
            write_with(models / f"{target}.onnx",
                       lambda fh, src=onnx_path: fh.write(src.read_bytes()), mode="wb")
            shipped.append(models / f"{target}.onnx")
    return shipped


def ship_int8(runs: Path, models: Path, data: str | None, fmt: str = "qoperator"
              ) -> list[Path]:
    """Quantize the shipped light models, calibrated on their own dataset's labelled
    recordings (≤ 100 maps of the model's own front end)."""
    from heartsound.data import load_dataset
    from heartsound.infer import Classifier
    from heartsound.training.quantize import quantize_onnx
    from heartsound.training.train import load_matrix

    out = []
    for target, study in SHIPPED_FROM.items():
        src = models / f"{target}.onnx"
        # A model whose run is not here keeps the int8 file docs/int8.md measured.
        if not src.exists() or not (runs / study / "summary.json").exists():
            continue
        recs = [r for r in load_dataset(STUDIES[study].dataset, data) if r.split == "labelled"]
        recs = recs[:: max(1, len(recs) // 100)]
        x, _ = load_matrix(recs, Classifier(src).config)  # the model's own front end
        out.append(quantize_onnx(src, models / f"{target}-int8.onnx", x, fmt))
    return out


def calibrate_shipped(runs: Path, models: Path, data: str | None) -> list[dict[str, Any]]:
    """Fit a temperature on each shipped model's CV run; store it in the float and int8
    files."""
    from heartsound.training.calibrate import calibrate_run, set_temperature

    out = []
    for target, study in SHIPPED_FROM.items():
        if not (runs / study / "summary.json").exists() or not (models / f"{target}.onnx").exists():
            continue
        result = calibrate_run(runs / study, data)
        for path in (models / f"{target}.onnx", models / f"{target}-int8.onnx"):
            if path.exists():
                set_temperature(path, result["temperature"])
        out.append({"model": target, **result})
    return out


def calibration_markdown(results: list[dict[str, Any]], previous: str = "") -> str:
    """docs/calibration.md; a shipped model not calibrated here (its run is elsewhere) keeps
    its row from ``previous``, as its temperature stays in its file."""
    from heartsound.provenance import machine

    lines = ["# Calibration of the shipped models", "",
             f"Generated by `make reproduce` on {machine()['cpu']}, {machine()['date']}. "
             "Temperature scaling (Guo et al., 2017) fitted on each model's out-of-fold CV "
             "probabilities (every recording scored by the fold model that never saw it); "
             "expected calibration error over 10 confidence bins. The temperature is stored "
             "in the model file and applied by `heartsound predict`; `--min-confidence P` "
             "answers `uncertain` below P.", "",
             "| model | CV run | T | ECE before | ECE after | NLL before | NLL after |",
             "|---|---|---|---|---|---|---|"]
    done = {r["model"]: r for r in results}
    kept = {line.split("|")[1].strip(): line for line in previous.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip() in SHIPPED_FROM}
    for target in SHIPPED_FROM:
        if target in done:
            r = done[target]
            lines.append(f"| {r['model']} | {Path(r['run']).name} | {r['temperature']:.2f} | "
                         f"{r['ece_before']:.3f} | {r['ece_after']:.3f} | "
                         f"{r['nll_before']:.3f} | {r['nll_after']:.3f} |")
        elif target in kept:
            lines.append(kept[target])
    return "\n".join(lines) + "\n"


def calibration_of(study: dict[str, Any]) -> str:
    """How a fold study's int8 models were calibrated (``quantize.CALIBRATIONS``; the
    oldest entries of docs/int8.json name theirs in words)."""
    return str(study.get("calibration", "unrecorded"))


def int8_markdown(studies: list[dict[str, Any]],
                  sizes: dict[str, dict[str, int]] | None = None) -> str:
    from heartsound.provenance import machine

    m = machine()
    lines = ["# int8 against float32 on every CV validation fold", "",
             f"Generated by `heartsound-lab ship` (`make reproduce`) on {m['cpu']}, "
             f"{m['date']}. Each fold's checkpoint is exported to ONNX (BatchNorm folded into "
             "the convolutions) and statically quantized (per-channel int8 weights, uint8 "
             "activations, calibration on ≤100 maps of that fold's training part — MinMax "
             "with the first convolution and the map's centring kept in float, as "
             "`training.quantize` says why (MinMax with an int8 stem before 2026-12-02, the "
             "99.999th percentile with a float stem from then to 2026-12-04); "
             "LayerNorm, where a network has it, and Softmax kept in float). Scores are "
             "pooled over the folds' validation recordings; *worst fold*: the largest drop of "
             "int8 accuracy under float32 accuracy on any one fold (points); *largest change*: "
             "the largest difference either way. The shipped calibration is shown in both "
             "formats and the other beside it (QOperator, the shipped format): on folds of "
             "25–409 recordings one recording moves a fold by 0.2–4 points, so the two differ "
             "by a recording or two per model.", "",
             "| run | format | calibration | agreement | float32 accuracy | int8 accuracy | "
             "worst fold | largest change | float32 total precision / MAcc | int8 total "
             "precision / MAcc |", "|---|---|---|---|---|---|---|---|---|---|"]
    for st in studies:
        f, q = st["pooled"]["float32"], st["pooled"]["int8"]
        key = "total_precision" if "total_precision" in f else "macc"
        drops = [100 * (fold["float32"]["accuracy"] - fold["int8"]["accuracy"])
                 for fold in st["folds"]]
        largest = max(abs(d) for d in drops)
        lines.append(f"| {Path(st['run']).name} | {st['format']} | {calibration_of(st)} | "
                     f"{st['agreement']:.3f} | "
                     f"{f['accuracy']:.3f} | {q['accuracy']:.3f} | {max(drops):+.1f} | "
                     f"{largest:.1f} | "
                     f"{f[key]:.3f} | {q[key]:.3f} |")
    if sizes:
        lines += ["", "Where the shipped int8 files' bytes go (`quantize.size_breakdown`; "
                  "QOperator: QLinearConv with per-channel scales, one shared zero point). "
                  "int8 weights, int32 biases (BatchNorm folded into each convolution gives "
                  "every one a bias) and float32 scales are the floor of any int8 file of "
                  "this network; the rest is the graph, tensor names and metadata.", "",
                  "| file | KB | int8 weights | int32 biases | float32 | graph, names, "
                  "metadata | floor (weights + biases + float) |", "|---|---|---|---|---|---|---|"]
        for name, b in sizes.items():
            floor = b["int8_weights"] + b["int32_biases"] + b["float"]
            lines.append(f"| {name} | {b['file'] / 1024:.1f} | {b['int8_weights']:,} | "
                         f"{b['int32_biases']:,} | {b['float']:,} | "
                         f"{b['graph_and_metadata'] + b['other_tensors']:,} | "
                         f"{floor / 1024:.1f} KB |")
    return "\n".join(lines) + "\n"


def noise_text(snr_db: float, color: str = "pink") -> str:
    """The audio-noise augmentation in words, from the constants that shape it."""
    from heartsound.training.train import MAX_SHIFT_S, NOISE_SPAN_DB

    return (f"{color} noise at {snr_db:g}-{snr_db + NOISE_SPAN_DB:g} dB SNR and start shifts "
            f"≤ {MAX_SHIFT_S:g} s")


def recipe_text(recipe: dict[str, Any]) -> str:
    """One line a reader can follow: the paper's part, then what differs from it."""
    text = (f"batch {recipe['batch_size']}, Adam lr {recipe['lr']:g}, cross-entropy, cosine "
            f"annealing with warm restarts every {recipe['restart_epochs']} epochs")
    extra = []
    if recipe.get("crop") == "random":
        extra.append("random 7-s crops of the whole recording")
    if recipe.get("eval_hop_s"):
        extra.append(f"7-s windows every {recipe['eval_hop_s']:g} s averaged at inference")
    if recipe.get("class_weight", "none") != "none":
        extra.append(f"{recipe['class_weight']} class weights")
    if recipe.get("spec_augment"):
        extra.append("SpecAugment-style masks")
    if recipe.get("gain_db"):
        extra.append(f"random gain ±{recipe['gain_db']:g} dB")
    if recipe.get("mixup"):
        extra.append(f"mixup α={recipe['mixup']:g}")
    if recipe.get("joint") == "pascal":
        extra.append("the other PASCAL set's labelled recordings added to training")
    elif recipe.get("joint"):
        names = " and ".join(recipe["joint"].split("+"))
        extra.append(f"{names}'s labelled recordings added to training")
    if recipe.get("joint") and recipe.get("joint_labels", "merged") == "separate":
        extra.append("the other set's labels on outputs of their own")
    if recipe.get("joint") and recipe.get("joint_labels", "merged") == "screening":
        extra.append("their findings as abnormal, their artifacts left out")
    if recipe.get("balance", "none") == "groups":
        extra.append("every database × class drawn equally often")
    if recipe.get("noise_snr_db"):
        extra.append(noise_text(recipe["noise_snr_db"], recipe.get("noise_color", "pink")))
    if recipe.get("average_last"):
        extra.append(f"weights averaged over the last {recipe['average_last']} epochs")
    if recipe.get("label_smoothing"):
        extra.append(f"label smoothing ε = {recipe['label_smoothing']:g}")
    if recipe.get("pretrained"):
        extra.append(f"the backbone started from {Path(recipe['pretrained']).as_posix()}")
    if recipe.get("mixstyle"):
        extra.append(f"MixStyle (early feature statistics mixed between recordings, "
                     f"p = {recipe['mixstyle']:g})")
    if recipe.get("own_repeat", 1) > 1:
        extra.append(f"the set's own recordings drawn {recipe['own_repeat']}× per epoch")
    if recipe.get("distill_from"):
        n = recipe["distill_teachers"]
        extra.append(f"distilled (α = {recipe['distill_alpha']:g}, T = "
                     f"{recipe['distill_temperature']:g}) from {n} {recipe['distill_from']} "
                     f"model{'s' if n > 1 else ''} trained on the same fold")
    return text + ("; " + ", ".join(extra) if extra else "; the paper's recipe")


def regenerate_text(name: str) -> str:
    """The commands that train a study's run folder, its pre-training first."""
    study = STUDIES[name]
    pre, start = "", ""
    if study.pretrain:
        from heartsound.research.batchnorm import PRETRAINS, pretrained_path, train_arguments

        state = pretrained_path(study.pretrain)
        pre = (f"`heartsound train {' '.join(train_arguments(PRETRAINS[study.pretrain], 0))} "
               f"--out {Path(state).parent.parent}`, then ")
        start = f" --set pretrained={state}"
    return (f"{pre}`heartsound train --dataset {study.dataset} --model {study.model} "
            f"--recipe {study.recipe} --split {study.split} --scale {study.scale}"
            + (" --maps log-mel" if study.log_mel else "")
            + (f" --top-db {study.top_db:g}" if study.top_db != DEFAULT.top_db else "")
            + f"{start} --out runs/{name}`")


# What a "grouped" fold holds, per PASCAL set.
FOLDS_OF = {"pascal-a": ": set A by file", "pascal-b": ": set B by patient"}
SESSION_CAVEAT = (
    "- **Limits**: set A's recordings come in recording sessions (23 of its 34 murmurs from "
    "one), and folds by file let a network learn a session; with folds that hold out whole "
    "sessions (`--split sessions`) set A's recipes read far lower (docs/ablation.md, rows "
    "*…, folds by recording session*; docs/research.md, *Set A's numbers are by file*). "
    "Expect less on recordings from a new phone or room.")


DATA_OF = {"pascal-a": "PASCAL CHSC2011 set A", "pascal-b": "PASCAL CHSC2011 set B",
           PHYSIONET: "PhysioNet/CinC 2016, training databases a, b, c, d, f"}


def cv_line(cfg: dict[str, Any], mean: dict[str, Any]) -> str:
    """The card's CV figures: PASCAL's accuracy and workbook scores, or for screening the
    challenge's MAcc with sensitivity, specificity and AUROC."""
    def ms(key: str) -> str:
        return f"{mean[key]['mean']:.3f} ± {mean[key]['std']:.3f}"

    if cfg["split"] == "databases":
        return (f"- **CV** (leave-one-database-out: each of the {cfg['folds']} databases held "
                f"out once, never seen in training; mean ± std over the held-out databases, "
                f"c's 31 records included, argmax): MAcc {ms('macc')}, sensitivity "
                f"{ms('sensitivity')}, specificity {ms('specificity')}, AUROC {ms('auroc')}; "
                "per database, without c, and over seeds in docs/physionet.md.\n"
                "- **Limits**: a new database's device, population and prevalence move its "
                "scores far (per database in docs/physionet.md, one of them below chance); "
                "not yet scored on the withheld sixth database. Do not screen anyone with it.")
    held = FOLDS_OF.get(cfg["dataset"], "") if cfg["split"] == "grouped" else ""
    if "macc" in mean:
        return (f"- **CV** ({cfg['folds']}-fold, {cfg['split']}{held}): MAcc {ms('macc')}, "
                f"AUROC {ms('auroc')}.")
    return (f"- **CV** ({cfg['folds']}-fold, {cfg['split']}{held}): accuracy "
            f"{ms('accuracy')}, total precision {ms('total_precision')}, Youden {ms('youden')}.")


def card_sections(text: str) -> dict[str, str]:
    """The cards of a models/README.md by model name (``## name`` to the next ``## ``)."""
    out = {}
    for part in text.split("\n## ")[1:]:
        name, _, body = part.partition("\n")
        out[name.strip()] = f"## {name.strip()}\n{body.rstrip()}\n"
    return out


def model_cards(summaries: dict[str, dict[str, Any]], models: Path,
                previous: str = "") -> str:
    """models/README.md: one short card per shipped model, numbers from the run summaries;
    a shipped model whose run folder is not here keeps its card from ``previous``."""
    from heartsound.config import FrontEndConfig
    from heartsound.provenance import machine

    lines = ["# Shipped models", "",
             f"Written by `heartsound-lab ship` ({machine()['date']}); every number below comes "
             "from the run folders `make reproduce` trains. Each file is one self-contained "
             "ONNX graph: input `mfcc` float32 (batch, frames, coefficients) raw feature maps "
             "(the standardisation is inside), output `probabilities` (batch, classes), "
             "calibrated (the temperature is in the file). The front-end config and class "
             "names are in the file's metadata; `heartsound predict` computes the features "
             "with exactly that config and refuses any other. `NAME-audio.onnx` is the same "
             "model with the front end inside: input `audio`, the 4-kHz waveform "
             "(docs/audio-models.md).", ""]
    kept = card_sections(previous)
    for target, study in SHIPPED_FROM.items():
        path = models / f"{target}.onnx"
        if not path.exists():
            continue
        if study not in summaries:
            if target in kept:  # its int8 file may have been remade: its size as it is now
                int8 = models / f"{target}-int8.onnx"
                lines += [re.sub(rf"`{re.escape(int8.name)}` \(\d+ KB\)",
                                 f"`{int8.name}` ({s_kb(int8)} KB)", kept[target])
                          if int8.exists() else kept[target]]
            continue
        s = summaries[study]
        cfg, mean = s["config"], s["mean"]
        frontend = FrontEndConfig.from_dict(cfg["frontend"])
        final = s.get("final", {})
        n = final.get("n_train", "?")
        recipe = cfg["recipe"]
        first = (f"each 7-s window {recipe['eval_hop_s']:g} s apart, averaged"
                 if recipe.get("eval_hop_s")
                 else f"the first {frontend.duration_s:g} s")
        lines += [
            f"## {target}", "",
            f"- **Data**: {DATA_OF.get(cfg['dataset'], cfg['dataset'])}, all {n} labelled "
            f"recordings; classes {', '.join(cfg['classes'])}.",
            f"- **Model**: {cfg['model']} CNN, {s_kb(path)} KB float32.",
            f"- **Input**: {frontend.n_frames}×{frontend.n_coefficients} {frontend.kind} map "
            f"of {first} ({frontend.frame_length}-sample frames every "
            f"{frontend.hop_length} samples at {frontend.sample_rate} Hz"
            + ("" if frontend.top_db == DEFAULT.top_db else
               f"; dB values clipped to {frontend.top_db:g} dB below the map's peak") + ").",
            f"- **Recipe**: {recipe_text(recipe)}; {final.get('epochs', '?')} epochs "
            "on all data ("
            + ("the fixed budget" if recipe.get("select") == "last"
               else "the median best epoch of the CV folds") + f"); seed {cfg['seed']}.",
            cv_line(cfg, mean),
            *([SESSION_CAVEAT] if cfg["dataset"] == "pascal-a" and cfg["split"] != "sessions"
              else []),
            f"- **Regenerate**: {regenerate_text(study)} (or `make reproduce`, which also "
            "copies it here).", ""]
        int8 = models / f"{target}-int8.onnx"
        if int8.exists():
            lines += [f"`{int8.name}` ({s_kb(int8)} KB): the same model, static int8 (see "
                      "docs/int8.md for its accuracy on every CV fold).", ""]
    return "\n".join(lines)


def s_kb(path: Path) -> str:
    return f"{path.stat().st_size / 1024:.0f}"


def ship(runs: Path, data: str | None, int8_runs: list[str] | None = None) -> list[Path]:
    """Copy the shipped studies' final models into the package with what goes with them:
    int8 copies, temperatures, raw-audio twins, model cards, docs/int8.* and
    docs/calibration.md. ``int8_runs``: extra (paper) runs for docs/int8.md."""
    from heartsound.training.audio_model import export_audio_model, sources
    from heartsound.training.quantize import CALIBRATIONS, FORMATS, fold_study

    summaries = load_summaries(runs)
    models = models_dir()  # src/heartsound/models: the package data of the checkout
    shipped = ship_models(summaries, runs, models)
    shipped += ship_int8(runs, models, data)
    names = dict.fromkeys([*(int8_runs or []), *SHIPPED_FROM.values()])
    # the shipped calibration in both formats; the other one beside it, QOperator only
    int8 = [fold_study(runs / name, fmt, data, calibration) for name in names
            if name in summaries
            for fmt, calibration in [*((f, CALIBRATIONS[0]) for f in FORMATS),
                                     *(("qoperator", c) for c in CALIBRATIONS[1:])]]
    calibration = calibrate_shipped(runs, models, data)
    # The raw-audio twins carry the calibrated models inside: made after the temperatures.
    shipped += [export_audio_model(path) for path in sources(models)]
    root = REPO_ROOT
    old_calibration = root / "docs" / "calibration.md"
    write_text(old_calibration, calibration_markdown(
        calibration, old_calibration.read_text() if old_calibration.exists() else ""))
    cards = models / "README.md"
    write_text(cards, model_cards(summaries, models,
                                  cards.read_text() if cards.exists() else ""))
    # The fold studies of runs not here (trained elsewhere) stay as they were.
    old = root / "docs" / "int8.json"
    done = {Path(st["run"]).name for st in int8}
    int8 = [st for st in (json.loads(old.read_text()) if old.exists() else [])
            if Path(st["run"]).name not in done] + int8
    write_text(root / "docs" / "int8.json", json.dumps(int8, indent=2) + "\n")
    from heartsound.training.quantize import size_breakdown

    sizes = {p.name: size_breakdown(p) for p in sorted(models.glob("*-int8.onnx"))}
    write_text(root / "docs" / "int8.md", int8_markdown(int8, sizes))
    return shipped


def reproduce(args: argparse.Namespace) -> int:
    runs = Path(args.runs)
    names = args.only or list(STUDIES)
    unknown = set(names) - set(STUDIES)
    if unknown:
        raise ValueError(f"unknown studies {sorted(unknown)} (known: {', '.join(STUDIES)})")
    start = time.perf_counter()
    for name in names:
        print(f"== {name}", file=sys.stderr)
        run_study(name, runs, args.data, args.epochs, args.threads)
    if args.train_only:
        return 0
    shipped = ship(runs, args.data, int8_runs=["a-light", "b-light"])
    summaries = load_summaries(runs)
    root = REPO_ROOT
    wall = time.perf_counter() - start
    old_results = root / "docs" / "results.md"
    write_text(old_results, results_markdown(
        summaries, wall, old_results.read_text() if old_results.exists() else ""))
    print(f"wrote docs/results.md; shipped {', '.join(p.name for p in shipped) or 'nothing'}; "
          f"{wall / 60:.1f} min", file=sys.stderr)
    return 0
