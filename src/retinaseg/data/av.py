"""Artery/vein labels in the RITE colour code (Hu et al. 2013), as a small class map.

LES-AV, DRIVE-AV (RITE) and HRF-AV draw arteries red (255,0,0), veins blue
(0,0,255), crossings green (0,255,0) and uncertain vessel white
(255,255,255) on black. :func:`decode_av_label` turns such an RGB label into
classes :data:`BACKGROUND` .. :data:`UNCERTAIN`.

The real files are not all pure (measured over every file in the shared data):

- LES-AV: exactly the five colours.
- HRF-AV: 11_h, 12_h, 13_h carry 590, 1462 and 1081 anti-aliased pixels
  (at most 0.018% of a label) blended towards black or white, up to 127
  levels from the nearest class colour, e.g. (22,22,253), (97,43,43).
- DRIVE-AV: 53 odd pixels in 17 of the 40 files (at most 10 in one): 10
  red/blue blends (e.g. (221,0,34)) and two colours exactly between class
  colours, magenta (255,0,255, 40 px, an artery drawn over a vein) and cyan
  (0,255,255, 3 px, a crossing over a vein).

So a pixel off the code takes the class colour it is strictly nearest to
(largest channel difference), magenta and cyan are ``UNCERTAIN`` (whose vessel
they are is not known), and anything else is refused: a colour equally near
two classes (yellow, say), or off-code pixels above :data:`MAX_OFF_CODE_FRACTION`
of the label (a JPEG-compressed or non-RITE label), always naming the file
and the offending colour.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import file_error
from .io import _decode, _photo_arrays

BACKGROUND, ARTERY, VEIN, CROSSING, UNCERTAIN = range(5)
AV_CLASSES = {BACKGROUND: "background", ARTERY: "artery", VEIN: "vein",
              CROSSING: "crossing", UNCERTAIN: "uncertain"}
CLASS_COLOURS = {(0, 0, 0): BACKGROUND, (255, 0, 0): ARTERY, (0, 0, 255): VEIN,
                 (0, 255, 0): CROSSING, (255, 255, 255): UNCERTAIN}
# Colours exactly between two class colours that real DRIVE-AV labels use.
OVERLAP_COLOURS = {(255, 0, 255): UNCERTAIN, (0, 255, 255): UNCERTAIN}
# Off-code pixels tolerated per label: 0.1%, five times the worst real file (HRF-AV 12_h).
MAX_OFF_CODE_FRACTION = 0.001

_PALETTE = np.array(list(CLASS_COLOURS), dtype=np.int16)
_PALETTE_CLASSES = np.array(list(CLASS_COLOURS.values()), dtype=np.uint8)


def read_av_label(path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read an A/V label file as a uint8 class map; ``shape`` is its image's ``(H, W)``."""
    rgb, _ = _decode(path, _photo_arrays)  # palette/grey files become RGB through their colours
    if shape is not None and rgb.shape[:2] != tuple(shape):
        raise file_error(path, f"A/V label is {rgb.shape[1]}x{rgb.shape[0]} but its image is "
                               f"{shape[1]}x{shape[0]}")
    return decode_av_label(rgb, path)


def decode_av_label(rgb: np.ndarray, path: Path | str = "<array>") -> np.ndarray:
    """An ``(H, W, 3)`` uint8 RITE label as ``(H, W)`` classes; refuses what is not RITE."""
    colours, inverse, counts = np.unique(_pack(rgb), return_inverse=True, return_counts=True)
    classes = np.array([_colour_class(_unpack(c), path) for c in colours], dtype=np.uint8)
    _check_off_code_share(colours, counts, rgb.shape[0] * rgb.shape[1], path)
    return classes[inverse.reshape(rgb.shape[:2])]


def av_vessel(classes: np.ndarray) -> np.ndarray:
    """The vessel mask an A/V label implies: any class but background."""
    return classes != BACKGROUND


def _colour_class(colour: tuple[int, int, int], path) -> int:
    """The class of one colour: exact, an overlap, or strictly nearest a class colour."""
    if colour in CLASS_COLOURS:
        return CLASS_COLOURS[colour]
    if colour in OVERLAP_COLOURS:
        return OVERLAP_COLOURS[colour]
    distance = np.abs(_PALETTE - np.array(colour, dtype=np.int16)).max(axis=1)
    nearest = np.flatnonzero(distance == distance.min())
    if nearest.size > 1:
        names = " or ".join(AV_CLASSES[int(_PALETTE_CLASSES[i])] for i in nearest)
        raise file_error(path, f"A/V label has colour {colour}, not in the RITE code "
                               f"(equally near {names})")
    return int(_PALETTE_CLASSES[nearest[0]])


def _check_off_code_share(colours: np.ndarray, counts: np.ndarray, size: int, path) -> None:
    exact = np.isin(colours, [_pack_one(c) for c in CLASS_COLOURS])
    off = int(counts[~exact].sum())
    if off > MAX_OFF_CODE_FRACTION * size:
        worst = _unpack(colours[~exact][np.argmax(counts[~exact])])
        raise file_error(path, f"A/V label has {100 * off / size:.2f}% of pixels off the RITE "
                               f"colour code (most common: {worst}); expected at most "
                               f"{100 * MAX_OFF_CODE_FRACTION:g}% (a lossy or non-RITE label?)")


def _pack(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 label, got {rgb.shape} {rgb.dtype}")
    wide = rgb.astype(np.uint32)
    return ((wide[..., 0] << 16) | (wide[..., 1] << 8) | wide[..., 2]).ravel()


def _pack_one(colour) -> int:
    return (colour[0] << 16) | (colour[1] << 8) | colour[2]


def _unpack(value) -> tuple[int, int, int]:
    value = int(value)
    return (value >> 16, (value >> 8) & 255, value & 255)
