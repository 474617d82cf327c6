"""The one place a task's parts are built: model, loss, optimizers, schedules and transfer.

Every task calls these, so `model.init_from`, `model.freeze` and `optim.head_lr_mult` work for
every model that has the keys (a tagging run, a causal-transformer language model) and the
optimizer and schedule are built one way:

    model = parts.model_for(exp, input_shape, num_outputs, device, vocab=..., per_step=...)
    optimizer, schedule = parts.optimization(exp, model, train_size, batch_size, classes)

`build_parts` is the supervised set (loss from the data's kind, data.scale_target, the penalty).
"""

from __future__ import annotations

import re
from contextlib import contextmanager

from dlx.engine import transfer
from dlx.errors import ConfigError


def steps_per_epoch(train_size: int, batch_size: int) -> int:
    """Optimizer steps in one epoch of `train_size` samples (a last short batch counts)."""
    return max(1, -(-train_size // max(batch_size, 1)))


@contextmanager
def fits_in_memory(exp):
    """One line, not a traceback, when the model's weights do not fit (model.hidden=[100000000]),
    whether building it on the CPU or moving it to the device."""
    try:
        yield
    except (MemoryError, RuntimeError) as e:  # allocators raise RuntimeError("... can't allocate ...")
        text = str(e)
        if not isinstance(e, MemoryError) and "allocate" not in text and "out of memory" not in text.lower():
            raise
        asked = re.search(r"allocate (\d+) bytes", text)
        size = f" (one tensor alone needs {int(asked.group(1)) / 1e9:.3g} GB)" if asked else ""
        raise ConfigError(f"model '{exp.model.name}' is too large to build in memory{size}; use fewer or "
                          "smaller layers (e.g. model.hidden, model.channels)") from None


def model_for(exp, input_shape, num_outputs: int, device=None, *, vocab: int = 0, per_step: bool = False,
              regularized: bool = True):
    """`exp.model` built for inputs of `input_shape` (the regularizer's dropout / batchnorm when
    `regularized`), on `device` (None: where it was built)."""
    from dlx import models

    reg = exp.regularizer
    extra = (reg.dropout, reg.batchnorm) if regularized else ()
    with fits_in_memory(exp):
        model = models.build(exp.model, tuple(input_shape), num_outputs, *extra, vocab=vocab, per_step=per_step)
        return model.to(device) if device is not None else model


def optimization(exp, model, train_size: int, batch_size: int, classes=None, *, lr: float | None = None):
    """(optimizer, schedule) of `model`, after model.init_from / model.freeze / optim.head_lr_mult;
    `lr` replaces optim.lr (a GAN's discriminator). The transfer note is left on `model.transfer_note`."""
    from dataclasses import replace

    from dlx.optim.optimizers import build_optimizer, build_schedule

    if lr is not None:
        exp = replace(exp, optim=replace(exp.optim, lr=lr))
    params, model.transfer_note = transfer.prepare(exp, model, classes)
    optimizer = build_optimizer(exp.optim, params, exp.regularizer.decoupled_weight_decay)
    schedule = build_schedule(exp.scheduler, optimizer, epochs=exp.trainer.epochs,
                              steps_per_epoch=steps_per_epoch(train_size, batch_size), mode=exp.trainer.mode)
    return optimizer, schedule


def batch_size_of(exp) -> int:
    """trainer.batch_size, or the whole training split for a full-batch optimizer (L-BFGS)."""
    from dlx.registry import OPTIMIZERS

    return 0 if OPTIMIZERS.get(exp.optim.name).meta.get("full_batch") else exp.trainer.batch_size


def build_parts(exp, bundle, device):
    """Model, loss, optimizer, schedule, penalty, batch size and the optimizer's registry meta for
    supervised data: nothing trained yet."""
    from dlx import models
    from dlx.data import target
    from dlx.losses import build_loss
    from dlx.registry import OPTIMIZERS
    from dlx.regularize import build_penalty

    reg = exp.regularizer
    meta = OPTIMIZERS.get(exp.optim.name).meta
    loss = build_loss(exp.loss, bundle.kind, bundle.num_classes, bundle.num_targets, reg.label_smoothing)
    model = model_for(exp, bundle.input_shape, loss.num_outputs, vocab=models.vocab_of(bundle.preprocess))
    if "target" in bundle.preprocess:  # data.scale_target: learn standardised y, report y's units
        model, loss = target.wrap(model, loss, bundle.preprocess["target"], closure=bool(meta.get("closure")))
    with fits_in_memory(exp):
        model = model.to(device)
    batch_size = batch_size_of(exp) or len(bundle.train)
    optimizer, schedule = optimization(exp, model, len(bundle.train), batch_size, bundle.classes)
    return model, loss, optimizer, schedule, build_penalty(reg, model), batch_size, meta
