from collections import Counter
from pathlib import Path

import pytest

from heartsound.data import (
    CLASSES,
    DataError,
    Recording,
    classes_of,
    from_csv,
    kaggle_csv_name,
    parse_name,
    pascal,
    session_groups,
    summary_rows,
)

# ../shared/data/README.md, "Files, classes, splits".
README_COUNTS = {
    ("A", "labelled", "artifact"): (40, 360.0), ("A", "labelled", "extrahls"): (19, 130.6),
    ("A", "labelled", "murmur"): (34, 261.3), ("A", "labelled", "normal"): (31, 241.9),
    ("A", "test", "(unlabelled)"): (52, 422.7),
    ("B", "labelled", "normal"): (320, 869.6 + 1106.2),
    ("B", "labelled", "murmur"): (95, 505.6 + 236.0),
    ("B", "labelled", "extrastole"): (46, 269.5), ("B", "test", "(unlabelled)"): (195, 1309.9),
}


def test_counts_agree_with_data_readme(data_dir):
    recs = pascal("a", data_dir) + pascal("b", data_dir)
    rows = {(s, sp, c): (n, sec) for s, sp, c, n, sec in summary_rows(recs)}
    assert set(rows) == set(README_COUNTS)
    for key, (n, seconds) in README_COUNTS.items():
        assert rows[key][0] == n, key
        assert rows[key][1] == pytest.approx(seconds, abs=0.15), key


def test_set_b_patients_and_rates(data_dir):
    b = pascal("b", data_dir)
    labelled = [r for r in b if r.split == "labelled"]
    assert len(labelled) == 461 and len({r.patient for r in labelled}) == 165
    assert all(r.group == r.patient for r in b) and all(r.sample_rate == 4000 for r in b)
    assert all(r.sample_rate == 44100 and r.patient is None for r in pascal("a", data_dir))


def test_file_names_and_csv_renaming():
    assert parse_name("normal_noisynormal_296_1311682952647_D.wav") == ("normal", "296")
    assert parse_name("extrastole__127_1306764300147_C2.wav") == ("extrastole", "127")
    assert parse_name("Bunlabelledtest__101_1305030823364_D.wav") == (None, "101")
    assert parse_name("artifact__201012172012.wav") == ("artifact", None)
    assert kaggle_csv_name("set_b/Btraining_murmur_Btraining_noisymurmur_135_1306428972976_A.wav"
                           ) == "murmur_noisymurmur_135_1306428972976_A.wav"
    assert kaggle_csv_name("set_b/Btraining_extrastole_127_1306764300147_C2.wav"
                           ) == "extrastole__127_1306764300147_C2.wav"
    assert kaggle_csv_name("set_b/Bunlabelledtest_101_1305030823364_A.wav"
                           ) == "Bunlabelledtest__101_1305030823364_A.wav"
    with pytest.raises(DataError):
        parse_name("hello.wav")


def test_label_disagreement_with_csv_is_an_error(tmp_path, data_dir):
    root = tmp_path / "pascal"
    (root / "set_a").mkdir(parents=True)
    src = data_dir / "set_a" / "normal__201101070538.wav"
    (root / "set_a" / src.name).write_bytes(src.read_bytes())
    (root / "set_a.csv").write_text(f"dataset,fname,label,sublabel\na,set_a/{src.name},murmur,\n")
    with pytest.raises(DataError, match="file name says 'normal' but set_a.csv says 'murmur'"):
        pascal("a", root)


def test_csv_dataset(tmp_path, make_wav):
    from conftest import heart_like

    for i in range(3):
        make_wav(f"audio/{i}.wav", heart_like(1.0, 4000, seed=i))
    (tmp_path / "set.csv").write_text("path,label,group\naudio/0.wav,x,p1\naudio/1.wav,y,\n"
                                      "audio/2.wav,x,p1\n")
    recs = from_csv(tmp_path / "set.csv")
    assert [r.label for r in recs] == ["x", "y", "x"]
    assert [r.group for r in recs] == ["p1", "1", "p1"]
    assert classes_of(recs) == ("x", "y") and recs[0].path.is_absolute()
    (tmp_path / "bad.csv").write_text("file,label\n0.wav,x\n")
    with pytest.raises(DataError, match="missing column"):
        from_csv(tmp_path / "bad.csv")
    (tmp_path / "gone.csv").write_text("path,label\nnope.wav,x\n")
    with pytest.raises(DataError, match="no such file"):
        from_csv(tmp_path / "gone.csv")


