"""Name-based model registry: ``@register_model`` plus ``create_model(name)``."""
from __future__ import annotations

import inspect
import typing
from typing import Callable

from ..errors import RetinasegError
from ..registry import Registry
from .contract import SegmentationModel

MODELS: Registry[Callable[..., SegmentationModel]] = Registry("model architecture")


def register_model(name: str):
    """Register ``builder(**kwargs) -> SegmentationModel`` under ``name``."""

    def decorate(builder):
        return MODELS.register(name, builder)

    return decorate


def list_models(pattern: str = "*") -> list[str]:
    """Registered architecture names matching a shell-style pattern."""
    return MODELS.names(pattern)


def builder_parameters(name: str) -> set[str] | None:
    """Keyword names architecture ``name`` takes, or None when that cannot be told:
    lets a config be checked without building the model. A builder that passes
    ``**kwargs`` on is read through the class its return annotation names."""
    if name not in MODELS:
        return None
    builder = MODELS.get(name)
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


def create_model(name: str, **kwargs) -> SegmentationModel:
    """Build an untrained model by architecture name."""
    builder = MODELS.get(name)
    try:
        return builder(**kwargs)
    except (TypeError, ValueError) as exc:  # a misspelt keyword or a bad value in a config
        raise RetinasegError(f"model {name!r}: {exc}") from None
