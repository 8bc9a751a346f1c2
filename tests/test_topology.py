"""clDice and component counts on hand-made vessels, checked against a naive clDice."""
import math

import numpy as np
import pytest
from skimage.draw import line
from skimage.morphology import dilation, disk, skeletonize

from retinaseg.errors import RetinasegError
from retinaseg.evaluation.topology import TopologyCounts, skeleton, topology_counts, topology_scores

SHAPE = (40, 48)


def _full_fov(shape=SHAPE):
    return np.ones(shape, dtype=bool)


def _horizontal_vessel(shape=SHAPE, row=20, cols=(4, 44), half_width=1):
    """A straight vessel ``2 * half_width + 1`` pixels thick."""
    mask = np.zeros(shape, dtype=bool)
    mask[row - half_width:row + half_width + 1, cols[0]:cols[1]] = True
    return mask


def _scores(pred, truth, fov=None):
    fov = _full_fov(pred.shape) if fov is None else fov
    return topology_scores(topology_counts(pred, truth, fov))


def _vessel_tree(seed, shape=(64, 64), branches=6, radius=1):
    """Random branching thick lines: each branch starts on an earlier one."""
    rng = np.random.default_rng(seed)
    centre = np.zeros(shape, dtype=bool)
    points = [(int(rng.integers(shape[0])), 0)]  # the trunk enters from the left edge
    for _ in range(branches):
        start = points[rng.integers(len(points))]
        end = tuple(int(v) for v in rng.integers((0, 0), shape))
        rows, cols = line(*start, *end)
        centre[rows, cols] = True
        points.extend(zip(rows[::5].tolist(), cols[::5].tolist()))
    return dilation(centre, disk(radius)) if radius else centre


def _disk_fov(shape=(64, 64)):
    rows, cols = np.ogrid[:shape[0], :shape[1]]
    return (rows - shape[0] / 2) ** 2 + (cols - shape[1] / 2) ** 2 < (0.45 * shape[0]) ** 2


def _naive_cldice(pred, truth, fov):
    """clDice as in the paper's reference code: float masks, sum(v * s) / sum(s)."""
    v_p, v_l = (pred * fov).astype(float), (truth * fov).astype(float)
    s_p, s_l = skeletonize(v_p > 0).astype(float), skeletonize(v_l > 0).astype(float)
    tprec = np.sum(s_p * v_l) / np.sum(s_p)
    tsens = np.sum(s_l * v_p) / np.sum(s_l)
    return 2 * tprec * tsens / (tprec + tsens)


# --------------------------------------------------------------------------- skeleton

def test_skeleton_is_a_thin_bool_centre_line():
    vessel = _horizontal_vessel(half_width=2)
    skel = skeleton(vessel.astype(np.uint8))
    assert skel.dtype == bool
    assert skel.any() and (skel <= vessel).all()
    assert (skel.sum(axis=0) <= 1).all()  # one pixel thick across the vessel


# --------------------------------------------------------------------------- single images

def test_identical_masks_give_cldice_one():
    tree = _vessel_tree(seed=0)
    scores = _scores(tree, tree)
    assert scores["cldice"] == 1.0
    assert scores["topology_precision"] == scores["topology_sensitivity"] == 1.0
    assert scores["components_pred"] == scores["components_true"] >= 1
    assert scores["components_ratio"] == 1.0


def test_a_cut_vessel_is_two_components_and_loses_sensitivity_not_precision():
    truth = _horizontal_vessel()
    pred = truth.copy()
    pred[:, 22:26] = False  # a 4-pixel gap: the prediction misses a short piece
    scores = _scores(pred, truth)
    assert (scores["components_pred"], scores["components_true"]) == (2, 1)
    assert scores["components_ratio"] == 2.0
    assert scores["topology_precision"] == 1.0  # every predicted centre pixel is vessel
    assert scores["topology_sensitivity"] < 1.0
    assert scores["cldice"] < 1.0


def test_a_thick_blob_over_the_vessel_has_full_sensitivity_and_low_precision():
    truth = _horizontal_vessel(half_width=0)
    pred = np.zeros(SHAPE, dtype=bool)
    pred[2:38, 2:46] = True  # covers the vessel, but its skeleton is an X, not the vessel
    scores = _scores(pred, truth)
    assert scores["topology_sensitivity"] == 1.0
    assert scores["topology_precision"] < 0.25  # 0.18 here
    assert scores["cldice"] < 0.4


def test_a_diagonal_vessel_is_one_component():
    diagonal = np.eye(*SHAPE, dtype=bool)  # touches only at corners: 8- but not 4-connected
    scores = _scores(diagonal, diagonal)
    assert scores["components_pred"] == scores["components_true"] == 1


def test_disjoint_masks_give_zero():
    truth = _horizontal_vessel(row=10)
    pred = _horizontal_vessel(row=30)
    scores = _scores(pred, truth)
    assert scores["topology_precision"] == scores["topology_sensitivity"] == 0.0
    assert scores["cldice"] == 0.0


