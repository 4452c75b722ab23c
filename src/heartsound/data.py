"""Datasets: the PASCAL CHSC2011 recordings (Kaggle layout), the PhysioNet/CinC 2016 training
databases (``physionet2016``: normal / abnormal, grouped by database) and any
``path,label[,group]`` CSV.

PASCAL labels come from the file names and are cross-checked against ``set_a.csv`` /
``set_b.csv``; a disagreement is an error. Set-B names carry a patient id
(``<label>_<noisy-sub>_<patient>_<epoch>_<position>.wav``), used to group CV folds.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

CLASSES = {
    "a": ("normal", "murmur", "extrahls", "artifact"),
    "b": ("normal", "murmur", "extrastole"),
}

_NAME = re.compile(
    r"^(?P<label>Aunlabelledtest|Bunlabelledtest|normal|murmur|extrahls|artifact|extrastole)"
    r"_(?P<sub>noisynormal|noisymurmur)?_(?P<rest>.+)\.wav$"
)


class DataError(Exception):
    """A dataset that cannot be read as described; ``str()`` is one line."""


@dataclass(frozen=True)
class Recording:
    path: Path
    dataset: str  # "a", "b" or a CSV's name
    label: str | None  # None for the challenge's unlabelled test files
    split: str  # "labelled" or "test"
    group: str  # CV grouping key: set-B patient id, else the file's own name
    duration_s: float
    sample_rate: int  # 0: the file could not be read (a CSV row; named by summary_lines)
    patient: str | None = None
    # Whether ``group`` came from the data (a set-B patient id, a CSV's group column) rather
    # than being the file's own name.
    group_given: bool = False


def default_data_dir() -> Path:
    """``$HEARTSOUND_DATA``, else ``data/pascal``, else ``../shared/data/pascal``."""
    env = os.environ.get("HEARTSOUND_DATA")
    if env:
        return Path(env)
    for candidate in (Path("data/pascal"), Path("../shared/data/pascal")):
        if candidate.is_dir():
            return candidate
    # Also look beside the installed source tree (running from another working directory).
    here = Path(__file__).resolve().parents[2]
    for candidate in (here / "data/pascal", here.parent / "shared/data/pascal"):
        if candidate.is_dir():
            return candidate
    return Path("data/pascal")


def sound_info(path: Path) -> tuple[float, int]:
    """(duration in s, sample rate) from the file's header. soundfile is imported here, not
    at the top, so that the command line's parser (which reads :data:`SPLITS`) loads no
    numpy."""
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate, info.samplerate


def median(values: Sequence[float]) -> float:
    """``statistics.median`` (imported only here: it costs ~6 ms at start)."""
    import statistics

    return statistics.median(values)


def parse_name(name: str) -> tuple[str | None, str | None]:
    """File name → (label or None for test files, set-B patient id or None)."""
    m = _NAME.match(name)
    if m is None:
        raise DataError(f"{name}: not a PASCAL file name")
    label = m["label"]
    label = None if label.endswith("unlabelledtest") else label
    rest = m["rest"]
    patient = rest.split("_")[0] if "_" in rest else None
    return label, patient


# How CV folds are drawn (``run_cv(split=...)``, ``heartsound train --split``).
SPLITS = {
    "grouped": "every group in one fold: a set-B patient, a CSV's group column (set A: a file)",
    "sessions": "as grouped, and set A's recordings grouped by recording session (file-name "
                "minutes no more than 15 apart, data.session_groups)",
    "random": "the paper's ungrouped stratified folds",
    "databases": "leave-one-database-out: each fold holds out one group whole (PhysioNet "
                 "2016: a database, a-f; a CSV: its group column), --folds = the number of "
                 "groups",
}


# Set-A names end in the recording's minute (``normal__201108011112.wav``: 2011-08-01 11:12).
_MINUTE = re.compile(r"__(?P<stamp>\d{12})\.wav$")
SESSION_GAP_MINUTES = 15.0


def session_groups(recordings: Sequence[Recording],
                   gap_minutes: float = SESSION_GAP_MINUTES) -> list[str]:
    """CV group of each recording, with set A's recordings grouped by recording session.

    Set A's names carry no patient, but they carry the minute each recording was made, and
    its labelled recordings come in runs a minute or two apart (23 of its 34 murmurs within 37
    minutes on 2011-08-22): likely one phone and room, perhaps one chest. Recordings whose
    times follow each other within ``gap_minutes`` form one session, ``"session:<first
    minute>"``; so a CV fold can hold out whole sessions, as set B's folds hold out whole
    patients. A recording without a minute in its name keeps its own group.
    """
    sessions = sessions_of([r.path.name for r in recordings], gap_minutes)
    return [s or r.group for s, r in zip(sessions, recordings, strict=True)]


def sessions_of(names: Sequence[str], gap_minutes: float = SESSION_GAP_MINUTES
                ) -> list[str | None]:
    """The recording session of each file name (see :func:`session_groups`), None for a
    name without a minute."""
    stamped = sorted((m["stamp"], i) for i, name in enumerate(names)
                     if (m := _MINUTE.search(name)))
    out: list[str | None] = [None] * len(names)
    start, last = "", None
    for stamp, i in stamped:
        minute = _minutes(stamp)
        if last is None or minute - last > gap_minutes:
            start = stamp
        out[i] = f"session:{start}"
        last = minute
    return out


def session_summary(recordings: Sequence[Recording]) -> str:
    """One line for ``heartsound data``: set A's labelled recording sessions, the largest's
    labels, and how many of the challenge's test files were made during it."""
    every_a = [r for r in recordings if r.dataset == "a"]
    labelled = [r for r in every_a if r.split == "labelled"]
    groups = session_groups(labelled)
    biggest, size = Counter(groups).most_common(1)[0]
    inside = Counter(r.label for r, g in zip(labelled, groups, strict=True) if g == biggest)
    # Sessions over every set-A file, test files included, to place the test files.
    everywhere = dict(zip((r.path.name for r in every_a),
                          sessions_of([r.path.name for r in every_a]), strict=True))
    first = min(r.path.name for r, g in zip(labelled, groups, strict=True) if g == biggest)
    tests = sum(1 for r in every_a
                if r.split == "test" and everywhere[r.path.name] == everywhere[first])
    return (f"set A labelled recordings come from {len(set(groups))} recording sessions (runs "
            f"made at most {SESSION_GAP_MINUTES:g} min apart, by their file names); the "
            f"largest holds {size}: "
            + ", ".join(f"{n} {label}" for label, n in inside.most_common())
            + f", and {tests} of the unlabelled test files were made during it")


