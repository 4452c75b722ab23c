"""heartsound: heart-sound classification with a light CNN (Yoo et al., JKIIE 47(6), 2021).

The runtime (this package): ``audio`` (load/resample/filter/fit length) → ``features``
(MFCC or log-mel maps) → ``infer`` (shipped ONNX models, ``registry``) → ``metrics``; ``cli``
is the ``heartsound`` command. ``heartsound.training`` makes the models (torch);
``heartsound.research`` measures them (``heartsound-lab``).
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