def test_pixels_outside_the_fov_are_ignored():
    truth = _horizontal_vessel(cols=(4, 30))
    fov = np.zeros(SHAPE, dtype=bool)
    fov[:, :34] = True
    pred = truth.copy()
    pred[5:35, 36:46] = True  # a spurious blob right of the FOV
    truth_outside = truth.copy()
    truth_outside[2, 34:] = True  # a true vessel outside the FOV that pred misses
    inside = topology_counts(truth, truth, fov)
    assert topology_counts(pred, truth_outside, fov) == inside
    assert _scores(pred, truth_outside, fov)["cldice"] == 1.0
    # The same masks over the whole image do differ, so the FOV is what hides them.
    assert topology_counts(pred, truth_outside, _full_fov()) != inside


# --------------------------------------------------------------------------- empty masks

def test_empty_pred_and_truth_agree_perfectly():
    empty = np.zeros(SHAPE, dtype=bool)
    scores = _scores(empty, empty)
    assert scores["cldice"] == 1.0
    assert math.isnan(scores["topology_precision"])
    assert math.isnan(scores["topology_sensitivity"])
    assert scores["components_pred"] == scores["components_true"] == 0
    assert math.isnan(scores["components_ratio"])


def test_empty_pred_against_a_vessel_scores_zero():
    scores = _scores(np.zeros(SHAPE, dtype=bool), _horizontal_vessel())
    assert scores["cldice"] == 0.0
    assert math.isnan(scores["topology_precision"])
    assert scores["topology_sensitivity"] == 0.0
    assert scores["components_ratio"] == 0.0


def test_a_vessel_against_empty_truth_scores_zero():
    scores = _scores(_horizontal_vessel(), np.zeros(SHAPE, dtype=bool))
    assert scores["cldice"] == 0.0
    assert scores["topology_precision"] == 0.0
    assert math.isnan(scores["topology_sensitivity"])
    assert math.isnan(scores["components_ratio"])


def test_a_vessel_only_outside_the_fov_counts_as_empty():
    fov = np.zeros(SHAPE, dtype=bool)
    fov[:10] = True
    vessel = _horizontal_vessel(row=30)
    assert topology_counts(vessel, np.zeros(SHAPE, dtype=bool), fov) == TopologyCounts()


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("pred, truth, fov, expected", [
    (np.zeros((4, 5), bool), np.zeros((4, 6), bool), np.ones((4, 5), bool), "shapes must match"),
    (np.full((4, 5), 255, np.uint8), np.zeros((4, 5), bool), np.ones((4, 5), bool),
     "pred must be binary"),
    (np.zeros((4, 5), bool), np.full((4, 5), 0.5), np.ones((4, 5), bool), "truth must be binary"),
    (np.zeros((4, 5), bool), np.zeros((4, 5), bool), np.zeros((4, 5), bool),
     "field of view is empty"),
], ids=["shape", "pred-255", "truth-0.5", "empty-fov"])
def test_bad_inputs_raise_naming_the_image(pred, truth, fov, expected):
    with pytest.raises(RetinasegError, match=expected) as caught:
        topology_counts(pred, truth, fov, image_id="03")
    assert str(caught.value).startswith("image '03': ")
    assert "\n" not in str(caught.value)


def test_zero_one_integer_masks_are_accepted():
    truth = _horizontal_vessel()
    as_ints = topology_counts(truth.astype(np.uint8), truth.astype(int), _full_fov().astype(int))
    assert as_ints == topology_counts(truth, truth, _full_fov())


# --------------------------------------------------------------------------- pooling

def test_adding_counts_equals_counting_the_images_side_by_side():
    images = [(_vessel_tree(seed), _vessel_tree(seed + 10), _disk_fov()) for seed in (1, 2)]
    pooled = sum((topology_counts(*image) for image in images), TopologyCounts())
    gap = np.zeros((64, 3), dtype=bool)  # background between the images keeps them apart
    side_by_side = [np.hstack([a, gap, b]) for a, b in zip(*images)]
    assert pooled == topology_counts(*side_by_side)
    assert pooled.components_pred >= 2  # both images contributed
    assert topology_scores(pooled) == pytest.approx(topology_scores(topology_counts(*side_by_side)))


def test_counts_add_field_by_field_and_only_to_counts():
    a, b = TopologyCounts(1, 2, 3, 4, 5, 6), TopologyCounts(10, 20, 30, 40, 50, 60)
    assert a + b == TopologyCounts(11, 22, 33, 44, 55, 66)
    with pytest.raises(TypeError):
        a + 1


# --------------------------------------------------------------------------- reference

@pytest.mark.parametrize("seed", [3, 4, 5])
def test_cldice_matches_a_naive_implementation_on_random_trees(seed):
    truth = _vessel_tree(seed)
    pred = _vessel_tree(seed, radius=2)  # same tree, drawn thicker
    pred &= ~_vessel_tree(seed + 100, radius=3)  # with a few cuts
    pred |= _vessel_tree(seed + 200, branches=2)  # and spurious branches
    fov = _disk_fov()
    scores = _scores(pred, truth, fov)
    assert 0.0 < scores["cldice"] < 1.0  # a non-trivial case, not an empty-mask convention
    assert scores["cldice"] == pytest.approx(_naive_cldice(pred, truth, fov), rel=1e-12)
