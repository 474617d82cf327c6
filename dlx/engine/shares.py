"""Data-parallel gradients weighted by each rank's share of the global batch.

DDP averages the ranks' gradients with equal weight. Each rank's loss is a mean over its own
samples, so when a global batch does not split evenly (17 over 2 ranks: 9 and 8) the plain
average is 1/2 (mean_9 + mean_8), not the one-process step mean_17. `weighted_mean`, DDP's
communication hook in dlx.engine.distributed, sums n_r * g_r and n_r instead and divides.
"""

from __future__ import annotations

from contextlib import contextmanager


class Share:
    """This rank's samples in the step under way: set by the wrapped model's forward, or by a task
    whose loss averages over something else (`set_samples`); none while the rank steps on padding
    (the repeat of a sample, when a batch is smaller than the world: `padding`)."""

    samples: float = 1.0
    padding: bool = False

    @property
    def weight(self) -> float:
        return 0.0 if self.padding else self.samples


@contextmanager
def padding(model):
    """The step taken inside weighs nothing in the all-reduce (the rank's share is a repeat).
    No-op on a model that is not data-parallel."""
    share = getattr(model, "share", None)
    if not isinstance(share, Share):
        yield
        return
    share.padding = True
    try:
        yield
    finally:
        share.padding = False


def set_samples(model, samples: float) -> None:
    """The hook for a task: the count its loss is a mean over on this rank (tokens, say), when
    it is not the first input's batch dimension. No-op on a model that is not data-parallel."""
    share = getattr(model, "share", None)
    if isinstance(share, Share):
        share.samples = float(samples)


def batch_samples(inputs: tuple, kwargs: dict) -> float:
    """The samples of one forward: the first tensor argument's batch dimension (1 when none)."""
    for value in (*inputs, *kwargs.values()):
        shape = getattr(value, "shape", None)
        if shape is not None and len(shape) >= 1:
            return float(shape[0])
    return 1.0


def weighted_mean(share: Share, bucket):
    """DDP's gradient all-reduce, weighted: sum over ranks of n_r * g_r, divided by sum of n_r.

    Each rank's loss is the mean over its own n_r samples; when a global batch does not split
    evenly (17 over 2 ranks: 9 and 8), DDP's plain average 1/2 (mean_9 + mean_8) is not the
    one-process step mean_17, but this is; a rank stepping on padding sends n_r = 0. The counts
    travel in the same all-reduce (one more element per bucket), so no collective is added; equal
    shares give DDP's own average.
    """
    import torch
    import torch.distributed as dist

    grads = bucket.buffer()
    low = grads.dtype in (torch.float16, torch.bfloat16)  # n_r * g_r summed in fp32: no overflow
    packed = torch.empty(grads.numel() + 1, dtype=torch.float32 if low else grads.dtype, device=grads.device)
    packed[:-1].copy_(grads).mul_(share.weight)
    packed[-1] = share.weight
    future = dist.all_reduce(packed, async_op=True).get_future()

    def average(done):
        total = done.value()[0]
        grads.copy_(total[:-1] / total[-1])
        return grads

    return future.then(average)
