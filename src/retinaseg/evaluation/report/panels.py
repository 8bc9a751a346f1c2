"""The four pictures of every image (photo, truth, prediction, errors), full size and
thumbnail, written while evaluating so no probability map has to be kept."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from PIL import Image

from ...io.atomic import writing
from ..overlays import error_overlay, mask_image, thumbnail

ASSETS = "report_files"
THUMB_SIDE = 240
PANELS = ("photo", "truth", "prediction", "errors")
PANEL_TITLES = {"photo": "photo", "truth": "ground truth", "prediction": "prediction",
                "errors": "errors"}


def panel_stem(image_id: str) -> str:
    """A file-name-safe stem for an image id, unique even when characters were replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(image_id))
    if safe != str(image_id):
        safe += "-" + hashlib.sha1(str(image_id).encode()).hexdigest()[:6]
    return safe


def panel_path(image_id: str, panel: str, thumb: bool) -> str:
    """Path of a panel relative to the report folder."""
    ext = "jpg" if panel == "photo" else "png"
    return f"{ASSETS}/{'thumbs' if thumb else 'images'}/{panel_stem(image_id)}_{panel}.{ext}"


def has_panel(folder: Path, image_id: str, panel: str) -> bool:
    """Whether the report in ``folder`` has this panel (a rebuilt report may lack some)."""
    return (folder / panel_path(image_id, panel, True)).is_file()


def save_picture(array: np.ndarray, path: Path) -> None:
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".jpg":
            Image.fromarray(array).save(path, quality=88)
        else:
            Image.fromarray(array).save(path, optimize=True)


class PanelWriter:
    """``evaluate_model``'s ``on_image`` callback: each image's four panels, full size and thumbnail."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)  # plays the report folder; paths inside start with ASSETS/

    def __call__(self, sample, prob: np.ndarray, row: dict, mask=None) -> None:
        pred = prob >= row["threshold"] if mask is None else mask  # the mask that was scored
        pictures = {"photo": sample.image,
                    "truth": mask_image(sample.vessel, sample.fov),
                    "prediction": mask_image(pred, sample.fov),
                    "errors": error_overlay(sample.image, pred, sample.vessel, sample.fov)}
        for panel, array in pictures.items():
            save_picture(array, self.folder / panel_path(sample.id, panel, thumb=False))
            save_picture(thumbnail(array, THUMB_SIDE),
                         self.folder / panel_path(sample.id, panel, thumb=True))
