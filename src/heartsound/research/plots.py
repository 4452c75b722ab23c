"""The report's figures (matplotlib, Agg backend), drawn with ``heartsound.figures``' helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heartsound.figures import CLASS_COLOURS, _pyplot, save_figure

# ------------------------------------------------------------------ report figures
# Used by ``heartsound-lab report``; each draws one figure and saves it with save_figure.
SERIES_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def save_duration_histograms(durations: dict[str, dict[str, list[float]]], path: Path,
                             cut_s: float = 7.0) -> Path:
    """Recording lengths, one panel per set, stacked by class; the 7-s cut is marked because
    it decides which recordings get repeated and which truncated."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(durations), figsize=(4.4 * len(durations), 3.0),
                             squeeze=False)
    for ax, (name, groups) in zip(axes[0], durations.items(), strict=True):
        labels = [k for k, v in groups.items() if v]
        top = max((max(groups[k]) for k in labels), default=cut_s)
        bins = np.arange(0.0, np.ceil(max(top, cut_s)) + 0.5, 0.5)
        ax.hist([groups[k] for k in labels], bins=bins, stacked=True, label=labels,
                color=[CLASS_COLOURS.get(k, "#aaaaaa") for k in labels])
        ax.axvline(cut_s, color="black", ls="--", lw=1)
        ax.annotate(f"{cut_s:g} s", (cut_s, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -3), textcoords="offset points", va="top", fontsize=8)
        ax.set_title(f"set {name}", fontsize=10)
        ax.set_xlabel("duration (s)")
        ax.set_ylabel("recordings")
        ax.legend(fontsize=7, frameon=False)
    return save_figure(fig, path)


def save_repeat_figure(examples: list[tuple[str, np.ndarray, int, np.ndarray, int]],
                       path: Path, keep_s: float = 7.0) -> Path:
    """The paper's Figure 2: each recording as read (left) and after the front end (right).

    ``examples``: (title, raw signal, raw rate, processed signal, processed rate). The part a
    long recording loses is shaded; the seams where a short one is tiled are dashed.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(len(examples), 2, figsize=(10, 2.4 * len(examples)),
                             squeeze=False)
    for row, (title, raw, rate, out, out_rate) in zip(axes, examples, strict=True):
        seconds = raw.size / rate
        span = max(seconds, keep_s)
        row[0].plot(np.arange(raw.size) / rate, raw, lw=0.3, color="#4c72b0")
        if seconds > keep_s:
            row[0].axvspan(keep_s, seconds, color="0.85", label="truncated", zorder=0)
            row[0].legend(fontsize=7, loc="upper right")
        row[0].set_title(f"{title}: as recorded ({rate:,} Hz, {seconds:.1f} s)", fontsize=9,
                         loc="left")
        row[1].plot(np.arange(out.size) / out_rate, out, lw=0.3, color="#dd8452")
        for k, seam in enumerate(np.arange(seconds, out.size / out_rate, seconds)):
            row[1].axvline(seam, color="black", ls="--", lw=0.8,
                           label="repeat starts" if k == 0 else None)
        if seconds < keep_s:
            row[1].legend(fontsize=7, loc="upper right")
        how = "repeated" if seconds < keep_s else "truncated"
        row[1].set_title(f"band-passed, resampled to {out_rate:,} Hz, {how} to {keep_s:g} s",
                         fontsize=9, loc="left")
        for ax in row:
            ax.set_xlim(0, span)
            ax.set_xlabel("time (s)")
            ax.set_ylabel("amplitude (full scale)")
    fig.tight_layout()
    return save_figure(fig, path)


def save_bandpass_figure(freq_hz: np.ndarray, gain_db: np.ndarray, low_hz: float,
                         high_hz: float, path: Path, title: str = "") -> Path:
    """Magnitude response of the band-pass (as applied: forward-backward, so |H|²)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.0))
    keep = freq_hz > 0
    ax.semilogx(freq_hz[keep], gain_db[keep], color="#4c72b0")
    for edge, side in ((low_hz, 1), (high_hz, -1)):
        ax.axvline(edge, color="0.4", ls="--", lw=0.8)
        ax.annotate(f"{edge:g} Hz", (edge, -75), xytext=(3 * side, 0), fontsize=8,
                    textcoords="offset points", ha="left" if side > 0 else "right")
    left = max(freq_hz[keep][0], low_hz / 4)
    ax.axhline(-6.02, color="#c44e52", ls=":", lw=0.8)
    ax.annotate("−6 dB", (left, -6.02), xytext=(2, -10), textcoords="offset points",
                fontsize=8, color="#c44e52")
    ax.set_ylim(-80, 5)
    ax.set_xlim(left, freq_hz[-1])
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("gain (dB)")
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return save_figure(fig, path)