def _minutes(stamp: str) -> float:
    """``YYYYMMDDhhmm`` → minutes since 2000-01-01 (for gaps only)."""
    from datetime import datetime

    return (datetime.strptime(stamp, "%Y%m%d%H%M") - datetime(2000, 1, 1)).total_seconds() / 60


def kaggle_csv_name(name: str) -> str:
    """A ``set_b.csv`` name → the name on disk (the documented one-to-one renaming)."""
    name = name.split("/")[-1]
    m = re.match(r"^Btraining_(\w+?)_Btraining_(noisy\w+?)_(.+)$", name)
    if m:
        return f"{m[1]}_{m[2]}_{m[3]}"
    m = re.match(r"^Btraining_(normal|murmur|extrastole)_(.+)$", name)
    if m:
        return f"{m[1]}__{m[2]}"
    m = re.match(r"^Bunlabelledtest_(\d.+)$", name)
    if m:
        return f"Bunlabelledtest__{m[1]}"
    return name


def _csv_labels(csv_path: Path) -> dict[str, str | None]:
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"fname", "label"} <= set(rows[0]):
        raise DataError(f"{csv_path}: expected columns fname,label")
    return {kaggle_csv_name(r["fname"]): (r["label"] or None) for r in rows}


def pascal(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> list[Recording]:
    """All recordings of PASCAL set ``"a"`` or ``"b"``, sorted by file name."""
    dataset = dataset.lower().removeprefix("pascal-")
    if dataset not in CLASSES:
        raise DataError(f"unknown PASCAL set {dataset!r} (expected a or b)")
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = root / f"set_{dataset}"
    if not folder.is_dir():
        raise DataError(f"{folder}: PASCAL folder not found (set --data or $HEARTSOUND_DATA)")
    listed = _csv_labels(root / f"set_{dataset}.csv")
    out = []
    for path in sorted(folder.glob("*.wav")):
        label, patient = parse_name(path.name)
        if label is not None and label not in CLASSES[dataset]:
            raise DataError(f"{path}: label {label!r} is not a set-{dataset.upper()} class")
        if path.name in listed and listed[path.name] != label:
            raise DataError(
                f"{path}: file name says {label!r} but set_{dataset}.csv says {listed[path.name]!r}"
            )
        if label is not None and path.name not in listed:
            raise DataError(f"{path}: labelled file missing from set_{dataset}.csv")
        duration, rate = sound_info(path)
        out.append(Recording(
            path=path, dataset=dataset, label=label,
            split="test" if label is None else "labelled",
            group=patient if (dataset == "b" and patient) else path.stem,
            duration_s=duration, sample_rate=rate,
            patient=patient if dataset == "b" else None,
            group_given=bool(dataset == "b" and patient),
        ))
    if not out:
        raise DataError(f"{folder}: no .wav files")
    return out


_WARNED: set[tuple[Path, tuple[str, ...]]] = set()


def read_csv(path: str | os.PathLike[str], required: Sequence[str],
             known: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Rows of a CSV file that must have the ``required`` columns; one-line DataError else.

    Column names are stripped of spaces (and a UTF-8 byte-order mark, as spreadsheets write
    one). With ``known``, columns outside it are named in a warning on stderr: a misspelt
    ``group`` column must not be dropped silently.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames:
                reader.fieldnames = [(f or "").strip() for f in reader.fieldnames]
            rows = list(reader)
            fields = list(reader.fieldnames or [])
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None
    missing = set(required) - set(fields)
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))} (need "
                        f"{','.join(required)}; found {','.join(fields) or 'nothing'})")
    if known is not None:
        unknown = [f for f in fields if f not in known]
        if unknown and (path.resolve(), tuple(unknown)) not in _WARNED:
            _WARNED.add((path.resolve(), tuple(unknown)))  # once per process, not per read
            print(f"heartsound: warning: {path}: column(s) {', '.join(map(repr, unknown))} "
                  f"not used (known columns: {', '.join(known)})", file=sys.stderr)
    return rows


