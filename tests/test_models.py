import pytest
import torch

from retinaseg import RetinasegError, create_model, list_models

# Small kwargs per architecture, for speed; one missing here is built with its defaults.
TINY = {
    "unet": {"base_channels": 4, "depth": 2},
    "wnet": {"base_channels": 4, "depth": 2},
    "convlstm-unet": {"base_channels": 4, "depth": 2},
    "column-bilstm": {"hidden_size": 8},
    "deeplabv3plus": {"base_channels": 4, "blocks": [1, 1, 1, 1]},
    "vit-seg": {"patch_size": 8, "embed_dim": 16, "depth": 1, "num_heads": 2, "image_size": 32},
}


def tiny_model(name: str, in_channels: int):
    return create_model(name, in_channels=in_channels, **TINY.get(name, {}))


@pytest.mark.parametrize("name", list_models())
def test_every_model_gives_finite_logits_of_input_shape(name):
    model = tiny_model(name, in_channels=1)
    assert model.in_channels == 1 and 32 % model.stride == 0 and 48 % model.stride == 0
    x = torch.randn(2, 1, 32, 48)
    y = model(x)
    assert y.shape == (2, 1, 32, 48)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", list_models())
def test_every_model_passes_gradients_to_its_first_layer(name):
    model = tiny_model(name, in_channels=3)
    model(torch.randn(1, 3, 32, 32)).mean().backward()
    first = next(p for p in model.parameters() if p.ndim >= 2)  # a conv's or an LSTM's weights
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_unet_stride_and_width_follow_depth():
    model = create_model("unet", base_channels=8, depth=3)
    assert model.stride == 8
    assert model.encoders[-1][0].out_channels == 64


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(RetinasegError, match="known: .*unet"):
        create_model("unett")


def test_misspelt_model_keyword_is_a_clear_error():
    with pytest.raises(RetinasegError, match="unet"):
        create_model("unet", base_chanels=8)


def test_list_models_filters_by_pattern():
    assert "unet" in list_models("u*")
    assert list_models("zzz*") == []


def test_folding_batchnorm_keeps_the_outputs():
    from retinaseg.models.blocks import fuse_batchnorm

    torch.manual_seed(0)
    model = create_model("unet", in_channels=1, base_channels=4, depth=2)
    model.train()
    for _ in range(3):  # give the batch norms non-trivial running statistics
        model(torch.randn(4, 1, 32, 32) * 3 + 1)
    model.eval()
    x = torch.randn(2, 1, 32, 32)
    expected = model(x)
    fused = fuse_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert torch.allclose(fused(x), expected, atol=1e-4)


@pytest.mark.parametrize("name", list_models())
def test_every_model_keeps_the_model_contract(name):
    from retinaseg.models import InputShapeError, SegmentationModel

    model = tiny_model(name, in_channels=2)
    assert isinstance(model, SegmentationModel)
    assert model.in_channels == 2 and model.stride >= 1
    assert isinstance(model.needs_whole_image, bool)
    encoder = model.finetune_encoder()
    if encoder is not None:  # it must be a part of the model, to freeze without touching the rest
        inside = {id(p) for p in model.parameters()}
        assert all(id(p) in inside for p in encoder.parameters())
        assert 0 < sum(p.numel() for p in encoder.parameters()) < sum(
            p.numel() for p in model.parameters())
    model.check_input(torch.zeros(1, 2, 4 * model.stride, 2 * model.stride))
    with pytest.raises(InputShapeError, match="input channel"):
        model.check_input(torch.zeros(1, 3, model.stride, model.stride))
    if model.stride > 1:
        side = 3 * model.stride + 1
        with pytest.raises(InputShapeError, match=f"pad it to {4 * model.stride}x"):
            model.check_input(torch.zeros(1, 2, side, model.stride))


def test_inference_refuses_a_module_without_the_contract():
    from retinaseg.pipeline.predict import forward_logits

    with pytest.raises(TypeError, match="SegmentationModel"):
        forward_logits(torch.nn.Conv2d(1, 1, 1), torch.zeros(1, 1, 8, 8))


def test_wnet_second_unet_reads_the_photo_and_the_first_ones_probability():
    model = create_model("wnet", in_channels=3, base_channels=4, depth=2).eval()
    assert model.stride == 4 and model.second.in_channels == 4
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
        model.first.head.bias.add_(5.0)  # the first U-Net's map moves towards 1
        after = model(x)
    assert not torch.allclose(before, after)  # the first U-Net's map reaches the output
