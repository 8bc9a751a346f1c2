"""Datasets, preprocessing and augmentation. Importing registers every loader."""
from . import (  # noqa: F401  (each registers one layout)
    av_wide,
    chase,
    drive,
    folder,
    hrf,
    les_av,
    reta,
    stare,
    vevio,
)
from .fov import estimate_fov, fov_diameter
from .io import Photo, read_image, read_mask, read_photo
from .registry import (
    Dataset,
    DatasetSpec,
    SampleFiles,
    get_dataset_spec,
    list_datasets,
    load_dataset,
    load_sample,
    resolve_data_root,
)
from .sample import Sample

__all__ = ["Dataset", "DatasetSpec", "Photo", "Sample", "SampleFiles", "estimate_fov",
           "fov_diameter", "get_dataset_spec", "list_datasets", "load_dataset", "load_sample",
           "read_image", "read_mask", "read_photo", "resolve_data_root"]
