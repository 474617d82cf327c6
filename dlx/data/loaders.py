"""Batching. In-memory data is sliced from tensors already on the device: one
permutation per epoch, then views — no per-sample Python work, no collation."""

from __future__ import annotations

import math
from typing import Callable, Iterator, Optional

import torch


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
        if self.shuffle:
            # one gather per epoch, then contiguous slices: cheaper than a gather per batch
            perm = torch.randperm(self.n, generator=self.generator).to(x.device)
            x, y = x[perm], y[perm]
        bs = self.batch_size
        for start in range(0, len(self) * bs, bs):
            xb = x[start : start + bs]
            if self.transform is not None:
                xb = self.transform(xb)
            yield xb, y[start : start + bs]
