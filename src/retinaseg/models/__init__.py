"""Model architectures. Importing this package registers every architecture."""
from . import column_bilstm, convlstm, deeplab, unet, vit_seg, wnet  # noqa: F401  (they register)
from ._registry import MODELS, create_model, list_models, register_model
from .contract import InputShapeError, SegmentationModel, require_contract

__all__ = ["MODELS", "InputShapeError", "SegmentationModel", "create_model", "list_models",
           "register_model", "require_contract"]
