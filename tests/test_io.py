"""Reading photos as a viewer shows them: real files of every awkward kind on disk."""
from __future__ import annotations

import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image
from synthetic import synthetic_fundus

from retinaseg.data import estimate_fov, load_dataset
from retinaseg.data.io import MAX_PIXELS, read_mask, read_photo
from retinaseg.errors import RetinasegError, RetinasegWarning


@pytest.fixture(scope="module")
def fundus():
    image, _, fov = synthetic_fundus(96, 128, seed=3)
    return image, fov


def _refused(path, *fragments):
    with pytest.raises(RetinasegError) as caught:
        read_photo(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_palette_png_is_read_as_its_colours(tmp_path, fundus):
    palette = Image.fromarray(fundus[0]).quantize(64)
    palette.save(tmp_path / "p.png")
    expected = np.asarray(palette.convert("RGB"))
    np.testing.assert_array_equal(read_photo(tmp_path / "p.png").rgb, expected)
    assert np.abs(expected.astype(int) - fundus[0]).mean() < 8  # the colours, not indices


@pytest.mark.parametrize("orientation,undo", [(3, lambda a: a[::-1, ::-1]),
                                              (6, lambda a: np.rot90(a, 1)),
                                              (8, lambda a: np.rot90(a, -1))])
def test_exif_orientation_is_applied(tmp_path, fundus, orientation, undo):
    stored = Image.fromarray(fundus[0])
    exif = stored.getexif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "r.png", exif=exif)
    shown = read_photo(tmp_path / "r.png").rgb
    np.testing.assert_array_equal(undo(shown), fundus[0])  # rotating back gives what was stored


def test_transparent_pixels_are_outside_the_fov(tmp_path):
    image = np.full((80, 100, 3), (190, 95, 40), dtype=np.uint8)  # a fundus without surround
    rows, cols = np.indices((80, 100))
    inside = (rows - 40) ** 2 + (cols - 50) ** 2 < 36 ** 2
    Image.fromarray(np.dstack([image, inside * np.uint8(255)])).save(tmp_path / "a.png")
    photo = read_photo(tmp_path / "a.png")
    np.testing.assert_array_equal(photo.valid, inside)
    assert not photo.rgb[~inside].any()  # blackened: the surround a fundus camera gives
    fov = estimate_fov(photo.rgb, photo.valid)
    assert not fov[~inside].any() and fov[inside].mean() > 0.97


def test_opaque_alpha_gives_no_valid_mask(tmp_path, fundus):
    Image.fromarray(fundus[0]).convert("RGBA").save(tmp_path / "o.png")
    photo = read_photo(tmp_path / "o.png")
    assert photo.valid is None
    np.testing.assert_array_equal(photo.rgb, fundus[0])


def test_fully_transparent_is_refused(tmp_path):
    Image.new("RGBA", (40, 40), (200, 100, 40, 0)).save(tmp_path / "t.png")
    _refused(tmp_path / "t.png", "fully transparent")


def test_grey_alpha_and_cmyk_become_rgb(tmp_path, fundus):
    grey = Image.fromarray(fundus[0]).convert("L")
    grey.convert("LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_photo(tmp_path / "la.png").rgb,
                                  np.repeat(np.asarray(grey)[..., None], 3, axis=2))
    Image.fromarray(fundus[0]).convert("CMYK").save(tmp_path / "c.tif")
    rgb = read_photo(tmp_path / "c.tif").rgb
    assert rgb.shape == fundus[0].shape and np.abs(rgb.astype(int) - fundus[0]).max() <= 1


def test_16_bit_is_scaled_over_its_full_range_not_clipped(tmp_path):
    levels = np.array([[0, 257, 32768, 65535]], dtype=np.uint16).repeat(20, axis=0).repeat(5, 1)
    Image.fromarray(levels).save(tmp_path / "g16.png")
    rgb = read_photo(tmp_path / "g16.png").rgb
    np.testing.assert_array_equal(rgb[0, ::5, 0], [0, 1, 128, 255])
    assert (rgb[..., 0] == rgb[..., 2]).all()


