"""Learning-rate schedules, built by name from `torch.optim.lr_scheduler`.

Each is wrapped in a `Schedule` that knows whether it steps per batch ('step':
onecycle) or per epoch (the rest), and whether it needs the monitored validation
value (plateau), so the trainer steps it at the right moment without knowing which
it is. Epoch schedules count `t` in completed epochs: the lr of epoch e+1 is f(e).
"""

from __future__ import annotations

import math
import torch
from torch.optim import lr_scheduler

from dlx.optim.schemas import (CosineConfig, ExponentialConfig, InverseTimeConfig, MultiStepConfig,  # noqa: F401
                               OneCycleConfig, PlateauConfig, SchedulerConfig, StepConfig, WarmupCosineConfig)
from dlx.registry import SCHEDULERS


class Schedule:
    """A learning-rate schedule that steps per 'epoch' or per 'step' (batch).

    `step_epoch(value)` is called after each epoch with the monitored validation
    value (plateau schedules use it), `step_batch()` after each optimizer step.
    """

    def __init__(self, scheduler=None, interval: str = "epoch", needs_value: bool = False):
        self.scheduler = scheduler
        self.interval = interval
        self.needs_value = needs_value

    def step_batch(self) -> None:
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()

    def step_epoch(self, value: float | None = None) -> None:
        if self.scheduler is None or self.interval != "epoch":
            return
        if self.needs_value:
            if value is None or value != value:  # no validation split (a CV refit) or NaN: nothing to judge
                return
            self.scheduler.step(value)
        else:
            self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


def build_schedule(cfg, optimizer, *, epochs: int, steps_per_epoch: int, mode: str = "max") -> Schedule:
    """Build `cfg.name` for a run of `epochs` × `steps_per_epoch`; `mode` is trainer.monitor's."""
    return SCHEDULERS.build(cfg.name, cfg, optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch, mode=mode)


# ---------------------------------------------------------------- builders
# every builder: (cfg, optimizer, *, epochs, steps_per_epoch, mode) -> Schedule


def build_none(cfg, optimizer, **_) -> Schedule:
    return Schedule(None)


def build_step(cfg: StepConfig, optimizer, **_) -> Schedule:
    return Schedule(lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma))


def build_multistep(cfg: MultiStepConfig, optimizer, **_) -> Schedule:
    return Schedule(lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma))


def build_exponential(cfg: ExponentialConfig, optimizer, **_) -> Schedule:
    return Schedule(lr_scheduler.ExponentialLR(optimizer, gamma=cfg.gamma))


def build_inverse_time(cfg: InverseTimeConfig, optimizer, **_) -> Schedule:
    decay = cfg.decay
    return Schedule(lr_scheduler.LambdaLR(optimizer, lambda t: 1.0 / (1.0 + decay * t)))


def build_cosine(cfg: CosineConfig, optimizer, *, epochs: int, **_) -> Schedule:
    return Schedule(lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=cfg.min_lr))


def warmup_cosine_factor(t: int, warmup: int, epochs: int, min_ratio: float) -> float:
    """lr(t) / lr0: (t+1)/warmup while t < warmup, then cosine from 1 to min_ratio."""
    if t < warmup:
        return (t + 1) / warmup
    progress = (t - warmup) / max(1, epochs - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def build_warmup_cosine(cfg: WarmupCosineConfig, optimizer, *, epochs: int, **_) -> Schedule:
    lr0 = optimizer.param_groups[0]["lr"]
    ratio = cfg.min_lr / lr0
    warmup = cfg.warmup_epochs
    return Schedule(lr_scheduler.LambdaLR(optimizer, lambda t: warmup_cosine_factor(t, warmup, epochs, ratio)))


def build_plateau(cfg: PlateauConfig, optimizer, *, mode: str = "max", **_) -> Schedule:
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=cfg.factor, patience=cfg.patience,
                                               threshold=cfg.threshold, cooldown=cfg.cooldown, min_lr=cfg.min_lr)
    return Schedule(scheduler, needs_value=True)


def _has_momentum(optimizer: torch.optim.Optimizer) -> bool:
    defaults = optimizer.defaults
    return "betas" in defaults or defaults.get("momentum", 0) > 0


def build_onecycle(cfg: OneCycleConfig, optimizer, *, epochs: int, steps_per_epoch: int, **_) -> Schedule:
    max_lr = cfg.max_lr if cfg.max_lr is not None else optimizer.param_groups[0]["lr"]
    # cycling momentum needs a momentum to cycle: plain SGD (momentum 0) or Adagrad keep theirs
    scheduler = lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=epochs * steps_per_epoch, pct_start=cfg.pct_start,
        anneal_strategy=cfg.anneal_strategy, div_factor=cfg.div_factor, final_div_factor=cfg.final_div_factor,
        three_phase=cfg.three_phase, cycle_momentum=cfg.cycle_momentum and _has_momentum(optimizer),
        base_momentum=cfg.base_momentum, max_momentum=cfg.max_momentum)
    return Schedule(scheduler, interval="step")
