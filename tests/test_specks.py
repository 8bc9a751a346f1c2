"""One speck rule: the results table, 'retinaseg measure' and the API count the same."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

import retinaseg
from retinaseg.cli import main
from retinaseg.measure import measure_vessels
from retinaseg.measure.specks import SPECK_PX, speck_size


def test_the_rule_scales_with_the_fov_width():
    drive_like = np.zeros((600, 600), bool)
    drive_like[:, 30:570] = True
    assert speck_size(drive_like) == SPECK_PX
    hrf_like = np.zeros((10, 3000), bool)
    hrf_like[:, :2160] = True  # 4x DRIVE's width: 16x the area
    assert speck_size(hrf_like) == 16 * SPECK_PX


def test_measure_vessels_drops_specks_by_default_and_keeps_all_on_request():
    mask = np.zeros((540, 540), bool)
    mask[100:104, 50:400] = True  # a vessel
    mask[300:303, 300:303] = True  # a 9 px speck
    assert measure_vessels(mask).components == 1
    assert measure_vessels(mask, min_object_px=0).components == 2


def _csv_row(path):
    with open(path, newline="") as handle:
        return next(csv.DictReader(handle))


@pytest.mark.parametrize("dataset, image", [("DRIVE", "test/images/01_test.tif")])
def test_cli_and_api_give_the_same_components_on_a_real_photo(shared_data, tmp_path, dataset,
                                                              image):
    photo = shared_data / dataset / image
    if not photo.is_file():
        pytest.skip(f"{photo} not found")
    out = tmp_path / "out"
    assert main(["segment", str(photo), "--out", str(out), "--device", "cpu"]) == 0
    row = _csv_row(out / "results.csv")
    result = retinaseg.segment(str(photo), device="cpu")
    assert result.measures().components == int(row["components"])
    assert measure_vessels(result.mask, result.fov).components == int(row["components"])
    # and 'retinaseg measure' on the mask the job wrote, in the same FOV
    fov_file = tmp_path / "fov.png"
    Image.fromarray(result.fov.astype(np.uint8) * 255).save(fov_file)
    measured = tmp_path / "measured"
    assert main(["measure", str(out / f"{photo.stem}_mask.png"), "--fov", str(fov_file),
                 "--out", str(measured)]) == 0
    assert int(_csv_row(measured / "measurements.csv")["components"]) == int(row["components"])
