"""The learning-rate range test (Smith 2017; `dlx lr-find`).

Train the chosen model, data and optimizer for `steps` mini-batches while the learning
rate grows exponentially from `start` to `end` (default 1e-7 -> 10 over 100 steps);
record the loss, smooth it with a bias-corrected exponential moving average, and stop
once the smoothed loss exceeds `diverge` times its minimum (or is not finite).

Suggestion rule: the learning rate at the minimum of the smoothed loss, divided by 10
— one order of magnitude below where the loss stops falling, where it still falls fast
and safely. The model, optimizer and data are built by the same path as `dlx train`
(a Task), so any model and optimizer work; nothing of the test is kept but its curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from dlx import data, testhooks
from dlx.engine.experiment import label_for, setup_torch
from dlx.engine.monitor import for_task
from dlx.errors import ConfigError
from dlx.store.probes import create_lr_find_dir, write_curve

if TYPE_CHECKING:
    from dlx.config import Experiment

SMOOTHING = 0.9  # EMA factor of the loss
DIVERGE = 4.0  # stop when the smoothed loss exceeds this many times its minimum
MIN_STEPS = 10


@dataclass
class LrFindResult:
    rows: list[dict] = field(default_factory=list)  # step, lr, loss, smoothed
    suggestion: Optional[float] = None
    minimum_lr: Optional[float] = None  # where the smoothed loss was lowest
    stopped: str = ""  # why the test ended early ("" = all steps ran)


def check_range(start: float, end: float, steps: int) -> None:
    """Refuse, in one line, a range the test cannot sweep: not finite, not 0 < start < end, too few steps."""
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ConfigError(f"--start {start} --end {end}: both must be finite numbers (e.g. --start 1e-7 --end 10)")
    if not (start > 0 and end > start):
        raise ConfigError(f"--start {start} --end {end}: need 0 < start < end (e.g. --start 1e-7 --end 10)")
    if steps < MIN_STEPS:
        raise ConfigError(f"--steps {steps}: the range test needs at least {MIN_STEPS} steps (default 100)")


def schedule(start: float, end: float, steps: int) -> list[float]:
    """`steps` learning rates from `start` to `end`, equally spaced on a log scale."""
    return [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]


def suggest(rows: list[dict], skip: int = 0) -> tuple[Optional[float], Optional[float]]:
    """(suggested lr, lr at the smoothed minimum): the minimum's lr / 10, or None when the loss
    never fell below its start (the range starts too high)."""
    scored = [r for r in rows[skip:] if math.isfinite(r["smoothed"])]
    if len(scored) < 2:
        return None, None
    best = min(scored, key=lambda r: r["smoothed"])
    if best is scored[0]:
        return None, best["lr"]
    return best["lr"] / 10, best["lr"]


def run_range_test(exp: Experiment, start: float = 1e-7, end: float = 10.0, steps: int = 100) -> LrFindResult:
    """Build `exp`'s task and data, run the range test, return the curve and the suggestion."""
    import torch

    # these import torch at their top: `dlx lr-find` checks its range before paying for them
    from dlx.data.loaders import bundle_batches
    from dlx.engine.tasks import build_task
    from dlx.engine.trainer import Trainer

    check_range(start, end, steps)
    device = setup_torch(exp)
    bundle = data.build(exp.data)
    exp = for_task(exp, bundle.kind)
    task = build_task(exp, bundle, device)
    shuffle = torch.Generator().manual_seed(exp.trainer.seed)
    train = bundle_batches(bundle, device, task.batch_size, exp.trainer.eval_batch_size, shuffle)[0]
    trainer = Trainer(exp.trainer, task, device=device, clip_grad_norm=exp.regularizer.clip_grad_norm,
                      shuffle_generator=shuffle)
    task.model.train()
    result, avg, lowest = LrFindResult(), 0.0, math.inf
    lrs = schedule(start, end, steps)
    batches = _endless(train)
    for step, lr in enumerate(lrs, 1):
        for optimizer in task.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = lr
        batch = next(batches)
        if not isinstance(getattr(train, "x", None), torch.Tensor):
            batch = task.to_device(batch, device)
        loss = task.train_step(trainer, batch, task.train_metrics())
        avg = SMOOTHING * avg + (1 - SMOOTHING) * loss
        smoothed = avg / (1 - SMOOTHING ** step) if math.isfinite(loss) else math.inf
        result.rows.append({"step": step, "lr": lr, "loss": loss, "smoothed": smoothed})
        lowest = min(lowest, smoothed)
        testhooks.pause("step")
        if not math.isfinite(smoothed) or smoothed > DIVERGE * lowest:
            result.stopped = f"the loss diverged at lr {lr:.2e} (step {step})"
            break
    result.suggestion, result.minimum_lr = suggest(result.rows)
    return result


def _endless(batches):
    """The training batches, epoch after epoch (a new shuffle each time)."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ConfigError("the training split is empty: nothing to run the range test on")


def save(exp: Experiment, result: LrFindResult, overrides) -> Path:
    """outputs/lr-find/<id>/: curve.csv and config.yaml; returns the folder. The caller draws
    curve.png there (the engine returns data; report/ draws)."""
    from omegaconf import OmegaConf

    folder = create_lr_find_dir(exp.output_dir, label_for(exp))
    config = {"overrides": list(overrides), "suggestion": result.suggestion, "minimum_lr": result.minimum_lr,
              "stopped": result.stopped, "config": OmegaConf.to_container(exp.raw, resolve=True)}
    write_curve(folder, result.rows, config)
    return folder
