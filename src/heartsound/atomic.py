"""Atomic file writes: a temp file in the target's folder, flushed to disk, then ``os.replace``.

A crash or Ctrl-C never leaves a half-written output behind; readers see old or new. Only a
regular file is ever replaced: a symlink is written through to its target, and a FIFO, a
device, a folder or a path under a file is refused with one line (:class:`OutputError`).
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


class OutputError(ValueError):
    """An output path that cannot be written safely; ``str()`` is one line."""


def check_output(path: str | os.PathLike[str],
                 inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """The file an output will really replace (symlinks followed), checked before any work:
    it must be a regular file or not exist yet, in a writable folder, and not an input."""
    given = Path(path)
    target = Path(os.path.realpath(given))
    if target.exists() and not target.is_file():
        kind = ("a folder" if target.is_dir() else "a FIFO" if target.is_fifo()
                else "a device" if target.is_char_device() or target.is_block_device()
                else "not a regular file")
        raise OutputError(f"{given}: output is {kind}; give the path of a regular file")
    parent = target.parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{given}: cannot create the output: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{given}: cannot write the output: {probe} is not writable")
    if target.exists() and not os.access(target, os.W_OK) and os.geteuid() != 0:
        raise OutputError(f"{given}: output file is read-only")
    for item in inputs:
        try:
            same = target.exists() and os.path.samefile(target, item)
        except OSError:
            same = False
        if same:
            raise OutputError(f"{given}: output is also an input ({item}); it would be "
                              "overwritten")
    return target


def write_with(path: str | os.PathLike[str], write: Callable[[IO[Any]], object],
               mode: str = "w") -> Path:
    """Call ``write(file)`` on a temp file beside ``path``, flush it to disk, then rename it
    to ``path`` (a symlink's target). Returns ``path`` as given."""
    given = Path(path)
    target = check_output(given)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{given}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, mode, newline=None if "b" in mode else "") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{given}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return given


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