def test_vocabularies():
    assert CLASSES["a"] == ("normal", "murmur", "extrahls", "artifact")
    assert CLASSES["b"] == ("normal", "murmur", "extrastole")


def _rec(name: str, group: str | None = None) -> Recording:
    return Recording(path=Path(name), dataset="a", label="normal", split="labelled",
                     group=group or Path(name).stem, duration_s=8.0, sample_rate=44100)


def test_session_groups_chain_recordings_made_minutes_apart():
    recs = [_rec("murmur__201108222231.wav"), _rec("normal__201101010000.wav"),
            _rec("murmur__201101010010.wav"),  # 10 min after the first: same session
            _rec("extrahls__201101010024.wav"),  # 14 min after the last: chained on
            _rec("artifact__201101010100.wav"),  # 36 min later: a new session
            _rec("murmur__201108222221.wav"),
            _rec("normal__101_1305030823364_A.wav", group="101")]  # no minute: own group
    groups = session_groups(recs)
    assert groups == ["session:201108222221", "session:201101010000", "session:201101010000",
                      "session:201101010000", "session:201101010100", "session:201108222221",
                      "101"]
    # A shorter gap splits the chain where it is longer.
    assert session_groups(recs, gap_minutes=12)[3] == "session:201101010024"


def test_set_a_sessions(data_dir):
    """Set A's labelled recordings form 86 sessions; the largest is 23 of the 34 murmurs,
    made within 37 minutes. Set B keeps its patient groups."""
    a = [r for r in pascal("a", data_dir) if r.split == "labelled"]
    groups = session_groups(a)
    sizes = Counter(groups)
    assert len(sizes) == 86
    largest, n = sizes.most_common(1)[0]
    assert n == 23 and {r.label for r, g in zip(a, groups, strict=True) if g == largest} == {
        "murmur"}
    b = [r for r in pascal("b", data_dir) if r.split == "labelled"]
    assert session_groups(b) == [r.group for r in b]


# ------------------------------------------------------------ the user's own labelled CSV
def _own_csv(tmp_path, make_wav, rows: str, header: str = "path,label") -> Path:
    from conftest import heart_like

    for i in range(4):
        make_wav(f"w{i}.wav", heart_like(2.0 + 3 * i, 4000 if i < 3 else 2000, seed=i),
                 4000 if i < 3 else 2000)
    (tmp_path / "set.csv").write_text(f"{header}\n{rows}")
    return tmp_path / "set.csv"


def test_csv_labels_are_stripped_and_clashing_spellings_refused(tmp_path, make_wav):
    ok = _own_csv(tmp_path, make_wav, " w0.wav , murmur \nw1.wav, murmur \nw2.wav,normal\n")
    assert [r.label for r in from_csv(ok)] == ["murmur", "murmur", "normal"]
    bad = _own_csv(tmp_path, make_wav, "w0.wav,Murmur\nw1.wav,murmur\nw2.wav,murmur \n"
                                       "w3.wav,MURMUR\n")
    with pytest.raises(DataError) as exc:
        from_csv(bad)
    msg = str(exc.value)
    assert "differ only in case or spaces" in msg and len(msg.splitlines()) == 1
    for part in ("'Murmur' on line 2", "'murmur' on line 3", "'murmur ' on line 4",
                 "'MURMUR' on line 5"):
        assert part in msg, msg


