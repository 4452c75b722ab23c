"""Figures of a first look (matplotlib, Agg backend): the paper's Figure 4 for ``make demo``.

The report's figures (``heartsound.research.plots``) are drawn with the same helpers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heartsound.atomic import write_with

CLASS_COLOURS = {"normal": "#4c72b0", "murmur": "#dd8452", "extrahls": "#55a868",
                 "extrastole": "#55a868", "artifact": "#c44e52"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 100) -> Path:
    """Save atomically (temp file + rename) and close the figure."""
    try:
        return write_with(path, lambda fh: fig.savefig(fh, format=path.suffix.lstrip(".") or "png",
                                                       dpi=dpi, bbox_inches="tight"), mode="wb")
    finally:
        _pyplot().close(fig)


def save_mfcc_figure(maps: dict[tuple[str, str], np.ndarray], path: Path,
                     hop_s: float = 32 / 4000) -> Path:
    """One MFCC map per (set, class), as the paper's Figure 4: time → x, coefficient → y."""
    plt = _pyplot()
    keys = list(maps)
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 1.6 * len(keys)), sharex=True)
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        m = maps[key]
        # Coefficient 0 (log energy) dwarfs the rest: show 1..19 on their own colour scale.
        im = ax.imshow(m[:, 1:].T, origin="lower", aspect="auto", cmap="magma",
                       extent=(0, m.shape[0] * hop_s, 1, m.shape[1]))
        ax.set_ylabel("MFCC")
        ax.set_title(f"set {key[0].upper()} · {key[1]}", fontsize=9, loc="left",
                     color=CLASS_COLOURS.get(key[1], "black"))
        fig.colorbar(im, ax=ax, pad=0.01)
    np.atleast_1d(axes)[-1].set_xlabel("time (s)")
    return save_figure(fig, path, dpi=72)  # dense maps compress badly: keep the file small
