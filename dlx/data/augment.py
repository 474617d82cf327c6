"""Augmentation of training images.

In memory: `BatchAugment` changes a whole batch (B, C, H, W) at once on the device
where it lives — one random draw per image, no per-image Python loop — and is handed
to `TensorBatches` as its `transform`, for the training split only.
On disk: `disk_transforms` builds the equivalent torchvision v2 pipeline, run per
image in the DataLoader's workers.

Randomness comes from torch's global generator (of the batch's device), which the
trainer saves and restores with its RNG state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dlx.data.bundle import AugmentConfig


class BatchAugment:
    """`x (B, C, H, W) -> x'` of the same shape: crop, flip, rotation, brightness, contrast."""

    def __init__(self, cfg: AugmentConfig):
        self.cfg = cfg

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:  # tabular data has nothing to flip or crop
            raise ValueError(f"augmentation needs image batches (B, C, H, W), got shape {tuple(x.shape)}")
        cfg = self.cfg
        if cfg.crop_padding:
            x = random_crop(x, cfg.crop_padding)
        if cfg.flip:
            x = random_flip(x)
        if cfg.rotation:
            x = random_rotation(x, cfg.rotation)
        if cfg.brightness:
            x = x * _factors(x, cfg.brightness)
        if cfg.contrast:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1): each image's own mean
            x = (x - mean) * _factors(x, cfg.contrast) + mean
        return x


def _factors(x: torch.Tensor, amount: float) -> torch.Tensor:
    """One factor per image, uniform in [1 - amount, 1 + amount], shaped (B, 1, 1, 1)."""
    u = torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)
    return 1 + amount * (2 * u - 1)


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad by `padding`, then cut an (H, W) window at a random offset per image."""
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]  # one gather for the whole batch


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror left-right each image with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_rotation(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate each image about its centre by a random angle in [-degrees, degrees]; corners fill with 0."""
    b = x.shape[0]
    angle = (torch.rand(b, device=x.device, dtype=x.dtype) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(angle)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def disk_transforms(cfg: AugmentConfig | None, size: int):
    """torchvision v2 transforms for PIL images read from disk: the training augmentation."""
    from torchvision.transforms import v2

    steps = []
    if cfg is not None and cfg.crop_padding:
        steps.append(v2.RandomCrop(size, padding=cfg.crop_padding))
    if cfg is not None and cfg.flip:
        steps.append(v2.RandomHorizontalFlip())
    if cfg is not None and cfg.rotation:
        steps.append(v2.RandomRotation(cfg.rotation))
    if cfg is not None and (cfg.brightness or cfg.contrast):
        steps.append(v2.ColorJitter(brightness=cfg.brightness or None, contrast=cfg.contrast or None))
    return steps
