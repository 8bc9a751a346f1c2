"""Fine-tuning: starting from trained weights, and freezing or slowing the encoder.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..hub.checkpoint import read_checkpoint
from ..config.schema import TrainConfig
from ..errors import RetinasegError
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
