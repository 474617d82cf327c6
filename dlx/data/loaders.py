"""Batching. In-memory data is cut from tensors already on the device: one
permutation per epoch, then one gather per batch (views when not shuffled) — no
per-sample Python work, no collation. Files on disk go through a DataLoader."""

from __future__ import annotations

import math
from typing import Callable, Iterator, Optional

import torch

from dlx.errors import DataError


class TensorBatches:
    """Iterate (x, y) mini-batches of tensors that live on the training device.

    `generator` (a CPU torch.Generator) drives the shuffle, so the order is a
    function of the seed alone and can be saved and restored with the run.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: Optional[torch.Generator] = None,
        transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        drop_last: bool = False,
    ):
        self.x, self.y = x, y
        self.n = int(y.shape[0])
        self.batch_size = min(batch_size, self.n) if self.n else batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.transform = transform
        self.drop_last = drop_last

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.x, self.y
        perm = torch.randperm(self.n, generator=self.generator).to(x.device) if self.shuffle else None
        bs = self.batch_size
        for start in range(0, len(self) * bs, bs):
            if perm is None:
                xb, yb = x[start : start + bs], y[start : start + bs]  # views, no copy
            else:
                # a gather per batch, not one of the whole split per epoch: the same bytes move,
                # but a batch-sized buffer is recycled by the allocator while a split-sized one
                # is fresh memory every epoch (page faults: ~3x slower on CPU, measured)
                idx = perm[start : start + bs]
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            if self.transform is not None:
                xb = self.transform(xb)
            yield xb, yb


def split_batches(split, batch_size: int, device, *, shuffle: bool = False,
                  generator: Optional[torch.Generator] = None, transform=None, drop_last: bool = False):
    """Mini-batches of one split: index slicing on the device, or a DataLoader for files on disk."""
    from dlx.data.bundle import DiskSplit

    if isinstance(split, DiskSplit):
        return disk_loader(split, batch_size, torch.device(device), shuffle=shuffle, generator=generator,
                           drop_last=drop_last)
    split = split.to(device)
    return TensorBatches(split.x, split.y, batch_size, shuffle=shuffle, generator=generator, transform=transform,
                         drop_last=drop_last)


def bundle_batches(bundle, device, batch_size: int, eval_batch_size: int, generator: torch.Generator,
                   min_batch: int = 1):
    """(train, val, test) batches; augmentation on the training split only.

    `min_batch=2` (a model with BatchNorm1d, which cannot normalise one sample in training) drops
    a last training batch of a single sample, as DataLoader's drop_last would; the shuffle puts
    a different sample there each epoch.
    """
    from dlx.data.augment import BatchAugment

    if len(bundle.train) < min_batch:
        raise DataError(f"batch norm needs at least {min_batch} training samples per batch, but the training "
                        f"split has {len(bundle.train)}; use more data (data.limit) or no batch norm")
    augment = BatchAugment(bundle.augment) if bundle.augment is not None and bundle.augment.active else None
    size = min(batch_size, len(bundle.train))
    drop_last = 0 < len(bundle.train) % size < min_batch
    train = split_batches(bundle.train, batch_size, device, shuffle=True, generator=generator, transform=augment,
                          drop_last=drop_last)
    val = split_batches(bundle.val, eval_batch_size, device)
    test = split_batches(bundle.test, eval_batch_size, device)
    return train, val, test


def disk_loader(split, batch_size: int, device: torch.device, *, shuffle: bool = False,
                generator: Optional[torch.Generator] = None, drop_last: bool = False):
    """A DataLoader over files: workers decode images while the device trains; pinned
    memory makes the copy to a GPU asynchronous, and is pointless elsewhere."""
    from torch.utils.data import DataLoader

    from dlx.data.disk import collate_skipping

    return DataLoader(split.dataset, batch_size=min(batch_size, max(len(split), 1)), shuffle=shuffle,
                      collate_fn=collate_skipping,
                      generator=generator if shuffle else None, num_workers=split.workers,
                      pin_memory=device.type == "cuda", persistent_workers=split.workers > 0, drop_last=drop_last)
