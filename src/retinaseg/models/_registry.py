"""Name-based model registry: ``@register_model`` plus ``create_model(name)``."""
from __future__ import annotations

import fnmatch
import inspect
import typing
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


def builder_parameters(name: str) -> set[str] | None:
    """Keyword names architecture ``name`` takes, or None when that cannot be told:
    lets a config be checked without building the model. A builder that passes
    ``**kwargs`` on is read through the class its return annotation names."""
    builder = _MODEL_BUILDERS.get(name)
    if builder is None:
        return None
    names = _keyword_names(builder)
    if names is None:
        returned = typing.get_type_hints(builder).get("return")
        names = _keyword_names(returned.__init__) if inspect.isclass(returned) else None
    return names - {"self"} if names is not None else None


def _keyword_names(function) -> set[str] | None:
    params = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


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
