"""Training augmentation.

Photometric changes act on the RGB photo before preprocessing, as a different
camera exposure would. Geometric changes (any rotation angle, scale, flips)
happen while cutting crops: one ``grid_sample`` call per image moves the
image, vessel mask and FOV together, so they can never fall out of alignment.
The same affine matrices rotate whole images by fixed angles (training with
``fixed_rotations``, rotation test-time augmentation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """The augmentation's parameters (a training config's ``augment`` section)."""

    flip: bool = True
    rotate: float = 180.0         # max absolute angle in degrees (any angle, not just 90s)
    scale: float = 0.1            # scale drawn from [1 - scale, 1 + scale]
    brightness: float = 0.1       # additive, on [0, 1] RGB
    contrast: float = 0.1         # multiplicative around the mean
    gamma: float = 0.1            # gamma drawn from [1 - gamma, 1 + gamma]
    fixed_rotations: int = 0      # show every image at K equally spaced angles each epoch
                                  # (K x the steps); 0 = off. Needs rotate: 0.
    # Other cameras (all 0 = off, the default, so older recipes train exactly as before):
    colour: float = 0.0           # per-channel gain drawn from [1 - colour, 1 + colour]
                                  # (white balance, sensor response)
    illumination: float = 0.0     # amplitude of a smooth multiplicative light field
                                  # (uneven illumination, vignetting)
    blur: float = 0.0             # Gaussian blur of sigma up to this many pixels, on half
                                  # the images (defocus, a softer lens)
    jpeg: int = 0                 # re-encode half the images as JPEG of quality drawn from
                                  # [jpeg, 95] (compressed archives); 0 = off
    noise: float = 0.0            # sd of additive Gaussian noise on [0, 1] RGB (sensor noise)
    # Diseased and poor photos (0 = off): the labels stay as drawn.
    lesions: int = 0              # up to this many synthetic lesions per photo, on half the
                                  # photos: bright spots (exudates, drusen) and dark red blots
                                  # (haemorrhages), soft-edged, 0.5-4% of the photo's side
    haze: float = 0.0             # veil of a flat pale light blended in with a weight up to
                                  # this, on half the photos (cataract, media opacity)


def photometric(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A uint8 RGB photo as another exposure or camera might have taken it:
    brightness, contrast and gamma, then the camera changes of ``cfg``.

    Random numbers are drawn only for the changes that are on, so a recipe that
    leaves the camera changes off draws exactly what it always drew.
    """
    if cfg.brightness or cfg.contrast or cfg.gamma:
        image = _exposure(image, cfg, rng)
    if cfg.lesions and rng.random() < 0.5:
        image = _with_lesions(image, int(rng.integers(1, cfg.lesions + 1)), rng)
    if cfg.haze and rng.random() < 0.5:
        image = _hazed(image, rng.uniform(0.0, cfg.haze), rng)
    if cfg.colour or cfg.illumination or cfg.noise:
        image = _camera_response(image, cfg, rng)
    if cfg.blur and rng.random() < 0.5:
        image = _blurred(image, rng.uniform(0.3, cfg.blur))
    if cfg.jpeg and rng.random() < 0.5:
        image = _jpeg_round_trip(image, int(rng.integers(cfg.jpeg, 96)))
    return image


