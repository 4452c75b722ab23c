"""The shipped models: package data (as silero-vad ships its own), found beside this module
or else with ``importlib.resources``, ``$HEARTSOUND_MODELS`` an override; names resolved to
files without surprises.

A bare name (``pascal-b-light``) always means a shipped model. A file is used only when it
is given as a path: it contains a directory separator or ends in ``.onnx``. A path to a run
folder of ``heartsound train`` (or to its ``final/``) means that run's final model, and so
does a bare name that is no shipped model but an existing folder.
"""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED = tuple(f"{name}{suffix}"
                for name in ("pascal-b-light", "pascal-a-light", "physionet-light")
                # int8 copies, and raw-audio graphs (heartsound.training.audio_model) of both
                for suffix in ("", "-int8", "-audio", "-int8-audio"))
DEFAULT_MODEL = "pascal-b-light"


class ModelError(Exception):
    """A model that cannot be used: missing, unreadable, or made for other features."""


def models_dir() -> Path:
    """``$HEARTSOUND_MODELS``, else the ``models/`` folder inside the installed package."""
    env = os.environ.get("HEARTSOUND_MODELS")
    if env:
        return Path(env)
    beside = Path(__file__).with_name("models")
    if beside.is_dir():  # a package folder (pip, editable): resources' answer, ~3 ms sooner
        return beside
    from importlib import resources  # a zip or another loader

    return Path(str(resources.files("heartsound") / "models"))


def is_path(name_or_path: str) -> bool:
    """A model argument names a file only when it looks like a path."""
    return (os.sep in name_or_path or (os.altsep or os.sep) in name_or_path
            or name_or_path.endswith(".onnx"))


def run_model(folder: Path) -> Path:
    """The final model of a ``heartsound train`` run folder (or of its ``final/``)."""
    for candidate in (folder / "final" / "model.onnx", folder / "model.onnx"):
        if candidate.is_file():
            return candidate
    raise ModelError(f"{folder}: a folder without a trained model (no final/model.onnx; "
                     "was the run made with --no-final, or is it unfinished?)")


def resolve_model(name_or_path: str) -> Path:
    """The model file for a shipped name, an ``.onnx`` path or a run folder."""
    if is_path(name_or_path):
        p = Path(name_or_path)
        if p.is_dir():
            return run_model(p)
        if not p.is_file():
            raise ModelError(f"{p}: model file not found")
        return p
    candidate = models_dir() / f"{name_or_path}.onnx"
    if not candidate.is_file():
        if Path(name_or_path).is_dir():  # ``--model myrun``: no shipped model, a run folder
            return run_model(Path(name_or_path))
        raise ModelError(f"no shipped model {name_or_path!r} (known: "
                         f"{', '.join(shipped_names())}; a file or run folder is given as a "
                         f"path, e.g. ./{name_or_path}.onnx)")
    return candidate


def shipped_names() -> list[str]:
    """Names of the models in :func:`models_dir`, the default first."""
    names = sorted(p.stem for p in models_dir().glob("*.onnx"))
    return sorted(names, key=lambda n: (n != DEFAULT_MODEL, n))
