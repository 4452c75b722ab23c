"""Parity of the raw-audio models (``NAME-audio.onnx``) with ``heartsound predict --model NAME``.

Over every PASCAL unlabelled test recording (set A 52, set B 195), for each light model whose
audio graph exists (or is built on the fly): the band-passed signal and the feature map inside
the graph (an in-memory copy of the audio model with its intermediate outputs, see
:func:`heartsound.training.audio_model.build_audio_model`) against
:func:`heartsound.audio.bandpass` and :func:`heartsound.features.feature_map`; and the labels
and calibrated probabilities of ``Classifier(NAME-audio).predict_files`` (what ``predict
--model NAME-audio`` runs) against ``Classifier(NAME).predict_files``.

``python -m heartsound.research.audio_parity [--data DIR] [--models A,B] [--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SOURCES = ("pascal-b-light", "pascal-a-light", "pascal-b-light-int8", "pascal-a-light-int8")


def pascal_test_files(data_dir: Path) -> list[Path]:
    """The PASCAL unlabelled test recordings, set A then set B."""
    return [*sorted((data_dir / "set_a").glob("Aunlabelledtest*.wav")),
            *sorted((data_dir / "set_b").glob("Bunlabelledtest*.wav"))]


def measure(name: str, paths: list[Path], audio_path: Path | None = None) -> dict:
    """Parity figures of one model's audio graph over ``paths``."""
    import onnxruntime as ort

    from heartsound.audio import AudioError, bandpass, fit_length
    from heartsound.features import feature_map
    from heartsound.infer import Classifier
    from heartsound.registry import models_dir
    from heartsound.training.audio_model import SUFFIX, build_audio_model, impulse_response

    source = models_dir() / f"{name}.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        if audio_path is None:
            audio_path = models_dir() / f"{name}{SUFFIX}.onnx"
        if not audio_path.is_file():  # not shipped: build one to measure
            from heartsound.training.audio_model import export_audio_model

            audio_path = export_audio_model(source, Path(tmp) / f"{name}{SUFFIX}.onnx")
        ref, aud = Classifier(source), Classifier(audio_path)
        probe = ort.InferenceSession(
            build_audio_model(source, intermediates=True).SerializeToString(),
            providers=["CPUExecutionProvider"])
        cfg = ref.config
        t0 = time.perf_counter()
        expected = {p: probs for p, probs, _ in ref.predict_files(paths)}
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = {p: probs for p, probs, _ in aud.predict_files(paths)}
        t_aud = time.perf_counter() - t0
        signal, fixed, maps, diffs, same, skipped = [], [], [], [], [], []
        for p in paths:
            want, have = expected.get(p), got.get(p)
            if want is None or have is None:
                skipped.append(p.name)
                continue
            try:
                x = aud.file_audio(p)
            except AudioError:
                skipped.append(p.name)
                continue
            _, band, fit, fmap = probe.run(None, {"audio": x[None].astype(np.float32)})
            band_ref = bandpass(x, cfg)
            fit_ref = fit_length(band_ref, cfg.n_samples)
            signal.append(float(np.abs(band[0, 0] - band_ref).max() / np.abs(band_ref).max()))
            fixed.append(float(np.abs(fit[0, 0] - fit_ref).max() / np.abs(fit_ref).max()))
            maps.append(float(np.abs(fmap[0] - feature_map(fit_ref, cfg)).max()))
            diffs.append(float(np.abs(have - want).max()))
            same.append(bool(np.argmax(have) == np.argmax(want)))
        n = len(same)
        return {
            "model": name, "audio_model": audio_path.name,
            "bytes": audio_path.stat().st_size, "source_bytes": source.stat().st_size,
            "fir_taps": len(impulse_response(cfg)), "files": n, "skipped": skipped,
            "label_agreement": sum(same) / n if n else None,
            "labels_differing": n - sum(same),
            "prob_max_diff": max(diffs, default=None),
            "prob_mean_diff": float(np.mean(diffs)) if diffs else None,
            "signal_max_rel_err": max(signal, default=None),
            "signal_median_rel_err": float(np.median(signal)) if signal else None,
            "fixed_max_rel_err": max(fixed, default=None),
            "map_max_abs_err": max(maps, default=None),
            "map_median_abs_err": float(np.median(maps)) if maps else None,
            "map_units": "dB" if not cfg.cepstrum else "MFCC (DCT of dB)",
            "seconds_predict": t_ref, "seconds_audio_graph": t_aud,
            "ops": sorted({n.op_type for n in _graph_ops(audio_path)}),
        }


def _graph_ops(path: Path) -> list:
    import onnx

    return list(onnx.load(str(path)).graph.node)


def report_lines(rows: list[dict]) -> list[str]:
    lines = []
    for r in rows:
        lines.append(
            f"{r['audio_model']}: {r['files']} files, labels agree "
            f"{100 * r['label_agreement']:.1f} % ({r['labels_differing']} differ), "
            f"probabilities max |Δ| {r['prob_max_diff']:.2e} (mean {r['prob_mean_diff']:.1e}); "
            f"band-passed signal max rel. err {r['signal_max_rel_err']:.1e} (median "
            f"{r['signal_median_rel_err']:.1e}); map max |Δ| {r['map_max_abs_err']:.1e} "
            f"{r['map_units']} (median {r['map_median_abs_err']:.1e}); "
            f"{r['bytes'] / 1000:.1f} KB (source {r['source_bytes'] / 1000:.1f} KB), "
            f"FIR {r['fir_taps']} taps; predict {r['seconds_predict']:.1f} s vs audio graph "
            f"{r['seconds_audio_graph']:.1f} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    from heartsound.data import default_data_dir

    parser = argparse.ArgumentParser(prog="python -m heartsound.research.audio_parity",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="PASCAL folder")
    parser.add_argument("--models", default=",".join(SOURCES),
                        help="comma-separated source model names")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    paths = pascal_test_files(args.data or default_data_dir())
    if not paths:
        print("no PASCAL test recordings found (set --data or $HEARTSOUND_DATA)",
              file=sys.stderr)
        return 1
    rows = [measure(name, paths) for name in args.models.split(",") if name]
    for line in report_lines(rows):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