def save_confusion_figure(panels: list[tuple[str, list[str], np.ndarray]], path: Path) -> Path:
    """Confusion matrices side by side (rows true, columns predicted), counts annotated."""
    plt = _pyplot()
    n = len(panels)
    size = max(len(p[1]) for p in panels)
    fig, axes = plt.subplots(1, n, figsize=(0.9 * size * n + 1.2 * n, 0.9 * size + 1.0),
                             squeeze=False)
    for ax, (title, classes, cm) in zip(axes[0], panels, strict=True):
        cm = np.asarray(cm)
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(1, int(cm.max())))
        for (i, j), count in np.ndenumerate(cm):
            dark = count > 0.6 * cm.max()
            ax.text(j, i, str(count), ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")
        ticks = np.arange(len(classes))
        ax.set_xticks(ticks, classes, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(ticks, classes, fontsize=8)
        for label, name in zip(ax.get_yticklabels(), classes, strict=True):
            label.set_color(CLASS_COLOURS.get(name, "black"))
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def save_curves_figure(curves: dict[int, dict[str, np.ndarray]], path: Path,
                       title: str = "") -> Path:
    """Loss and accuracy per epoch, one colour per fold: training solid, validation dashed,
    the epoch kept (best validation) as a dot."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for k, (fold, c) in enumerate(sorted(curves.items())):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        for ax, metric in zip(axes, ("loss", "acc"), strict=True):
            ax.plot(c["epoch"], c[f"train_{metric}"], color=colour, lw=1,
                    label=f"fold {fold}")
            ax.plot(c["epoch"], c[f"val_{metric}"], color=colour, lw=1, ls="--")
            best = np.flatnonzero(c["best"] > 0)
            if best.size:
                i = best[-1]
                ax.plot(c["epoch"][i], c[f"val_{metric}"][i], "o", color=colour, ms=4)
    axes[0].set_ylabel("cross-entropy loss (nats)")
    axes[1].set_ylabel("accuracy (fraction correct)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(True, lw=0.3, alpha=0.5)
    axes[1].plot([], [], color="black", lw=1, label="training")
    axes[1].plot([], [], color="black", lw=1, ls="--", label="validation")
    axes[1].plot([], [], "o", color="black", ms=4, label="epoch kept")
    axes[1].legend(fontsize=7, ncol=2, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return save_figure(fig, path, dpi=80)


def save_method_bars(methods: list[str], values: dict[str, list[float | None]],
                     errors: dict[str, list[float | None]], highlight: list[bool],
                     path: Path, title: str = "") -> Path:
    """The paper's Figures 7-8: one horizontal bar per method and metric panel; highlighted
    bars (ours) are hatched and carry ± std error bars."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(values), figsize=(4.6 * len(values), 0.38 * len(methods)
                                                      + 1.2), sharey=True, squeeze=False)
    y = np.arange(len(methods))
    for k, (ax, (metric, vals)) in enumerate(zip(axes[0], values.items(), strict=True)):
        v = np.array([np.nan if x is None else x for x in vals], dtype=float)
        e = np.array([0.0 if x is None else x for x in errors.get(metric, [None] * len(v))])
        colours = [SERIES_COLOURS[1] if h else SERIES_COLOURS[0] for h in highlight]
        bars = ax.barh(y, np.nan_to_num(v), color=colours)
        for bar, h in zip(bars, highlight, strict=True):
            if h:
                bar.set_hatch("//")
        marked = np.array(highlight) & np.isfinite(v) & (e > 0)
        if marked.any():
            ax.errorbar(v[marked], y[marked], xerr=e[marked], fmt="none", ecolor="black",
                        capsize=2, lw=0.8)
        for yi, vi, ei in zip(y, v, e, strict=True):
            if np.isfinite(vi):
                ax.annotate(f"{vi:.2f}", (vi + ei, yi), xytext=(3, 0),
                            textcoords="offset points", va="center", fontsize=7)
        ax.set_xlabel(metric)
        ax.set_xlim(0, np.nanmax(np.append(v + e, 1.0)) * 1.18)
        ax.grid(True, axis="x", lw=0.3, alpha=0.5)
        if k == 0:
            ax.set_yticks(y, methods, fontsize=8)
            ax.invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    return save_figure(fig, path)