def test_csv_unknown_columns_are_named_and_duplicates_refused(tmp_path, make_wav, capsys):
    path = _own_csv(tmp_path, make_wav, "w0.wav,x,p1,a\nw1.wav,y,,b\n",
                    header="\ufeffpath, label ,grup,note")
    recs = from_csv(path)
    assert [r.label for r in recs] == ["x", "y"] and not any(r.group_given for r in recs)
    err = capsys.readouterr().err
    assert "column(s) 'grup', 'note' not used" in err and "path, label, group" in err
    twice = _own_csv(tmp_path, make_wav, "w0.wav,x\n./w0.wav,y\n")
    with pytest.raises(DataError, match="listed twice.*line 2"):
        from_csv(twice)


def test_trainable_problems():
    from heartsound.data import trainable_problem

    def recs(*labels):
        return [Recording(Path(f"{i}.wav"), "set", lab, "labelled", str(i), 5.0, 4000)
                for i, lab in enumerate(labels)]

    assert "only one class (x: 3)" in trainable_problem(recs("x", "x", "x"), 2)
    problem = trainable_problem(recs("x", "x", "x", "y", "y", "z"), 3)
    assert problem.startswith("3-fold CV needs at least 3 recordings of every class")
    assert "z has 1, y has 2" in problem and "leave it out" in problem
    assert "use --folds 2" in trainable_problem(recs("x", "x", "x", "y", "y"), 3)
    assert trainable_problem(recs("x", "x", "y", "y"), 2) is None
    unreadable = [*recs("x", "x"), Recording(Path("u.wav"), "set", "y", "labelled", "u", 0, 0)]
    assert "only one class" in trainable_problem(unreadable, 2)  # y's file cannot be read


def test_csv_summary(tmp_path, make_wav, capsys):
    from heartsound.data import fold_unit, print_summary, summary_lines

    (tmp_path / "junk.wav").write_text("not audio")
    path = _own_csv(tmp_path, make_wav, "w0.wav,a\nw1.wav,a\nw2.wav,b\nw3.wav,b\njunk.wav,b\n")
    recs = from_csv(path)
    text = "\n".join(summary_lines(recs, "set.csv", window_s=7.0, folds=3))
    assert "set.csv: 5 labelled recording(s), 2 class(es)" in text
    assert "classes: a 2, b 2" in text
    assert "durations: min 2.0 s, median 6.5 s, max 11.0 s" in text
    assert "sample rates: 2000 Hz (1), 4000 Hz (3)" in text
    assert "2 shorter (tiled" in text and "2 longer (truncated: only the first 7 s" in text
    assert "folds: recording-level folds (no groups given)" in text
    assert "unreadable: 1 file(s)" in text
    assert "cannot train: 3-fold CV needs at least 3 recordings" in text
    assert "seen whole" in "\n".join(summary_lines(recs, whole=True))
    print_summary(recs, "set.csv")
    captured = capsys.readouterr()
    assert f"{tmp_path / 'junk.wav'}: not readable as audio" in captured.err
    assert "classes: a 2, b 2" in captured.out
    grouped = _own_csv(tmp_path, make_wav, "w0.wav,a,p1\nw1.wav,a,p1\nw2.wav,b,p2\nw3.wav,b,\n",
                       header="path,label,group")
    recs = from_csv(grouped)
    assert fold_unit(recs) == "2 groups (group column); 1 recording(s) without a group, each " \
                              "its own"
    assert fold_unit(recs, "random") == "recording-level folds (--split random)"


def test_data_command_describes_a_csv(tmp_path, make_wav, capsys):
    from heartsound.cli import main

    path = _own_csv(tmp_path, make_wav, "w0.wav,a\nw1.wav,a\nw2.wav,b\nw3.wav,b\n")
    assert main(["data", "--dataset", str(path), "--folds", "2"]) == 0
    out = capsys.readouterr().out
    assert "classes: a 2, b 2" in out and "cannot train" not in out
    assert main(["data", "--dataset", str(path)]) == 0  # 5 folds by default
    assert "cannot train: 5-fold CV" in capsys.readouterr().out
    assert main(["data", "--dataset", str(path), "--rhythm"]) == 2


def test_data_command_names_pascal_sets(data_dir, capsys):
    from heartsound.cli import main

    assert main(["data", "--dataset", "pascal-b", "--data", str(data_dir)]) == 0
    assert "PASCAL CHSC2011 recordings" in capsys.readouterr().out