CSV_COLUMNS = ("path", "label", "group")


def _lines(numbers: Sequence[int], most: int = 5) -> str:
    """``line 3`` / ``lines 2, 5, 9`` / ``lines 2, 5, 9, 11, 12 and 7 more``."""
    shown = ", ".join(map(str, numbers[:most]))
    more = f" and {len(numbers) - most} more" if len(numbers) > most else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


def from_csv(csv_path: str | os.PathLike[str]) -> list[Recording]:
    """A user dataset: CSV with columns ``path,label[,group]``, paths relative to the CSV.

    Every listed file must exist, once; an empty label is an error (use PASCAL-style test
    sets for unlabelled data). Labels are stripped of surrounding spaces; two spellings of
    one label that differ only in case or spaces (``Murmur`` and ``murmur ``) are an error
    naming their lines, never merged silently. A file soundfile cannot read is kept with
    ``sample_rate`` 0 (:func:`summary_lines` names it; training leaves it out).
    """
    csv_path = Path(csv_path)
    rows = read_csv(csv_path, ("path", "label"), known=CSV_COLUMNS)
    out = []
    spellings: dict[str, dict[str, list[int]]] = {}  # folded label → as written → lines
    seen: dict[Path, int] = {}
    for i, row in enumerate(rows, start=2):
        written, raw_label = (row.get("path") or "").strip(), row.get("label") or ""
        label = raw_label.strip()
        if not written or not label:
            raise DataError(f"{csv_path}:{i}: empty path or label")
        spellings.setdefault(" ".join(label.split()).casefold(), {}).setdefault(
            raw_label, []).append(i)
        path = (csv_path.parent / written).resolve()
        if not path.is_file():
            raise DataError(f"{csv_path}:{i}: {written}: no such file")
        if path in seen:
            raise DataError(f"{csv_path}:{i}: {written} is listed twice (also on line "
                            f"{seen[path]}); a recording may be in one fold only")
        seen[path] = i
        try:
            duration, rate = sound_info(path)
        except (RuntimeError, ZeroDivisionError):  # soundfile's LibsndfileError included
            duration, rate = 0.0, 0  # unreadable: named by summary_lines, left out in training
        given = (row.get("group") or "").strip()
        out.append(Recording(path, csv_path.stem, label, "labelled", given or path.stem,
                             duration, rate, group_given=bool(given)))
    for written_as in spellings.values():
        if len(written_as) > 1:
            raise DataError(f"{csv_path}: labels that differ only in case or spaces: "
                            + "; ".join(f"{lab!r} on {_lines(lines)}"
                                        for lab, lines in written_as.items())
                            + " (write each class one way)")
    if not out:
        raise DataError(f"{csv_path}: no rows")
    return out


