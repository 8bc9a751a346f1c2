"""Segment users' own photographs: probability map, mask and overlay per image."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checkpoint import ModelBundle
from .data.fov import estimate_fov
from .data.io import IMAGE_SUFFIXES, read_image
from .errors import RetinasegError
from .inference import predict_probabilities
from .overlays import probability_overlay
from .outputs import mask_png, probability_png, write_all_or_nothing

SAMPLE_NAME = "skimage-retina"


@dataclass
class SegmentReport:
    written: list[Path] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def collect_inputs(inputs: list[str]) -> list[Path]:
    """Image files named directly, plus the image files inside named folders."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise RetinasegError(f"{path}: folder holds no images "
                                     f"({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        elif path.exists():
            paths.append(path)
        else:
            raise RetinasegError(f"{path}: no such file or folder")
    _check_unique_stems(paths)
    return paths


def _check_unique_stems(paths: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen and seen[path.stem] != path:
            raise RetinasegError(f"{path}: same name as {seen[path.stem]}; their outputs "
                                 "would overwrite each other")
        seen[path.stem] = path


def overlay(image: np.ndarray, prob: np.ndarray, mask: np.ndarray,
            fov: np.ndarray) -> np.ndarray:
    """The ``_overlay.png`` picture: probability heat over the photo, mask outlined."""
    return probability_overlay(image, prob, mask, fov)


def segment_image(bundle: ModelBundle, image: np.ndarray, threshold: float | None = None,
                  tta: str | None = None, bf16: bool = False, precision: str | None = None):
    """Probability map, mask, FOV of one RGB photo (FOV estimated), on ``bundle.device``."""
    fov = estimate_fov(image)
    prob = predict_probabilities(bundle, image, fov, tta, bf16, precision)
    mask = prob >= (bundle.meta.threshold if threshold is None else threshold)
    return prob, mask, fov


def write_segmentation(out_dir: Path, stem: str, image, prob, mask, fov) -> list[Path]:
    files = {
        out_dir / f"{stem}_prob.png": probability_png(prob),
        out_dir / f"{stem}_mask.png": mask_png(mask),
        out_dir / f"{stem}_overlay.png": overlay(image, prob, mask, fov),
    }
    write_all_or_nothing(files)
    return list(files)


def segment_files(bundle: ModelBundle, paths: list[Path], out_dir: Path, threshold=None,
                  tta: str | None = None, bf16: bool = False, progress=None,
                  precision: str | None = None) -> SegmentReport:
    """Segment every file; a bad file is reported and skipped, never fatal."""
    report = SegmentReport()
    for path in (progress(paths) if progress else paths):
        try:
            image = read_image(path)
            prob, mask, fov = segment_image(bundle, image, threshold, tta, bf16, precision)
            report.written += write_segmentation(out_dir, path.stem, image, prob, mask, fov)
        except RetinasegError as exc:
            message = str(exc)
            report.failures.append(message if str(path) in message else f"{path}: {message}")
    return report


def sample_image() -> np.ndarray:
    """The real fundus photograph scikit-image ships (1411x1411, offline)."""
    from skimage import data

    return data.retina()
