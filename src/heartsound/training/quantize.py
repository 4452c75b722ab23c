"""Static int8 quantization with ONNX Runtime, calibrated on training recordings.

Per-channel int8 weights, uint8 activations, MinMax calibration on maps of the training set.
Two graph formats: QDQ (QuantizeLinear/DequantizeLinear pairs the runtime fuses) and
QOperator (QLinearConv etc.). LayerNormalization and Softmax stay float: LayerNorm's
per-position statistics quantize badly, and they cost little. So do the first convolution
and the map's centring (Slice, Concat): the raw map's range is wide and its first layer has
144 weights. With BatchNorm folded into the convolutions, MinMax calibration and an int8 stem
changed 7 % of the labels of set A's CV folds (12 points on one fold). With the stem in
float, onnxruntime's 99.999th-percentile calibration still lost more than a point on one
fold of set B's and of PhysioNet's shipped recipes (one recording each), which MinMax did
not: clipping the rare large activations costs more here than MinMax's coarser steps
(docs/int8.md).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from heartsound.atomic import write_with
from heartsound.training.export import compact

FORMATS = ("qdq", "qoperator")
CALIBRATIONS = ("minmax", "percentile")  # the shipped files use the first
FLOAT_OPS = ("LayerNormalization", "Softmax", "ReduceMean", "Sub", "Div", "Slice", "Concat")


class _Maps:
    """CalibrationDataReader over MFCC maps, one map per call."""

    def __init__(self, input_name: str, maps: np.ndarray) -> None:
        self.input_name = input_name
        self.maps = iter(np.asarray(maps, dtype=np.float32))

    def get_next(self) -> dict[str, np.ndarray] | None:
        m = next(self.maps, None)
        return None if m is None else {self.input_name: m[None]}

    def rewind(self) -> None:  # pragma: no cover - part of the reader protocol
        pass


def shared_zero_points(proto):  # type: ignore[no-untyped-def]
    """Point every all-zero per-channel weight zero-point vector at one shared scalar 0.

    Symmetric int8 weights have zero points of 0 on every channel; QLinearConv takes a scalar
    zero point beside per-channel scales, with the same result (bit for bit), and ~1 KB of
    a ~40 KB model goes.
    """
    from onnx import numpy_helper

    graph = proto.graph
    tensors = {t.name: t for t in graph.initializer}
    shared = "zp0"
    replaced = False
    for node in graph.node:
        if node.op_type != "QLinearConv" or len(node.input) < 6:
            continue
        zero = tensors.get(node.input[5])
        if zero is None:
            continue
        values = numpy_helper.to_array(zero)
        if values.ndim == 1 and values.dtype == np.int8 and not values.any():
            node.input[5], replaced = shared, True
    if not replaced:
        return proto
    graph.initializer.append(numpy_helper.from_array(np.array(0, dtype=np.int8), shared))
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return proto


def size_breakdown(path: str | os.PathLike[str]) -> dict[str, int]:
    """Bytes of an ONNX file by what they hold: int8 weights, int32 biases, float tensors
    (per-channel scales, float parameters), the rest of the initializers (zero points,
    shapes), and everything else (graph, names, metadata) — where a file's size goes."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    out = {"int8_weights": 0, "int32_biases": 0, "float": 0, "other_tensors": 0}
    for t in proto.graph.initializer:
        a = numpy_helper.to_array(t)
        key = ("int8_weights" if a.dtype == np.int8 and a.ndim > 1 else
               "int32_biases" if a.dtype == np.int32 else
               "float" if a.dtype.kind == "f" else "other_tensors")
        out[key] += a.nbytes
    out["file"] = Path(path).stat().st_size
    out["graph_and_metadata"] = out["file"] - sum(v for k, v in out.items() if k != "file")
    return out


