"""Beat-to-beat regularity measured without learning: a check on what the labels allow.

An extrasystole is a premature beat: the cycle around it looks unlike its neighbours. If set
B's extrastole recordings carried that signature, a plain rhythm measure would rank them
above the normal ones; ``heartsound data --rhythm`` gives the ROC AUCs (issue 6 asks why no
network finds the class).

Envelope: the Shannon energy ``-x²·log x²`` of the peak-normalised, band-passed signal
(Liang et al., 1997), smoothed over 20 ms and resampled to ``rate``. Cycle length: the
envelope's autocorrelation peak between ``min_period_s`` and ``max_period_s``. Similarity of
a cycle: the best correlation between one cycle-long stretch of envelope and the next, the
next allowed to start ``tolerance``·period early or late (heart rate drifts).
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from heartsound.config import FrontEndConfig, resolve

RHYTHM_MEASURES = ("least similar cycle", "dissimilar cycles", "aperiodicity")


def shannon_envelope(x: np.ndarray, sample_rate: int, rate: int = 100,
                     smooth_s: float = 0.02) -> np.ndarray:
    """Standardised Shannon-energy envelope of ``x`` at ``rate`` Hz."""
    x = x / (np.abs(x).max() + 1e-12)
    energy = -(x ** 2) * np.log(x ** 2 + 1e-10)
    width = max(1, round(smooth_s * sample_rate))
    smooth = np.convolve(energy, np.ones(width) / width, mode="same")
    env = scipy.signal.resample_poly(smooth, rate, sample_rate)
    return (env - env.mean()) / (env.std() + 1e-12)


def cycle_similarities(env: np.ndarray, rate: int = 100, min_period_s: float = 0.4,
                       max_period_s: float = 1.6, tolerance: float = 0.15
                       ) -> tuple[np.ndarray, float]:
    """(similarity of each cycle to the next, taken every half cycle; the autocorrelation at
    the cycle length). Empty similarities when the envelope holds fewer than two cycles."""
    n = env.size
    ac = np.correlate(env, env, mode="full")[n - 1:] / n
    lo, hi = int(min_period_s * rate), min(int(max_period_s * rate), n // 2)
    if hi <= lo + 1:
        return np.empty(0), float("nan")
    period = lo + int(np.argmax(ac[lo:hi]))
    slack = int(tolerance * period)
    sims = []
    for start in range(0, n - 2 * period - slack + 1, period // 2):
        a = env[start:start + period]
        best = -1.0
        if a.std() > 0:
            for shift in range(-slack, slack + 1):
                b = env[start + period + shift:start + 2 * period + shift]
                if b.size == period and b.std() > 0:
                    best = max(best, float(np.corrcoef(a, b)[0, 1]))
        sims.append(best)
    return np.asarray(sims), float(ac[period])


def rhythm_measures(x: np.ndarray, sample_rate: int, config: FrontEndConfig | None = None,
                    dissimilar_below: float = 0.5, path: object = None) -> dict[str, float]:
    """Irregularity scores of one raw recording (higher = less regular), named as in
    ``RHYTHM_MEASURES``; NaN when it is shorter than two cycles. The recording is resampled
    and band-passed by the front end but not tiled or cut: tiling would repeat a beat."""
    from heartsound.audio import bandpass, resample, validate

    cfg = resolve(config)
    validate(np.asarray(x), sample_rate, cfg, path)  # one-line AudioError on bad input
    y = bandpass(resample(np.asarray(x, dtype=np.float64), sample_rate, cfg.sample_rate), cfg)
    sims, periodicity = cycle_similarities(shannon_envelope(y, cfg.sample_rate))
    if sims.size == 0:
        return dict.fromkeys(RHYTHM_MEASURES, float("nan"))
    return {"least similar cycle": 1.0 - float(sims.min()),  # 1 − r of the oddest cycle
            "dissimilar cycles": float(np.mean(sims < dissimilar_below)),  # their share
            "aperiodicity": 1.0 - periodicity}
