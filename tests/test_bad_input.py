"""Bounded geometry and the quality gate: no input resamples without bound, and a
photo without a usable fundus fails with its reason instead of being segmented."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic import synthetic_fundus

from retinaseg.cli import main
from retinaseg.data import estimate_fov, fov_diameter, load_dataset
from retinaseg.data.geometry import (
    MAX_UPSCALE,
    MAX_WORKING_PIXELS,
    MIN_FOV_SIZE,
    to_working_geometry,
)
from retinaseg.errors import RetinasegError
from retinaseg.quality.gate import check_fundus, measure_quality, quality_problem


def _disc(height: int, width: int, diameter: int) -> np.ndarray:
    rows, cols = np.indices((height, width))
    return (rows - height / 2) ** 2 + (cols - width / 2) ** 2 <= (diameter / 2) ** 2


# --- geometry ----------------------------------------------------------------------------

def test_upscale_past_the_cap_is_refused():
    fov = _disc(200, 200, 100)
    image, width = np.zeros((200, 200, 3), np.uint8), fov_diameter(fov)
    work, _ = to_working_geometry(image, fov, fov_target=width * MAX_UPSCALE * 0.99)
    assert work.shape[0] == pytest.approx(200 * MAX_UPSCALE * 0.99, abs=1)  # just under: done
    with pytest.raises(RetinasegError, match=rf"{width:.0f} px wide.*enlarging 4\.4x is past "
                                             "the 4x limit"):
        to_working_geometry(image, fov, fov_target=width * 4.4)


def test_working_image_past_the_pixel_budget_is_refused():
    # a 200 px FOV in a 4000x4000 frame, brought to 600 px: a 12000x12000 working image
    fov = np.zeros((4000, 4000), bool)
    fov[1900:2100, 1900:2100] = True
    with pytest.raises(RetinasegError, match=r"12000x12000 \(144 MP\), past the 16 MP limit"):
        to_working_geometry(np.zeros((4000, 4000, 3), np.uint8), fov, fov_target=600)
    assert MAX_WORKING_PIXELS == 16_000_000


def test_native_geometry_is_held_to_the_budget_too():
    fov = np.ones((4100, 4000), bool)
    with pytest.raises(RetinasegError, match="past the 16 MP limit"):
        to_working_geometry(np.zeros((4100, 4000, 3), np.uint8), fov)


@pytest.mark.parametrize("shape,box", [((400, 400), (20, 300)), ((400, 400), (300, 20))])
def test_small_fov_is_refused_in_either_direction(shape, box):
    fov = np.zeros(shape, bool)
    fov[10:10 + box[0], 10:10 + box[1]] = True
    with pytest.raises(RetinasegError, match=f"at least {MIN_FOV_SIZE} px in each direction"):
        to_working_geometry(np.zeros((*shape, 3), np.uint8), fov, fov_target=300)


def test_square_models_check_the_fov_size_as_well():
    fov = np.zeros((300, 300), bool)
    fov[:10, :10] = True
    with pytest.raises(RetinasegError, match="only 10x10 px"):
        to_working_geometry(np.zeros((300, 300, 3), np.uint8), fov, square_size=64)


def test_downscaling_is_unbounded_and_usual_photos_pass():
    fov = _disc(2336, 3504, 3300)  # HRF-like, to DRIVE's scale
    work, work_fov = to_working_geometry(np.zeros((2336, 3504, 3), np.uint8), fov, 540)
    assert work.shape[:2] == work_fov.shape and abs(work.shape[1] - 3504 * 540 / 3300) <= 1


# --- quality gate ------------------------------------------------------------------------

def _bad_photos(shape=(200, 240, 3)) -> dict:
    rng = np.random.default_rng(0)
    fundus, _, _ = synthetic_fundus(*shape[:2], seed=1)
    return {
        "black": np.zeros(shape, np.uint8),
        "white": np.full(shape, 255, np.uint8),
        "grey": np.full(shape, 128, np.uint8),
        "noise": rng.integers(0, 256, shape, dtype=np.uint8),
        "dark fundus": (fundus * 0.05).astype(np.uint8),
        "burnt fundus": np.clip(fundus.astype(int) * 5, 0, 255).astype(np.uint8),
    }


EXPECTED_REASONS = {"black": "under-exposed", "white": "over-exposed", "grey": "uniform",
                    "noise": "no fundus structure", "dark fundus": "under-exposed",
                    "burnt fundus": "over-exposed"}


@pytest.mark.parametrize("name", sorted(EXPECTED_REASONS))
def test_photos_without_a_usable_fundus_fail_with_the_reason(name):
    image = _bad_photos()[name]
    with pytest.raises(RetinasegError, match=f"no usable fundus: {EXPECTED_REASONS[name]}"):
        check_fundus(image, estimate_fov(image))


@pytest.mark.parametrize("seed", range(4))
def test_synthetic_fundus_passes(seed):
    image, _, _ = synthetic_fundus(200, 240, seed)
    signals = check_fundus(image, estimate_fov(image))
    assert 0.5 < signals.fov_fraction < 0.8 and signals.dynamic_range > 20


def test_signals_are_a_small_dataclass():
    image, _, fov = synthetic_fundus(120, 120, 0)
    signals = measure_quality(image, fov).as_dict()
    assert set(signals) == {"fov_fraction", "fov_width", "fov_height", "dark_level",
                            "median_level", "bright_level", "clipped_share", "noise_ratio",
                            "dynamic_range"}
    assert signals["fov_width"] == pytest.approx(0.92 * 120, abs=2)


@pytest.mark.data
def test_real_photos_pass_the_gate(shared_data):
    # a few of each set here; all 113 in benchmarks/quality_signals.py
    for name, indices in (("drive", (0, 39)), ("chase_db1", (0, 27)), ("hrf", (0, 44))):
        data = load_dataset(name, "all", shared_data)
        for index in indices:
            image = data[index].image
            assert quality_problem(measure_quality(image, estimate_fov(image))) is None


# --- the CLI, end to end -----------------------------------------------------------------

def run_cli(*args, timeout=300):
    exe = Path(sys.executable).with_name("retinaseg")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _write_bad_folder(folder: Path) -> dict[str, str]:
    """Bad files beside a good one; file name -> the reason expected on its line."""
    folder.mkdir()
    fundus, _, _ = synthetic_fundus(96, 96, seed=5)
    Image.fromarray(fundus).quantize(128).save(folder / "palette.png")  # good, palette
    Image.new("RGB", (96, 96)).save(folder / "black.png")
    Image.new("RGB", (96, 96), (255, 255, 255)).save(folder / "white.jpg")
    Image.fromarray(fundus).resize((16, 4000)).save(folder / "sliver.png")  # 16 wide
    nan = np.full((96, 96), 0.5, np.float32)
    nan[5, 5] = np.nan
    Image.fromarray(nan).save(folder / "nan.tif")
    _header_only_png(folder / "bomb.png", 20000, 20000)
    return {"black.png": "under-exposed", "white.jpg": "over-exposed",
            "sliver.png": "no fundus found: the field of view is 16x", "nan.tif": "NaN",
            "bomb.png": "decompression bomb"}


def _header_only_png(path: Path, width: int, height: int) -> None:
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                                      8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))


def test_segment_folder_reports_each_bad_file_and_segments_the_rest(tiny_model, tmp_path):
    expected = _write_bad_folder(tmp_path / "in")
    started = time.perf_counter()
    result = run_cli("segment", tmp_path / "in", "--model", tiny_model, "--out", tmp_path / "out")
    assert time.perf_counter() - started < 120  # no hang
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"segmented 1 of {len(expected) + 1} files" in result.stderr
    failures = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(failures) == len(expected)
    for name, reason in expected.items():
        assert any(line.startswith(str(tmp_path / "in" / name)) and reason in line
                   for line in failures), (name, failures)
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["palette_mask.png", "results.csv", "results.jsonl"]  # default --save mask
    rows = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert len(rows) == len(expected) + 1  # every bad file has its failed row


def test_quality_check_can_be_switched_off(tiny_model, tmp_path, capsys):
    Image.new("RGB", (96, 96), (128, 128, 128)).save(tmp_path / "grey.png")
    args = ["segment", str(tmp_path / "grey.png"), "--model", str(tiny_model)]
    assert main([*args, "--out", str(tmp_path / "a")]) == 1
    assert "grey.png: no usable fundus: uniform" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--no-quality-check"]) == 0
    assert (tmp_path / "b" / "grey_mask.png").is_file()


def test_multi_frame_warning_is_one_line(tiny_model, tmp_path):
    fundus, _, _ = synthetic_fundus(96, 96, seed=6)
    pages = [Image.fromarray(fundus), Image.fromarray(fundus[::-1].copy())]
    pages[0].save(tmp_path / "two.tif", save_all=True, append_images=pages[1:])
    result = run_cli("segment", tmp_path / "two.tif", "--model", tiny_model, "--out",
                     tmp_path / "out")
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("retinaseg: warn")]
    assert warning == [f"retinaseg: warning: {tmp_path / 'two.tif'}: has 2 frames; read the "
                       "first"]
