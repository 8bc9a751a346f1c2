"""Artery/vein scores: how well a model's artery and vein maps tell the manual
arteries from the manual veins (``retinaseg evaluate``, benchmarks/av_accuracy.py).

Scored on the manual pure-artery and pure-vein pixels (RITE classes ARTERY and VEIN;
crossings and uncertain pixels left out) inside the FOV. A pixel is called artery
where the artery probability is at least the vein one, the rule the masks are cut
by (pipeline/segment.output_masks), and every such pixel is scored, whether or not the
model calls it vessel, so a missed vessel still counts by its A/V decision. The
centreline figures are the same on the skeleton of the manual vessel mask, where
width and the drawn edge no longer weigh in. Arrays in, counts and rates out, so a
peer's maps are scored by the same code.
"""
from __future__ import annotations

import numpy as np

from ..data.av import ARTERY, BACKGROUND, VEIN

AV_PARTS = ("pixels", "centreline")


def av_counts(artery_prob: np.ndarray, vein_prob: np.ndarray, classes: np.ndarray,
              fov: np.ndarray, where: np.ndarray | None = None) -> dict[str, int]:
    """Manual pure-artery and pure-vein pixels inside ``fov`` (and ``where``), and how many
    of each the maps decide right (artery where ``artery_prob >= vein_prob``)."""
    _check_shapes(artery_prob, vein_prob, classes, fov, where)
    scored = fov.astype(bool) if where is None else fov.astype(bool) & where.astype(bool)
    said_artery = artery_prob >= vein_prob
    artery, vein = scored & (classes == ARTERY), scored & (classes == VEIN)
    return {"artery": int(artery.sum()), "artery_right": int((artery & said_artery).sum()),
            "vein": int(vein.sum()), "vein_right": int((vein & ~said_artery).sum())}


def _check_shapes(*arrays) -> None:
    shapes = {a.shape for a in arrays if a is not None}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"expected 2-D arrays of one shape, got {sorted(shapes)}")


def av_rates(counts: dict[str, int]) -> dict[str, float]:
    """Accuracy, artery and vein sensitivity of :func:`av_counts`' counts (NaN where empty)."""
    right = counts["artery_right"] + counts["vein_right"]
    return {"accuracy": _share(right, counts["artery"] + counts["vein"]),
            "artery_sensitivity": _share(counts["artery_right"], counts["artery"]),
            "vein_sensitivity": _share(counts["vein_right"], counts["vein"])}


def _share(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def manual_centreline(classes: np.ndarray) -> np.ndarray:
    """The skeleton of the manual vessel mask (every labelled class, crossings and uncertain
    included, so a vessel's skeleton is not broken where it crosses another)."""
    from skimage.morphology import skeletonize

    return skeletonize(classes != BACKGROUND)


def score_av(artery_prob, vein_prob, classes, fov) -> dict[str, dict[str, int]]:
    """One photo's A/V counts on all manual pure pixels and on the manual centreline."""
    return {"pixels": av_counts(artery_prob, vein_prob, classes, fov),
            "centreline": av_counts(artery_prob, vein_prob, classes, fov,
                                    manual_centreline(classes))}


def add_counts(a: dict, b: dict) -> dict:
    """Two :func:`score_av` results summed, key by key (pooling over photos)."""
    return {part: {k: a[part][k] + b[part][k] for k in a[part]} for part in a}


def with_rates(counts: dict) -> dict:
    """:func:`score_av` counts with their :func:`av_rates` beside them."""
    return {part: {**c, **av_rates(c)} for part, c in counts.items()}


class AVTally:
    """Counts pooled over a split's photos, and each photo's rates."""

    def __init__(self):
        self.counts: dict | None = None
        self.per_image: list[dict] = []

    def update(self, image_id: str, artery_prob, vein_prob, classes, fov) -> None:
        counts = score_av(artery_prob, vein_prob, classes, np.asarray(fov, dtype=bool))
        self.counts = counts if self.counts is None else add_counts(self.counts, counts)
        self.per_image.append({"id": image_id, **{part: av_rates(c) for part, c in counts.items()}})

    def result(self) -> dict:
        """``{}`` when no photo had A/V maps and labels; else pooled counts with rates."""
        if self.counts is None:
            return {}
        return {"pooled": with_rates(self.counts), "per_image": self.per_image}
