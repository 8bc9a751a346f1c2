"""Model architectures. Importing this package registers every architecture."""
from ._registry import create_model, list_models, register_model
from . import convlstm, unet  # noqa: F401  (register "convlstm-unet" and "unet")

__all__ = ["create_model", "list_models", "register_model"]
