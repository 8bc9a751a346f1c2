"""Fine-tuning: starting from trained weights, and freezing or slowing the encoder.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config.schema import TrainConfig
from ..errors import RetinasegError
from ..hub.checkpoint import read_checkpoint
from ..models.contract import require_contract


def encoder_of(module) -> torch.nn.Module:
    encoder = require_contract(module).finetune_encoder()
    if encoder is None:
        raise RetinasegError(f"{type(module).__name__} has no encoder to freeze or slow down")
    return encoder


def parameter_groups(module, cfg: TrainConfig) -> list[dict]:
    """Encoder and the rest as two groups, so fine-tuning can freeze or slow the encoder."""
    if not cfg.freeze_encoder and cfg.encoder_lr_scale == 1.0:
        return [{"params": list(module.parameters())}]
    encoder = encoder_of(module)
    encoder.requires_grad_(not cfg.freeze_encoder)
    inside = {id(p) for p in encoder.parameters()}
    rest = [p for p in module.parameters() if id(p) not in inside]
    groups = [{"params": rest, "lr_scale": 1.0}]
    if not cfg.freeze_encoder:
        groups.append({"params": list(encoder.parameters()), "lr_scale": cfg.encoder_lr_scale})
    return groups


def set_training_mode(module, cfg: TrainConfig) -> None:
    """Train mode, except a frozen encoder's batch norms keep their pretrained statistics."""
    module.train()
    if cfg.freeze_encoder:
        encoder_of(module).eval()



def load_initial_weights(module, source: str, scope: str = "all") -> None:
    """Weights of a shipped model or checkpoint: all of them (same architecture and
    shape), or only the encoder's, which may come from another architecture whose
    encoder levels match (a U-Net's first levels under a ConvLSTM U-Net)."""
    from ..hub.pretrained import PRETRAINED, verified_pretrained_path

    path = verified_pretrained_path(source) if source in PRETRAINED else Path(source)
    state = {k: v.float() if v.is_floating_point() else v
             for k, v in read_checkpoint(path).state_dict.items()}
    if scope == "encoder":
        _load_encoder(module, state, path)
        return
    if scope == "widen":
        state = widened_state(module.state_dict(), state, path)
    try:
        module.load_state_dict(state)
    except RuntimeError:
        raise RetinasegError(f"{path}: weights do not fit this model (init_from needs the same "
                             "architecture, widths and input channels)") from None


def _load_encoder(module, state: dict, path: Path) -> None:
    wanted = {f"encoders.{k}": v for k, v in encoder_of(module).state_dict().items()}
    missing = [k for k, v in wanted.items() if k not in state or state[k].shape != v.shape]
    if missing:
        raise RetinasegError(f"{path}: its encoder does not fit this model's "
                             f"({len(missing)} of {len(wanted)} tensors missing or of another "
                             f"shape, first {missing[0]})")
    encoder_of(module).load_state_dict({k[len("encoders."):]: state[k] for k in wanted})


def widened_state(wanted: dict, state: dict, path: Path) -> dict:
    """``state`` (a vessel model's) widened to fit ``wanted`` (``init_scope: widen``):

    - an output layer with fewer output channels gets its first channel (the vessel
      output) repeated into the new ones, so an artery/vein model starts where the
      vessel model is, each new map a vessel map;
    - an input layer of one channel (the green pipeline) widened to three (RGB or Lab)
      keeps its weights on the middle channel, zeros on the others: with
      ``[rgb, clahe, fov_normalise]`` the middle channel is exactly the green
      pipeline's input, so the widened model starts as the vessel model and can
      learn what colour adds (arteries are the lighter red).

    Every other tensor must fit as it is."""
    widened = dict(state)
    for key, target in wanted.items():
        source = state.get(key)
        if source is None or source.shape == target.shape:
            continue
        widened[key] = _widened(key, source, target.shape, path)
    return widened


def _widened(key: str, source: torch.Tensor, shape: torch.Size, path: Path) -> torch.Tensor:
    if source.shape[1:] == shape[1:] and source.shape[0] < shape[0]:
        extra = source[:1].expand(shape[0] - source.shape[0], *source.shape[1:])
        return torch.cat([source, extra])
    if (source.dim() == 4 and source.shape[0] == shape[0] and source.shape[2:] == shape[2:]
            and source.shape[1] == 1 and shape[1] == 3):
        zeros = torch.zeros_like(source)
        return torch.cat([zeros, source, zeros], dim=1)
    raise RetinasegError(f"{path}: tensor {key} {tuple(source.shape)} cannot be widened to "
                         f"{tuple(shape)} (init_scope: widen widens only the output layer and a "
                         "one-channel input layer)")
