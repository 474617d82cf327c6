"""Image files on disk, read per batch by a DataLoader with torchvision v2 transforms.

Used by `image_folder`: the split is computed from the labels alone (no image is
opened for it), and each split gets its own transform — augmentation for train only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from dlx.data.bundle import DataBundle, DiskSplit
from dlx.data.schemas import DISK_PREPROCESS  # noqa: F401  (re-exported)
from dlx.errors import DataError, first_line


@dataclass
class DiskData:
    """What a disk-backed builder returns: a torchvision dataset of files and its labels."""

    files: Any  # torchvision ImageFolder without a transform: files[i] -> (PIL image, label)
    y: np.ndarray  # (N,) int labels
    kind: str
    classes: list[str] = field(default_factory=list)
    test: Optional[tuple] = None  # no official test split: data.test_fraction is held out
    image_size: int = 64
    workers: int = 0
    skip_bad_files: bool = False  # skip undecodable images with a warning (data.skip_bad_files)


class UnreadableImage(DataError):
    """An image file that cannot be decoded. A DataLoader worker's exception comes back to the
    main process as `UnreadableImage("Caught UnreadableImage ... <traceback> ...UnreadableImage: <msg>")`:
    keep the message alone, so the user still reads one line."""

    def __init__(self, message: str):
        super().__init__(message.rpartition(f"{type(self).__name__}: ")[2].strip())


log = logging.getLogger(__name__)

_WARNED: set[str] = set()  # files this process has already warned about (each epoch reads them again)


class FileImages(torch.utils.data.Dataset):
    """The images of `files` at `indices`, each through `transform` (picklable for workers).

    An image that cannot be decoded (truncated, not an image) stops the run naming the file,
    or with `skip_bad` is skipped with a warning: `__getitem__` returns None and
    `collate_skipping` leaves it out of the batch.
    """

    def __init__(self, files, indices: np.ndarray, transform, skip_bad: bool = False):
        self.files, self.indices, self.transform = files, np.asarray(indices), transform
        self.skip_bad = skip_bad

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        path, label = self.files.samples[int(self.indices[i])]
        try:
            image = self.files.loader(path)  # PIL: open and convert to RGB, which decodes every pixel
        except (OSError, SyntaxError, ValueError) as e:  # truncated, corrupt, not an image
            reason = first_line(e, limit=120)
            if not self.skip_bad:
                raise UnreadableImage(f"image_folder: cannot read {path} ({reason}); fix or remove the file, "
                                      "or set data.skip_bad_files=true to skip such files with a warning") from None
            if path not in _WARNED:
                _WARNED.add(path)
                log.warning(f"skipping unreadable image {path} ({reason})")
            return None
        return self.transform(image), label


def collate_skipping(batch):
    """`default_collate` of the samples that could be read (None: a skipped file)."""
    from torch.utils.data import default_collate

    return default_collate([sample for sample in batch if sample is not None])


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


def channel_stats(files, indices: np.ndarray, size: int, workers: int,
                  skip_bad: bool = False) -> dict[str, torch.Tensor]:
    """Per-channel mean and std of the training images (one pass, read from disk)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(FileImages(files, indices, pipeline(size, "pixels", {}), skip_bad), batch_size=256,
                        num_workers=workers, collate_fn=collate_skipping)
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
    skip = data.skip_bad_files
    stats = channel_stats(data.files, train_i, size, data.workers, skip) if mode == "standardize" else {}
    evaluate = pipeline(size, mode, stats)
    train_tf = pipeline(size, mode, stats, cfg.augment)
    y = torch.as_tensor(data.y, dtype=torch.long)

    def split(idx, transform):
        return DiskSplit(FileImages(data.files, idx, transform, skip), y[idx], idx, data.workers)

    channels = 3  # torchvision's default image loader converts every image to RGB
    return DataBundle(split(train_i, train_tf), split(val_i, evaluate), split(test_i, evaluate),
                      (channels, size, size), data.kind, list(data.classes), 1,
                      {"mode": mode, "image_size": size, **stats})
