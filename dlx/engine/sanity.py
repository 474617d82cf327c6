"""`trainer.overfit_batches=N`: the "overfit a few samples first" sanity check.

The run trains on the first N training batches only and validates on the same batches:
a model, loss and optimizer that work drive the training loss towards zero and the
accuracy to 1. If they do not, something is broken before any tuning is worth doing.
"Fitted" means a training loss under 0.05 or 5 % of the first epoch's, or a training
accuracy of at least 0.99 (label smoothing, on by default, keeps the loss above zero).
The check's verdict is one line in log.txt and on the terminal at the end of the run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional

from dlx.engine.callbacks import Callback

NEAR_ZERO = 0.05  # a training loss under this (or 5 % of the first epoch's) "approached zero"
FITTED_ACC = 0.99  # or, for classifiers, a training accuracy this high (label smoothing keeps the loss > 0)


def overfit_bundle(bundle, batches: int, batch_size: int):
    """`bundle` with train = its first `batches` batches and val = the same samples."""
    import torch

    from dlx.data.bundle import DiskSplit, Split

    n = min(len(bundle.train), batches * batch_size)
    train = bundle.train
    if isinstance(train, DiskSplit):
        subset = DiskSplit(torch.utils.data.Subset(train.dataset, range(n)), train.y[:n],
                           None if train.index is None else train.index[:n], train.workers)
    else:
        subset = Split(train.x[:n], train.y[:n], None if train.index is None else train.index[:n])
    return replace(bundle, train=subset, val=subset)


class OverfitCheck(Callback):
    """Says at the end whether the training loss approached zero on the few batches."""

    def __init__(self, batches: int, say: Optional[Callable[[str], None]] = None):
        self.batches, self.say = batches, say
        self.run_dir = None

    def on_fit_start(self, trainer, ctx) -> None:
        self.run_dir = ctx.run_dir

    def on_fit_end(self, trainer, summary) -> None:
        if summary is None or not trainer.history:
            return
        first, last = trainer.history[0].get("train_loss"), trainer.history[-1].get("train_loss")
        if first is None or last is None:
            return
        acc = trainer.history[-1].get("train_acc")
        shown = f"training loss {first:.4g} -> {last:.4g}" + (f", accuracy {acc:.3f}" if acc is not None else "")
        if last < NEAR_ZERO or last < 0.05 * first or (acc is not None and acc >= FITTED_ACC):
            line = f"overfit check on {self.batches} batch(es): {shown} — fitted: the model, loss and optimizer can learn"
        else:
            line = (f"overfit check on {self.batches} batch(es): {shown} — did NOT approach zero: check the "
                    "loss, the labels and optim.lr (try `dlx lr-find`), or train more epochs")
        if self.run_dir is not None:
            self.run_dir.log(line)
        if self.say is not None:
            self.say(line)


def diagnostics(exp, warn: Optional[Callable[[str], None]] = None, say=None) -> list:
    """The callbacks trainer.watch, trainer.profile and trainer.overfit_batches ask for (none by default)."""
    cfg = exp.trainer
    found: list = []
    if cfg.watch != "none":
        from dlx.engine.watch import LayerWatch

        found.append(LayerWatch(cfg.watch))  # warns through logging
    if cfg.profile:
        from dlx.engine.profile import Profiler

        found.append(Profiler())  # warns through logging
    if cfg.overfit_batches:
        found.append(OverfitCheck(cfg.overfit_batches, say))
    return found
