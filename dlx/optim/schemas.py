"""The optim and scheduler groups' schemas and the built-in optimizers' and schedules'
declarations: importable without torch.

`OPTIMIZERS.declare(...)` / `SCHEDULERS.declare(...)` at the bottom are the tables of built-in
components (the builders in `dlx.optim.optimizers` and `dlx.optim.schedulers` are imported when
first built). Ranges and choices are declared on the fields (`dlx.constraints`), so
`dlx.config.precheck` answers `optim.lr=-1` before torch loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from dlx.constraints import Checked, at_least, choices, fraction, interval, positive
from dlx.errors import require
from dlx.registry import OPTIMIZERS, SCHEDULERS

# ---------------------------------------------------------------- optimizers


@dataclass
class OptimConfig(Checked):
    name: str = "sgd"
    lr: float = positive(0.01, finite=True)
    weight_decay: float = at_least(0.0, 0)
    head_lr_mult: float = positive(1.0)  # the output head's lr = lr × this (fine-tuning, issue 14)


@dataclass
class SGDConfig(OptimConfig):
    name: str = "sgd"
    momentum: float = fraction(0.0)
    nesterov: bool = False
    dampening: float = fraction(0.0)

    def validate(self) -> None:
        if self.nesterov:  # torch's condition: Nesterov needs momentum and no dampening
            require(self.momentum > 0 and self.dampening == 0, "nesterov",
                    "needs momentum > 0 and dampening = 0")


def betas():
    return interval([0.9, 0.999], 0, 1, closed="left", each=True)


def _check_betas(value) -> None:
    require(len(value) == 2, "betas", f"must be two numbers in [0, 1), got {value}")


@dataclass
class AdamConfig(OptimConfig):
    name: str = "adam"
    lr: float = positive(1e-3, finite=True)
    betas: list[float] = betas()
    eps: float = positive(1e-8)
    amsgrad: bool = False

    def validate(self) -> None:
        _check_betas(self.betas)


@dataclass
class NAdamConfig(OptimConfig):
    name: str = "nadam"
    lr: float = positive(2e-3, finite=True)
    betas: list[float] = betas()
    eps: float = positive(1e-8)
    momentum_decay: float = at_least(4e-3, 0)  # ψ in Dozat's momentum schedule

    def validate(self) -> None:
        _check_betas(self.betas)


@dataclass
class AdagradConfig(OptimConfig):
    name: str = "adagrad"
    lr_decay: float = at_least(0.0, 0)
    initial_accumulator_value: float = at_least(0.0, 0)
    eps: float = positive(1e-10)


@dataclass
class AdadeltaConfig(OptimConfig):
    name: str = "adadelta"
    lr: float = positive(1.0, finite=True)
    rho: float = fraction(0.9, closed="both")
    eps: float = positive(1e-6)


@dataclass
class RMSpropConfig(OptimConfig):
    name: str = "rmsprop"
    alpha: float = fraction(0.99)  # decay of the running mean of squared gradients
    eps: float = positive(1e-8)
    momentum: float = fraction(0.0)
    centered: bool = False


@dataclass
class LBFGSConfig(OptimConfig):
    name: str = "lbfgs"
    lr: float = positive(1.0, finite=True)
    max_iter: int = at_least(20, 1)  # inner iterations per step (one step per epoch: full batch)
    max_eval: Optional[int] = at_least(None, 1)  # None: torch's max_iter * 1.25
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    history_size: int = at_least(100, 1)
    line_search_fn: Optional[str] = choices("strong_wolfe", "strong_wolfe", nullable=True)

    def validate(self) -> None:
        require(self.weight_decay == 0, "weight_decay",
                "torch's L-BFGS has no weight decay; use regularizer.l2 (a penalty in the loss) instead")


# ---------------------------------------------------------------- schedulers


@dataclass
class SchedulerConfig(Checked):
    name: str = "none"


@dataclass
class StepConfig(SchedulerConfig):
    name: str = "step"
    step_size: int = at_least(5, 1)  # epochs between drops
    gamma: float = positive(0.5)  # lr *= gamma every step_size epochs


@dataclass
class MultiStepConfig(SchedulerConfig):
    name: str = "multistep"
    milestones: list[int] = at_least([10, 20], 1, each=True)
    gamma: float = positive(0.1)

    def validate(self) -> None:
        ms = list(self.milestones)
        require(len(ms) > 0 and ms == sorted(set(ms)), "milestones", f"must be increasing epochs >= 1, got {ms}")


@dataclass
class ExponentialConfig(SchedulerConfig):
    name: str = "exponential"
    gamma: float = positive(0.95)


@dataclass
class InverseTimeConfig(SchedulerConfig):
    name: str = "inverse_time"
    decay: float = at_least(0.1, 0)  # k in lr0 / (1 + k·t)


@dataclass
class CosineConfig(SchedulerConfig):
    name: str = "cosine"
    min_lr: float = at_least(0.0, 0)


@dataclass
class WarmupCosineConfig(CosineConfig):
    name: str = "warmup_cosine"
    warmup_epochs: int = at_least(5, 0)


@dataclass
class PlateauConfig(SchedulerConfig):
    name: str = "plateau"
    factor: float = interval(0.1, 0, 1, closed="neither")
    patience: int = at_least(10, 0)
    threshold: float = at_least(1e-4, 0)
    cooldown: int = at_least(0, 0)
    min_lr: float = at_least(1e-6, 0)


ANNEAL = ("cos", "linear")


@dataclass
class OneCycleConfig(SchedulerConfig):
    name: str = "onecycle"
    max_lr: Optional[float] = positive(None)  # None: optim.lr
    pct_start: float = interval(0.3, 0, 1, closed="neither")
    anneal_strategy: str = choices("cos", *ANNEAL)
    div_factor: float = positive(25.0)
    final_div_factor: float = positive(1e4)
    three_phase: bool = False
    cycle_momentum: bool = True
    base_momentum: float = 0.85
    max_momentum: float = 0.95

    def validate(self) -> None:
        require(0 <= self.base_momentum <= self.max_momentum < 1, "base_momentum",
                "needs 0 <= base_momentum <= max_momentum < 1")


# ---------------------------------------------------------------- the built-in components

_OPT = "dlx.optim.optimizers"
# gd: one step per epoch on the whole training split (experiment.py reads `full_batch`)
OPTIMIZERS.declare("gd", SGDConfig, f"{_OPT}:build_sgd", full_batch=True,
                   summary="full-batch gradient descent: one step per epoch")
OPTIMIZERS.declare("sgd", SGDConfig, f"{_OPT}:build_sgd", summary="mini-batch SGD")
OPTIMIZERS.declare("momentum", SGDConfig, f"{_OPT}:build_sgd", summary="SGD with heavy-ball momentum")
OPTIMIZERS.declare("nesterov", SGDConfig, f"{_OPT}:build_sgd", summary="SGD with Nesterov momentum")
OPTIMIZERS.declare("adam", AdamConfig, f"{_OPT}:build_adam", summary="Adam with bias correction")
OPTIMIZERS.declare("adamw", AdamConfig, f"{_OPT}:build_adamw", summary="Adam with decoupled weight decay")
OPTIMIZERS.declare("nadam", NAdamConfig, f"{_OPT}:build_nadam", summary="Adam with Nesterov momentum")
OPTIMIZERS.declare("adagrad", AdagradConfig, f"{_OPT}:build_adagrad",
                   summary="per-weight rates from summed squared gradients")
OPTIMIZERS.declare("adadelta", AdadeltaConfig, f"{_OPT}:build_adadelta",
                   summary="Adagrad with decaying averages, unit-free steps")
OPTIMIZERS.declare("rmsprop", RMSpropConfig, f"{_OPT}:build_rmsprop", summary="running mean of squared gradients")
# L-BFGS re-evaluates the loss several times per step, through a closure, on the whole training split
OPTIMIZERS.declare("lbfgs", LBFGSConfig, f"{_OPT}:build_lbfgs", full_batch=True, closure=True,
                   summary="quasi-Newton, full batch with a closure")

_SCH = "dlx.optim.schedulers"
SCHEDULERS.declare("none", SchedulerConfig, f"{_SCH}:build_none", summary="constant learning rate")
SCHEDULERS.declare("step", StepConfig, f"{_SCH}:build_step", summary="lr *= gamma every step_size epochs")
SCHEDULERS.declare("multistep", MultiStepConfig, f"{_SCH}:build_multistep",
                   summary="lr *= gamma at each milestone epoch")
SCHEDULERS.declare("exponential", ExponentialConfig, f"{_SCH}:build_exponential", summary="lr0 · gamma^t")
SCHEDULERS.declare("inverse_time", InverseTimeConfig, f"{_SCH}:build_inverse_time", summary="lr0 / (1 + decay·t)")
SCHEDULERS.declare("cosine", CosineConfig, f"{_SCH}:build_cosine", summary="cosine from lr0 to min_lr over the run")
SCHEDULERS.declare("warmup_cosine", WarmupCosineConfig, f"{_SCH}:build_warmup_cosine",
                   summary="linear warm-up for warmup_epochs, then cosine to min_lr")
SCHEDULERS.declare("plateau", PlateauConfig, f"{_SCH}:build_plateau",
                   summary="lr *= factor when trainer.monitor stalls for patience epochs")
SCHEDULERS.declare("onecycle", OneCycleConfig, f"{_SCH}:build_onecycle",
                   summary="per step: warm up to max_lr, anneal far below")
