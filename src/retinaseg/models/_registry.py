"""Name-based model registry: ``@register_model`` plus ``create_model(name)``."""
from __future__ import annotations

import fnmatch
from typing import Callable

import torch.nn as nn

from ..errors import RetinasegError

_MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Register ``builder(**kwargs) -> nn.Module`` under ``name``."""

    def decorate(builder):
        if name in _MODEL_BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODEL_BUILDERS[name] = builder
        return builder

    return decorate


def list_models(pattern: str = "*") -> list[str]:
    """Registered architecture names matching a shell-style pattern."""
    return sorted(n for n in _MODEL_BUILDERS if fnmatch.fnmatch(n, pattern))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build an untrained model by architecture name."""
    if name not in _MODEL_BUILDERS:
        raise RetinasegError(
            f"unknown model architecture {name!r}; known: {', '.join(list_models())}"
        )
    try:
        return _MODEL_BUILDERS[name](**kwargs)
    except (TypeError, ValueError) as exc:  # a misspelt keyword or a bad value in a config
        raise RetinasegError(f"model {name!r}: {exc}") from None
