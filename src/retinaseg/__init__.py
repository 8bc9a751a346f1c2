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
from typing import TYPE_CHECKING

from .errors import RetinasegError
from .hub.catalog import list_models, list_pretrained

from .version import __version__  # noqa: F401 (the public name)

# Public name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "load_model": "api", "segment": "api", "evaluate": "api", "Segmentation": "api",
    "create_model": "models", "ModelBundle": "hub.checkpoint", "ModelMeta": "hub.meta",
    "load_dataset": "data", "list_datasets": "data",
}

__all__ = ["RetinasegError", "Segmentation", "create_model", "evaluate", "list_datasets",
           "list_models", "list_pretrained", "load_dataset", "load_model", "segment",
           "ModelBundle", "ModelMeta", "__version__"]

if TYPE_CHECKING:
    from .api import Segmentation, evaluate, load_model, segment
    from .data import list_datasets, load_dataset
    from .hub.checkpoint import ModelBundle
    from .hub.meta import ModelMeta
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
