"""Beat regularity without learning (heartsound.rhythm) and `heartsound data --rhythm`."""

from pathlib import Path

import numpy as np
import pytest
from conftest import heart_like

from heartsound.audio import AudioError
from heartsound.rhythm import RHYTHM_MEASURES, rhythm_measures

RATE = 4000


def with_premature_beat(x: np.ndarray, at_s: float, rate: int = RATE) -> np.ndarray:
    """``x`` plus one extra S1-S2 pair starting ``at_s`` (mid-diastole: a premature beat)."""
    beat = heart_like(0.8, rate, bpm=72.0, seed=99)[: int(0.45 * rate)]
    y = x.copy()
    start = int(at_s * rate)
    y[start:start + beat.size] += beat
    return y


def test_a_premature_beat_reads_as_irregular():
    regular = heart_like(8.0, RATE, seed=1)
    odd = with_premature_beat(regular, at_s=4 * 60 / 72 + 0.5)
    calm, jumpy = rhythm_measures(regular, RATE), rhythm_measures(odd, RATE)
    assert set(calm) == set(RHYTHM_MEASURES)
    assert calm["least similar cycle"] < 0.3  # every cycle like the next
    assert jumpy["least similar cycle"] > calm["least similar cycle"] + 0.3
    assert jumpy["aperiodicity"] > calm["aperiodicity"]


def test_too_short_for_two_cycles_and_bad_input():
    short = rhythm_measures(heart_like(1.0, RATE), RATE)
    assert all(np.isnan(v) for v in short.values())
    with pytest.raises(AudioError, match="silence"):
        rhythm_measures(np.zeros(RATE * 3), RATE, path="quiet.wav")


def test_data_rhythm_prints_one_auc_per_class_and_measure(tmp_path, make_wav, capsys):
    from heartsound.cli import print_rhythm_aucs
    from heartsound.data import Recording

    recordings = []
    for i in range(4):
        x = heart_like(6.0, RATE, seed=i)
        for label, signal in (("normal", x), ("extrastole", with_premature_beat(x, 2.2 + i / 10))):
            path = make_wav(f"{label}{i}.wav", signal)
            recordings.append(Recording(Path(path), "b", label, "labelled", f"p{i}", 6.0, RATE))
    recordings.append(Recording(make_wav("silent.wav", np.zeros(RATE)), "b", "normal",
                                "labelled", "p9", 1.0, RATE))
    print_rhythm_aucs(recordings)
    out, errors = capsys.readouterr()
    row = next(line for line in out.splitlines() if line.startswith("B    extrastole"))
    aucs = [float(v) for v in row.split()[3:]]
    assert len(aucs) == len(RHYTHM_MEASURES) and aucs[0] == 1.0  # every odd one ranked first
    assert "1 recordings not readable" in out
    assert errors.count("\n") == 1 and "silent.wav" in errors and "silence" in errors
