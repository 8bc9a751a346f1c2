"""Pictures of segmentation results: overlays for users, error maps for reports.

Every function takes the photo as (H, W, 3) uint8, masks as (H, W) bool and
probabilities as (H, W) floats in [0, 1], and returns uint8 ready for a PNG.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import RetinasegError

# Perceptually uniform and dark at 0, so low probabilities stay close to the photo.
HEAT_COLORMAP = "inferno"
# Heat opacity at probability 1; below it opacity falls linearly to 0 at probability 0.
HEAT_MAX_ALPHA = 0.7
# Cyan is absent from inferno and from a fundus photo, so the outline never blends in.
OUTLINE_COLOUR = (0, 235, 255)
# A fundus photo is red-orange like inferno's middle; muting its colour lets the
# heat read as heat while the anatomy stays recognisable.
PHOTO_SATURATION = 0.45
# Brightness kept outside the field of view: the surround is context, not content.
OUTSIDE_FOV_DIM = 0.35

# Told apart with every common colour-vision deficiency (light grey / orange / blue).
ERROR_COLOURS = {
    "true positive": (235, 235, 235),
    "false positive": (255, 127, 14),
    "false negative": (31, 155, 255),
}
# The grey photo under the error colours: dark enough that TP's light grey stands out.
ERROR_BACKGROUND_DIM = 0.3
ERROR_OUTSIDE_FOV_DIM = 0.12

MASK_OUTSIDE_FOV_GREY = 64
# Rows of a full-size overlay composed at a time (float copies of one band only).
BAND_ROWS = 256


def probability_overlay(image: np.ndarray, prob: np.ndarray, mask: np.ndarray,
                        fov: np.ndarray) -> np.ndarray:
    """The photo with the probability heat map over it and the mask's outline on top.

    For images without ground truth: the heat shows how sure the model is,
    the outline shows what the threshold kept, and the photo stays visible
    through both so a reader can judge them against the anatomy. Composed in
    bands of :data:`BAND_ROWS` rows, so a 100 MP photo needs no full-size
    float copies.
    """
    _check_planes(image, prob=prob, mask=mask, fov=fov)
    outline, heat_colours = mask_outline(mask), _colormap_table(HEAT_COLORMAP)
    out = np.empty(image.shape, dtype=np.uint8)
    for top in range(0, image.shape[0], BAND_ROWS):
        rows = slice(top, top + BAND_ROWS)
        out[rows] = _heat_band(image[rows], prob[rows], fov[rows], outline[rows], heat_colours)
    return out


def _heat_band(image, prob, fov, outline, colours: np.ndarray) -> np.ndarray:
    base = _dim_outside(_desaturate(image, PHOTO_SATURATION), fov, OUTSIDE_FOV_DIM)
    prob = np.where(fov, np.clip(prob, 0.0, 1.0), 0.0).astype(np.float32)
    # the colormap's own lookup: entry floor(p * N), p = 1 in the last one
    heat = colours[np.minimum((prob * len(colours)).astype(np.intp), len(colours) - 1)]
    alpha = (HEAT_MAX_ALPHA * prob)[..., None]
    band = (1.0 - alpha) * base + alpha * heat
    band[outline] = OUTLINE_COLOUR
    return _to_uint8(band)


def _colormap_table(name: str) -> np.ndarray:
    """A matplotlib colormap's entries as ``(N, 3)`` float32 0-255 colours."""
    import matplotlib  # here: 0.1 s of start-up that a run saving only masks never needs

    colormap = matplotlib.colormaps[name]
    return (colormap(np.arange(colormap.N))[:, :3] * 255.0).astype(np.float32)


def error_overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray,
                  fov: np.ndarray) -> np.ndarray:
    """True positives, false positives and false negatives over a dark grey photo.

    Only FOV pixels are coloured, because only they are scored.
    """
    _check_planes(image, pred=pred, truth=truth, fov=fov)
    grey = np.repeat(_luminance(image)[..., None], 3, axis=2) * ERROR_BACKGROUND_DIM
    out = _dim_outside(grey, fov, ERROR_OUTSIDE_FOV_DIM / ERROR_BACKGROUND_DIM)
    pred, truth = pred.astype(bool), truth.astype(bool)
    regions = {
        "true positive": pred & truth,
        "false positive": pred & ~truth,
        "false negative": ~pred & truth,
    }
    for name, region in regions.items():
        out[region & fov] = ERROR_COLOURS[name]
    return _to_uint8(out)


