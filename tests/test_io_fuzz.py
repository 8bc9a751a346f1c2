"""Property-based fuzzing of the image reader: whatever bytes a file holds, reading
it (and taking it through FOV estimate, quality signals and working geometry)
either works or raises RetinasegError, never anything else, and never hangs.

300 files in the default run, 2,000 more under ``-m slow``.
"""
from __future__ import annotations

import io
import struct
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from retinaseg.data import estimate_fov
from retinaseg.data.geometry import to_working_geometry
from retinaseg.data.io import read_mask, read_photo
from retinaseg.quality.gate import measure_quality, quality_problem
from retinaseg.errors import RetinasegError, RetinasegWarning

# Pillow modes and the formats that can store each.
FORMATS = {
    "1": ["PNG", "TIFF", "BMP", "GIF"], "L": ["PNG", "JPEG", "TIFF", "GIF", "BMP"],
    "LA": ["PNG", "TIFF"], "P": ["PNG", "GIF", "TIFF", "BMP"],
    "RGB": ["PNG", "JPEG", "TIFF", "BMP"],
    "RGBA": ["PNG", "TIFF"], "CMYK": ["JPEG", "TIFF"], "YCbCr": ["JPEG", "TIFF"],
    "I;16": ["PNG", "TIFF"], "I": ["PNG", "TIFF"], "F": ["TIFF"],
}
MULTI_FRAME = ("TIFF", "GIF", "PNG")


def _pixels(mode: str, height: int, width: int, seed: int, special: str) -> Image.Image:
    """Random pixels of ``mode``; ``special`` plants odd values (NaN, inf, out of range,
    uniform) where the mode can hold them."""
    rng = np.random.default_rng(seed)
    if mode == "F":
        values = rng.uniform(0, 1, (height, width)).astype(np.float32)
        odd = {"nan": np.nan, "inf": np.inf, "negative": -1.0, "huge": 1e30}
        if special in odd:
            values[rng.integers(height), rng.integers(width)] = odd[special]
        elif special == "wide":
            values *= 255.0
        return Image.fromarray(values)
    if mode in ("I;16", "I"):
        top = {"I;16": 65535, "I": 2**31 - 1}[mode]
        low = -(2**31) if mode == "I" and special == "negative" else 0
        dtype = np.uint16 if mode == "I;16" else np.int32
        values = rng.integers(low, top if special == "huge" else 256, (height, width))
        return Image.fromarray(values.astype(dtype))
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if special == "uniform":
        base[:] = base[0, 0]
    img = Image.fromarray(base)
    if mode == "P":
        return img.quantize(int(rng.integers(2, 256)))
    return img.convert(mode)


@st.composite
def image_files(draw) -> bytes:
    """The bytes of an image file: a real encoding, then maybe damaged."""
    if draw(st.integers(0, 9)) == 0:
        return _header_only_png(draw(st.one_of(st.integers(0, 64), st.integers(10**4, 2**31 - 1))),
                                draw(st.one_of(st.integers(0, 64), st.integers(10**4, 2**31 - 1))),
                                draw(st.sampled_from([0, 2, 3, 4, 6])))
    mode = draw(st.sampled_from(sorted(FORMATS)))
    fmt = draw(st.sampled_from(FORMATS[mode]))
    height, width = draw(st.integers(14, 96)), draw(st.integers(14, 96))
    special = draw(st.sampled_from(["none", "nan", "inf", "negative", "huge", "wide",
                                    "uniform"]))
    frames = draw(st.integers(1, 3)) if fmt in MULTI_FRAME else 1
    orientation = draw(st.integers(0, 9))  # 0: none; 9 is no valid orientation
    seed = draw(st.integers(0, 2**32 - 1))
    data = _encode([_pixels(mode, height, width, seed + i, special) for i in range(frames)],
                   fmt, orientation)
    return _damage(draw, data)


def _encode(frames: list[Image.Image], fmt: str, orientation: int) -> bytes:
    out = io.BytesIO()
    options = {}
    if orientation and fmt in ("JPEG", "PNG", "TIFF"):
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:])
    try:
        frames[0].save(out, format=fmt, **options)
    except (OSError, ValueError, KeyError, TypeError):
        frames[0].save(out := io.BytesIO(), format="PNG" if fmt != "PNG" else "TIFF")
    return out.getvalue()


def _damage(draw, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["none", "none", "truncate", "flip", "flip"]))
    if kind == "truncate":
        return data[:draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "flip":
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    return data


def _header_only_png(width: int, height: int, colour_type: int) -> bytes:
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def _read_and_prepare(path: Path, fov_target: float, square_size: int) -> None:
    """What ``retinaseg segment`` does before the network; results checked on the way."""
    photo = read_photo(path)
    height, width = photo.rgb.shape[:2]
    assert photo.rgb.dtype == np.uint8 and photo.rgb.shape == (height, width, 3)
    if photo.valid is not None:
        assert photo.valid.shape == (height, width) and photo.valid.any()
    fov = estimate_fov(photo.rgb, photo.valid)
    quality_problem(measure_quality(photo.rgb, fov))
    work, work_fov = to_working_geometry(photo.rgb, fov, fov_target, square_size)
    assert work.shape[:2] == work_fov.shape and work.shape[0] * work.shape[1] <= 16_000_000


def check_file(data: bytes, suffix: str, fov_target: float, square_size: int) -> None:
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", RetinasegWarning)
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        for step in (lambda: _read_and_prepare(path, fov_target, square_size),
                     lambda: read_mask(path)):
            try:
                step()
            except RetinasegError as exc:
                assert str(exc).startswith(str(path)) or "field of view" in str(exc)
                assert "\n" not in str(exc)


GEOMETRY = dict(fov_target=st.sampled_from([0.0, 30.0, 100.0, 540.0]),
                square_size=st.sampled_from([0, 0, 64]),
                suffix=st.sampled_from([".png", ".jpg", ".tif", ".gif", ".bmp"]))
SETTINGS = dict(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=300, **SETTINGS)
@given(data=image_files(), **GEOMETRY)
def test_reader_raises_only_retinaseg_errors(data, suffix, fov_target, square_size):
    check_file(data, suffix, fov_target, square_size)


@pytest.mark.slow
@settings(max_examples=2000, **{**SETTINGS, "derandomize": False})
@given(data=image_files(), **GEOMETRY)
def test_reader_raises_only_retinaseg_errors_long(data, suffix, fov_target, square_size):
    check_file(data, suffix, fov_target, square_size)
