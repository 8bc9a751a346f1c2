"""The ConvLSTM cell and the ConvLSTM U-Net."""
import pytest
import torch
import torch.nn.functional as F

from retinaseg.hub.checkpoint import ModelMeta, load_checkpoint, save_model
from retinaseg.models import create_model, list_models
from retinaseg.models.convlstm import ConvLSTM, ConvLSTMCell, ConvLSTMUNet


def test_cell_with_a_1x1_kernel_is_torch_lstm_at_every_pixel():
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 5, kernel_size=1)
    lstm = torch.nn.LSTM(3, 5, batch_first=True)
    # ours: input, forget, output, candidate; torch's: input, forget, candidate, output
    order = torch.cat([torch.arange(0, 10), torch.arange(15, 20), torch.arange(10, 15)])
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(cell.input_gates.weight[order, :, 0, 0])
        lstm.weight_hh_l0.copy_(cell.hidden_gates.weight[order, :, 0, 0])
        lstm.bias_ih_l0.copy_(cell.input_gates.bias[order])
        lstm.bias_hh_l0.zero_()
    sequence = torch.randn(2, 4, 3, 6, 7)  # N, T, C, H, W
    got = ConvLSTM(3, 5, kernel_size=1, bidirectional=False)
    got.forward_cell = cell
    # each pixel's 4-step sequence, as a batch of LSTM sequences
    pixels = sequence.permute(0, 3, 4, 1, 2).reshape(-1, 4, 3)
    _, (h_last, _) = lstm(pixels)
    expected = h_last[0].reshape(2, 6, 7, 5).permute(0, 3, 1, 2)
    assert torch.allclose(got(sequence), expected, atol=1e-6)


def test_sequence_matches_a_naive_step_by_step_loop_in_both_directions():
    torch.manual_seed(1)
    layer = ConvLSTM(2, 3, kernel_size=3, bidirectional=True)
    sequence = torch.randn(1, 3, 2, 8, 8)

    def naive(cell, steps):
        # one convolution over [input, hidden], the textbook form, from the cell's two kernels
        w = torch.cat([cell.input_gates.weight, cell.hidden_gates.weight], dim=1)
        b = cell.input_gates.bias
        h = c = torch.zeros(1, 3, 8, 8)
        for x in steps:
            z = F.conv2d(torch.cat([x, h], 1), w, b, padding=1)
            i, f, o, g = z[:, 0:3], z[:, 3:6], z[:, 6:9], z[:, 9:12]
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return h

    steps = list(sequence.unbind(1))
    expected = torch.cat([naive(layer.forward_cell, steps),
                          naive(layer.backward_cell, steps[::-1])], dim=1)
    out = layer(sequence)
    assert out.shape == (1, 6, 8, 8)
    assert torch.allclose(out, expected, atol=1e-6)
    # the two directions differ: order matters to an LSTM
    assert not torch.allclose(out[:, :3], out[:, 3:])


@pytest.mark.parametrize("bidirectional", [True, False])
def test_unet_shapes_and_every_parameter_gets_a_gradient(bidirectional):
    model = create_model("convlstm-unet", in_channels=1, base_channels=4, depth=3,
                         bidirectional=bidirectional)
    assert model.stride == 8
    x = torch.randn(2, 1, 32, 48)
    logits = model(x)
    assert logits.shape == (2, 1, 32, 48)
    F.binary_cross_entropy_with_logits(logits, (x > 0).float()).backward()
    missing = [name for name, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_registered_and_round_trips_through_a_checkpoint_for_inference(tmp_path):
    assert "convlstm-unet" in list_models()
    kwargs = {"in_channels": 1, "base_channels": 4, "depth": 2}
    model = ConvLSTMUNet(**kwargs).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so folding them is tested
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "m.safetensors"
    save_model(path, model, ModelMeta("convlstm-unet", kwargs, ["green"], 60.0))
    bundle = load_checkpoint(path)  # folds batch norms, channels_last
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(bundle.module(x.contiguous(memory_format=torch.channels_last)),
                              model(x), atol=1e-4)


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(2, 2, kernel_size=2)


def test_trains_through_the_shared_training_loop(synthetic_root, tmp_path):
    from retinaseg.config.schema import load_config
    from retinaseg.train import fit

    cfg = load_config(None, [f"data.root={synthetic_root}", f"out_dir={tmp_path}",
                             "model.name=convlstm-unet",
                             "model.kwargs={base_channels: 4, depth: 2}", "data.crop_size=32",
                             "data.crops_per_image=2", "progress=false", "threads=1", "epochs=1"])
    bundle = load_checkpoint(fit(cfg))
    assert bundle.meta.architecture == "convlstm-unet"
    assert bundle.meta.threshold_source == "validation-f1"
