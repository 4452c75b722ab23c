"""heartsound: heart-sound classification with a light CNN (Yoo et al., JKIIE 47(6), 2021).

The runtime (this package): ``audio`` (load/resample/filter/fit length) → ``features``
(MFCC or log-mel maps) → ``infer`` (shipped ONNX models, ``registry``) → ``metrics``; ``cli``
is the ``heartsound`` command. ``heartsound.training`` makes the models (torch);
``heartsound.research`` measures them (``heartsound-lab``).

The names below load when first used (PEP 562), so that ``import heartsound.cli`` loads no
numpy: the command line sizes numpy's thread pools before numpy starts them
(``cli.pinned_threads``; ~80 ms of a one-file ``predict`` on 2 cores).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heartsound.audio import AudioError, load, preprocess
    from heartsound.config import DEFAULT, FrontEndConfig
    from heartsound.features import cached_features, feature_map, features, log_mel, mfcc

__version__ = "0.1.0"

_HOME = {"AudioError": "audio", "load": "audio", "preprocess": "audio",
         "DEFAULT": "config", "FrontEndConfig": "config",
         "cached_features": "features", "feature_map": "features", "features": "features",
         "log_mel": "features", "mfcc": "features"}

__all__ = ["DEFAULT", "AudioError", "FrontEndConfig", "cached_features", "feature_map",
           "features", "load", "log_mel", "mfcc", "preprocess", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'heartsound' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"heartsound.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


class _Package(types.ModuleType):
    """``heartsound.features`` stays the function: the import system binds each submodule
    to its name in the package when it loads, and the module ``features`` shares its name
    with the function (as it did when this file imported the function eagerly)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