def classes_of(recordings: Iterable[Recording], dataset: str | None = None) -> tuple[str, ...]:
    """Class vocabulary: PASCAL's fixed order, or sorted labels of a CSV dataset."""
    if dataset in CLASSES:
        return CLASSES[dataset]
    if dataset == PHYSIONET:
        return PHYSIONET_CLASSES
    return tuple(sorted({r.label for r in recordings if r.label is not None}))


def pascal_key(name: str) -> str | None:
    """``"a"`` / ``"b"`` for a dataset argument naming a PASCAL set (``pascal-a``, ``b``,
    ...), None for a CSV (an existing file of that name wins)."""
    key = name.lower().removeprefix("pascal-")
    return key if key in CLASSES and not Path(name).is_file() else None


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[Recording]:
    """``pascal-a`` / ``pascal-b`` / ``a`` / ``b``, ``physionet2016``, or a path to a CSV
    dataset."""
    if is_physionet(name):
        return physionet2016(data_dir)
    key = pascal_key(name)
    if key is not None:
        return pascal(key, data_dir)
    return from_csv(name)


def durations_by_group(recordings: Sequence[Recording]
                       ) -> dict[tuple[str, str, str], list[float]]:
    """(set, split, class) → the durations in seconds of its recordings, in class-vocabulary
    order ("(unlabelled)" for the challenge's test files)."""
    counts: dict[tuple[str, str, str], list[float]] = {}
    for r in recordings:
        key = (r.dataset.upper(), r.split, r.label or "(unlabelled)")
        counts.setdefault(key, []).append(r.duration_s)
    order = {c: i for voc in CLASSES.values() for i, c in enumerate(voc)}
    keys = sorted(counts, key=lambda k: (k[0], k[1] != "labelled", order.get(k[2], 99), k[2]))
    return {k: counts[k] for k in keys}


def summary_rows(recordings: Sequence[Recording]) -> list[tuple[str, str, str, int, float]]:
    """(set, split, class, files, seconds) rows, in class-vocabulary order."""
    return [(*k, len(d), sum(d)) for k, d in durations_by_group(recordings).items()]


# ---------------------------------------------------------------- PhysioNet/CinC 2016
PHYSIONET = "physionet2016"
PHYSIONET_CLASSES = ("normal", "abnormal")  # abnormal: the screening task's positive class
PHYSIONET_NAMES = ("physionet2016", "physionet-2016", "physionet")
_REFERENCE = {"1": "abnormal", "-1": "normal"}


def is_physionet(name: str) -> bool:
    """Whether a dataset argument names the PhysioNet/CinC 2016 training set (an existing
    file of that name, a CSV, wins)."""
    return name.lower() in PHYSIONET_NAMES and not Path(name).is_file()


