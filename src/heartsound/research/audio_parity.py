"""Parity of the raw-audio models (``NAME-audio.onnx``) with ``heartsound predict --model NAME``.

For each source model and each set of files it is measured on, one row: the labels and
calibrated probabilities of ``Classifier(NAME-audio).predict_files`` (what ``predict --model
NAME-audio`` runs) against ``Classifier(NAME).predict_files``, and the stages inside the graph
(an in-memory copy of the audio model with its intermediate outputs, see
:func:`heartsound.training.audio_model.build_audio_model`) against the numpy front end: the
band-passed signal against :func:`heartsound.audio.bandpass`, the map against
:func:`heartsound.features.feature_map`.

Two kinds of model. A fixed-length one reads the first 7.5 s; its map is the 7-s one. A
whole-recording one (metadata ``heartsound.window_hop_s``, e.g. ``physionet-light``) reads up
to 60 s; its signal and map are the whole recording's, and its windows (their starts and
values) are checked against :func:`heartsound.features.windows` too. The criterion a row must
meet (:data:`CRITERION`): the same label on at least 99 % of its files and no probability
more than 0.02 apart.

Files, picked per model by its metadata: the 247 PASCAL unlabelled test recordings (set A 52,
set B 195) for every model (``predict`` works at any rate), and the PhysioNet/CinC 2016
training records (2 kHz; :func:`heartsound.data.physionet2016`) as well for a model trained on
them (metadata ``dataset`` physionet2016, or no dataset and classes normal, abnormal): all
1,099 by default (a few minutes a model on two cores), or ``--physionet-sample N`` of them
drawn with ``--seed``, for a quicker look.

``python -m heartsound.research.audio_parity [MODEL.onnx ...] [--models NAMES|DIR]
[--data DIR] [--physionet-data DIR] [--physionet-sample N|all] [--seed S] [--json OUT]
[--doc MARKDOWN]``: the shipped light models by default (``physionet-light`` once shipped), or
the named ones, every ``*-light*.onnx`` of a folder, or the given files; an audio graph
``NAME-audio.onnx`` beside a source is measured, else one is built in memory. ``--doc``
rewrites the parity table (and the paragraph above it) of ``docs/audio-models.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from heartsound.infer import Classifier

SOURCES = ("pascal-b-light", "pascal-a-light", "pascal-b-light-int8", "pascal-a-light-int8")
WHOLE_SOURCES = ("physionet-light", "physionet-light-int8")  # measured by default once shipped
PHYSIONET_SAMPLE = None  # every PhysioNet record by default (--physionet-sample N: a sample)
SEED = 0
# What a row must meet (the whole-recording models' ship criterion; the fixed ones meet it
# with room to spare).
CRITERION = {"label_agreement_min": 0.99, "prob_max_diff_max": 0.02}
PARITY_HEADING = "## Parity"


@dataclass(frozen=True)
class FileSet:
    """The recordings of one row and how the doc names them (its *files* cell)."""

    key: str  # "pascal-test" or "physionet2016"
    label: str  # the table's cell, e.g. "PhysioNet 2016, 200 of 1,099 (seed 0)"
    paths: tuple[Path, ...]
    of: int  # records available (a sample's population)
    seed: int | None = None  # the sample's seed (None: every file)
    note: str = ""  # what the doc adds about them, e.g. "set A 52, set B 195"


def pascal_test_files(data_dir: Path) -> list[Path]:
    """The PASCAL unlabelled test recordings, set A then set B."""
    return [*sorted((data_dir / "set_a").glob("Aunlabelledtest*.wav")),
            *sorted((data_dir / "set_b").glob("Bunlabelledtest*.wav"))]


def pascal_set(data_dir: Path) -> FileSet:
    """Every PASCAL test recording: the set each model is measured on."""
    paths = pascal_test_files(data_dir)
    a = sum(p.parent.name == "set_a" for p in paths)
    return FileSet("pascal-test", f"PASCAL test ({len(paths)})", tuple(paths), len(paths),
                   note=f"set A {a}, set B {len(paths) - a}")


def physionet_set(data_dir: Path | None = None, sample: int | None = PHYSIONET_SAMPLE,
                  seed: int = SEED) -> FileSet:
    """PhysioNet 2016's records (None: all of them, the measure the doc reports; else
    ``sample`` of them drawn with ``seed``, in list order, a reproducible quick look)."""
    from heartsound.data import physionet2016

    paths = [r.path for r in physionet2016(data_dir)]
    total = len(paths)
    if sample is None or sample >= total:
        return FileSet("physionet2016", f"PhysioNet 2016, all {total:,}", tuple(paths), total)
    picked = np.sort(np.random.default_rng(seed).choice(total, size=sample, replace=False))
    return FileSet("physionet2016", f"PhysioNet 2016, {sample:,} of {total:,} (seed {seed})",
                   tuple(paths[i] for i in picked), total, seed)


def trained_on_physionet(metadata: dict[str, str]) -> bool:
    """Whether a model is PhysioNet's (its ``dataset``, else its classes normal, abnormal),
    so its parity is measured on PhysioNet records too, the recordings it is made for."""
    from heartsound.data import PHYSIONET_CLASSES, PHYSIONET_NAMES

    dataset = metadata.get("dataset")
    if dataset is not None:
        return dataset.lower() in PHYSIONET_NAMES
    return tuple(json.loads(metadata.get("heartsound.classes", "[]"))) == PHYSIONET_CLASSES


def file_sets_for(metadata: dict[str, str], pascal: FileSet,
                  physionet: Callable[[], FileSet]) -> list[FileSet]:
    """The file sets of one model: PASCAL's test files always, PhysioNet's records for a
    PhysioNet model (``physionet`` is called only then, so PASCAL runs need no PhysioNet)."""
    return [pascal, physionet()] if trained_on_physionet(metadata) else [pascal]


def _outputs(session: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """The probe's outputs by name: a whole model's has ``starts`` and ``windows`` too."""
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"audio": x[None].astype(np.float32)}),
                    strict=True))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def measure(source: Path, file_sets: Sequence[FileSet],
            audio_path: Path | None = None) -> list[dict[str, Any]]:
    """Parity figures of one model's audio graph, a row per file set. ``audio_path``:
    default ``NAME-audio.onnx`` beside ``source``, built in a temporary folder when absent."""
    import onnxruntime as ort

    from heartsound.infer import Classifier
    from heartsound.training.audio_model import SUFFIX, build_audio_model, export_audio_model

    source = Path(source)
    with tempfile.TemporaryDirectory() as tmp:
        if audio_path is None:
            audio_path = source.with_name(f"{source.stem}{SUFFIX}.onnx")
        built = not audio_path.is_file()
        if built:  # not shipped: build one to measure
            audio_path = export_audio_model(source, Path(tmp) / f"{source.stem}{SUFFIX}.onnx")
        ref, aud = Classifier(source), Classifier(audio_path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
        probe = ort.InferenceSession(
            build_audio_model(source, intermediates=True).SerializeToString(), opts,
            providers=["CPUExecutionProvider"])
        return [{**_measure_set(ref, aud, probe, files), "audio_model_built": built}
                for files in file_sets]


def _measure_set(ref: Classifier, aud: Classifier, probe: Any,
                 files: FileSet) -> dict[str, Any]:
    """One row: predict's answers against the audio graph's on ``files``, then each stage
    of the probe (``probe``: the graph with its intermediate outputs) against numpy's."""
    from heartsound.audio import AudioError, _sosfilt, band_key, bandpass, fit_length
    from heartsound.features import feature_map, windows

    cfg, hop = ref.config, ref.hop_frames
    whole = hop is not None
    paths = list(files.paths)
    t0 = time.perf_counter()
    expected = {p: probs for p, probs, _ in ref.predict_files(paths)}
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = {p: probs for p, probs, _ in aud.predict_files(paths)}
    t_aud = time.perf_counter() - t0
    signal, fixed, maps, diffs, same, skipped, mismatched = [], [], [], [], [], [], []
    window_errs: list[float] = []
    alone: list[float] = []  # a map run alone against the same map beside another
    n_windows = starts_equal = 0
    for p in paths:
        want, have = expected.get(p), got.get(p)
        if want is None or have is None:
            skipped.append(p.name)
            continue
        try:
            x = aud.file_audio(p)  # the graph's input: up to 60 s for a whole model
        except AudioError:
            skipped.append(p.name)
            continue
        out = _outputs(probe, x)
        band_ref = bandpass(x, cfg)
        # as Classifier.file_windows: a whole model tiles a short recording, never cuts one
        fit_ref = fit_length(band_ref, cfg.n_samples, cut=not whole)
        map_ref = feature_map(fit_ref, cfg)
        diffs.append(float(np.abs(have - want).max()))
        same.append(bool(np.argmax(have) == np.argmax(want)))
        # each stage the probe offers, (1, 1, samples) or (1, frames, coefficients)
        stages = [(name, want_stage) for name, want_stage in
                  (("band", band_ref), ("fixed", fit_ref), ("map", map_ref)) if name in out]
        if any(out[name].shape[-want_stage.ndim:] != want_stage.shape
               for name, want_stage in stages):
            mismatched.append(p.name)
            continue
        if "band" in out:
            signal.append(_rel(out["band"][0, 0], band_ref))
        if "fixed" in out:
            fixed.append(_rel(out["fixed"][0, 0], fit_ref))
        if "map" in out:
            maps.append(float(np.abs(out["map"][0] - map_ref).max()))
        first = map_ref[None, :cfg.n_frames].astype(np.float32)
        one, two = (ref.session.run(None, {ref.input_name: m})[0][0]
                    for m in (first, np.concatenate([first, first])))
        alone.append(float(np.abs(one - two).max()))
        if whole and "starts" in out and "windows" in out:
            starts = windows(np.arange(len(map_ref))[:, None], cfg.n_frames, hop)[:, 0, 0]
            n_windows += len(starts)
            if np.array_equal(out["starts"], starts):
                starts_equal += 1
                ref_windows = windows(map_ref, cfg.n_frames, hop)
                window_errs.append(float(np.abs(out["windows"] - ref_windows).max()))
    n = len(same)
    agreement = sum(same) / n if n else None
    prob_max = max(diffs, default=None)
    return {
        "model": ref.path.stem, "audio_model": aud.path.name,
        "bytes": aud.path.stat().st_size, "source_bytes": ref.path.stat().st_size,
        "band_pass_block": _sosfilt(*band_key(cfg)).block,
        "file_set": files.key, "file_set_label": files.label, "files_available": files.of,
        "sample_seed": files.seed, "file_set_note": files.note, "files": n, "skipped": skipped,
        "label_agreement": agreement,
        "labels_differing": n - sum(same),
        "prob_max_diff": prob_max,
        "prob_mean_diff": float(np.mean(diffs)) if diffs else None,
        "signal_max_rel_err": max(signal, default=None),
        "signal_median_rel_err": float(np.median(signal)) if signal else None,
        "fixed_max_rel_err": max(fixed, default=None),
        "map_max_abs_err": max(maps, default=None),
        "map_median_abs_err": float(np.median(maps)) if maps else None,
        "map_units": "dB" if not cfg.cepstrum else "MFCC (DCT of dB)",
        "shape_mismatched": mismatched,
        "whole": whole,
        "window_hop_s": None if not whole else float(ref.metadata["heartsound.window_hop_s"]),
        "windows": n_windows if whole else None,
        "window_starts_equal": starts_equal if whole else None,
        "windows_max_abs_err": max(window_errs, default=None),
        "alone_max_diff": max(alone, default=None),
        "criterion": CRITERION,
        "meets_criterion": bool(n and agreement is not None and prob_max is not None
                                and agreement >= CRITERION["label_agreement_min"]
                                and prob_max <= CRITERION["prob_max_diff_max"]),
        "seconds_predict": t_ref, "seconds_audio_graph": t_aud,
        "ops": sorted({node.op_type for node in _graph_ops(aud.path)}),
    }


