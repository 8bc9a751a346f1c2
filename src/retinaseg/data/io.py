"""Reading images and masks from disk as a viewer shows them, one clear error per bad file.

What a photo viewer shows is what gets segmented:

- EXIF orientation is applied, so the mask lines up with the photo on screen;
- palette, grey, 1-bit, CMYK and YCbCr files become RGB through their colours,
  never their palette indices;
- 16-bit files are scaled to 8 bits over their full range (0..65535), not
  clipped; 32-bit integer files in 0..255 are 8-bit levels, in 0..65535 16-bit
  ones; float files are 0..1 intensities when their maximum is at most 1, else
  8-bit levels up to 255; NaN, infinity and other ranges are refused;
- alpha is kept as a ``valid`` mask (alpha >= 128): transparent pixels are
  outside the field of view, and blackened so they read as the dark surround;
- a file with several frames (multi-page TIFF, animated GIF or PNG) is read
  from its first frame, with a :class:`~retinaseg.errors.RetinasegWarning`
  naming the file and the frame count;
- a file larger than :data:`MAX_PIXELS` is refused from its header, before
  anything is decoded (a decompression bomb costs nothing).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import file_error, file_warning

# File types read as images, wherever images are looked for by suffix.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".ppm", ".pgm")

# The largest image accepted: 100 megapixels (e.g. 10000x10000), above every
# fundus camera's sensor; segmenting it stays within the peak memory measured
# in benchmarks/results/peak_memory.md.
MAX_PIXELS = 100_000_000
# Smaller photos carry no usable vessel detail.
MIN_IMAGE_SIDE = 16
# A mask may carry a few anti-aliased grey pixels (HRF's 11_h-13_h have ~0.02%);
# past this share it is a grey-level image, not a mask.
MAX_GREY_FRACTION = 0.01
# Alpha at or above this counts as opaque: a viewer shows the pixel.
OPAQUE_ALPHA = 128

_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


@dataclass(frozen=True)
class Photo:
    """A photograph as a viewer shows it.

    ``rgb`` is ``(H, W, 3)`` uint8; ``valid`` is ``(H, W)`` bool, False where
    the file is transparent, or None when every pixel is opaque.
    """

    rgb: np.ndarray
    valid: np.ndarray | None = None


def read_photo(path) -> Photo:
    """Read a fundus photograph: RGB pixels and where the file is opaque."""
    rgb, alpha = _decode(path, _photo_arrays)
    if min(rgb.shape[:2]) < MIN_IMAGE_SIDE:
        raise file_error(path, f"image is too small to segment ({rgb.shape[1]}x{rgb.shape[0]}; "
                               f"at least {MIN_IMAGE_SIDE} px a side)")
    if alpha is None or alpha.min() >= OPAQUE_ALPHA:
        return Photo(np.ascontiguousarray(rgb))
    valid = alpha >= OPAQUE_ALPHA
    if not valid.any():
        raise file_error(path, "image is fully transparent")
    rgb[~valid] = 0
    return Photo(np.ascontiguousarray(rgb), valid)


def read_image(path) -> np.ndarray:
    """Read a fundus photograph as an ``(H, W, 3)`` uint8 RGB array (see :func:`read_photo`)."""
    return read_photo(path).rgb


def read_mask(path, shape: tuple[int, int] | None = None,
              max_grey_fraction: float = MAX_GREY_FRACTION) -> np.ndarray:
    """Read a binary mask (vessel or FOV) as a boolean ``(H, W)`` array.

    Accepts {0,1}, {0,255}, palette indices and 1-bit files; an RGB mask must
    have identical channels. ``shape`` is the ``(H, W)`` of the image it belongs to.
    More than ``max_grey_fraction`` of pixels between 0 and the top level is refused.
    """
    pixels = _decode(path, _mask_array)
    if pixels.ndim == 3:
        if not (np.array_equal(pixels[..., 0], pixels[..., 1])
                and np.array_equal(pixels[..., 0], pixels[..., 2])):
            raise file_error(path, "mask has differing colour channels; expected a binary mask")
        pixels = pixels[..., 0]
    if shape is not None and pixels.shape != tuple(shape):
        raise file_error(path, f"mask is {pixels.shape[1]}x{pixels.shape[0]} but its image is "
                               f"{shape[1]}x{shape[0]}")
    return _binarise(path, pixels, max_grey_fraction)


def read_fov_mask(path, shape: tuple[int, int] | None = None, soft: bool = False) -> np.ndarray:
    """Read a FOV mask; ``soft`` accepts a blurred edge, cut at half the top level.

    A soft edge is still one region, so grey pixels there are no sign of a
    grey-level image being passed as a mask (VEVIO's frames_masks hold 2-3%
    grey pixels along the edge); without ``soft`` this is :func:`read_mask`.
    """
    if not soft:
        return read_mask(path, shape)
    return read_mask(path, shape, max_grey_fraction=1.0)


# --- decoding: every Pillow failure becomes one line naming the file ---------------------

def _decode(path, to_arrays):
    """Open, check the size, pick the first frame, decode, orient; then ``to_arrays``."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such file")
    if os.path.getsize(path) == 0:
        raise file_error(path, "file is empty (0 bytes)")
    with warnings.catch_warnings():
        # Pillow's own size warning, "Corrupt EXIF data" and the like: the size
        # is checked against MAX_PIXELS below, a broken file fails on load().
        warnings.simplefilter("ignore")
        with _pillow_errors(path):
            img = Image.open(path)
        with img:
            frames = _load_first_frame(path, img)
            arrays = to_arrays(path, img)
    if frames > 1:
        file_warning(path, f"has {frames} frames; read the first")
    return arrays


