"""``retinaseg measure`` on real files, and random masks that must never crash the measures."""
import csv
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from skimage.morphology import skeletonize

from retinaseg.cli import main
from retinaseg.errors import RetinasegError
from retinaseg.measure import measure_vessels
from retinaseg.measure.graph import skeleton_graph, trace_segments
from retinaseg.measure.scale import MM_PER_DEGREE


def _png(path, mask) -> None:
    Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).save(path)


def _vessel(shape=(64, 80)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[30:33, 5:75] = True
    mask[10:60, 40:43] = True
    return mask


def _fov(shape=(64, 80)) -> np.ndarray:
    fov = np.zeros(shape, dtype=bool)
    fov[2:62, 4:76] = True  # 72 px wide
    return fov


def _rows(out):
    with open(out / "measurements.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    lines = (out / "measurements.jsonl").read_text().splitlines()
    return table, [json.loads(line) for line in lines]


def test_measure_writes_a_row_per_mask_and_failures_do_not_stop_the_job(tmp_path, capsys):
    masks, fovs = tmp_path / "masks", tmp_path / "fovs"
    masks.mkdir()
    fovs.mkdir()
    _png(masks / "01_manual1.png", _vessel())
    _png(fovs / "01_test_mask.png", _fov())  # found by the "01_" prefix, DRIVE-style
    _png(masks / "02.png", _vessel())
    _png(fovs / "02_fov.png", _fov())
    (masks / "03.png").write_bytes(b"not an image at all")
    Image.fromarray(np.arange(64 * 80, dtype=np.uint32).reshape(64, 80).astype(np.uint8)).save(
        masks / "04.png")  # grey levels: not a mask
    _png(masks / "05.png", _vessel())  # no FOV for it in the folder
    out = tmp_path / "out"
    code = main(["measure", str(masks), "--fov", str(fovs), "--out", str(out)])
    assert code == 1
    table, records = _rows(out)
    assert [r["status"] for r in table] == ["ok", "ok", "failed", "failed", "failed"]
    assert [r["status"] for r in records] == [r["status"] for r in table]
    ok = records[0]
    assert ok["fov_file"].endswith("01_test_mask.png")
    assert records[1]["fov_file"].endswith("02_fov.png")
    assert ok["branch_points"] == 1 and ok["end_points"] == 4 and ok["components"] == 1
    assert ok["scale_source"] == "assumed"
    assert ok["mm_per_pixel"] == pytest.approx(45 * MM_PER_DEGREE / 72)
    errors = capsys.readouterr().err
    for name, problem in (("03.png", "cannot be read"), ("04.png", "not binary"),
                          ("05.png", "no FOV")):
        row = next(r for r in records if r["file"].endswith(name))
        assert name in row["error"] and problem in row["error"] and "\n" not in row["error"]
        assert row["error"] in errors
    assert table[2]["width_mean_px"] == "" and records[2]["width_mean_px"] is None


def test_fov_beside_the_mask_is_found_and_the_mask_is_never_its_own_fov(tmp_path):
    _png(tmp_path / "photo_mask.png", _vessel())
    _png(tmp_path / "photo_fov.png", _fov())
    _png(tmp_path / "other_mask.png", _vessel())  # no FOV of its own
    out = tmp_path / "out"
    assert main(["measure", str(tmp_path / "photo_mask.png"), str(tmp_path / "other_mask.png"),
                 "--fov", str(tmp_path), "--out", str(out)]) == 1
    _, (found, missing) = _rows(out)
    assert found["fov_file"].endswith("photo_fov.png") and found["fov_area_px2"] == 60 * 72
    assert missing["status"] == "failed" and "no FOV" in missing["error"]


def test_measure_with_a_pixel_size_one_fov_file_and_specks_dropped(tmp_path):
    vessel = _vessel()
    vessel[5:7, 10:12] = True  # a 4 px speck
    _png(tmp_path / "a.png", vessel)
    _png(tmp_path / "fov.png", _fov())
    out = tmp_path / "out"
    assert main(["measure", str(tmp_path / "a.png"), "--fov", str(tmp_path / "fov.png"),
                 "--mm-per-pixel", "0.01", "--min-object-px", "5", "--out", str(out)]) == 0
    (row,), (record,) = _rows(out)
    assert row["scale_source"] == "given" and float(row["mm_per_pixel"]) == 0.01
    assert record["width_mean_mm"] == pytest.approx(record["width_mean_px"] * 0.01)
    assert (record["components"], record["objects_dropped"]) == (1, 1)
    expected = measure_vessels(vessel, _fov(), mm_per_pixel=0.01, min_object_px=5).as_row()
    assert {k: record[k] for k in expected} == pytest.approx(expected)


def test_measure_without_fov_stays_in_pixels(tmp_path, capsys):
    _png(tmp_path / "a.png", _vessel())
    out = tmp_path / "out"
    assert main(["measure", str(tmp_path / "a.png"), "--out", str(out)]) == 0
    (row,), (record,) = _rows(out)
    assert record["scale_source"] == "none" and record["skeleton_length_mm"] is None
    assert record["fov_area_px2"] == 64 * 80
    assert "pixels only" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--fov", "nowhere"], "nowhere: no such FOV file or folder"),
    (["--mm-per-pixel", "0"], "positive"),
    (["--fov-degrees", "-45"], "between 0 and 200"),
    (["--min-object-px", "-1"], "0 or more"),
])
def test_measure_bad_options_are_one_line_errors(tmp_path, capsys, argv, message):
    _png(tmp_path / "a.png", _vessel())
    assert main(["measure", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"),
                 *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_a_folder_without_masks_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["measure", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "holds no masks" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing half-written


masks = arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mask=masks, data=st.data())
def test_random_masks_never_crash_and_the_walk_covers_the_skeleton(mask, data):
    fov = data.draw(st.none() | arrays(bool, mask.shape))
    try:
        m = measure_vessels(mask, fov, fov_degrees=45)
    except RetinasegError:
        assert fov is not None and not fov.any()  # the only user error these inputs allow
        return
    assert m.skeleton_length_px >= 0 and m.components >= 0 and m.end_points >= 0
    assert 0 <= m.vessel_area_fraction <= 1
    assert math.isnan(m.tortuosity_arc_chord) or m.tortuosity_arc_chord >= 1 - 1e-9
    # a profile across: more than nothing (a diagonal one-pixel line reads about 0.84),
    # less than the image's diagonal
    assert math.isnan(m.width_mean_px) or 0 < m.width_mean_px <= math.hypot(*mask.shape)
    # every degree-2 skeleton pixel lies inside exactly one segment or ring
    graph = skeleton_graph(skeletonize(mask if fov is None else mask & fov))
    segments = trace_segments(graph)
    inside = sum(len(s.coords) - (1 if s.closed else 2) for s in segments)
    assert inside == np.count_nonzero(graph.degree == 2)
    assert len(segments) == m.segments


@settings(max_examples=100, deadline=None)
@given(array=arrays(st.sampled_from([np.uint8, np.int16, np.float32]),
                    st.tuples(st.integers(1, 12), st.integers(1, 12)),
                    elements=st.integers(0, 3)))
def test_non_binary_arrays_are_user_errors_not_crashes(array):
    try:
        measure_vessels(array)
    except RetinasegError as exc:
        assert "binary" in str(exc)
    else:
        assert set(np.unique(array)) <= {0, 1}


def _measured(out) -> list[dict]:
    return [json.loads(line) for line in (out / "measurements.jsonl").read_text().splitlines()]


def test_measure_gives_calibres_from_a_manual_av_label_and_the_photo(shared_data, tmp_path):
    """DRIVE test photos 01-03: the manual mask, its RITE label and its photo give the
    same CRAE / CRVE as the calibre code run directly on them with the same disc."""
    from retinaseg.data.av import read_av_label
    from retinaseg.data.io import read_mask, read_photo
    from retinaseg.measure.calibres import label_calibre_columns
    from retinaseg.measure.disc import find_disc
    from retinaseg.measure.scale import resolve_scale

    drive = shared_data / "DRIVE" / "test"
    masks = [drive / "1st_manual" / f"{n:02d}_manual1.gif" for n in (1, 2, 3)]
    out = tmp_path / "out"
    assert main(["measure", *map(str, masks), "--fov", str(drive / "mask"), "--av",
                 str(shared_data / "DRIVE-AV" / "test" / "av"), "--photos",
                 str(drive / "images"), "--out", str(out)]) == 0
    rows = _measured(out)
    assert all(row["photo_file"].endswith("_test.tif") for row in rows)
    first = rows[0]
    mask = read_mask(masks[0])
    fov = read_mask(drive / "mask" / "01_test_mask.gif", mask.shape)
    disc = find_disc(read_photo(drive / "images" / "01_test.tif").rgb, fov, mask)
    classes = read_av_label(shared_data / "DRIVE-AV" / "test" / "av" / "01_test.png", mask.shape)
    direct = label_calibre_columns(classes, fov, disc, resolve_scale(fov, None, 45.0))
    for column in ("disc_x_px", "crae_px", "crve_px", "avr", "crae_px_zone_c"):
        assert first[column] == direct[column], column
    assert any(row["crae_px"] is not None for row in rows)


def test_measure_leaves_calibres_empty_with_the_reason(tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    _png(masks / "a_mask.png", _vessel())
    _png(masks / "a_artery_mask.png", _vessel() & (np.arange(80) < 40))
    _png(masks / "a_vein_mask.png", _vessel() & (np.arange(80) >= 40))
    _png(masks / "b_mask.png", _vessel())
    out = tmp_path / "out"
    assert main(["measure", str(masks / "a_mask.png"), str(masks / "b_mask.png"),
                 "--out", str(out)]) == 0
    by_file = {row["file"].rsplit("/", 1)[1]: row for row in _measured(out)}
    assert "--photos" in by_file["a_mask.png"]["calibre_note"]
    assert by_file["a_mask.png"]["av_source"].endswith("a_artery_mask.png")
    assert "no artery/vein maps" in by_file["b_mask.png"]["calibre_note"]
    assert by_file["b_mask.png"]["crae_px"] is None
    assert by_file["b_mask.png"]["vessel_area_fraction"] is not None  # the rest measured