def save_grouped_bars(labels: list[str],
                      panels: list[tuple[str, str, dict[str, list[float | None]]]],
                      path: Path, ncols: int = 2) -> Path:
    """Panels of grouped bars (the paper's Figure 9: parameters, MAdds, accuracy, total
    precision per model and input size). ``panels``: (title, y label, {series: values per
    label}); series named ``paper ...`` are hatched; missing values are left out."""
    plt = _pyplot()
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 3.0 * nrows), squeeze=False)
    x = np.arange(len(labels))
    for ax, (title, ylabel, series) in zip(axes.flat, panels, strict=False):
        width = 0.8 / max(1, len(series))
        for k, (name, vals) in enumerate(series.items()):
            v = np.array([np.nan if a is None else a for a in vals], dtype=float)
            bars = ax.bar(x - 0.4 + width * (k + 0.5), np.nan_to_num(v), width, label=name,
                          color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
                          hatch="//" if name.startswith("paper") else None)
            for bar, vi in zip(bars, v, strict=True):
                if not np.isfinite(vi):
                    bar.set_visible(False)
        top = max((a for vals in series.values() for a in vals if a is not None), default=1.0)
        ax.set_ylim(0, 1.35 * top)  # headroom for the legend above the bars
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", lw=0.3, alpha=0.5)
        ax.legend(fontsize=7, frameon=False, ncol=2, loc="upper left")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return save_figure(fig, path)


# ------------------------------------------------------------------ deterministic SVG
SVG_HASH_SALT = "heartsound"  # fixed ids (clip paths, glyphs) instead of random ones


def save_svg(fig, path: Path) -> Path:
    """Save ``fig`` as SVG whose bytes depend only on the figure: no date in the metadata and
    a fixed ``svg.hashsalt``, so regenerating a committed figure does not churn git."""
    import matplotlib

    from heartsound.atomic import write_with

    try:
        with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT, "svg.fonttype": "none"}):
            return write_with(path, lambda fh: fig.savefig(
                fh, format="svg", bbox_inches="tight", metadata={"Date": None}), mode="wb")
    finally:
        _pyplot().close(fig)


def save_roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, tuple[float, float] | None]],
                    path: Path, title: str = "", emphasis: str | None = None) -> Path:
    """ROC curves in one panel (``{legend label: (FPR, TPR, operating point or None)}``),
    the chance diagonal dashed, each operating point a dot; the ``emphasis`` curve (a pooled
    one) black and thicker, so the per-group curves can be read against it. SVG paths are
    written by :func:`save_svg` (deterministic bytes); other suffixes by save_figure."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.2, 4.8))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8, label="chance")
    k = 0
    for label, (fpr, tpr, point) in curves.items():
        if label == emphasis:
            colour, width = "black", 2.0
        else:
            colour, width = SERIES_COLOURS[k % len(SERIES_COLOURS)], 1.2
            k += 1
        ax.plot(fpr, tpr, color=colour, lw=width, label=label)
        if point is not None:
            ax.plot([point[0]], [point[1]], "o", color=colour, ms=4)
    ax.plot([], [], "o", color="0.3", ms=4, label="argmax (P ≥ 0.5)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 − specificity (false-positive rate)")
    ax.set_ylabel("sensitivity (true-positive rate)")
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=8, loc="left")
    if path.suffix.lower() == ".svg":
        return save_svg(fig, path)
    return save_figure(fig, path)
