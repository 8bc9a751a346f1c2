"""The A/V decision by vessel segment (retinaseg.pipeline.av_vote): hand-made vessels,
the settings and CLI switch, and on a real DRIVE-AV photo that it changes only which
of the two probabilities is the artery's."""
import numpy as np
import pytest

from retinaseg.errors import RetinasegError
from retinaseg.pipeline.av_vote import (
    check_av_decision,
    segment_owner,
    vessel_chains,
    vessel_segments,
    vote_by_segment,
    vote_by_vessel,
)


def cross(size: int = 61) -> np.ndarray:
    """Two 3 px wide vessels crossing at the centre: a horizontal and a vertical one."""
    mask = np.zeros((size, size), bool)
    mid = size // 2
    mask[mid - 1:mid + 2, 5:size - 5] = True
    mask[5:size - 5, mid - 1:mid + 2] = True
    return mask


def test_a_crossing_splits_the_skeleton_into_its_four_arms():
    labels, count = vessel_segments(cross())
    assert count == 4
    mid = 30
    # the arms meet at the centre, but no arm carries on through it
    assert labels[mid, 10] != labels[mid, 50] and labels[10, mid] != labels[50, mid]
    assert labels[mid - 1:mid + 2, mid - 1:mid + 2].max() == 0


def test_each_pixel_follows_its_nearest_segment_within_reach_only():
    labels = np.zeros((9, 30), np.int32)
    labels[4, 2:12], labels[4, 18:28] = 1, 2
    owner = segment_owner(labels, reach=3)
    assert owner[2, 5] == 1 and owner[6, 25] == 2
    assert owner[0, 15] == 0  # 5 px or more from either: too far, keeps its own decision
    assert segment_owner(np.zeros((4, 4), np.int32), 3).max() == 0


def test_a_segment_takes_its_centreline_majority_and_the_probabilities_only_swap():
    size, mid = 61, 30
    mask = np.zeros((size, size), bool)
    mask[mid - 1:mid + 2, 5:size - 5] = True        # one horizontal vessel, no branch
    fov = np.ones(mask.shape, bool)
    artery = np.where(mask, 0.8, 0.01).astype(np.float32)
    vein = np.where(mask, 0.3, 0.01).astype(np.float32)
    artery[mid - 1:mid + 2, 20:24], vein[mid - 1:mid + 2, 20:24] = 0.2, 0.7  # a flicker
    voted_artery, voted_vein = vote_by_segment(artery, vein, mask, fov)
    # the whole vessel is called artery now, the flicker included
    assert (voted_artery[mask] >= voted_vein[mask]).all()
    # each pixel keeps its pair of values: only which one is the artery's changed
    np.testing.assert_array_equal(np.maximum(voted_artery, voted_vein),
                                  np.maximum(artery, vein))
    np.testing.assert_array_equal(np.minimum(voted_artery, voted_vein),
                                  np.minimum(artery, vein))
    assert artery[mid, 21] == pytest.approx(0.2)  # the inputs are left as they were


def test_crossing_vessels_are_decided_apart():
    mask, fov, mid = cross(), np.ones((61, 61), bool), 30
    horizontal = np.zeros(mask.shape, bool)
    horizontal[mid - 1:mid + 2, :] = True
    horizontal &= mask
    artery = np.where(horizontal, 0.9, np.where(mask, 0.2, 0.0)).astype(np.float32)
    vein = np.where(horizontal, 0.1, np.where(mask, 0.8, 0.0)).astype(np.float32)
    voted_artery, voted_vein = vote_by_segment(artery, vein, mask, fov)
    assert voted_artery[mid, 10] > voted_vein[mid, 10]    # the horizontal artery
    assert voted_vein[10, mid] > voted_artery[10, mid]    # the vertical vein


def test_a_vessel_runs_on_through_a_crossing_as_one_chain():
    labels, count = vessel_chains(cross())
    mid = 30
    assert count == 2  # the horizontal vessel and the vertical one, each through the centre
    assert labels[mid, 10] == labels[mid, 50] and labels[10, mid] == labels[50, mid]
    assert labels[mid, 10] != labels[10, mid]


