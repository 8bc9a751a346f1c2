"""retinaseg: retinal vessel segmentation in colour fundus photographs."""
from .errors import RetinasegError
from .data import load_dataset, list_datasets
from .models import create_model, list_models

__version__ = "0.1.0"
__all__ = ["RetinasegError", "create_model", "list_models", "load_dataset", "list_datasets",
           "__version__"]
