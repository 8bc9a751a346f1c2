"""Losses over the FOV pixels only (outside the FOV there is nothing to learn)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import RetinasegError

LOSSES = ("bce", "weighted_bce", "dice", "bce+dice")


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
    logits = logits.float()
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
    gradient is the one a single process would compute on the whole batch."""
    if name == "bce":
        return bce_weights(target, fov).sum()
    if name == "weighted_bce":
        return bce_weights(target, fov, pos_weight).sum()
    return None
