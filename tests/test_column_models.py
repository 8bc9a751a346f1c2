"""The column Bi-LSTM, DeepLab v3+ and ViT segmenters."""
import pytest
import torch
import torch.nn.functional as F

from retinaseg import RetinasegError
from retinaseg.models import create_model, list_models
from retinaseg.models.vit_seg import position_grid

TINY = {
    "column-bilstm": {"hidden_size": 8, "num_layers": 2},
    "deeplabv3plus": {"base_channels": 4, "blocks": [1, 1, 1, 1]},
    "vit-seg": {"patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "image_size": 32},
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(TINY))
def test_logits_of_input_shape_and_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = create_model(name, in_channels=3, **TINY[name])
    assert model.in_channels == 3
    x = torch.randn(2, 3, 32, 48)
    logits = model(x)
    assert logits.shape == (2, 1, 32, 48)
    assert torch.isfinite(logits).all()
    F.binary_cross_entropy_with_logits(logits, (x[:, :1] > 0).float()).backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("name", sorted(TINY))
def test_registered_and_a_misspelt_keyword_is_a_clear_error(name):
    assert name in list_models()
    with pytest.raises(RetinasegError, match=name):
        create_model(name, in_chanels=3)


def bilstm(direction: str):
    torch.manual_seed(0)
    return create_model("column-bilstm", hidden_size=8, direction=direction).eval()


def changed_pixels(model, x, row: int, col: int) -> torch.Tensor:
    """Where the output moves when input pixel (row, col) changes."""
    poked = x.clone()
    poked[..., row, col] += 1.0
    with torch.no_grad():
        return (model(poked) - model(x)).abs()[0, 0] > 1e-6


def test_bilstm_columns_are_independent_sequences():
    model = bilstm("columns")
    x = torch.randn(1, 3, 12, 10)
    perm = torch.randperm(10)
    with torch.no_grad():
        assert torch.allclose(model(x[..., perm]), model(x)[..., perm], atol=1e-6)
    changed = changed_pixels(model, x, 4, 7)
    assert changed[:, 7].all()  # the whole column, both directions
    changed[:, 7] = False
    assert not changed.any()


def test_bilstm_rows_and_columns_see_the_cross_through_a_pixel():
    model = bilstm("rows+columns")
    x = torch.randn(1, 3, 12, 10)
    changed = changed_pixels(model, x, 4, 7)
    assert changed[4, :].all() and changed[:, 7].all()
    changed[4, :] = changed[:, 7] = False
    assert not changed.any()


def test_bilstm_takes_any_size_and_refuses_an_unknown_direction():
    model = bilstm("columns")
    assert model.stride == 1
    assert model(torch.randn(1, 3, 7, 5)).shape == (1, 1, 7, 5)
    # a bad value from a config file is a one-line error naming the model
    with pytest.raises(RetinasegError, match="model 'column-bilstm': direction .*rows\\+columns"):
        create_model("column-bilstm", direction="diagonal")


@pytest.mark.parametrize("output_stride", [8, 16])
def test_deeplab_output_stride_sets_stride_and_feature_grid(output_stride):
    model = create_model("deeplabv3plus", output_stride=output_stride, **TINY["deeplabv3plus"])
    assert model.stride == output_stride
    x = torch.randn(2, 3, 3 * output_stride, 4 * output_stride)
    _, deep = model.backbone(x)
    assert deep.shape[-2:] == (3, 4)
    assert model(x).shape == (2, 1, 3 * output_stride, 4 * output_stride)


def test_deeplab_refuses_other_output_strides():
    with pytest.raises(RetinasegError, match="8 or 16"):
        create_model("deeplabv3plus", output_stride=32)


def test_vit_runs_on_a_grid_other_than_the_one_it_was_built_for():
    torch.manual_seed(0)
    model = create_model("vit-seg", **{**TINY["vit-seg"], "image_size": 64})
    assert model.stride == 8 and model.pos_embed.shape[-2:] == (8, 8)
    logits = model(torch.randn(1, 3, 96, 64))  # a 12 x 8 token grid
    assert logits.shape == (1, 1, 96, 64)
    logits.sum().backward()
    assert (model.pos_embed.grad.abs().sum(dim=1) > 0).all()  # every grid cell took part


def test_position_grid_is_kept_at_its_size_and_resized_smoothly_otherwise():
    grid = torch.randn(1, 4, 8, 8)
    assert position_grid(grid, (8, 8)) is grid
    assert position_grid(grid, (12, 8)).shape == (1, 4, 12, 8)
    flat = torch.full((1, 4, 8, 8), 0.5)
    assert torch.allclose(position_grid(flat, (12, 6)), torch.full((1, 4, 12, 6), 0.5))


def test_vit_refuses_an_input_the_patches_would_crop():
    model = create_model("vit-seg", **TINY["vit-seg"])
    with pytest.raises(ValueError, match="pad it to 40x32"):
        model(torch.randn(1, 3, 33, 32))


def test_vit_patch_logits_land_on_their_own_pixels():
    """Each token's head outputs fill exactly its own patch (the pixel shuffle)."""
    model = create_model("vit-seg", **TINY["vit-seg"]).eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.arange(64.0))  # logit i*8 + j for pixel (i, j)
        logits = model(torch.randn(1, 3, 16, 24))[0, 0]
    expected = torch.arange(64.0).reshape(8, 8).repeat(2, 3)
    assert torch.equal(logits, expected)