def physionet_data_dir() -> Path:
    """``$HEARTSOUND_DATA/physionet2016``, else ``data/physionet2016``, else
    ``../shared/data/physionet2016`` (also looked for beside the source tree)."""
    env = os.environ.get("HEARTSOUND_DATA")
    candidates = [Path(env) / "physionet2016"] if env else []
    here = Path(__file__).resolve().parents[2]
    candidates += [Path("data/physionet2016"), Path("../shared/data/physionet2016"),
                   here / "data/physionet2016", here.parent / "shared/data/physionet2016"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def physionet2016(data_dir: str | os.PathLike[str] | None = None) -> list[Recording]:
    """The labelled records of the PhysioNet/CinC Challenge 2016 training databases found
    under ``data_dir`` (``training-<letter>/<record>.flac`` or ``.wav``, labels from each
    folder's ``REFERENCE.csv``: ``1`` abnormal, ``-1`` normal), sorted by database and
    record. ``group`` is the database letter: record names carry no patient id, so the
    database is the only grouping the data gives (a patient may have several records in
    one database)."""
    root = Path(data_dir) if data_dir is not None else physionet_data_dir()
    folders = sorted(f for f in root.glob("training-*") if f.is_dir())
    if not folders:
        raise DataError(f"{root}: no training-* folders of PhysioNet 2016 (set --data or "
                        "$HEARTSOUND_DATA)")
    out = []
    for folder in folders:
        letter = folder.name.removeprefix("training-")
        reference = folder / "REFERENCE.csv"
        if not reference.is_file():
            raise DataError(f"{reference}: no such file")
        labels: dict[str, str] = {}
        with reference.open(newline="") as fh:
            for i, row in enumerate(csv.reader(fh), start=1):
                if not row or not row[0].strip():
                    continue
                value = row[1].strip() if len(row) > 1 else ""
                if value not in _REFERENCE:
                    raise DataError(f"{reference}:{i}: expected <record>,1 or <record>,-1")
                labels[row[0].strip()] = _REFERENCE[value]
        for record, label in sorted(labels.items()):
            path = next((p for p in (folder / f"{record}.flac", folder / f"{record}.wav")
                         if p.is_file()), None)
            if path is None:
                raise DataError(f"{folder}: {record} is in REFERENCE.csv but has no "
                                ".flac or .wav file")
            duration, rate = sound_info(path)
            out.append(Recording(
                path=path, dataset=PHYSIONET, label=label, split="labelled", group=letter,
                duration_s=duration, sample_rate=rate,
                group_given=True))
    return out


def physionet_summary_lines(recordings: Sequence[Recording]) -> list[str]:
    """What ``heartsound data --dataset physionet2016`` prints: records per database and
    class, abnormal prevalence, durations (min / median / max, hours), and the totals."""
    head = (f"{'database':<9} {'records':>7} {'abnormal':>8} {'normal':>6} {'% abn':>6} "
            f"{'min s':>6} {'median s':>8} {'max s':>6} {'hours':>6}")
    lines = [head]

    def row(name: str, rs: Sequence[Recording]) -> str:
        d = sorted(r.duration_s for r in rs)
        abn = sum(r.label == "abnormal" for r in rs)
        return (f"{name:<9} {len(rs):>7} {abn:>8} {len(rs) - abn:>6} {abn / len(rs):>6.0%} "
                f"{d[0]:>6.1f} {median(d):>8.1f} {d[-1]:>6.1f} "
                f"{sum(d) / 3600:>6.2f}")

    for letter in sorted({r.group for r in recordings}):
        lines.append(row(f"training-{letter}", [r for r in recordings if r.group == letter]))
    lines.append(row("total", recordings))
    rates = Counter(r.sample_rate for r in recordings)
    lines.append("sample rates: " + ", ".join(f"{rate} Hz ({n})"
                                              for rate, n in sorted(rates.items())))
    lines.append("record names carry no patient id: folds within a database may share a "
                 "patient; --split databases holds out one database per fold")
    return lines


# ---------------------------------------------------------------- a labelled dataset in words
def unreadable(recordings: Sequence[Recording]) -> list[Recording]:
    """The recordings soundfile could not open (``sample_rate`` 0): left out of training."""
    return [r for r in recordings if r.sample_rate == 0]


def fold_unit(recordings: Sequence[Recording], split: str = "grouped") -> str:
    """What a CV fold holds out whole, in words: ``"12 groups (group column)"``, or
    ``"recording-level folds (no groups given)"`` when nothing groups the recordings."""
    if split == "random":
        return "recording-level folds (--split random)"
    if split == "databases":
        held = sorted({r.group for r in recordings})
        return f"{len(held)} databases, one held out per fold ({', '.join(held)})"
    if split == "sessions" and any(r.dataset == "a" for r in recordings):
        return f"{len(set(session_groups(recordings)))} groups (set-A recording sessions)"
    given = [r for r in recordings if r.group_given]
    if not given:
        return "recording-level folds (no groups given)"
    source = "patients" if all(r.patient for r in given) else "group column"
    rest = len(recordings) - len(given)
    return (f"{len({r.group for r in given})} groups ({source})"
            + (f"; {rest} recording(s) without a group, each its own" if rest else ""))


def trainable_problem(recordings: Sequence[Recording], folds: int) -> str | None:
    """Why ``folds``-fold CV cannot train on these labelled recordings (one class only, or
    a class with fewer readable recordings than folds), or None."""
    counts = Counter(r.label for r in recordings if r.label is not None and r.sample_rate)
    if len(counts) < 2:
        what = (f"only one class ({', '.join(f'{c}: {n}' for c, n in counts.items())})"
                if counts else "no readable labelled recordings")
        return f"{what}; a classifier needs recordings of at least two classes"
    few = sorted((n, c) for c, n in counts.items() if n < folds)
    if few:
        hint = (f"use --folds {few[0][0]} or fewer, or add recordings" if few[0][0] >= 2
                else "add recordings of it or leave it out")
        return (f"{folds}-fold CV needs at least {folds} recordings of every class, but "
                + ", ".join(f"{c} has {n}" for n, c in few) + f" ({hint})")
    return None


def check_trainable(recordings: Sequence[Recording], folds: int, where: str = "") -> None:
    """:func:`trainable_problem` as a one-line DataError."""
    problem = trainable_problem(recordings, folds)
    if problem:
        raise DataError(f"{where}: {problem}" if where else problem)


def summary_lines(recordings: Sequence[Recording], name: str = "dataset", *,
                  window_s: float = 7.0, whole: bool = False, split: str = "grouped",
                  folds: int | None = None) -> list[str]:
    """What ``heartsound data --dataset CSV`` (and ``train`` on a CSV) says about a labelled
    dataset: classes, durations, sample rates, how the model's ``window_s``-second window
    fits them, what the folds hold out, and the unreadable files (named by the caller)."""
    labelled = [r for r in recordings if r.label is not None]
    readable = [r for r in labelled if r.sample_rate]
    bad = unreadable(labelled)
    counts = Counter(r.label for r in readable if r.label is not None)
    lines = [f"{name}: {len(labelled)} labelled recording(s), {len(counts)} class(es)",
             "  classes: " + (", ".join(f"{c} {counts[c]}" for c in sorted(counts))
                              or "none readable")]
    if readable:
        d = sorted(r.duration_s for r in readable)
        lines.append(f"  durations: min {d[0]:.1f} s, median {median(d):.1f} s, "
                     f"max {d[-1]:.1f} s ({sum(d) / 60:.1f} min in all)")
        rates = Counter(r.sample_rate for r in readable)
        lines.append("  sample rates: " + ", ".join(
            f"{rate} Hz ({n})" for rate, n in sorted(rates.items())))
        shorter = sum(x < window_s for x in d)
        longer = sum(x > window_s for x in d)
        rest = (f"seen whole, as {window_s:g}-s windows" if whole
                else f"truncated: only the first {window_s:g} s used")
        lines.append(f"  {window_s:g}-s model window: {shorter} shorter (tiled: repeated to "
                     f"{window_s:g} s), {longer} longer ({rest}), "
                     f"{len(d) - shorter - longer} exactly {window_s:g} s")
    lines.append(f"  folds: {fold_unit(readable or labelled, split)}")
    if bad:
        lines.append(f"  unreadable: {len(bad)} file(s) soundfile cannot open (named on "
                     "stderr); left out of training")
    if folds is not None:
        problem = trainable_problem(labelled, folds)
        if problem:
            lines.append(f"  cannot train: {problem}")
    return lines


def print_summary(recordings: Sequence[Recording], name: str = "dataset",
                  file: TextIO | None = None, **kwargs: Any) -> None:
    """:func:`summary_lines` on ``file`` (stdout), each unreadable file named on stderr."""
    for r in unreadable(recordings):
        print(f"heartsound: warning: {r.path}: not readable as audio; left out",
              file=sys.stderr)
    print("\n".join(summary_lines(recordings, name, **kwargs)), file=file or sys.stdout)
