"""The units a loader deals in: the files of a sample, and the decoded sample."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SampleFiles:
    """Paths of one sample; ``vessel``/``fov`` may be absent in some layouts."""

    id: str
    image: Path
    vessel: Path | None = None
    fov: Path | None = None
    observers: dict[str, Path] = field(default_factory=dict)


@dataclass
class Sample:
    """One fundus photograph and its annotations, at native resolution.

    Attributes:
        id: stable identifier within the dataset (e.g. ``"21"`` for DRIVE).
        image: ``(H, W, 3)`` uint8 RGB.
        vessel: ``(H, W)`` bool ground truth, or ``None`` for unlabelled images.
        fov: ``(H, W)`` bool field of view (read from disk or estimated).
        fov_estimated: whether ``fov`` was estimated rather than read.
        observers: further annotations by name (e.g. ``{"2nd_manual": mask}``).
        image_path: where the photograph came from.
    """

    id: str
    image: np.ndarray
    vessel: np.ndarray | None
    fov: np.ndarray
    fov_estimated: bool = False
    observers: dict[str, np.ndarray] = field(default_factory=dict)
    image_path: Path | None = None
