"""What every registered architecture promises to training and inference.

Inference pads to :attr:`~SegmentationModel.stride` and never tiles a model
that :attr:`~SegmentationModel.needs_whole_image`; fine-tuning freezes or slows
:meth:`~SegmentationModel.finetune_encoder`. Writing these down as a base class
(instead of reading them with ``getattr`` and a default) means a new
architecture that forgets one fails the registry-wide test, not a user's run.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import RetinasegError
from ..names import OUTPUT_NAMES, VESSEL  # noqa: F401 (named here too, as before)


class InputShapeError(RetinasegError, ValueError):
    """An input the model cannot take; the message says what to pad it to.

    A ``ValueError`` too, as PyTorch's own shape errors are.
    """


class SegmentationModel(nn.Module):
    """Base of every architecture: ``(N, in_channels, H, W)`` in, ``(N, out_channels, H, W)``
    logits out, one channel per output the model's meta declares (``vessel`` first).

    Subclasses set :attr:`in_channels`, :attr:`out_channels` and :attr:`stride` in ``__init__``.
    """

    in_channels: int = 1
    out_channels: int = 1
    #: H and W must be multiples of this (the product of the poolings, the patch size).
    stride: int = 1
    #: True for a model whose context is a whole row or column: a tile would cut it short.
    needs_whole_image: bool = False

    def finetune_encoder(self) -> nn.Module | None:
        """The part fine-tuning may freeze or slow down (None: the model has none).

        Its ``state_dict`` keys, prefixed ``encoders.``, are what ``init_scope:
        encoder`` copies from another checkpoint.
        """
        return None

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """The smallest size at or above ``height`` x ``width`` that the model takes."""
        return tuple(-(-side // self.stride) * self.stride for side in (height, width))

    def check_input(self, x: torch.Tensor) -> None:
        """Refuse a batch of the wrong rank, channel count or size, saying how to fix it."""
        if x.ndim != 4:
            raise InputShapeError(f"expected a (N, C, H, W) batch, got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise InputShapeError(f"expected {self.in_channels} input channel(s), got "
                                  f"{x.shape[1]}; check the preprocessing the model was "
                                  "trained with")
        height, width = x.shape[-2:]
        if height % self.stride or width % self.stride:
            padded = self.padded_size(height, width)
            raise InputShapeError(f"input {height}x{width} is not a multiple of the stride "
                                  f"{self.stride}; pad it to {padded[0]}x{padded[1]}")


def require_contract(module: nn.Module) -> SegmentationModel:
    """``module`` itself, if it is a :class:`SegmentationModel`; else a clear TypeError."""
    if not isinstance(module, SegmentationModel):
        raise TypeError(f"{type(module).__name__} is not a retinaseg SegmentationModel; "
                        "subclass retinaseg.models.SegmentationModel (stride, in_channels, "
                        "needs_whole_image, finetune_encoder)")
    return module
