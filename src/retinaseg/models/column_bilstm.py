"""The column Bi-LSTM of the RETA paper: every image column is a pixel sequence.

A column of H pixels is a sequence of H feature vectors (the C input channels,
CIE-Lab in the paper); a stack of bidirectional LSTMs reads it and a linear
layer labels each pixel. Columns are independent, so a batch of N images is a
batch of N * W sequences: two 1024 x 1024 images are the paper's mini-batch of
2048 columns. Option ``direction="rows+columns"`` adds a second, independent
stack that reads rows, for horizontal context the column pass cannot see.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import register_model
from .contract import SegmentationModel

DIRECTIONS = ("columns", "rows+columns")


class ColumnBiLSTM(SegmentationModel):
    """Per-pixel logits ``(N, 1, H, W)`` from Bi-LSTMs over columns (and rows).

    Any H and W work (:attr:`stride` is 1). Inference never tiles it
    (:attr:`needs_whole_image`): every column is one sequence.
    """

    needs_whole_image = True

    def __init__(self, in_channels: int = 3, hidden_size: int = 64, num_layers: int = 2,
                 dropout: float = 0.2, direction: str = "columns", out_channels: int = 1):
        super().__init__()
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        self.stride = 1
        self.in_channels, self.out_channels = in_channels, out_channels
        self.direction = direction
        self.columns = bilstm(in_channels, hidden_size, num_layers, dropout)
        self.rows = (bilstm(in_channels, hidden_size, num_layers, dropout)
                     if direction == "rows+columns" else None)
        # Fusion: concatenate the two passes' per-pixel features before one linear
        # head, rather than averaging two heads' logits, so the head learns per pixel
        # how to weigh vertical against horizontal context (a vessel runs along one
        # and across the other) for only 2 * hidden_size more weights.
        passes = 1 if self.rows is None else 2
        self.head = nn.Linear(2 * hidden_size * passes, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = column_features(self.columns, x)
        if self.rows is not None:
            features = torch.cat([features, row_features(self.rows, x)], dim=-1)
        return self.head(features).permute(0, 3, 1, 2)


def bilstm(in_channels: int, hidden_size: int, num_layers: int, dropout: float) -> nn.LSTM:
    """A batch-first bidirectional LSTM stack with its forget gates biased open.

    A forget bias of 1 (Jozefowicz et al. 2015) keeps memory early in training,
    which matters for sequences of 500-1000 pixels. Dropout between layers only
    (nn.LSTM warns when there is no second layer to drop out before).
    """
    lstm = nn.LSTM(in_channels, hidden_size, num_layers, batch_first=True,
                   dropout=dropout if num_layers > 1 else 0.0, bidirectional=True)
    with torch.no_grad():  # gates are ordered input, forget, cell, output
        for name, bias in lstm.named_parameters():
            if name.startswith("bias_ih"):
                bias[hidden_size:2 * hidden_size].fill_(1.0)
            elif name.startswith("bias_hh"):
                bias[hidden_size:2 * hidden_size].zero_()
    return lstm


def run_lstm(lstm: nn.LSTM, sequences: torch.Tensor) -> torch.Tensor:
    """The LSTM's outputs; in fp32 when autocast is on for the CPU.

    oneDNN's CPU LSTM under bf16 or fp16 autocast fails to build a kernel on
    CPUs without bf16 instructions ("could not create a primitive descriptor"),
    so there the LSTM steps out of autocast. CUDA keeps autocast (cuDNN has it).
    """
    if sequences.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return lstm(sequences.float())[0]
    return lstm(sequences)[0]


def column_features(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """Hidden features ``(N, H, W, 2 * hidden)`` of every column read top to bottom."""
    n, c, h, w = x.shape
    columns = x.permute(0, 3, 2, 1).reshape(n * w, h, c)  # one sequence per column
    return run_lstm(lstm, columns).reshape(n, w, h, -1).transpose(1, 2)


def row_features(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """Hidden features ``(N, H, W, 2 * hidden)`` of every row read left to right."""
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(n * h, w, c)  # one sequence per row
    return run_lstm(lstm, rows).reshape(n, h, w, -1)


@register_model("column-bilstm")
def column_bilstm(**kwargs) -> ColumnBiLSTM:
    """Column Bi-LSTM; kwargs: in_channels, hidden_size, num_layers, dropout, direction."""
    return ColumnBiLSTM(**kwargs)