def quantize_onnx(model_in: str | os.PathLike[str], model_out: str | os.PathLike[str],
                  calibration_maps: np.ndarray, fmt: str = "qdq",
                  calibration: str = CALIBRATIONS[0]) -> Path:
    """Write an int8 copy of ``model_in`` to ``model_out`` (atomically), metadata kept;
    activation ranges by ``calibration`` (MinMax, or onnxruntime's 99.999th percentile)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if fmt not in FORMATS:
        raise ValueError(f"unknown quantization format {fmt!r} (expected {FORMATS})")
    if calibration not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {calibration!r} (expected {CALIBRATIONS})")
    method = {"minmax": CalibrationMethod.MinMax,
              "percentile": CalibrationMethod.Percentile}[calibration]
    model_in, model_out = Path(model_in), Path(model_out)
    source = onnx.load(str(model_in))
    with tempfile.TemporaryDirectory() as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(model_in), str(prepped), skip_symbolic_shape=True)
        graph = onnx.load(str(prepped)).graph
        convs = [n.name for n in graph.node if n.op_type == "Conv"]
        exclude = [n.name for n in graph.node if n.op_type in FLOAT_OPS] + convs[:1]
        raw = Path(tmp) / "int8.onnx"
        # The calibrators print their progress to stdout: kept off the caller's.
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                str(prepped), str(raw), _Maps(graph.input[0].name, calibration_maps),
                quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                per_channel=True, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, calibrate_method=method,
                nodes_to_exclude=exclude,
            )
        proto = shared_zero_points(compact(onnx.load(str(raw))))
        del proto.metadata_props[:]
        for entry in source.metadata_props:
            proto.metadata_props.add().CopyFrom(entry)
        extra = proto.metadata_props.add()
        extra.key, extra.value = ("heartsound.quantization",
                                  f"int8 static {fmt}, per-channel, {calibration}, stem float")
    return write_with(model_out, lambda fh: fh.write(proto.SerializeToString()), mode="wb")


def fold_study(rundir: str | os.PathLike[str], fmt: str = "qdq",
               data_dir: str | None = None, calibration: str = CALIBRATIONS[0]) -> dict:
    """int8 against float32 on every CV validation fold of a ``heartsound train`` run.

    Each fold's checkpoint is exported, quantized with calibration maps from that fold's
    training part only, and both models predict the fold's validation recordings.
    """
    from heartsound.features import windows
    from heartsound.infer import Classifier
    from heartsound.training.export import export_onnx
    from heartsound.training.train import dataset_key, open_run, scores_for

    run = open_run(rundir, data_dir)
    cfg, classes, maps = run.frontend, run.classes, run.maps
    ds_key = dataset_key(run.config["dataset"])
    labels = [r.label for r in run.recordings]

    def predict(clf: Classifier, ids: np.ndarray) -> np.ndarray:
        """The run's own evaluation: first 7 s, or the mean over its windows."""
        return np.array([clf.predict_features(
            windows(maps[i], cfg.n_frames, run.hop) if run.hop else maps[i][None, :cfg.n_frames]
        ).mean(axis=0).argmax() for i in ids])

    folds, agree_all, y_true, pred_f, pred_q = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for result, val, model in run.fold_models():
            name = f"fold{result['fold']}"
            train = np.setdiff1d(np.arange(len(run.recordings)), val)
            fp32 = export_onnx(model, cfg, classes, Path(tmp) / f"{name}.onnx")
            maps_in = np.stack([maps[i][:cfg.n_frames]
                                for i in train[:: max(1, len(train) // 100)]])
            int8 = quantize_onnx(fp32, Path(tmp) / f"{name}-int8.onnx", maps_in, fmt,
                                 calibration)
            pf, pq = predict(Classifier(fp32), val), predict(Classifier(int8), val)
            truth = [labels[i] for i in val]
            folds.append({
                "fold": result["fold"], "agreement": float((pf == pq).mean()),
                "float32": scores_for(ds_key, classes, truth, [classes[p] for p in pf]),
                "int8": scores_for(ds_key, classes, truth, [classes[p] for p in pq])})
            agree_all += (pf == pq).tolist()
            y_true += truth
            pred_f += [classes[p] for p in pf]
            pred_q += [classes[p] for p in pq]
    return {"run": str(rundir), "format": fmt, "calibration": calibration, "folds": folds,
            "agreement": float(np.mean(agree_all)),
            "pooled": {"float32": scores_for(ds_key, classes, y_true, pred_f),
                       "int8": scores_for(ds_key, classes, y_true, pred_q)}}
