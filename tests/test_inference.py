import numpy as np
import pytest
import torch
import torch.nn as nn

from retinaseg import RetinasegError
from retinaseg.hub.checkpoint import ModelBundle, ModelMeta
from retinaseg.pipeline.predict import predict_probabilities, predict_tensor, sliding_window_logits
import retinaseg.pipeline.predict as inference
from retinaseg.models import SegmentationModel


class Pointwise(SegmentationModel):
    """Output = input: makes every geometric bookkeeping error visible."""
    stride = 8

    def forward(self, x):
        return x[:, :1] * 1.0


class ShiftLeft(SegmentationModel):
    """Not flip-equivariant: TTA must undo each flip to give back the same map."""
    stride = 1

    def forward(self, x):
        return x[:, :1]


def test_sliding_window_equals_whole_image_for_a_pointwise_model():
    x = torch.randn(1, 1, 300, 260)
    tiled = sliding_window_logits(Pointwise(), x, tile=96, overlap=16)
    assert torch.allclose(tiled, x, atol=1e-5)


@pytest.mark.parametrize("tta", ["none", "flip", "flip+rot90"])
def test_tta_inverts_every_transform(tta):
    x = torch.randn(1, 64, 64)
    prob = predict_tensor(ShiftLeft(), x, tta)
    assert torch.allclose(prob, torch.sigmoid(x[0]), atol=1e-6)


def test_large_images_are_tiled(monkeypatch):
    calls = []
    original = inference.sliding_window_logits
    monkeypatch.setattr(inference, "MAX_WHOLE_IMAGE_PIXELS", 100 * 100)
    monkeypatch.setattr(inference, "sliding_window_logits",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    x = torch.randn(1, 150, 150)
    assert torch.allclose(predict_tensor(Pointwise(), x), torch.sigmoid(x[0]), atol=1e-5)
    assert calls


def test_a_column_model_is_never_tiled(monkeypatch):
    from retinaseg.models import create_model

    monkeypatch.setattr(inference, "MAX_WHOLE_IMAGE_PIXELS", 16 * 16)
    tiled = []
    monkeypatch.setattr(inference, "sliding_window_logits", lambda *a, **k: tiled.append(1))
    model = create_model("column-bilstm", in_channels=1, hidden_size=4, num_layers=1).eval()
    x = torch.randn(1, 40, 24)
    with torch.no_grad():
        whole = torch.sigmoid(model(x[None]))[0, 0]
    # tiles would cut every column into shorter sequences and change the answer
    assert torch.allclose(predict_tensor(model, x), whole, atol=1e-6)
    assert predict_tensor(model, x, tta="rot4").shape == x.shape[1:]  # padded to 47x47
    assert not tiled


def _bundle(fov_diameter):
    meta = ModelMeta("unet", {}, ["green"], fov_diameter=fov_diameter)
    return ModelBundle(Pointwise(), meta)


def test_probabilities_come_back_at_native_size_and_zero_outside_fov():
    image = np.zeros((120, 100, 3), np.uint8)
    image[..., 1] = 200
    fov = np.zeros((120, 100), bool)
    fov[10:110, 10:90] = True
    prob = predict_probabilities(_bundle(40.0), image, fov)  # resampled to half size
    assert prob.shape == (120, 100)
    assert np.all(prob[~fov] == 0)
    assert np.allclose(prob[30:90, 30:70], 1 / (1 + np.exp(-200 / 255)), atol=0.02)


def test_scale_within_tolerance_is_not_resampled():
    fov = np.ones((50, 100), bool)
    assert inference.working_scale(_bundle(102.0), fov) == 1.0
    assert inference.working_scale(_bundle(50.0), fov) == pytest.approx(0.5)


def test_empty_fov_is_a_clear_error():
    with pytest.raises(RetinasegError, match="field of view is empty"):
        predict_probabilities(_bundle(50.0), np.zeros((40, 40, 3), np.uint8),
                              np.zeros((40, 40), bool))


def _smooth(height, width):
    """A slowly varying field: rotations interpolate it almost exactly."""
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width),
                                indexing="ij")
    return torch.stack([torch.sin(2 * rows) + torch.cos(3 * cols), rows * cols])


class Conv(SegmentationModel):
    """One convolution, as a model (stride 1)."""

    def __init__(self, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x):
        return self.conv(x)


def _conv(kernel: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return Conv(kernel).eval()


def test_rotation_tta_leaves_an_equivariant_model_unchanged():
    x = _smooth(40, 52)
    plain = predict_tensor(_conv(1), x, "none")
    fused = predict_tensor(_conv(1), x, "rot12")
    assert fused.shape == plain.shape
    # Up to interpolation: no pixel is lost to the rotated frames. Only the frame's
    # outermost pixels, outside any FOV, blend with the zero padding.
    inner = (slice(1, -1), slice(1, -1))
    assert (fused - plain)[inner].abs().max() < 1e-3


def test_rot4_is_the_average_of_exact_quarter_turns():
    x = _smooth(20, 28) + 0.3 * torch.randn(2, 20, 28)
    model = _conv(3)  # not rotation-equivariant; zero padding makes the frame padding harmless
    manual = torch.stack([torch.sigmoid(model(x[None].rot90(k, (-2, -1)))).rot90(-k, (-2, -1))[0, 0]
                          for k in range(4)]).mean(0)
    assert torch.allclose(predict_tensor(model, x, "rot4"), manual, atol=1e-5)


@pytest.mark.parametrize("mode", ["rot1", "rot", "rotx", "rot-3", "flip+rot12", "rot90"])
def test_unknown_rotation_modes_are_clear_errors(mode):
    with pytest.raises(RetinasegError, match="rot<K>"):
        predict_tensor(Pointwise(), torch.zeros(1, 16, 16), mode)
    assert inference.check_tta("rot3") == "rot3"


def test_square_size_model_predicts_at_native_size():
    image = np.zeros((50, 70, 3), np.uint8)
    image[..., 1] = 200
    fov = np.zeros((50, 70), bool)
    fov[5:45, 5:65] = True
    meta = ModelMeta("unet", {}, ["green"], fov_diameter=500.0, square_size=32)
    seen = []
    model = Pointwise()
    model.forward = lambda x: seen.append(tuple(x.shape[-2:])) or x[:, :1] * 1.0
    prob = predict_probabilities(ModelBundle(model, meta), image, fov)
    assert seen == [(32, 32)]  # square_size wins over fov_diameter
    assert prob.shape == (50, 70) and np.all(prob[~fov] == 0)
    assert np.allclose(prob[15:35, 15:55], 1 / (1 + np.exp(-200 / 255)), atol=0.02)
