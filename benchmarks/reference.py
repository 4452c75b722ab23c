"""The reference pipeline: what most public heart-sound notebooks write.

librosa loads and resamples (``librosa.load(path, sr=4000)``), the same scipy band-pass and
repeat rule as heartsound, ``librosa.feature.mfcc`` with the paper's settings, and the same
trained network in torch eager mode at batch 1. ``heartsound-lab bench`` times it on the same
recordings, warm, with the same thread count, and reports our end-to-end time as a ratio.
Only this file needs librosa and torch.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
from scipy import signal

SR, SECONDS = 4000, 7.0
SOS = signal.butter(4, [20, 1800], btype="bandpass", fs=SR, output="sos")


def reference_features(path: str) -> np.ndarray:
    y, _ = librosa.load(path, sr=SR)
    y = signal.sosfiltfilt(SOS, y)
    n = int(SR * SECONDS)
    y = np.tile(y, -(-n // len(y)))[:n]
    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20, n_fft=128, hop_length=32, win_length=128,
                             window="hann", center=False, n_mels=48, fmin=0, fmax=2000,
                             htk=True, mel_norm=None)
    return m.T.astype(np.float32)


def reference_predict(path: str, model: torch.nn.Module) -> int:
    with torch.no_grad():
        logits = model(torch.from_numpy(reference_features(path))[None])
    return int(logits.argmax())
