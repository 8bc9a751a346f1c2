"""retinaseg: retinal vessel segmentation in colour fundus photographs.

The public API::

    import retinaseg

    retinaseg.list_pretrained()           # shipped weights: ['column-bilstm-hrf', ...]
    retinaseg.list_models()               # architectures: ['column-bilstm', ...]
    model = retinaseg.load_model("unet-drive", device="auto")
    result = retinaseg.segment("photo.jpg", model=model)     # a Segmentation
    scores = retinaseg.evaluate(model, "drive", "test", data_root="data/")

``import retinaseg`` stays light (no torch), so that the command line answers
``--help`` at once: the names that need torch are imported on first use
(PEP 562 module ``__getattr__``).
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

from .hub.catalog import list_models, list_pretrained
from .errors import RetinasegError

__version__ = "0.1.0"

# Public name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "load_model": "api", "segment": "api", "evaluate": "api", "Segmentation": "api",
    "create_model": "models", "ModelBundle": "checkpoint", "ModelMeta": "checkpoint",
    "load_dataset": "data", "list_datasets": "data",
}

__all__ = ["RetinasegError", "Segmentation", "create_model", "evaluate", "list_datasets",
           "list_models", "list_pretrained", "load_dataset", "load_model", "segment",
           "ModelBundle", "ModelMeta", "__version__"]

if TYPE_CHECKING:
    from .api import Segmentation, evaluate, load_model, segment
    from .hub.checkpoint import ModelBundle, ModelMeta
    from .data import list_datasets, load_dataset
    from .models import create_model


def _public(name: str):
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'retinaseg' has no attribute {name!r}")
    value = _public(name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``retinaseg.segment`` and ``retinaseg.evaluate`` are API functions and also
    the names of submodules (segment.py, evaluate.py). Importing a submodule binds
    its name on the package, which would hide the function from then on; these
    properties keep the functions. The submodules stay importable by
    ``from retinaseg.segment import ...``."""


def _function_property(name: str) -> property:
    def ignore_submodule_binding(self, value) -> None:
        pass

    return property(lambda self: _public(name), ignore_submodule_binding)


for _name in ("segment", "evaluate"):
    setattr(_Package, _name, _function_property(_name))
del _name
sys.modules[__name__].__class__ = _Package
