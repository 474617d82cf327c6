"""Optimizers and learning-rate schedules, built by name from `torch.optim`.

Each optimizer has a schema (its own keys under their usual torch names) and a
builder `(cfg, params) -> torch.optim.Optimizer`. Each schedule is wrapped in a
`Schedule` that knows whether it steps per batch or per epoch, so the trainer
steps it at the right moment without knowing which it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dlx.errors import require
from dlx.registry import OPTIMIZERS, SCHEDULERS

# ---------------------------------------------------------------- optimizers


@dataclass
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.01
    weight_decay: float = 0.0

    def __post_init__(self):
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")


@dataclass
class SGDConfig(OptimConfig):
    name: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False
    dampening: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        require(0 <= self.momentum < 1, "momentum", f"must be in [0, 1), got {self.momentum}")


@dataclass
class AdamConfig(OptimConfig):
    name: str = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    amsgrad: bool = False

    def __post_init__(self):
        super().__post_init__()
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas",
                f"must be two numbers in [0, 1), got {self.betas}")
        require(self.eps > 0, "eps", f"must be > 0, got {self.eps}")


def _fused_ok(params) -> bool:
    """torch's fused kernels need every parameter floating point on CPU or CUDA."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def _param_list(params) -> list:
    return [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]


@OPTIMIZERS.register("sgd", schema=SGDConfig)
def build_sgd(cfg: SGDConfig, params):
    params = list(params)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                           dampening=cfg.dampening, weight_decay=cfg.weight_decay,
                           fused=_fused_ok(_param_list(params)) or None)


@OPTIMIZERS.register("adam", schema=AdamConfig)
def build_adam(cfg: AdamConfig, params):
    params = list(params)
    # fused=True steps ~30 % faster than the default for-each kernel on the CPU
    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                            weight_decay=cfg.weight_decay, amsgrad=cfg.amsgrad,
                            fused=_fused_ok(_param_list(params)) or None)


def build_optimizer(cfg, params, decoupled_weight_decay: float = 0.0):
    """Build `cfg.name`; a regularizer's decoupled weight decay becomes the optimizer's."""
    if decoupled_weight_decay:
        from dataclasses import replace

        cfg = replace(cfg, weight_decay=decoupled_weight_decay)
    return OPTIMIZERS.build(cfg.name, cfg, params)


# ---------------------------------------------------------------- schedules


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
            self.scheduler.step(value)
        else:
            self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


@dataclass
class SchedulerConfig:
    name: str = "none"


@SCHEDULERS.register("none", schema=SchedulerConfig)
def build_none(cfg, optimizer, *, epochs: int, steps_per_epoch: int, mode: str = "max") -> Schedule:
    return Schedule(None)


def build_schedule(cfg, optimizer, *, epochs: int, steps_per_epoch: int, mode: str = "max") -> Schedule:
    return SCHEDULERS.build(cfg.name, cfg, optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch, mode=mode)
