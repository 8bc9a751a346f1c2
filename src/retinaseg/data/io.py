"""Reading images and masks from disk, with one clear error per bad file."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import file_error

# File types read as images, wherever images are looked for by suffix.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".ppm", ".pgm")

# A mask may carry a few anti-aliased grey pixels (HRF's 11_h-13_h have ~0.02%);
# past this share it is a grey-level image, not a mask.
MAX_GREY_FRACTION = 0.01


def _open_pixels(path: Path) -> np.ndarray:
    """Decode an image file fully, mapping every failure to a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such file")
    if os.path.getsize(path) == 0:
        raise file_error(path, "file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. Pillow's "Corrupt EXIF data"
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()  # force a full decode so truncation shows here
                return _to_array(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise file_error(path, f"cannot be read as an image ({_short(exc)})") from None
    except Image.DecompressionBombWarning:
        raise file_error(path, "image is implausibly large (decompression bomb guard)") from None


def _to_array(img: Image.Image) -> np.ndarray:
    if img.mode == "P":  # palette masks (DRIVE 2nd_manual): keep the raw indices
        return np.asarray(img)
    if img.mode == "1":
        return np.asarray(img).astype(np.uint8)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(img)
    return np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def read_image(path) -> np.ndarray:
    """Read a fundus photograph as an ``(H, W, 3)`` uint8 RGB array."""
    pixels = _open_pixels(path)
    if pixels.dtype != np.uint8:  # 16-bit photos: keep the top 8 bits
        pixels = (pixels.astype(np.float64) / max(float(pixels.max()), 1.0) * 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise file_error(path, f"expected an RGB or grey image, got shape {pixels.shape}")
    if min(pixels.shape[:2]) < 16:
        raise file_error(path, f"image is too small to segment ({pixels.shape[1]}x{pixels.shape[0]})")
    return np.ascontiguousarray(pixels)


def read_mask(path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary mask (vessel or FOV) as a boolean ``(H, W)`` array.

    Accepts {0,1}, {0,255}, palette indices and 1-bit files; an RGB mask must
    have identical channels. ``shape`` is the ``(H, W)`` of the image it belongs to.
    """
    pixels = _open_pixels(path)
    if pixels.ndim == 3:
        if not (np.array_equal(pixels[..., 0], pixels[..., 1])
                and np.array_equal(pixels[..., 0], pixels[..., 2])):
            raise file_error(path, "mask has differing colour channels; expected a binary mask")
        pixels = pixels[..., 0]
    if shape is not None and pixels.shape != tuple(shape):
        raise file_error(path, f"mask is {pixels.shape[1]}x{pixels.shape[0]} but its image is "
                               f"{shape[1]}x{shape[0]}")
    return _binarise(path, pixels)


def _binarise(path, pixels: np.ndarray) -> np.ndarray:
    top = int(pixels.max())
    if top <= 1:
        return pixels > 0
    grey = np.count_nonzero((pixels > 0) & (pixels < top))
    if grey > MAX_GREY_FRACTION * pixels.size:
        raise file_error(path, f"mask is not binary ({100 * grey / pixels.size:.1f}% of pixels "
                               f"are neither 0 nor {top})")
    return pixels > top // 2
