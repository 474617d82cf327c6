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
        shard: tuple[int, int] = (0, 1),
    ):
        self.x, self.y = x, y
        self.rank, self.world = shard  # data-parallel: this rank's share of every batch
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
            if perm is None and self.world == 1:
                xb, yb = x[start : start + bs], y[start : start + bs]  # views, no copy
            else:
                # a gather per batch, not one of the whole split per epoch: the same bytes move,
                # but a batch-sized buffer is recycled by the allocator while a split-sized one
                # is fresh memory every epoch (page faults: ~3x slower on CPU, measured)
                idx = perm[start : start + bs] if perm is not None else \
                    torch.arange(start, min(start + bs, self.n), device=x.device)
                idx = own_share(idx, self.rank, self.world)
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            if self.transform is not None:
                xb = self.transform(xb)
            yield xb, yb


def own_share(batch, rank: int, world: int):
    """A data-parallel rank's share of one global batch (indices): every world-th, from `rank`.

    Never empty: a rank beyond a batch smaller than the world gets its last sample again, so
    every rank takes every step; that repeat is padding (`padding_of`), weighs nothing in the
    gradient and counts in no metric. The other shares differ by at most one sample.
    """
    if world == 1:
        return batch
    part = batch[rank::world]
    return part if len(part) else batch[-1:]


def padding_of(batches) -> Optional[Callable[[int], bool]]:
    """For a data-parallel rank's training batches (TensorBatches, or a DataLoader over
    RankShares): `padded(i)`, true when its share of the epoch's i-th global batch is the
    repeated sample of a batch smaller than the world. None for one process."""
    sampler = getattr(batches, "batch_sampler", None)
    if isinstance(sampler, RankShares):
        rank, world = sampler.rank, sampler.world
        n, size = len(sampler.batches.sampler), sampler.batches.batch_size
    elif isinstance(batches, TensorBatches):
        rank, world, n, size = batches.rank, batches.world, batches.n, batches.batch_size
    else:
        return None
    if world == 1:
        return None
    return lambda i: rank >= min(size, n - i * size)


class RankShares:
    """A batch sampler's global batches, cut to one rank's share (the DataLoader path)."""

    def __init__(self, batches, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            yield own_share(batch, self.rank, self.world)


def split_batches(split, batch_size: int, device, *, shuffle: bool = False,
                  generator: Optional[torch.Generator] = None, transform=None, drop_last: bool = False,
                  shard=(0, 1)):
    """Mini-batches of one split: index slicing on the device, or a DataLoader for files on disk."""
    from dlx.data.bundle import DiskSplit

    if isinstance(split, DiskSplit):
        return disk_loader(split, batch_size, torch.device(device), shuffle=shuffle, generator=generator,
                           drop_last=drop_last, shard=shard)
    split = split.to(device)
    return TensorBatches(split.x, split.y, batch_size, shuffle=shuffle, generator=generator, transform=transform,
                         drop_last=drop_last, shard=shard)


def bundle_batches(bundle, device, batch_size: int, eval_batch_size: int, generator: torch.Generator,
                   min_batch: int = 1, shard=(0, 1)):
    """(train, val, test) batches; augmentation on the training split only, which data-parallel
    ranks share out (`shard` = (rank, world)); each evaluates val and test whole.

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
                          drop_last=drop_last, shard=shard)
    val = split_batches(bundle.val, eval_batch_size, device)
    test = split_batches(bundle.test, eval_batch_size, device)
    return train, val, test


def disk_loader(split, batch_size: int, device: torch.device, *, shuffle: bool = False,
                generator: Optional[torch.Generator] = None, drop_last: bool = False, shard=(0, 1)):
    """A DataLoader over files: workers decode images while the device trains; pinned
    memory makes the copy to a GPU asynchronous, and is pointless elsewhere."""
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    from dlx.data.disk import collate_skipping

    batch_size = min(batch_size, max(len(split), 1))
    common = dict(num_workers=split.workers, pin_memory=device.type == "cuda", persistent_workers=split.workers > 0,
                  collate_fn=collate_skipping)
    if shard[1] == 1:
        return DataLoader(split.dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                          generator=generator if shuffle else None, **common)
    # the batches DataLoader(shuffle=...) would draw, each cut to this rank's share
    order = RandomSampler(split.dataset, generator=generator) if shuffle else SequentialSampler(split.dataset)
    batches = RankShares(BatchSampler(order, batch_size, drop_last=drop_last), *shard)
    # the generator also seeds the loader's workers, as it does for DataLoader(shuffle=True)
    return DataLoader(split.dataset, batch_sampler=batches, generator=generator if shuffle else None, **common)
