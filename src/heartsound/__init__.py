"""heartsound: heart-sound classification with a light CNN (Yoo et al., JKIIE 47(6), 2021).

Pipeline: ``audio`` (load/resample/filter/fit length) → ``features`` (MFCC) → ``models`` →
``train`` → ``metrics``; ``cli`` on top, ``export`` / ``bench`` / ``report`` beside.
"""

from heartsound.audio import AudioError, load, preprocess
from heartsound.config import DEFAULT, FrontEndConfig
from heartsound.features import cached_features, feature_map, features, log_mel, mfcc

__version__ = "0.1.0"

__all__ = [
    "DEFAULT",
    "AudioError",
    "FrontEndConfig",
    "cached_features",
    "feature_map",
    "features",
    "load",
    "log_mel",
    "mfcc",
    "preprocess",
    "__version__",
]
