"""Atomic file writes: a temp file in the target's folder, then ``os.replace``.

A crash or Ctrl-C never leaves a half-written output behind; readers see old or new.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_with(path: str | os.PathLike[str], write: Callable[[IO[Any]], None],
               mode: str = "w") -> Path:
    """Call ``write(file)`` on a temp file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"newline": ""} if "b" not in mode else {})) as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_with(path, lambda fh: fh.write(text))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=float) + "\n")


def write_csv(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]],
              fields: list[str]) -> Path:
    def write(fh: IO[str]) -> None:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    return write_with(path, write)


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    return write_with(path, lambda fh: np.save(fh, array), mode="wb")
