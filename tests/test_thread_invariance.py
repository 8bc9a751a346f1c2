"""A model gives the same numbers with one thread and with two.

A cohort job splits torch's threads between its worker processes, so ``--jobs 2``
segments each photo with half the threads of a serial run. If a logit moved in its
last bit with the thread count, a pixel on the cut could flip and the two tables
would differ (benchmarks/cohort_throughput.py, which compares the two tables, failed
on that before the pointwise head).
"""
from __future__ import annotations

import os

import pytest
import torch

from retinaseg.models import create_model, list_models
from retinaseg.models.blocks import PointwiseHead

needs_two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPU cores")


def outputs_at(threads: int, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            return model(x)
    finally:
        torch.set_num_threads(before)


ARCHITECTURES = [  # name, kwargs, input size: small, yet large enough for threaded kernels
    ("unet", {"base_channels": 16, "depth": 4}, 256),
    ("convlstm-unet", {"base_channels": 8, "depth": 3}, 128),
    ("deeplabv3plus", {"base_channels": 16}, 128),
    ("vit-seg", {}, 128),
    ("column-bilstm", {}, 64),
    ("wnet", {"base_channels": 8, "depth": 3}, 256),
]


def test_every_registered_architecture_is_checked():
    assert {name for name, _, _ in ARCHITECTURES} == set(list_models())


@needs_two_cores
@pytest.mark.parametrize("name, kwargs, size", ARCHITECTURES)
def test_every_architecture_gives_identical_logits_at_one_and_two_threads(name, kwargs, size):
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    x = torch.rand(1, model.in_channels, size, size)
    assert torch.equal(outputs_at(1, model, x), outputs_at(2, model, x))


def test_pointwise_head_is_a_1x1_convolution_with_its_weights():
    torch.manual_seed(0)
    head, conv = PointwiseHead(16), torch.nn.Conv2d(16, 1, kernel_size=1)
    head.load_state_dict(conv.state_dict())  # a checkpoint saved from a Conv2d head loads
    x = torch.randn(2, 16, 40, 24)
    assert torch.allclose(head(x), conv(x), atol=1e-6)
    loss = head(x).square().mean()
    loss.backward()  # it trains like the convolution
    conv(x).square().mean().backward()
    assert torch.allclose(head.weight.grad, conv.weight.grad, atol=1e-5)
    assert torch.allclose(head.bias.grad, conv.bias.grad, atol=1e-5)
