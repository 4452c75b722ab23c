"""Export a trained network to one self-contained ONNX file that takes raw MFCC maps.

Input ``mfcc``: float32 ``(batch, frames, n_mfcc)`` (dynamic batch); output ``probabilities``:
``(batch, n_classes)``. The front-end config, class names and training facts are stored in
the file's metadata, so a model can check what it is fed.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from heartsound.atomic import write_with
from heartsound.config import FrontEndConfig

OPSET = 17  # LayerNormalization is a single op from opset 17


class _WithSoftmax(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=-1)


def compact(proto):  # type: ignore[no-untyped-def]
    """Shorten every internal tensor and node name and drop shape annotations and doc strings.

    Exporters name tensors after module paths ("/model/net/features.5/block.0/...Conv_output_0
    _quantized"); in a 30K-parameter model those names outweigh the int8 weights themselves.
    Graph inputs and outputs keep their names.
    """
    graph = proto.graph
    keep = {v.name for v in (*graph.input, *graph.output)}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
        tensor.doc_string = ""
    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        node.doc_string = ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    del graph.value_info[:]
    graph.doc_string = ""
    return proto


def export_onnx(model: nn.Module, config: FrontEndConfig, classes: list[str],
                path: str | os.PathLike[str], extra: dict[str, str] | None = None) -> Path:
    """Write ``model`` (a ``networks.HeartSoundNet``) to ``path`` atomically."""
    import onnx

    wrapped = _WithSoftmax(model).eval()
    example = torch.zeros(1, *config.shape)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but needs no onnxscript and is exact here.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapped, (example,), buffer, dynamo=False, opset_version=OPSET,
            input_names=["mfcc"], output_names=["probabilities"],
            dynamic_axes={"mfcc": {0: "batch"}, "probabilities": {0: "batch"}},
        )
    proto = compact(onnx.load_from_string(buffer.getvalue()))
    meta = {"heartsound.frontend": config.to_json(), "heartsound.classes": json.dumps(classes),
            "heartsound.fingerprint": config.fingerprint(),
            "heartsound.parameters": str(sum(p.numel() for p in model.parameters()
                                             if p.requires_grad)), **(extra or {})}
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    proto.producer_name = "heartsound"
    return write_with(path, lambda fh: fh.write(proto.SerializeToString()), mode="wb")


def set_metadata(model_path: str | os.PathLike[str], values: dict[str, str]) -> None:
    """Set (or replace) metadata entries of an ONNX model file, rewritten atomically."""
    import onnx

    proto = onnx.load(str(model_path))
    kept = [p for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    for p in kept:
        proto.metadata_props.add().CopyFrom(p)
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    write_with(model_path, lambda fh: fh.write(proto.SerializeToString()), mode="wb")