@pytest.mark.parametrize("values,expected", [([0.0, 0.5, 1.0], [0, 128, 255]),
                                             ([0.0, 100.0, 255.0], [0, 100, 255])])
def test_float_images_in_0_1_or_0_255(tmp_path, values, expected):
    pixels = np.array([values], dtype=np.float32).repeat(20, axis=0).repeat(8, axis=1)
    Image.fromarray(pixels).save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_photo(tmp_path / "f.tif").rgb[0, ::8, 1], expected)


@pytest.mark.parametrize("bad,fragment", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                          (-3.0, "expected 0..1 or 0..255"),
                                          (7000.0, "expected 0..1 or 0..255")])
def test_float_nan_inf_and_odd_ranges_are_refused(tmp_path, bad, fragment):
    pixels = np.full((32, 32), 0.5, dtype=np.float32)
    pixels[3, 4] = bad
    Image.fromarray(pixels).save(tmp_path / "f.tif")
    _refused(tmp_path / "f.tif", fragment)


def test_multi_page_tiff_reads_the_first_page_and_says_so(tmp_path, fundus):
    pages = [Image.fromarray(fundus[0]), Image.fromarray(fundus[0][::-1].copy()),
             Image.fromarray(np.zeros_like(fundus[0]))]
    pages[0].save(tmp_path / "m.tif", save_all=True, append_images=pages[1:])
    with pytest.warns(RetinasegWarning, match=r"m\.tif: has 3 frames; read the first"):
        photo = read_photo(tmp_path / "m.tif")
    np.testing.assert_array_equal(photo.rgb, fundus[0])


def test_single_frame_files_do_not_warn(tmp_path, fundus):
    Image.fromarray(fundus[0]).save(tmp_path / "s.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_photo(tmp_path / "s.tif")


def _png_header_only(path, width: int, height: int) -> None:
    """A PNG that declares ``width x height`` but holds 8 bytes of pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width,height,fragment", [
    (12000, 10000, "image is 12000x10000 (120 MP); the limit is 100 MP"),
    (30000, 30000, "larger than the 100 MP limit"),       # past Pillow's own bomb error
])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, width, height, fragment):
    # only 8 bytes of pixels: a decode would fail as truncated, so the size message
    # shows the header alone decided; and it is quick
    _png_header_only(tmp_path / "bomb.png", width, height)
    started = time.perf_counter()
    _refused(tmp_path / "bomb.png", fragment, "decompression bomb")
    assert time.perf_counter() - started < 1.0
    assert width * height > MAX_PIXELS


def test_just_under_the_limit_is_decoded(tmp_path):
    _png_header_only(tmp_path / "big.png", 10000, 10000)  # accepted size, broken data
    _refused(tmp_path / "big.png", "cannot be read as an image")


@pytest.mark.parametrize("size", [(4000, 15), (15, 4000)])
def test_slivers_are_refused(tmp_path, size):
    Image.new("RGB", size, (200, 100, 40)).save(tmp_path / "s.png")
    _refused(tmp_path / "s.png", "too small to segment")


def test_palette_mask_keeps_its_indices(tmp_path):
    mask = Image.fromarray((np.indices((30, 30))[0] > 15).astype(np.uint8), mode="L").convert("P")
    mask.putpalette([4, 2, 4, 252, 254, 252] + [0] * 762)
    mask.save(tmp_path / "m.gif")
    assert read_mask(tmp_path / "m.gif").sum() == 14 * 30


def test_nan_float_mask_is_refused(tmp_path):
    pixels = np.zeros((20, 20), dtype=np.float32)
    pixels[0, 0] = np.nan
    Image.fromarray(pixels).save(tmp_path / "m.tif")
    with pytest.raises(RetinasegError, match=r"m\.tif: float mask holds NaN"):
        read_mask(tmp_path / "m.tif")


def test_all_zero_fov_mask_names_the_file(user_folder):
    fov_path = sorted((user_folder / "fov").iterdir())[0]
    size = Image.open(fov_path).size
    Image.new("L", size, 0).save(fov_path)
    data = load_dataset(str(user_folder))
    with pytest.raises(RetinasegError, match=f"{fov_path}: FOV mask is empty"):
        [data[i] for i in range(len(data))]
