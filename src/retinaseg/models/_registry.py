"""Name-based model registry: ``@register_model`` plus ``create_model(name)``."""
from __future__ import annotations

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


def create_model(name: str, **kwargs) -> SegmentationModel:
    """Build an untrained model by architecture name."""
    builder = MODELS.get(name)
    try:
        return builder(**kwargs)
    except (TypeError, ValueError) as exc:  # a misspelt keyword or a bad value in a config
        raise RetinasegError(f"model {name!r}: {exc}") from None
