"""Units that are right or say why not: every row names where its mm came from."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from PIL import Image

import retinaseg
from retinaseg.cli import main
from retinaseg.cohort import JobSpec, collect_cohort, run_cohort
from retinaseg.measure.scale import (CAMERA_FOV_DEGREES, MM_PER_DEGREE, dataset_fov_degrees,
                                     photo_scale)
from synthetic import synthetic_fundus


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unit-photos")
    for seed in range(4):
        image, _, _ = synthetic_fundus(96, 96, seed=seed)
        Image.fromarray(image).save(folder / f"p{seed}.png")
    return folder


def _fov_mm(row: dict) -> float:
    return row["mm_per_pixel"] * row["fov_diameter_px"]


def test_manifest_flag_dataset_and_assumed_sources(tiny_model, photos, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,mm_per_pixel,fov_degrees,dataset\n"
                        f"{photos / 'p0.png'},0.01,,\n{photos / 'p1.png'},,30,\n"
                        f"{photos / 'p2.png'},,,chase_db1\n{photos / 'p3.png'},,,\n")
    rows = run_cohort(JobSpec(str(tiny_model), str(tmp_path / "a")),
                      collect_cohort([], manifest=str(manifest))).rows
    assert [r["scale_source"] for r in rows] == ["manifest", "manifest", "dataset", "assumed"]
    assert rows[0]["mm_per_pixel"] == 0.01
    assert _fov_mm(rows[1]) == pytest.approx(30 * MM_PER_DEGREE, rel=0.03)
    assert _fov_mm(rows[2]) == pytest.approx(30 * MM_PER_DEGREE, rel=0.03)
    assert _fov_mm(rows[3]) == pytest.approx(45 * MM_PER_DEGREE, rel=0.03)
    # the job's flag fills in where the manifest is silent, never over it
    flagged = run_cohort(JobSpec(str(tiny_model), str(tmp_path / "b"), fov_degrees=50.0),
                         collect_cohort([], manifest=str(manifest))).rows
    assert [r["scale_source"] for r in flagged] == ["manifest", "manifest", "flag", "flag"]


def test_strict_units_leaves_assumed_mm_empty_with_the_reason(tiny_model, photos, tmp_path,
                                                              capsys):
    out = tmp_path / "strict"
    assert main(["segment", str(photos), "--model", str(tiny_model), "--out", str(out),
                 "--strict-units"]) == 0
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["scale_source"] for r in rows} == {"assumed"}
    for row in rows:
        assert row["mm_per_pixel"] == row["skeleton_length_mm"] == row["width_mean_mm"] == ""
        assert row["skeleton_length_px"] != ""
        assert "strict units" in row["scale_note"]


def test_segment_flags_give_the_mm(tiny_model, photos, tmp_path):
    out = tmp_path / "flag"
    assert main(["segment", str(photos / "p0.png"), "--model", str(tiny_model), "--out",
                 str(out), "--mm-per-pixel", "0.02", "--strict-units"]) == 0
    with open(out / "results.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["scale_source"] == "flag" and float(row["mm_per_pixel"]) == 0.02


@pytest.mark.parametrize("flag", [["--mm-per-pixel", "-1"], ["--fov-degrees", "400"],
                                  ["--fov-degrees", "x"]])
def test_bad_unit_flags_are_one_line_usage_errors(tiny_model, photos, tmp_path, capsys, flag):
    status = main(["segment", str(photos), "--model", str(tiny_model), "--out", str(tmp_path),
                   *flag])
    assert status == 2 and flag[0] in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_api_segment_takes_the_same_units(tiny_model, photos):
    image = np.asarray(Image.open(photos / "p0.png").convert("RGB"))
    given = retinaseg.segment(image, model=str(tiny_model), device="cpu", fov_degrees=30)
    assert given.pixel_scale.source == "flag"
    measures = given.measures()
    assert measures.scale_source == "flag"
    assert measures.mm_per_pixel > 0
    strict = retinaseg.segment(image, model=str(tiny_model), device="cpu", strict_units=True)
    assert strict.pixel_scale.mm_per_pixel is None
    assert math.isnan(strict.measures().skeleton_length_mm)


def test_known_cameras_and_the_order_of_sources():
    assert CAMERA_FOV_DEGREES == {"drive": 45.0, "chase_db1": 30.0, "hrf": 45.0}
    assert dataset_fov_degrees("CHASE_DB1") == 30.0 and dataset_fov_degrees("unknown") is None
    fov = np.ones((10, 100), bool)
    assert photo_scale(fov, [("manifest", None, None), ("flag", 0.5, None)]).source == "flag"
    assumed = photo_scale(fov, [])
    assert assumed.source == "assumed" and assumed.mm_per_pixel == pytest.approx(0.1296)
