"""Model architectures. Importing this package registers every architecture."""
from ._registry import create_model, list_models, register_model
from . import unet  # noqa: F401  (registers "unet")

__all__ = ["create_model", "list_models", "register_model"]
