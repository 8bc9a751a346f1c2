"""Field-of-view estimation for photographs that come without a FOV mask."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def estimate_fov(image: np.ndarray) -> np.ndarray:
    """Estimate the circular fundus region: everything but the dark surround.

    The surround is near-black in every channel, so threshold the brightest
    channel at a fraction of the in-image brightness, keep the largest
    component and fill its holes (dark vessels and lesions lie inside it).
    """
    brightest = image.max(axis=2).astype(np.float32)
    brightest = ndimage.uniform_filter(brightest, size=5)
    level = max(15.0, 0.1 * float(np.percentile(brightest, 99)))
    fov = brightest > level
    fov = ndimage.binary_opening(fov, iterations=2)
    labels, count = ndimage.label(fov)
    if count == 0:
        return np.ones(image.shape[:2], dtype=bool)
    sizes = ndimage.sum(fov, labels, index=np.arange(1, count + 1))
    fov = labels == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(fov)


def fov_diameter(fov: np.ndarray) -> float:
    """The FOV's width in pixels: the scale a model was trained at.

    Width rather than height because many cameras crop the top and bottom of
    the fundus circle but never its sides.
    """
    columns = np.flatnonzero(fov.any(axis=0))
    if columns.size == 0:
        raise ValueError("empty field of view")
    return float(columns[-1] - columns[0] + 1)
