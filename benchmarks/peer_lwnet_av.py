"""LWNet's artery/vein checkpoints as rows of ``av_accuracy.py``: their maps, their recipe.

    git clone https://github.com/agaldran/lwnet /tmp/lwnet   # outside this repository
    python benchmarks/av_accuracy.py --peer lwnet-drive --peer lwnet-hrf --lwnet-dir /tmp/lwnet \\
        --data-root ../shared/data --sets drive les_av les_av:all

LWNet (Galdran et al., "The Little W-Net That Could", arXiv:2009.01907) ships two A/V
models: ``experiments/big_wnet_drive_av`` (trained on DRIVE 21-40 at 512x512) and
``experiments/big_wnet_hrf_av_1024`` (trained at 1024x1024 on HRF images 06-15 of each
category, get_public_data.py:313, which are our HRF *test* photos; its test set is
01-05). Nothing of LWNet is copied here: its model code is imported from ``--lwnet-dir`` at
run time (``models/get_model.py``, pure torch) and each checkpoint is read as a state dict
(``torch.load(weights_only=True)``).

Its A/V inference recipe (generate_av_results.py and predict_one_image_av.py,
``create_pred``), rebuilt on our arrays because its data code imports torchvision:

1. crop the photo to its FOV mask's bounding box, resize it to the training size
   (``im_size`` of the experiment's config.cfg: 512 or 1024), bilinear, aspect not kept,
   RGB in [0, 1] (``TestDataset``, as the vessel model: lwnet_side_by_side.py);
2. ``big_wnet`` with 4 outputs, the second U-Net's (``mode='eval'``); a softmax over the
   four classes, averaged over the identity and the three flips (``--tta from_probs``, its
   default; ``--lwnet-tta none`` of av_accuracy.py: one pass);
3. each class bicubic back to the crop's size (``skimage.transform.resize(order=3)``), pasted
   into the photo, 0 outside the FOV;
4. classes 0..3 are background, uncertain, artery, vein (its label encoding 0/85/170/255,
   get_public_data.py:127-135); uncertain is shared half and half: artery = p2 + p1/2,
   vein = p3 + p1/2 (so the artery-vs-vein decision is p2 >= p3), and its vessel mask is
   the argmax of (background, artery, vein) not being background.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from av_accuracy import Maps, Row
from lwnet_side_by_side import (
    fov_bbox,
    import_get_model,
    lwnet_commit,
    lwnet_input,
    read_experiment_config,
    sha256_file,
)

from retinaseg.errors import file_error

EXPERIMENTS = {"lwnet-drive": "big_wnet_drive_av", "lwnet-hrf": "big_wnet_hrf_av_1024"}
TRAINED_ON = {"lwnet-drive": "DRIVE training photos 21-40",
              "lwnet-hrf": "HRF 06-15 of each category (our HRF test split: not a fair "
                           "HRF comparison)"}
BACKGROUND, UNCERTAIN, ARTERY, VEIN = range(4)  # its class order
FLIPS = ((), (-1,), (-2,), (-1, -2))  # identity, left-right, up-down, both (its TTA)
TTA_FLIPS = {"flips": FLIPS, "none": ((),)}


@dataclass
class LWNetAV:
    module: object
    im_size: tuple[int, int]
    experiment: str
    checkpoint_sha256: str
    commit: str
    flips: tuple = FLIPS  # the flips averaged over: its default four, or the identity alone


def load_lwnet_av(lwnet_dir, experiment: str, device: str = "cpu") -> LWNetAV:
    """One of LWNet's A/V checkpoints, built by its own ``get_arch``, in eval mode."""
    import torch

    lwnet_dir = Path(lwnet_dir)
    get_model = import_get_model(lwnet_dir)
    folder = lwnet_dir / "experiments" / experiment
    config = read_experiment_config(folder)
    module = get_model.get_arch(config["model_name"], n_classes=4)
    checkpoint = folder / "model_checkpoint.pth"
    try:  # a state dict with optimizer state and stats: plain data, nothing unpickled
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        module.load_state_dict(state["model_state_dict"])
    except Exception as exc:  # noqa: BLE001 (torch raises many types for a bad file)
        raise file_error(checkpoint, f"not a loadable LWNet checkpoint ({exc})") from None
    module.mode = "eval"  # the wnet then returns its second U-Net's logits only
    module.to(device).eval()
    size = int(config["im_size"])
    return LWNetAV(module, (size, size), experiment, sha256_file(checkpoint),
                   lwnet_commit(lwnet_dir))


def flip_averaged_softmax(module, x, flips=FLIPS) -> np.ndarray:
    """(4, H, W) class probabilities averaged over ``flips`` (``tta='from_probs'``)."""
    import torch

    device = next(module.parameters()).device
    with torch.inference_mode():
        probs = [_flipped(torch.softmax(module(_flipped(x[None].to(device), f)), dim=1), f)[0]
                 for f in flips]
    return torch.stack(probs).mean(0).cpu().numpy()


def _flipped(tensor, dims):
    return tensor.flip(dims) if dims else tensor


def class_maps(lwnet: LWNetAV, image: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """(4, H, W) class probabilities at the photo's resolution, 0 outside the FOV."""
    from skimage.transform import resize

    box = fov_bbox(fov)
    small = flip_averaged_softmax(lwnet.module, lwnet_input(image, box, lwnet.im_size),
                                  lwnet.flips)
    full = np.zeros((4, *fov.shape), np.float32)
    for c in range(4):
        full[c, box[0]:box[2], box[1]:box[3]] = resize(
            small[c], output_shape=(box[2] - box[0], box[3] - box[1]), order=3)
    full[:, ~fov] = 0.0
    return full


def av_maps(classes: np.ndarray) -> Maps:
    """Artery, vein and vessel maps from the 4 class maps, as ``create_pred`` combines them."""
    artery = classes[ARTERY] + 0.5 * classes[UNCERTAIN]
    vein = classes[VEIN] + 0.5 * classes[UNCERTAIN]
    background = classes[BACKGROUND]
    vessel_mask = np.maximum(artery, vein) > background  # argmax ties go to background
    return Maps(np.clip(artery, 0, 1), np.clip(vein, 0, 1),
                np.clip(artery + vein, 0, 1), vessel_mask)


def lwnet_row(name: str, lwnet_dir, device: str = "cpu", tta: str = "flips") -> Row:
    """The ``av_accuracy`` row of LWNet's ``lwnet-drive`` or ``lwnet-hrf`` model, with its
    flip TTA (its scripts' default) or, ``tta="none"``, one pass."""
    lwnet = load_lwnet_av(lwnet_dir, EXPERIMENTS[name], device)
    lwnet.flips = TTA_FLIPS[tta]

    def predict(sample) -> Maps:
        return av_maps(class_maps(lwnet, sample.image, sample.fov))

    facts = {"source": "github.com/agaldran/lwnet", "commit": lwnet.commit,
             "experiment": f"experiments/{lwnet.experiment}",
             "checkpoint_sha256": lwnet.checkpoint_sha256,
             "recipe": f"FOV crop resized to {lwnet.im_size[0]}x{lwnet.im_size[1]}, softmax "
                       f"{'averaged over 4 flips' if tta == 'flips' else 'without TTA'}, "
                       "bicubic back",
             "trained_on": TRAINED_ON[name]}
    suffix = "" if tta == "flips" else ", no TTA"
    return Row(f"LWNet {name.split('-')[1].upper()} A/V{suffix}", predict, facts)
