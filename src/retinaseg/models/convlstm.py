"""ConvLSTM (Shi et al. 2015) and the ConvLSTM U-Net of the fine-tuning paper.

PyTorch has no convolutional LSTM, so the cell is written here. The U-Net
follows BCDU-Net (Azad et al. 2019), which the fine-tuning paper builds on: at
each decoder level the skip features and the up-sampled features form a
two-step sequence, and a bidirectional ConvLSTM reads it and fuses the two
into one feature map, where a plain U-Net would concatenate them.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._registry import register_model
from .blocks import ConvBlock, PointwiseHead, encode, encoder_blocks
from .contract import SegmentationModel


class ConvLSTMCell(nn.Module):
    """One step of a convolutional LSTM: gates from a convolution of the input plus
    a convolution of the previous hidden state.

    Two convolutions rather than one over ``[input, hidden]`` (the same function):
    no concatenation per step, and the first step, whose state is zero, skips the
    hidden one. Output channels hold the gates as input, forget, output, cell
    candidate, so one sigmoid covers three gates; with a 1x1 kernel the cell is
    exactly ``torch.nn.LSTM`` applied to every pixel.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the size, not {kernel_size}")
        self.hidden_channels = hidden_channels
        padding = kernel_size // 2
        self.input_gates = nn.Conv2d(in_channels, 4 * hidden_channels, kernel_size,
                                     padding=padding)
        self.hidden_gates = nn.Conv2d(hidden_channels, 4 * hidden_channels, kernel_size,
                                      padding=padding, bias=False)
        with torch.no_grad():  # forget gate biased open, so early training keeps memory
            self.input_gates.bias[hidden_channels:2 * hidden_channels].fill_(1.0)

    def forward(self, x: torch.Tensor, state=None):
        """One step; ``state`` is ``(hidden, cell)`` or None for the first (zero) state."""
        gates = self.input_gates(x)
        if state is not None:
            gates = gates + self.hidden_gates(state[0])
        split = 3 * self.hidden_channels
        input_gate, forget_gate, output_gate = torch.sigmoid(gates[:, :split]).chunk(3, dim=1)
        candidate = input_gate * torch.tanh(gates[:, split:])
        cell = candidate if state is None else forget_gate * state[1] + candidate
        return output_gate * torch.tanh(cell), cell


class ConvLSTM(nn.Module):
    """Run a cell over a sequence of ``(N, C, H, W)`` maps; return the last hidden state.

    The sequence is a list of maps or a tensor ``(N, T, C, H, W)``. Bidirectional:
    a second cell reads the sequence backwards, and the two last hidden states are
    concatenated (``2 * hidden_channels`` channels), as Keras's
    ``Bidirectional(ConvLSTM2D(return_sequences=False))`` does.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3,
                 bidirectional: bool = True):
        super().__init__()
        self.forward_cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size)
        self.backward_cell = (ConvLSTMCell(in_channels, hidden_channels, kernel_size)
                              if bidirectional else None)
        self.out_channels = hidden_channels * (2 if bidirectional else 1)

    @staticmethod
    def _run(cell: ConvLSTMCell, steps) -> torch.Tensor:
        state = None
        for x in steps:
            state = cell(x, state)
        return state[0]

    def forward(self, sequence) -> torch.Tensor:
        steps = list(sequence.unbind(dim=1) if torch.is_tensor(sequence) else sequence)
        last = self._run(self.forward_cell, steps)
        if self.backward_cell is None:
            return last
        return torch.cat([last, self._run(self.backward_cell, steps[::-1])], dim=1)


class UpBlock(nn.Sequential):
    """Transposed convolution doubling the size, then batch norm and ReLU (the paper's up6-8)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ConvLSTMUNet(SegmentationModel):
    """U-Net whose decoder fuses skip and up-sampled features with a (bi)ConvLSTM.

    ``depth`` down-sampling blocks (three in the paper), a bottleneck, and per
    decoder level: up-sample, ConvLSTM over ``[skip, up]``, two 3x3 convolutions.
    Returns logits ``(N, out_channels, H, W)``; H and W must be multiples of :attr:`stride`.
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 16, depth: int = 3,
                 bidirectional: bool = True, lstm_kernel: int = 3, dropout: float = 0.0,
                 out_channels: int = 1):
        super().__init__()
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.stride = 2**depth
        self.in_channels = in_channels
        self.encoders = encoder_blocks(in_channels, widths, dropout)
        self.upsamplers, self.fusers, self.decoders = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for deep, shallow in zip(widths[:0:-1], widths[-2::-1]):
            self.upsamplers.append(UpBlock(deep, shallow))
            # Bidirectional halves the hidden width so the fused map has `shallow` channels.
            hidden = shallow // 2 if bidirectional else shallow
            fuser = ConvLSTM(shallow, hidden, lstm_kernel, bidirectional)
            self.fusers.append(fuser)
            self.decoders.append(ConvBlock(fuser.out_channels, shallow, dropout))
        self.out_channels = out_channels
        self.head = PointwiseHead(widths[0], out_channels)

    def finetune_encoder(self) -> nn.Module:
        return self.encoders

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = encode(self.encoders, x)
        for upsampler, fuser, decoder in zip(self.upsamplers, self.fusers, self.decoders):
            x = decoder(fuser([skips.pop(), upsampler(x)]))
        return self.head(x)


@register_model("convlstm-unet")
def convlstm_unet(**kwargs) -> ConvLSTMUNet:
    """ConvLSTM U-Net (BCDU-Net style); kwargs: in_channels, base_channels, depth,
    bidirectional, lstm_kernel, dropout, out_channels."""
    return ConvLSTMUNet(**kwargs)