def _exposure(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    mean = x.mean()
    contrast = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    brightness = rng.uniform(-cfg.brightness, cfg.brightness)
    x = np.clip((x - mean) * contrast + mean + brightness, 0.0, 1.0)
    x = x ** (1.0 + rng.uniform(-cfg.gamma, cfg.gamma))
    return (x * 255.0 + 0.5).astype(np.uint8)


BRIGHT_LESION = np.array([250.0, 235.0, 150.0], dtype=np.float32)  # exudate yellow-white
DARK_LESION = np.array([70.0, 15.0, 10.0], dtype=np.float32)  # haemorrhage dark red


def _with_lesions(image: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` soft blobs, each bright or dark, at random places in the central disc
    (where the fundus is), each blended over its own bounding box only."""
    out = image.astype(np.float32)
    height, width = image.shape[:2]
    side = min(height, width)
    for _ in range(count):
        radius = max(1.0, rng.uniform(0.005, 0.04) * side)
        angle, reach = rng.uniform(0, 2 * np.pi), 0.42 * side * np.sqrt(rng.random())
        cy, cx = height / 2 + reach * np.sin(angle), width / 2 + reach * np.cos(angle)
        colour = BRIGHT_LESION if rng.random() < 0.5 else DARK_LESION
        strength = rng.uniform(0.4, 0.9)
        top, bottom = max(0, int(cy - 2 * radius)), min(height, int(cy + 2 * radius) + 1)
        left, right = max(0, int(cx - 2 * radius)), min(width, int(cx + 2 * radius) + 1)
        if top >= bottom or left >= right:
            continue
        rows, cols = np.mgrid[top:bottom, left:right].astype(np.float32)
        alpha = strength * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (radius ** 2))
        box = out[top:bottom, left:right]
        out[top:bottom, left:right] = box + alpha[..., None] * (colour - box)
    return (np.clip(out, 0.0, 255.0) + 0.5).astype(np.uint8)


def _hazed(image: np.ndarray, weight: float, rng: np.random.Generator) -> np.ndarray:
    """The photo blended with a flat pale veil: contrast falls, as through a cataract."""
    veil = rng.uniform(0.6, 1.0) * np.array([255.0, 235.0, 200.0], dtype=np.float32)
    out = (1.0 - weight) * image.astype(np.float32) + weight * veil
    return (np.clip(out, 0.0, 255.0) + 0.5).astype(np.uint8)


def _camera_response(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-channel gains, a smooth light field and sensor noise."""
    x = image.astype(np.float32) / 255.0
    if cfg.colour:
        x *= 1.0 + rng.uniform(-cfg.colour, cfg.colour, 3).astype(np.float32)
    if cfg.illumination:
        x *= _light_field(image.shape[:2], cfg.illumination, rng)[..., None]
    if cfg.noise:
        x += rng.normal(0.0, cfg.noise, x.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _light_field(shape: tuple[int, int], amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """1 + a random plane and radial term, at most ``amplitude`` away from 1:
    brighter on one side, darker towards the rim, as flash and optics make it."""
    rows, cols = np.meshgrid(np.linspace(-1, 1, shape[0], dtype=np.float32),
                             np.linspace(-1, 1, shape[1], dtype=np.float32), indexing="ij")
    tilt_r, tilt_c, radial = rng.uniform(-1.0, 1.0, 3).astype(np.float32)
    field = tilt_r * rows + tilt_c * cols + radial * (rows ** 2 + cols ** 2 - 1.0)
    return 1.0 + amplitude * field / max(1e-6, float(np.abs(field).max()))


def _blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(sigma)))


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def crop_transforms(centres: np.ndarray, size: int, shape: tuple[int, int], cfg: AugmentConfig,
                    rng: np.random.Generator, angle: float | None = None) -> torch.Tensor:
    """Affine matrices ``(N, 2, 3)`` for ``affine_grid``: crops of ``size`` pixels
    around ``centres`` (x, y in pixels), rotated (by ``angle`` degrees if given,
    else at random), scaled and flipped at random."""
    count = len(centres)
    # An even-sized crop has no centre pixel: shift by half a pixel so that the
    # sampling points land on pixel centres (no interpolation blur without rotation).
    centres = centres + (0.5 if size % 2 == 0 else 0.0)
    # Draws in this order (angles, zoom, flip) so runs without a fixed angle repeat exactly.
    # theta maps crop to image, so it turns by minus the angle the content turns by (as rotate()).
    degrees = rng.uniform(-cfg.rotate, cfg.rotate, count) if angle is None else np.full(count, -angle)
    zoom, flip = _zoom_and_flip(count, cfg, rng)
    return view_transforms(centres, (size, size), shape, np.deg2rad(degrees), zoom, flip)


def _zoom_and_flip(count: int, cfg: AugmentConfig, rng: np.random.Generator):
    zoom = 1.0 + rng.uniform(-cfg.scale, cfg.scale, count)
    flip = np.where(rng.random(count) < 0.5, -1.0, 1.0) if cfg.flip else np.ones(count)
    return zoom, flip


def view_transforms(centres: np.ndarray, out_shape: tuple[int, int], shape: tuple[int, int],
                    angles: np.ndarray, zoom: np.ndarray, flip: np.ndarray) -> torch.Tensor:
    """Affine matrices ``(N, 2, 3)`` sampling ``out_shape`` windows of a ``shape`` image
    centred on ``centres`` (x, y in pixel units, fractional allowed): the window
    turns by ``angles`` (radians; the content it shows turns the other way), is
    magnified by ``zoom`` and mirrored where ``flip`` is -1."""
    height, width = shape
    half_h, half_w = out_shape[0] / 2.0 / zoom, out_shape[1] / 2.0 / zoom
    cos, sin = np.cos(angles), np.sin(angles)
    theta = np.zeros((len(centres), 2, 3), dtype=np.float32)
    theta[:, 0, 0] = 2.0 / width * half_w * cos * flip
    theta[:, 0, 1] = -2.0 / width * half_h * sin
    theta[:, 1, 0] = 2.0 / height * half_w * sin * flip
    theta[:, 1, 1] = 2.0 / height * half_h * cos
    theta[:, 0, 2] = (2.0 * centres[:, 0] + 1.0) / width - 1.0
    theta[:, 1, 2] = (2.0 * centres[:, 1] + 1.0) / height - 1.0
    return torch.from_numpy(theta)


def sample_centres(fov: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Crop centres drawn uniformly from the FOV pixels, as (x, y)."""
    ys, xs = np.nonzero(fov)
    pick = rng.integers(0, len(xs), count)
    return np.stack([xs[pick], ys[pick]], axis=1).astype(np.float64)


def random_crops(image: torch.Tensor, vessel: torch.Tensor, fov: torch.Tensor, count: int,
                 size: int, cfg: AugmentConfig, rng: np.random.Generator,
                 angle: float | None = None):
    """``count`` augmented crops of one image: ``(N, C, S, S)``, ``(N, 1, S, S)`` x2.

    A fixed ``angle`` (degrees) gives crops of the image rotated by it, cut
    without rotating the whole image. Pixels sampled from outside the photo get
    FOV 0 and so never reach the loss.
    """
    centres = sample_centres(fov.numpy() > 0.5, count, rng)
    theta = crop_transforms(centres, size, tuple(image.shape[-2:]), cfg, rng, angle)
    return warp(image, vessel, fov, theta, (size, size))


def rotated_whole(image: torch.Tensor, vessel: torch.Tensor, fov: torch.Tensor, angle: float,
                  cfg: AugmentConfig, rng: np.random.Generator):
    """The whole image rotated by ``angle`` degrees about its centre in its own frame
    (corners rotated out are lost, background rotates in), scaled and flipped at
    random as ``cfg`` says: ``(1, C, H, W)``, ``(1, 1, H, W)`` x2."""
    shape = tuple(image.shape[-2:])
    centre = np.array([[(shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0]])
    zoom, flip = _zoom_and_flip(1, cfg, rng)
    theta = view_transforms(centre, shape, shape, np.deg2rad([-angle]), zoom, flip)
    return warp(image, vessel, fov, theta, shape)


def warp(image: torch.Tensor, vessel: torch.Tensor, fov: torch.Tensor, theta: torch.Tensor,
         out_shape: tuple[int, int]):
    """Image, target and FOV sampled together through the same ``theta``. The target
    is a vessel mask ``(H, W)`` or several planes ``(P, H, W)`` (an A/V target); it
    comes out as ``(N, 1 or P, h, w)``."""
    count = len(theta)
    grid = F.affine_grid(theta, (count, 1, *out_shape), align_corners=False)
    expand = lambda t: t[None].expand(count, *t.shape)  # noqa: E731
    crops = F.grid_sample(expand(image), grid, mode="bilinear", align_corners=False)
    planes = vessel if vessel.dim() == 3 else vessel[None]
    masks = F.grid_sample(expand(torch.cat([planes, fov[None]])), grid, mode="bilinear",
                          align_corners=False)
    # Re-binarise: bilinear sampling of a 0/1 mask blurs its edges.
    masks = (masks > 0.5).float()
    return crops, masks[:, :-1], masks[:, -1:]


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """``(N, C, H, W)`` rotated about its centre in its own frame (zeros rotate in).

    Multiples of 90 degrees are exact (``rot90``) where the frame allows it;
    other angles interpolate bilinearly. Positive angles turn the content
    clockwise on screen, as ``rot90`` with a negative ``k`` does.
    """
    turns = degrees / 90.0
    height, width = x.shape[-2:]
    if turns == round(turns) and (height == width or round(turns) % 2 == 0):
        return torch.rot90(x, -round(turns) % 4, (-2, -1))
    centre = np.array([[(width - 1) / 2.0, (height - 1) / 2.0]])
    theta = view_transforms(centre, (height, width), (height, width), np.deg2rad([-degrees]),
                            np.ones(1), np.ones(1))
    theta = theta.to(device=x.device, dtype=x.dtype)  # TTA rotates on the model's device
    grid = F.affine_grid(theta.expand(len(x), 2, 3), (len(x), 1, height, width), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", align_corners=False)


def whole_image_size(shape: tuple[int, int], stride: int) -> int:
    """Square crop side that holds a whole image at any rotation, rounded to the stride."""
    side = math.ceil(math.hypot(*shape) * 0.8)  # the FOV circle, not the corners, must fit
    return side + (-side) % stride
