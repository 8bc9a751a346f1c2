"""Model architectures. Importing this package registers every architecture."""
from ._registry import create_model, list_models, register_model
from . import column_bilstm, convlstm, deeplab, unet, vit_seg  # noqa: F401  (they register)

__all__ = ["create_model", "list_models", "register_model"]