def _graph_ops(path: Path) -> list:
    import onnx

    return list(onnx.load(str(path)).graph.node)


def _e(x: float) -> str:
    """``1.3e-3``, not ``1.3e-03``: the doc's compact exponent (``0`` for zero)."""
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _g(x: float, digits: int) -> str:
    """A map error as the doc writes it: ``0.012``, ``0.0005``; ``3.8e-5`` when smaller."""
    return format(x, f".{digits}g") if x == 0 or abs(x) >= 1e-4 else _e(x)


def _window_text(r: dict[str, Any]) -> str:
    """A whole row's windows: how many, on how many files their starts are
    features.windows's, and their values' largest error (no ``|`` in it: it goes in prose)."""
    with_files = r["files"] - len(r["shape_mismatched"])
    err = r["windows_max_abs_err"]
    return (f"{r['windows']:,} windows ({r['windows'] / max(r['files'], 1):.1f} a file), the "
            f"starts equal on {r['window_starts_equal']:,}/{with_files:,} files"
            + ("" if err is None else
               f", the windows' largest error {_g(err, 2)} {r['map_units'].split()[0]}"))


def report_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line a row, for the terminal."""
    lines = []
    for r in rows:
        if not r["files"]:
            lines.append(f"{r['audio_model']} on {r['file_set_label']}: no file measured "
                         f"({len(r['skipped'])} skipped)")
            continue
        whole = f"; {_window_text(r)}" if r["whole"] else ""
        odd = (f"; {len(r['shape_mismatched'])} files of another length or map shape"
               if r["shape_mismatched"] else "")
        lines.append(
            f"{r['audio_model']} on {r['file_set_label']}: {r['files']} files, labels agree "
            f"{100 * r['label_agreement']:.1f} % ({r['labels_differing']} differ), "
            f"probabilities max |Δ| {r['prob_max_diff']:.2e} (mean {r['prob_mean_diff']:.1e}); "
            f"band-passed signal max rel. err {_num(r['signal_max_rel_err'], '.1e')} (median "
            f"{_num(r['signal_median_rel_err'], '.1e')}); map max |Δ| "
            f"{_num(r['map_max_abs_err'], '.1e')} {r['map_units']} (median "
            f"{_num(r['map_median_abs_err'], '.1e')}){whole}{odd}; "
            f"{r['bytes'] / 1000:.1f} KB (source {r['source_bytes'] / 1000:.1f} KB), "
            f"band-pass in blocks of {r['band_pass_block']} samples; "
            f"predict {r['seconds_predict']:.1f} s vs audio graph "
            f"{r['seconds_audio_graph']:.1f} s; criterion "
            f"{'met' if r['meets_criterion'] else 'NOT met'}")
    return lines


def _num(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def table_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The doc's parity table: a row per audio model and file set."""
    lines = ["| audio model | files | KB (source) | labels agree | max \\|Δp\\| | mean \\|Δp\\| "
             "| band-passed signal, max rel. error | map, max \\|Δ\\| (median) "
             "| a map run alone, max \\|Δp\\| |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        n = r["files"]
        units = r["map_units"].split()[0]
        mapped = ("—" if r["map_max_abs_err"] is None else
                  f"{_g(r['map_max_abs_err'], 2)} {units} ({_g(r['map_median_abs_err'], 1)})"
                  + (", whole recording" if r["whole"] else ""))
        cells = [r["audio_model"].removesuffix(".onnx"), r["file_set_label"],
                 f"{r['bytes'] / 1000:.1f} ({r['source_bytes'] / 1000:.1f})",
                 f"{n - r['labels_differing']:,}/{n:,}",
                 "—" if r["prob_max_diff"] is None else _e(r["prob_max_diff"]),
                 "—" if r["prob_mean_diff"] is None else _e(r["prob_mean_diff"]),
                 "—" if r["signal_max_rel_err"] is None else _e(r["signal_max_rel_err"]),
                 mapped, "—" if r.get("alone_max_diff") is None else _e(r["alone_max_diff"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _wrap(text: str, bullet: bool = False) -> str:
    """A paragraph (or a list item) at the doc's width, 100."""
    return textwrap.fill(text, 100, subsequent_indent="  " if bullet else "",
                         break_long_words=False, break_on_hyphens=False)


def parity_markdown(rows: Sequence[dict[str, Any]], generated: dict[str, str]) -> str:
    """The generated part of the doc's Parity section: what was run, on which files, then
    the table (``generated``: ``command``, ``machine``, ``date``)."""
    sets = {r["file_set"]: r for r in rows}
    whole = [r for r in rows if r["whole"]]
    out = [_wrap(f"`{generated['command']}` on {generated['machine']}, {generated['date']} "
                 "(figures in `docs/audio-parity.json`): for each audio model and set of files "
                 "(the *files* column), `Classifier(NAME-audio).predict_files` against "
                 "`Classifier(NAME).predict_files` (what `heartsound predict` runs), and the "
                 "band-passed signal and the map inside the graph against `audio.bandpass` and "
                 "`features.feature_map`. The files:"), ""]
    if "pascal-test" in sets:
        r = sets["pascal-test"]
        out.append(_wrap(f"- *{r['file_set_label']}*: every PASCAL unlabelled test recording "
                         f"({r['file_set_note']}), for every model"
                         + (";" if "physionet2016" in sets else "."), bullet=True))
    if "physionet2016" in sets:
        r = sets["physionet2016"]
        drawn = ("all of them" if r["sample_seed"] is None else
                 f"a sample drawn with seed {r['sample_seed']} (all of them without "
                 "`--physionet-sample`)")
        out.append(_wrap(f"- *{r['file_set_label']}*: records of the PhysioNet/CinC 2016 "
                         "training databases a, b, c, d, f (2 kHz, resampled to 4 kHz as "
                         f"`predict` does), {drawn}, for a model trained on them (metadata "
                         "`dataset` physionet2016).", bullet=True))
    out.append("")
    if len(whole) < len(rows):
        out += [_wrap("A fixed-length model's band-passed signal is its first 7.5 s and its "
                      "map the 7-s one."), ""]
    if whole:
        out += [_wrap("A whole-recording model's (metadata `heartsound.window_hop_s`) signal "
                      "and map are the whole recording's, up to 60 s, and its windows, their "
                      "starts and values, are checked against `features.windows`:"), ""]
        out += [_wrap(f"- {r['audio_model'].removesuffix('.onnx')} on {r['file_set_label']}: "
                      f"{_window_text(r)}" + (";" if r is not whole[-1] else "."), bullet=True)
                for r in whole]
        out.append("")
    failing = [r for r in rows if not r["meets_criterion"]]
    out += [_wrap("A row meets the criterion when the labels agree on at least "
                  f"{100 * CRITERION['label_agreement_min']:g} % of its files and no "
                  f"probability differs by more than {CRITERION['prob_max_diff_max']:g}: "
                  + ("every row does." if not failing else "not met by " + ", ".join(
                      f"{r['audio_model'].removesuffix('.onnx')} on {r['file_set_label']}"
                      for r in failing) + ".")), ""]
    out += [_wrap("*A map run alone*: the source model's first map of each file run by "
                  "onnxruntime as a batch of one against the same map in a batch of two (its "
                  "probabilities before the temperature). A batch of one takes another path "
                  "through onnxruntime's kernels (its ReduceMean sums in another order): "
                  "int8 rounding can turn such a last-digit change into a whole quantisation "
                  "step, and a channel LayerNorm (pascal-b-light's) amplifies it where it "
                  "meets a position whose channels are nearly equal. So `predict` runs a "
                  "recording's maps by themselves, never one "
                  "alone unless the recording has one (`infer.runs`), as the graph runs them, "
                  "and a recording's answer does not depend on the recordings beside it."), ""]
    return "\n".join([*out, *table_lines(rows)]) + "\n"


def splice_parity(doc: str, block: str) -> str:
    """``doc`` with its Parity section's generated part (from the heading to the end of the
    first table) replaced by ``block``; the hand-written paragraphs after the table stay."""
    lines = doc.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == PARITY_HEADING), None)
    first = None if start is None else next(  # the section's first table, or the next heading
        (i for i in range(start + 1, len(lines)) if lines[i].startswith(("|", "## "))), None)
    if start is None or first is None or not lines[first].startswith("|"):
        raise ValueError(f"no {PARITY_HEADING!r} section with a table")
    end = first
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "".join([*lines[:start + 1], "\n", block, *lines[end:]])


def model_sources(given: Sequence[str], models: str | None) -> tuple[list[Path], list[str]]:
    """The source models to measure and notes on the defaults left out: the paths given,
    ``--models`` (names or paths, comma-separated, or a folder: its ``*-light*.onnx``), else
    the shipped light models, ``physionet-light`` among them once it ships."""
    from heartsound.registry import models_dir, resolve_model
    from heartsound.training.audio_model import SUFFIX, sources

    found, notes = [Path(p) for p in given], []
    if models is not None:
        if Path(models).is_dir():
            found += sources(Path(models))
        else:
            found += [resolve_model(m) for m in models.split(",") if m]
    elif not given:
        for name in (*SOURCES, *WHOLE_SOURCES):
            path = models_dir() / f"{name}.onnx"
            if path.is_file():
                found.append(path)
            else:
                notes.append(f"{name}: not in {models_dir()}, left out")
    for path in found:
        if path.stem.endswith(SUFFIX):
            raise ValueError(f"{path}: an audio graph; give its source model")
        if not path.is_file():
            raise ValueError(f"{path}: no such model file")
    return found, notes


def _sample(value: str) -> int | None:
    if value == "all":
        return None
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("a positive count or 'all'")
    return n


def main(argv: list[str] | None = None) -> int:
    from heartsound.atomic import write_json, write_text
    from heartsound.data import DataError, default_data_dir
    from heartsound.infer import Classifier
    from heartsound.provenance import cpu_name
    from heartsound.registry import ModelError

    parser = argparse.ArgumentParser(prog="python -m heartsound.research.audio_parity",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="*", help="source model files (.onnx) to measure")
    parser.add_argument("--models", default=None, metavar="NAMES|DIR",
                        help="comma-separated model names or paths, or a folder (its "
                             "*-light*.onnx); default: the shipped light models")
    parser.add_argument("--data", type=Path, default=None, help="PASCAL folder")
    parser.add_argument("--physionet-data", type=Path, default=None,
                        help="PhysioNet 2016 folder (training-a ... training-f)")
    parser.add_argument("--physionet-sample", type=_sample, default=PHYSIONET_SAMPLE,
                        metavar="N|all", help="PhysioNet records measured for a PhysioNet "
                        "model: N drawn with --seed, or all (default)")
    parser.add_argument("--seed", type=int, default=SEED, help="the PhysioNet sample's seed")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--doc", type=Path, default=None, metavar="MARKDOWN",
                        help="rewrite the Parity table of this page (docs/audio-models.md)")
    args = parser.parse_args(argv)
    try:
        sources, notes = model_sources(args.model, args.models)
    except (ValueError, ModelError) as exc:
        print(f"audio_parity: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"audio_parity: {note}", file=sys.stderr)
    if not sources:
        print("audio_parity: no model to measure", file=sys.stderr)
        return 1
    pascal = pascal_set(args.data or default_data_dir())
    if not pascal.paths:
        print("no PASCAL test recordings found (set --data or $HEARTSOUND_DATA)",
              file=sys.stderr)
        return 1
    cached: list[FileSet] = []

    def physionet() -> FileSet:
        if not cached:
            cached.append(physionet_set(args.physionet_data, args.physionet_sample, args.seed))
        return cached[0]

    try:  # the page and every model's files first: fail before minutes of measuring
        doc = None if args.doc is None else args.doc.read_text(encoding="utf-8")
        if doc is not None:
            splice_parity(doc, "")
        plan = [(s, file_sets_for(Classifier(s).metadata, pascal, physionet)) for s in sources]
    except (DataError, ModelError, OSError, ValueError) as exc:
        print(f"audio_parity: {exc}", file=sys.stderr)
        return 1
    rows = [row for source, sets in plan for row in measure(source, sets)]
    for line in report_lines(rows):
        print(line)
    if args.json:
        write_json(args.json, rows)
    if args.doc and doc is not None:
        n = args.physionet_sample
        options = [] if n is None else ["--physionet-sample", str(n), "--seed", str(args.seed)]
        generated = {"command": " ".join(["python -m heartsound.research.audio_parity",
                                          *options]),
                     "machine": f"a {os.cpu_count()}-core {cpu_name()}",
                     "date": time.strftime("%Y-%m-%d")}
        write_text(args.doc, splice_parity(doc, parity_markdown(rows, generated)))
        print(f"wrote {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
