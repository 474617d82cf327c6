"""Image files on disk, read per batch by a DataLoader with torchvision v2 transforms.

Used by `image_folder`: the split is computed from the labels alone (no image is
opened for it), and each split gets its own transform — augmentation for train only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from dlx.data.bundle import DataBundle, DiskSplit
from dlx.data.schemas import DISK_PREPROCESS  # noqa: F401  (re-exported)


@dataclass
class DiskData:
    """What a disk-backed builder returns: a torchvision dataset of files and its labels."""

    files: Any  # torchvision ImageFolder without a transform: files[i] -> (PIL image, label)
    y: np.ndarray  # (N,) int labels
    task: str
    classes: list[str] = field(default_factory=list)
    test: Optional[tuple] = None  # no official test split: data.test_fraction is held out
    image_size: int = 64
    workers: int = 0


class FileImages(torch.utils.data.Dataset):
    """The images of `files` at `indices`, each through `transform` (picklable for workers)."""

    def __init__(self, files, indices: np.ndarray, transform):
        self.files, self.indices, self.transform = files, np.asarray(indices), transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        path, label = self.files.samples[int(self.indices[i])]
        return self.transform(self.files.loader(path)), label


def auto_workers(requested: int) -> int:
    """-1: a few processes, leaving one core to the training loop; never more than 4."""
    if requested >= 0:
        return requested
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def pipeline(size: int, mode: str, stats: dict, augment=None):
    """PIL image -> (C, size, size) float tensor; `augment` steps act on the resized image."""
    from torchvision.transforms import v2

    from dlx.data.augment import disk_transforms

    steps = [v2.ToImage(), v2.Resize((size, size), antialias=True), *disk_transforms(augment, size),
             v2.ToDtype(torch.float32, scale=mode != "none")]
    if mode == "standardize":
        steps.append(v2.Normalize(stats["mean"].tolist(), stats["std"].tolist()))
    return v2.Compose(steps)


def channel_stats(files, indices: np.ndarray, size: int, workers: int) -> dict[str, torch.Tensor]:
    """Per-channel mean and std of the training images (one pass, read from disk)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(FileImages(files, indices, pipeline(size, "pixels", {})), batch_size=256,
                        num_workers=workers)
    total, total_sq, count = 0.0, 0.0, 0
    for xb, _ in loader:  # (B, C, H, W)
        total = total + xb.sum(dim=(0, 2, 3)).double()
        total_sq = total_sq + xb.pow(2).sum(dim=(0, 2, 3)).double()
        count += xb.shape[0] * xb.shape[2] * xb.shape[3]
    mean = total / count
    std = (total_sq / count - mean.pow(2)).clamp_min(0).sqrt()
    return {"mean": mean.float(), "std": torch.where(std > 1e-8, std, torch.ones_like(std)).float()}


def bundle_from_disk(data: DiskData, cfg, indices) -> DataBundle:
    train_i, val_i, test_i = indices
    size, mode = data.image_size, cfg.preprocess
    stats = channel_stats(data.files, train_i, size, data.workers) if mode == "standardize" else {}
    evaluate = pipeline(size, mode, stats)
    train_tf = pipeline(size, mode, stats, cfg.augment)
    y = torch.as_tensor(data.y, dtype=torch.long)

    def split(idx, transform):
        return DiskSplit(FileImages(data.files, idx, transform), y[idx], idx, data.workers)

    channels = len(data.files[0][0].getbands()) if len(data.y) else 3  # ImageFolder converts to RGB
    return DataBundle(split(train_i, train_tf), split(val_i, evaluate), split(test_i, evaluate),
                      (channels, size, size), data.task, list(data.classes), 1,
                      {"mode": mode, "image_size": size, **stats})
