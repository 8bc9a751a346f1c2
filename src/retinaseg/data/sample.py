"""The units a loader deals in: the files of a sample, and the decoded sample."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SampleFiles:
    """Paths of one sample; ``vessel``/``fov``/``av`` may be absent in some layouts.

    ``av`` is an artery/vein label in the RITE colour code (see
    :mod:`retinaseg.data.av`); ``soft_fov`` says the FOV mask has a blurred
    edge (some VEVIO frames), so it is cut at half its top level instead of
    being refused as non-binary.
    """

    id: str
    image: Path
    vessel: Path | None = None
    fov: Path | None = None
    observers: dict[str, Path] = field(default_factory=dict)
    av: Path | None = None
    soft_fov: bool = False


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
        av_path: the artery/vein label file, or ``None`` where the dataset has none.
    """

    id: str
    image: np.ndarray
    vessel: np.ndarray | None
    fov: np.ndarray
    fov_estimated: bool = False
    observers: dict[str, np.ndarray] = field(default_factory=dict)
    image_path: Path | None = None
    av_path: Path | None = None

    @cached_property
    def av(self) -> np.ndarray | None:
        """The ``(H, W)`` uint8 artery/vein class map (:data:`~retinaseg.data.av.AV_CLASSES`).

        Read on first use, not with the sample: only an A/V model needs it, and
        vessel training should not pay for decoding a colour label per photo.
        """
        if self.av_path is None:
            return None
        from .av import read_av_label  # here: av imports io, which imports nothing of ours

        return read_av_label(self.av_path, self.image.shape[:2])
