"""Artery or vein decided by vessel, not pixel by pixel.

A vessel keeps its kind from the disc to its end, but a network's per-pixel decision
flickers along it: a few pixels of a vein called artery where the vein passes a bright
reflex, half a vessel's width called one thing and half the other. So each vessel of the
mask takes one decision, the mean over its centreline pixels of the artery-minus-vein
log-odds, and every pixel near it follows.

What counts as one vessel (``--av-decision``):

* ``segment`` (the default): each piece of skeleton between two branch points or
  crossings. Cutting there keeps two crossing vessels apart.
* ``vessel``: the skeleton's segments chained through each branch point and crossing
  where two of them continue each other nearly straight (:func:`vessel_chains`, the
  calibres' chaining). A vessel runs on through a crossing, so its arms on either side
  vote together, and the crossing vessel is a chain of its own; a side branch leaving
  it votes on its own. On the validation photos it tied ``segment`` (docs/artery-vein.md),
  so the default stayed.
* ``pixel``: the network's own decision at every pixel.

Each pixel keeps its two probabilities; only which of them is the artery's changes
(the pair is swapped where the pixel's own decision disagrees with its vessel's), so
each map stays vessel-shaped and the masks (``segment.output_masks``, likelier of the
two) follow the vessel.

Chosen on validation photos of the A/V model's training sources (DRIVE 21-22, HRF
05_h/05_g/05_dr, LES-AV 12; never a test photo): docs/artery-vein.md.
"""
from __future__ import annotations

import numpy as np

AV_DECISIONS = ("segment", "vessel", "pixel")
DEFAULT_AV_DECISION = "segment"
# How far from a segment's centreline a pixel still follows it, as a share of the FOV
# width: 8 px on DRIVE's 540 px FOV, about twice its widest vessel's half-width. Pixels
# farther out (background, or a vessel the mask missed) keep their own decision.
REACH_PER_FOV_WIDTH = 8.0 / 540.0
MIN_REACH_PX = 3.0  # a small photo's thinnest vessel is still a pixel or two either side
_EIGHT = np.ones((3, 3), dtype=bool)


def vessel_segments(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The mask's skeleton cut at its branch points and crossings: ``(labels, count)``,
    each segment its own label 1..count (0 elsewhere), 8-connected."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    skeleton = skeletonize(mask.astype(bool))
    neighbours = ndimage.convolve(skeleton.astype(np.uint8), _EIGHT.astype(np.uint8),
                                  mode="constant") - 1
    branch_points = skeleton & (neighbours >= 3)
    # The 3x3 around a branch point goes too, so the arms that meet there come apart.
    arms = skeleton & ~ndimage.binary_dilation(branch_points, _EIGHT)
    return ndimage.label(arms, _EIGHT)


def segment_owner(labels: np.ndarray, reach: float) -> np.ndarray:
    """For every pixel, the label of the nearest segment pixel within ``reach`` px
    (0 where none is that near)."""
    from scipy import ndimage

    if not labels.any():
        return np.zeros_like(labels)
    distance, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    owner = labels[rows, cols]
    owner[distance > reach] = 0
    return owner


def segment_votes(log_odds: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Each segment's mean artery-minus-vein log-odds over its own centreline pixels,
    indexed by label (index 0 unused)."""
    on_segment = labels > 0
    sums = np.bincount(labels[on_segment], weights=log_odds[on_segment], minlength=count + 1)
    sizes = np.bincount(labels[on_segment], minlength=count + 1)
    return sums / np.maximum(sizes, 1)


def vote_by_segment(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray,
                    fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The artery and vein maps with each pixel near a vessel segment decided as its
    segment decides (see the module doc); new arrays, the inputs untouched."""
    return _vote_by_labels(artery, vein, *vessel_segments(vessel & fov), fov)


def vote_by_vessel(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray,
                   fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`vote_by_segment`, with the segments first chained through branch points
    into vessels (:func:`vessel_chains`): one decision per vessel."""
    return _vote_by_labels(artery, vein, *vessel_chains(vessel & fov), fov)


def vessel_chains(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The mask's skeleton segments joined into vessels where two ends at a branch point
    continue each other nearly straight (:func:`retinaseg.measure.vessel_widths.chain_vessels`,
    the calibres' rule: a vessel runs on through a crossing and past its side branches):
    ``(labels, count)``, each vessel's centreline its own label, branch points 0."""
    from ..measure.vessel_widths import class_segments

    prepared = class_segments(mask)
    labels = np.zeros(mask.shape, dtype=np.int32)
    for number, members in enumerate(prepared.vessels, start=1):
        for k in members:
            labels[tuple(prepared.segments[k].coords.astype(int).T)] = number
    labels[prepared.clusters > 0] = 0  # a branch point is every arm's: nobody's vote
    return labels, len(prepared.vessels)


def decide_av(decision: str, artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray,
              fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The artery and vein maps under an A/V decision of :data:`AV_DECISIONS`."""
    if decision == "pixel":
        return artery, vein
    vote = vote_by_vessel if decision == "vessel" else vote_by_segment
    return vote(artery, vein, vessel, fov)


def _vote_by_labels(artery: np.ndarray, vein: np.ndarray, labels: np.ndarray, count: int,
                    fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ..data.fov import fov_diameter

    if count == 0:
        return artery.copy(), vein.copy()
    log_odds = _logit(artery) - _logit(vein)
    votes = segment_votes(log_odds, labels, count)
    reach = max(REACH_PER_FOV_WIDTH * fov_diameter(fov), MIN_REACH_PX)
    owner = segment_owner(labels, reach)
    followed = owner > 0
    says_artery = votes[owner[followed]] >= 0
    swap = np.zeros(artery.shape, dtype=bool)
    swap[followed] = says_artery != (artery[followed] >= vein[followed])
    voted_artery, voted_vein = artery.copy(), vein.copy()
    voted_artery[swap], voted_vein[swap] = vein[swap], artery[swap]
    return voted_artery, voted_vein


def _logit(prob: np.ndarray) -> np.ndarray:
    clipped = np.clip(prob.astype(np.float32), 1e-6, 1.0 - 1e-6)
    return np.log(clipped / (1.0 - clipped))


def check_av_decision(value: str | None) -> str:
    """``value`` (None: the default) if it is one of :data:`AV_DECISIONS`."""
    from ..errors import RetinasegError

    value = value or DEFAULT_AV_DECISION
    if value not in AV_DECISIONS:
        raise RetinasegError(f"unknown A/V decision {value!r}: choose one of "
                             f"{', '.join(AV_DECISIONS)}")
    return value
