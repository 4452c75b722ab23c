"""The research room: the studies that measure heartsound (``heartsound-lab``).

It may import the runtime (``heartsound``) and the training (``heartsound.training``);
nothing imports it but its own command.
"""

import os
import sys
from collections.abc import Callable
from pathlib import Path

# The checkout the studies run in: docs/, runs/ and benchmarks/ live beside src/.
REPO_ROOT = Path(__file__).resolve().parents[3]


def claim(out: Path) -> Path | None:
    """Create ``out/.running`` exclusively, so several ablation processes can share the
    grid (each skips the runs another holds); None when another process holds it. A lock
    left by a killed process must be deleted by hand."""
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".running"
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return None
    return lock


def run_claimed(out: Path, shown: str, train: Callable[[], object]) -> bool:
    """Run ``train`` for the run folder ``out`` unless it is finished or another process
    holds it (:func:`claim`), saying which on stderr as ``shown``; the lock goes either way.
    True when it ran."""
    if (out / "summary.json").exists() and not (out / ".running").exists():
        return False
    lock = claim(out)
    if lock is None:
        print(f"== {shown}: another process is on it, skipped", file=sys.stderr)
        return False
    print(f"== {shown}", file=sys.stderr)
    try:
        train()
    finally:
        lock.unlink(missing_ok=True)
    return True