def _load_first_frame(path: Path, img: Image.Image) -> int:
    """Decode frame 1 of ``img`` in place, upright; the file's frame count."""
    _check_size(path, img)
    with _pillow_errors(path):
        frames = getattr(img, "n_frames", 1)
        img.seek(0)
        img.load()  # a full decode, so that truncation shows here
        ImageOps.exif_transpose(img, in_place=True)
    return frames


class _pillow_errors:
    """Map anything Pillow raises on a broken file to one line naming it.

    Pillow's decoders raise many types on bad bytes (OSError, SyntaxError,
    ValueError, struct.error, EOFError, IndexError, ...); none is our bug.
    """

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, MemoryError):
            return False
        if isinstance(exc, Image.DecompressionBombError):
            raise file_error(self.path, f"image is larger than the {MAX_PIXELS / 1e6:.0f} MP "
                                        "limit (decompression bomb guard)") from None
        raise file_error(self.path, f"cannot be read as an image ({_short(exc)})") from None


def _check_size(path: Path, img: Image.Image) -> None:
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise file_error(path, f"image is {width}x{height} ({width * height / 1e6:.0f} MP); "
                               f"the limit is {MAX_PIXELS / 1e6:.0f} MP (decompression bomb guard)")
    if width < 1 or height < 1:
        raise file_error(path, f"image has no pixels ({width}x{height})")


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0][:120] if str(exc).strip() else ""
    return text or type(exc).__name__


# --- pixel conversion ------------------------------------------------------------------

def _photo_arrays(path: Path, img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rgb, alpha or None)`` as a viewer composes them from any Pillow mode."""
    if img.mode in _WIDE_GREY_MODES:
        grey = wide_to_uint8(path, np.asarray(img), img.mode)
        return np.repeat(grey[:, :, None], 3, axis=2), None
    target = "RGBA" if img.mode in _ALPHA_MODES or _has_transparency(img) else "RGB"
    if img.mode != target:
        with _pillow_errors(path):
            img = img.convert(target)
    pixels = np.asarray(img)
    if target == "RGB":
        return pixels, None
    return pixels[:, :, :3].copy(), pixels[:, :, 3]


def _has_transparency(img: Image.Image) -> bool:
    """A palette or grey/RGB file with a transparent colour (PNG tRNS, GIF)."""
    return img.mode in ("P", "L", "RGB", "1") and "transparency" in img.info


def wide_to_uint8(path, pixels: np.ndarray, mode: str) -> np.ndarray:
    """16-bit, 32-bit integer or float grey pixels as 8-bit levels (rules in the module doc)."""
    if mode == "F":
        if not np.isfinite(pixels).all():
            raise file_error(path, "float image holds NaN or infinite values")
        low, high = float(pixels.min()), float(pixels.max())
        if low < 0 or high > 255:
            raise file_error(path, f"float image values span {low:g}..{high:g}; expected "
                                   "0..1 or 0..255")
        top = 1.0 if high <= 1.0 else 255.0
    elif mode == "I":
        low, high = int(pixels.min()), int(pixels.max())
        if low < 0 or high > 65535:
            raise file_error(path, f"32-bit integer image values span {low}..{high}; expected "
                                   "0..255 or 0..65535")
        top = 255.0 if high <= 255 else 65535.0
    else:
        top = 65535.0
    scaled = pixels.astype(np.float32) * np.float32(255.0 / top)
    return (scaled + np.float32(0.5)).astype(np.uint8)


def _mask_array(path: Path, img: Image.Image) -> np.ndarray:
    """Mask pixels without any colour mapping: palette masks keep their raw
    indices (DRIVE's 2nd_manual), 16-bit and float ones their values."""
    if img.mode in ("P", "L", "I;16", "I;16L", "I;16B", "I;16N", "I"):
        return np.asarray(img)
    if img.mode == "1":
        return np.asarray(img).astype(np.uint8)
    if img.mode == "F":
        pixels = np.asarray(img)
        if not np.isfinite(pixels).all():
            raise file_error(path, "float mask holds NaN or infinite values")
        return pixels
    with _pillow_errors(path):
        return np.asarray(img.convert("RGB") if img.mode != "RGB" else img)


def _binarise(path, pixels: np.ndarray, max_grey_fraction: float) -> np.ndarray:
    top = pixels.max()
    if top <= 1:
        return pixels > 0
    grey = np.count_nonzero((pixels > 0) & (pixels < top))
    if grey > max_grey_fraction * pixels.size:
        raise file_error(path, f"mask is not binary ({100 * grey / pixels.size:.1f}% of pixels "
                               f"are neither 0 nor {top:g})")
    return pixels > top / 2
