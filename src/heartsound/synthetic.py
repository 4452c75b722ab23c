"""A crude synthetic heartbeat, for tests, demos and the quality gate's positive control."""

from __future__ import annotations

import numpy as np


def heart_like(seconds: float, rate: int, bpm: float = 72.0, seed: int = 0,
               noise: float = 0.01) -> np.ndarray:
    """60 and 110 Hz bursts (S1, S2) each beat, 0.3 s apart, decaying over 30 ms, plus white
    noise of rms ``noise``: heart sounds' shape, not their physiology."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    beat = 60.0 / bpm
    x = np.zeros_like(t)
    for onset, freq in ((0.0, 60.0), (0.3, 110.0)):
        phase = (t - onset) % beat
        x += np.exp(-phase / 0.03) * np.sin(2 * np.pi * freq * t) * (phase < 0.12)
    return 0.5 * x + noise * rng.standard_normal(t.size)
