"""Export a trained network to one self-contained ONNX file that takes raw MFCC maps.

Input ``mfcc``: float32 ``(batch, frames, n_mfcc)`` (dynamic batch); output ``probabilities``:
``(batch, n_classes)``. The front-end config, class names and training facts are stored in
the file's metadata, so a model can check what it is fed.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .config import FrontEndConfig

OPSET = 17  # LayerNormalization is a single op from opset 17


class _WithSoftmax(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=-1)


def export_onnx(model: nn.Module, config: FrontEndConfig, classes: list[str],
                path: str | os.PathLike[str], extra: dict[str, str] | None = None) -> Path:
    """Write ``model`` (a :class:`~heartsound.models.HeartSoundNet`) to ``path`` atomically."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    wrapped = _WithSoftmax(model).eval()
    example = torch.zeros(1, *config.shape)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but needs no onnxscript and is exact here.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapped, (example,), str(tmp), dynamo=False, opset_version=OPSET,
            input_names=["mfcc"], output_names=["probabilities"],
            dynamic_axes={"mfcc": {0: "batch"}, "probabilities": {0: "batch"}},
        )
    proto = onnx.load(str(tmp))
    meta = {"heartsound.frontend": config.to_json(), "heartsound.classes": json.dumps(classes),
            "heartsound.fingerprint": config.fingerprint(), **(extra or {})}
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    proto.producer_name = "heartsound"
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)
    return path