def test_a_vessel_decides_an_arm_its_segment_alone_gets_wrong():
    # The horizontal artery's right arm reads weakly vein (as past a bright reflex); by
    # segment that arm stays vein, by vessel the chain through the crossing outvotes it.
    # The vertical vein is a chain of its own and stays vein.
    mask, fov, mid = cross(), np.ones((61, 61), bool), 30
    horizontal = np.zeros(mask.shape, bool)
    horizontal[mid - 1:mid + 2, :] = True
    horizontal &= mask
    right = horizontal.copy()
    right[:, :mid + 2] = False
    artery = np.where(horizontal, 0.9, np.where(mask, 0.2, 0.0)).astype(np.float32)
    vein = np.where(horizontal, 0.1, np.where(mask, 0.8, 0.0)).astype(np.float32)
    artery[right], vein[right] = 0.4, 0.6
    by_segment = vote_by_segment(artery, vein, mask, fov)
    by_vessel = vote_by_vessel(artery, vein, mask, fov)
    assert by_segment[0][mid, 50] < by_segment[1][mid, 50]
    assert by_vessel[0][mid, 50] > by_vessel[1][mid, 50]
    assert by_vessel[1][10, mid] > by_vessel[0][10, mid] and \
        by_vessel[1][50, mid] > by_vessel[0][50, mid]


def test_an_empty_mask_changes_nothing():
    prob = np.full((20, 20), 0.4, np.float32)
    voted_artery, voted_vein = vote_by_segment(prob, prob * 0.5, np.zeros((20, 20), bool),
                                               np.ones((20, 20), bool))
    np.testing.assert_array_equal(voted_artery, prob)
    np.testing.assert_array_equal(voted_vein, prob * 0.5)


def test_the_decision_setting_is_checked():
    assert check_av_decision(None) == "segment"
    assert check_av_decision("vessel") == "vessel"
    assert check_av_decision("pixel") == "pixel"
    with pytest.raises(RetinasegError, match="unknown A/V decision 'voxel'"):
        check_av_decision("voxel")


def test_the_cli_takes_the_switch(tmp_path):
    from retinaseg.cli.main import build_parser

    args = build_parser().parse_args(["segment", "x.png", "--out", str(tmp_path),
                                      "--av-decision", "pixel"])
    assert args.av_decision == "pixel"
    args = build_parser().parse_args(["segment", "x.png", "--av-decision", "vessel"])
    assert args.av_decision == "vessel"


def test_an_av_job_resumed_with_the_other_decision_is_refused(tmp_path):
    from retinaseg.cohort.table import ResultsTable, check_same_job

    identity = {"model_sha256": "ab" * 32, "threshold": "otsu", "tta": "none",
                "postprocess": "none", "scale": "fov", "units": "camera", "measures": "2"}
    table = ResultsTable(tmp_path, ("file", "status"))
    table.rows = {"a.png": {**identity, "file": "a.png", "status": "ok",
                            "av_decision": "segment"}}
    check_same_job(table, {**identity, "av_decision": "segment"})
    with pytest.raises(RetinasegError, match="A/V decision segment.*A/V decision pixel"):
        check_same_job(table, {**identity, "av_decision": "pixel"})
    check_same_job(table, identity)  # a vessel-only job has no decision to compare


def test_a_table_of_an_older_measure_definition_is_refused(tmp_path):
    # widths changed definition (MEASURES_VERSION 2): a job resumed onto a table made before
    # must not mix the two in one column
    from retinaseg.cohort.table import ResultsTable, check_same_job
    from retinaseg.measure import MEASURES_VERSION

    identity = {"model_sha256": "ab" * 32, "threshold": "otsu", "tta": "none",
                "postprocess": "none", "scale": "fov", "units": "camera"}
    table = ResultsTable(tmp_path, ("file", "status"))
    table.rows = {"a.png": {**identity, "file": "a.png", "status": "ok"}}  # no `measures`
    with pytest.raises(RetinasegError, match="measures version 1 .*measures version 2"):
        check_same_job(table, {**identity, "measures": str(MEASURES_VERSION)})
