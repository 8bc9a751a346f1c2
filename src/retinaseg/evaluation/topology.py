"""Topology metrics for binary vessel masks: clDice and connected components.

Pixel metrics (F1, IoU) barely move when a prediction cuts a vessel in two or
fuses neighbouring vessels into a blob, yet those are the errors that break
downstream vessel-tree analysis. clDice (Shit et al., CVPR 2021) compares each
mask's *skeleton* with the other mask, so it counts vessel length rather than
vessel area; component counts show fragmentation directly.

Same shape as :mod:`retinaseg.metrics`: reduce one image to integer counts
(:func:`topology_counts`), add counts, then compute scores
(:func:`topology_scores`). Conventions:

* **Field of view.** Pixels outside the FOV are set to background *before*
  skeletonizing and labelling, so nothing outside it can add skeleton pixels
  or components. Inputs are validated as in :mod:`retinaseg.metrics`: shapes
  must match, masks must be bool or 0/1, and an empty FOV is an error.
* **Definitions.** With ``S`` the skeleton (``skimage.morphology.skeletonize``)
  of a mask clipped to the FOV::

      Tprec  = |S(pred) & truth| / |S(pred)|
      Tsens  = |S(truth) & pred| / |S(truth)|
      clDice = 2 * Tprec * Tsens / (Tprec + Tsens)

  Components are 8-connected (``skimage.measure.label(connectivity=2)``).
* **Zero division.** Tprec is NaN when the predicted skeleton is empty, Tsens
  when the true skeleton is empty (undefined, as precision and sensitivity in
  :mod:`retinaseg.metrics`). clDice is never NaN: 1.0 when both skeletons are
  empty (both masks are empty in the FOV; skeletonize keeps at least one pixel
  of every object), 0.0 when exactly one is, and 0.0 when Tprec + Tsens == 0.
  ``components_ratio`` is NaN when the truth has no component.
* **Pooling.** Dataset scores are ``topology_scores(sum(counts, TopologyCounts()))``:
  pooled clDice sums skeleton pixels over all images (longer vessel trees
  weigh more), like pooled F1 sums pixels. It is not the mean of per-image
  clDice; per-image scores are ``topology_scores`` of one image's counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from skimage.measure import label
from skimage.morphology import skeletonize

from ..metrics import validated_inputs  # the same boundary checks, so both modules reject the same inputs


@dataclass(frozen=True)
class TopologyCounts:
    """Integer sums behind clDice and component counts; add them to pool images."""

    pred_skeleton: int = 0
    pred_skeleton_in_truth: int = 0
    true_skeleton: int = 0
    true_skeleton_in_pred: int = 0
    components_pred: int = 0
    components_true: int = 0

    def __add__(self, other: TopologyCounts) -> TopologyCounts:
        if not isinstance(other, TopologyCounts):
            return NotImplemented
        return TopologyCounts(*(getattr(self, f.name) + getattr(other, f.name)
                                for f in fields(self)))


def skeleton(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide centre lines of a binary mask, as a bool array."""
    return skeletonize(np.asarray(mask, dtype=bool))


def _components(mask: np.ndarray) -> int:
    """8-connected: diagonal steps are how thin vessels usually continue."""
    return int(label(mask, connectivity=2).max())


def truth_reference(truth, fov) -> tuple[np.ndarray, int]:
    """The truth's skeleton and component count inside the FOV: what
    :func:`topology_counts` takes as ``reference`` when it scores many
    predictions of one image (a sweep of settings), so the truth is
    skeletonized once."""
    truth = np.asarray(truth, dtype=bool) & np.asarray(fov, dtype=bool)
    return skeleton(truth), _components(truth)


def topology_counts(pred, truth, fov, image_id=None, reference=None) -> TopologyCounts:
    """Skeleton and component counts of one binary prediction inside the FOV.

    Args:
        pred, truth, fov: Arrays of one 2-D shape, bool or 0/1.
        image_id: Named in error messages.
        reference: :func:`truth_reference` of ``truth`` and ``fov``, when already made.
    """
    pred, truth, fov = validated_inputs("pred", pred, truth, fov, image_id)
    pred, truth = pred & fov, truth & fov  # outside the FOV is background, before skeletonizing
    true_skeleton, true_components = reference or truth_reference(truth, fov)
    pred_skeleton = skeleton(pred)
    return TopologyCounts(
        pred_skeleton=int(np.count_nonzero(pred_skeleton)),
        pred_skeleton_in_truth=int(np.count_nonzero(pred_skeleton & truth)),
        true_skeleton=int(np.count_nonzero(true_skeleton)),
        true_skeleton_in_pred=int(np.count_nonzero(true_skeleton & pred)),
        components_pred=_components(pred),
        components_true=true_components,
    )


def _fraction(num: int, den: int) -> float:
    return num / den if den else math.nan


def _cldice(counts: TopologyCounts, tprec: float, tsens: float) -> float:
    """Harmonic mean of Tprec and Tsens, with the documented empty-mask cases."""
    pred_empty, truth_empty = counts.pred_skeleton == 0, counts.true_skeleton == 0
    if pred_empty or truth_empty:
        return 1.0 if pred_empty and truth_empty else 0.0
    if tprec + tsens == 0:
        return 0.0
    return 2 * tprec * tsens / (tprec + tsens)


def topology_scores(counts: TopologyCounts) -> dict:
    """clDice, its two halves and component counts; conventions in the module docstring."""
    tprec = _fraction(counts.pred_skeleton_in_truth, counts.pred_skeleton)
    tsens = _fraction(counts.true_skeleton_in_pred, counts.true_skeleton)
    return {
        "cldice": _cldice(counts, tprec, tsens),
        "topology_precision": tprec,
        "topology_sensitivity": tsens,
        "components_pred": counts.components_pred,
        "components_true": counts.components_true,
        "components_ratio": _fraction(counts.components_pred, counts.components_true),
    }