def mask_image(mask: np.ndarray, fov: np.ndarray | None = None) -> np.ndarray:
    """White vessels on black; grey outside the FOV so its edge shows."""
    out = np.zeros(mask.shape, dtype=np.uint8)
    if fov is not None:
        _check_same_shape(mask=mask, fov=fov)
        out[~fov.astype(bool)] = MASK_OUTSIDE_FOV_GREY
    out[mask.astype(bool)] = 255
    return out


def thumbnail(array: np.ndarray, max_side: int = 320) -> np.ndarray:
    """A uint8 photo or greyscale image shrunk so its longer side is at most ``max_side``."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise RetinasegError(f"thumbnail needs an (H, W) or (H, W, 3) uint8 array, got "
                             f"{array.shape} {array.dtype}; pass a mask through mask_image first")
    height, width = array.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return array
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.LANCZOS))


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """The mask's 1-pixel border: mask pixels with a 4-neighbour outside the mask."""
    mask = mask.astype(bool)
    return mask & ~ndimage.binary_erosion(mask)


def _check_planes(image: np.ndarray, **planes: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3:
        raise RetinasegError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    _check_same_shape(image=image[..., 0], **planes)


def _check_same_shape(**arrays: np.ndarray) -> None:
    shapes = {name: array.shape for name, array in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise RetinasegError(f"image planes differ in size: {listed}")


def _dim_outside(rgb: np.ndarray, fov: np.ndarray, factor: float) -> np.ndarray:
    rgb[~fov.astype(bool)] *= factor
    return rgb


def _desaturate(image: np.ndarray, saturation: float) -> np.ndarray:
    """The photo moved towards its grey: 1 keeps the colour, 0 leaves grey."""
    grey = _luminance(image)[..., None]
    return grey + saturation * (image.astype(np.float32) - grey)


def _luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma, the grey a reader expects from a colour photo."""
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


# The A/V overlay: the colours of the RITE labels, on the photo muted to grey.
AV_COLOURS = {"artery": (235, 30, 30), "vein": (40, 90, 255)}
DISC_COLOUR, ZONE_COLOUR = (255, 255, 255), (255, 220, 0)
ZONE_RING_RADII = (2.0, 3.0, 5.0)  # zone B is 2-3 disc radii from the centre, zone C 2-5


def av_overlay(image: np.ndarray, artery: np.ndarray, vein: np.ndarray, fov: np.ndarray,
               disc=None) -> np.ndarray:
    """Arteries red and veins blue over the grey photo; with a ``disc`` (``row``,
    ``col``, ``radius``) its margin in white and the zone rings (2, 3 and 5 radii: zone
    B between the first two, zone C between the first and the last) in yellow."""
    _check_planes(image, artery=artery, vein=vein, fov=fov)
    grey = np.repeat(_luminance(image)[..., None], 3, axis=2) * 0.6
    out = _dim_outside(grey, fov, OUTSIDE_FOV_DIM)
    out[artery.astype(bool)] = AV_COLOURS["artery"]
    out[vein.astype(bool)] = AV_COLOURS["vein"]
    out = _to_uint8(out)
    if disc is not None:
        thickness = max(1, round(min(image.shape[:2]) / 400))
        _circle(out, disc, disc.radius, DISC_COLOUR, thickness)
        for radii in ZONE_RING_RADII:
            _circle(out, disc, radii * disc.radius, ZONE_COLOUR, thickness)
    return out


def _circle(out: np.ndarray, disc, radius: float, colour, thickness: int) -> None:
    """A circle ``thickness`` px wide, clipped to the picture."""
    from skimage.draw import circle_perimeter

    for grow in range(thickness):
        rows, cols = circle_perimeter(int(round(disc.row)), int(round(disc.col)),
                                      max(1, int(round(radius)) + grow), shape=out.shape[:2])
        out[rows, cols] = colour
