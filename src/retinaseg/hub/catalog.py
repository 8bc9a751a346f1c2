"""What the package offers, listed without importing torch.

``retinaseg models``, ``retinaseg.list_models()`` and ``retinaseg.list_pretrained()``
answer from here at once, where importing the architectures themselves costs the
whole torch import (seconds). ``tests/test_api.py`` checks this table against the
real registry in :mod:`retinaseg.models`, which holds the builders.
"""
from __future__ import annotations

import fnmatch
import sys

from ..names import ARCHITECTURES  # noqa: F401 (the table lives below every room)


def list_models(pattern: str = "*") -> list[str]:
    """Architecture names (``model.name`` in a training config) matching a
    shell-style pattern, e.g. ``list_models("*unet*")``.

    Once :mod:`retinaseg.models` is imported (as it must be for anyone to have
    registered an architecture of their own) its live registry answers, so such
    an architecture is listed too.
    """
    registry = sys.modules.get("retinaseg.models")
    if registry is not None:
        return registry.list_models(pattern)
    return sorted(n for n in ARCHITECTURES if fnmatch.fnmatch(n, pattern))


def list_pretrained(pattern: str = "*") -> list[str]:
    """Names of the shipped weights (``--model NAME``, ``load_model(NAME)``)
    matching a shell-style pattern; ``retinaseg.hub.pretrained.PRETRAINED[name]``
    describes each."""
    from .pretrained import PRETRAINED  # a plain table: no torch

    return sorted(n for n in PRETRAINED if fnmatch.fnmatch(n, pattern))
