"""Losses over the FOV pixels only (outside the FOV there is nothing to learn)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config.choices import LOSSES
from ..errors import RetinasegError


def bce_weights(target, fov, pos_weight: float = 1.0) -> torch.Tensor:
    return fov * (1.0 + (pos_weight - 1.0) * target)


def masked_bce(logits, target, fov, pos_weight: float = 1.0) -> torch.Tensor:
    weight = bce_weights(target, fov, pos_weight)
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (per_pixel * weight).sum() / weight.sum().clamp_min(1.0)


def masked_dice(logits, target, fov, eps: float = 1.0) -> torch.Tensor:
    prob = torch.sigmoid(logits) * fov
    target = target * fov
    overlap = (prob * target).sum()
    return 1.0 - (2.0 * overlap + eps) / (prob.sum() + target.sum() + eps)


def compute_loss(name: str, logits, target, fov, pos_weight: float = 3.0) -> torch.Tensor:
    """The loss ``name`` on the vessel output; an A/V target (four planes,
    train/targets.py) adds :func:`artery_vein_loss` on the next two outputs."""
    logits = logits.float()
    if target.shape[1] > 1:
        return (vessel_loss(name, logits[:, :1], target[:, :1], fov, pos_weight)
                + artery_vein_loss(logits[:, 1:3], target[:, 1:3], fov * target[:, 3:4]))
    return vessel_loss(name, logits, target, fov, pos_weight)


def artery_vein_loss(logits, target, known) -> torch.Tensor:
    """Each of the artery and vein outputs as its own mask (BCE over the FOV's known
    pixels, crossings positive in both), plus the decision the masks are cut by:
    on pure artery and pure vein pixels, whether the artery output is the larger
    (pipeline/segment.output_masks gives each vessel pixel to the likelier of the two).
    The second term is what the A/V scores measure; the first keeps each map a
    probability of its own."""
    maps = masked_bce(logits, target, known.expand_as(target))
    pure = known * (target[:, :1] != target[:, 1:2]).float()
    decision = F.binary_cross_entropy_with_logits(logits[:, :1] - logits[:, 1:2], target[:, :1],
                                                  reduction="none")
    return maps + (decision * pure).sum() / pure.sum().clamp_min(1.0)


def vessel_loss(name: str, logits, target, fov, pos_weight: float = 3.0) -> torch.Tensor:
    if name == "bce":
        return masked_bce(logits, target, fov)
    if name == "weighted_bce":
        return masked_bce(logits, target, fov, pos_weight)
    if name == "dice":
        return masked_dice(logits, target, fov)
    if name == "bce+dice":
        return masked_bce(logits, target, fov) + masked_dice(logits, target, fov)
    raise RetinasegError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")


def mean_denominator(name: str, target, fov, pos_weight: float = 3.0) -> torch.Tensor | None:
    """The pixel-weight sum a masked-mean loss divides by, or None for a loss that
    is no mean over pixels (dice). Training on several ranks uses it to give each
    rank's loss its share of the global batch's mean, so that the averaged
    gradient is the one a single process would compute on the whole batch.

    An A/V loss sums three means with their own denominators: None, so each rank's
    loss counts equally (exact only where ranks' crops hold as many pixels of each).
    """
    if target.shape[1] > 1:
        return None
    if name == "bce":
        return bce_weights(target, fov).sum()
    if name == "weighted_bce":
        return bce_weights(target, fov, pos_weight).sum()
    return None
