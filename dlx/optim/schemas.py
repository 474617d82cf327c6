"""The optim and scheduler groups' schemas: dataclasses only, importable without torch.

`dlx.config.precheck` checks `optim.*` and `scheduler.*` (ranges, names) with these before
any heavy module loads, so `optim.lr=-1` is answered in a fraction of a second; the builders
in `dlx.optim.optimizers` and `dlx.optim.schedulers` register the same classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from dlx.errors import require

# ---------------------------------------------------------------- optimizers


@dataclass
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.01
    weight_decay: float = 0.0
    head_lr_mult: float = 1.0  # the output head's lr = lr × this (fine-tuning, issue 14)

    def __post_init__(self):
        require(self.head_lr_mult > 0, "head_lr_mult", f"must be > 0, got {self.head_lr_mult}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.lr != float("inf"), "lr", "must be finite, got inf (a number beyond 1.8e308)")
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
        require(0 <= self.dampening < 1, "dampening", f"must be in [0, 1), got {self.dampening}")
        if self.nesterov:  # torch's condition: Nesterov needs momentum and no dampening
            require(self.momentum > 0 and self.dampening == 0, "nesterov",
                    "needs momentum > 0 and dampening = 0")


def _check_betas(betas, eps) -> None:
    require(len(betas) == 2 and all(0 <= b < 1 for b in betas), "betas",
            f"must be two numbers in [0, 1), got {betas}")
    require(eps > 0, "eps", f"must be > 0, got {eps}")


@dataclass
class AdamConfig(OptimConfig):
    name: str = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    amsgrad: bool = False

    def __post_init__(self):
        super().__post_init__()
        _check_betas(self.betas, self.eps)


@dataclass
class NAdamConfig(OptimConfig):
    name: str = "nadam"
    lr: float = 2e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum_decay: float = 4e-3  # ψ in Dozat's momentum schedule

    def __post_init__(self):
        super().__post_init__()
        _check_betas(self.betas, self.eps)
        require(self.momentum_decay >= 0, "momentum_decay", f"must be >= 0, got {self.momentum_decay}")


@dataclass
class AdagradConfig(OptimConfig):
    name: str = "adagrad"
    lr_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10

    def __post_init__(self):
        super().__post_init__()
        require(self.lr_decay >= 0, "lr_decay", f"must be >= 0, got {self.lr_decay}")
        require(self.initial_accumulator_value >= 0, "initial_accumulator_value", "must be >= 0")
        require(self.eps > 0, "eps", f"must be > 0, got {self.eps}")


@dataclass
class AdadeltaConfig(OptimConfig):
    name: str = "adadelta"
    lr: float = 1.0
    rho: float = 0.9
    eps: float = 1e-6

    def __post_init__(self):
        super().__post_init__()
        require(0 <= self.rho <= 1, "rho", f"must be in [0, 1], got {self.rho}")
        require(self.eps > 0, "eps", f"must be > 0, got {self.eps}")


@dataclass
class RMSpropConfig(OptimConfig):
    name: str = "rmsprop"
    alpha: float = 0.99  # decay of the running mean of squared gradients
    eps: float = 1e-8
    momentum: float = 0.0
    centered: bool = False

    def __post_init__(self):
        super().__post_init__()
        require(0 <= self.alpha < 1, "alpha", f"must be in [0, 1), got {self.alpha}")
        require(self.eps > 0, "eps", f"must be > 0, got {self.eps}")
        require(0 <= self.momentum < 1, "momentum", f"must be in [0, 1), got {self.momentum}")


LINE_SEARCHES = ("strong_wolfe", None)


@dataclass
class LBFGSConfig(OptimConfig):
    name: str = "lbfgs"
    lr: float = 1.0
    max_iter: int = 20  # inner iterations per step (one step per epoch: full batch)
    max_eval: Optional[int] = None  # None: torch's max_iter * 1.25
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    history_size: int = 100
    line_search_fn: Optional[str] = "strong_wolfe"

    def __post_init__(self):
        super().__post_init__()
        require(self.weight_decay == 0, "weight_decay",
                "torch's L-BFGS has no weight decay; use regularizer.l2 (a penalty in the loss) instead")
        require(self.max_iter >= 1, "max_iter", f"must be >= 1, got {self.max_iter}")
        require(self.max_eval is None or self.max_eval >= 1, "max_eval", "must be >= 1 or null")
        require(self.history_size >= 1, "history_size", f"must be >= 1, got {self.history_size}")
        require(self.line_search_fn in LINE_SEARCHES, "line_search_fn",
                f"must be strong_wolfe or null, got {self.line_search_fn!r}")


# ---------------------------------------------------------------- schedulers


@dataclass
class SchedulerConfig:
    name: str = "none"


@dataclass
class StepConfig(SchedulerConfig):
    name: str = "step"
    step_size: int = 5  # epochs between drops
    gamma: float = 0.5  # lr *= gamma every step_size epochs

    def __post_init__(self):
        require(self.step_size >= 1, "step_size", f"must be >= 1, got {self.step_size}")
        require(self.gamma > 0, "gamma", f"must be > 0, got {self.gamma}")


@dataclass
class MultiStepConfig(SchedulerConfig):
    name: str = "multistep"
    milestones: list[int] = field(default_factory=lambda: [10, 20])
    gamma: float = 0.1

    def __post_init__(self):
        ms = list(self.milestones)
        require(len(ms) > 0 and all(m >= 1 for m in ms) and ms == sorted(set(ms)), "milestones",
                f"must be increasing epochs >= 1, got {ms}")
        require(self.gamma > 0, "gamma", f"must be > 0, got {self.gamma}")


@dataclass
class ExponentialConfig(SchedulerConfig):
    name: str = "exponential"
    gamma: float = 0.95

    def __post_init__(self):
        require(self.gamma > 0, "gamma", f"must be > 0, got {self.gamma}")


@dataclass
class InverseTimeConfig(SchedulerConfig):
    name: str = "inverse_time"
    decay: float = 0.1  # k in lr0 / (1 + k·t)

    def __post_init__(self):
        require(self.decay >= 0, "decay", f"must be >= 0, got {self.decay}")


@dataclass
class CosineConfig(SchedulerConfig):
    name: str = "cosine"
    min_lr: float = 0.0

    def __post_init__(self):
        require(self.min_lr >= 0, "min_lr", f"must be >= 0, got {self.min_lr}")


@dataclass
class WarmupCosineConfig(CosineConfig):
    name: str = "warmup_cosine"
    warmup_epochs: int = 5

    def __post_init__(self):
        super().__post_init__()
        require(self.warmup_epochs >= 0, "warmup_epochs", f"must be >= 0, got {self.warmup_epochs}")


@dataclass
class PlateauConfig(SchedulerConfig):
    name: str = "plateau"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    cooldown: int = 0
    min_lr: float = 1e-6

    def __post_init__(self):
        require(0 < self.factor < 1, "factor", f"must be in (0, 1), got {self.factor}")
        require(self.patience >= 0, "patience", f"must be >= 0, got {self.patience}")
        require(self.threshold >= 0, "threshold", f"must be >= 0, got {self.threshold}")
        require(self.cooldown >= 0, "cooldown", f"must be >= 0, got {self.cooldown}")
        require(self.min_lr >= 0, "min_lr", f"must be >= 0, got {self.min_lr}")


ANNEAL = ("cos", "linear")


@dataclass
class OneCycleConfig(SchedulerConfig):
    name: str = "onecycle"
    max_lr: Optional[float] = None  # None: optim.lr
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    cycle_momentum: bool = True
    base_momentum: float = 0.85
    max_momentum: float = 0.95

    def __post_init__(self):
        require(self.max_lr is None or self.max_lr > 0, "max_lr", f"must be > 0 or null, got {self.max_lr}")
        require(0 < self.pct_start < 1, "pct_start", f"must be in (0, 1), got {self.pct_start}")
        require(self.anneal_strategy in ANNEAL, "anneal_strategy",
                f"must be cos or linear, got '{self.anneal_strategy}'")
        require(self.div_factor > 0 and self.final_div_factor > 0, "div_factor", "div factors must be > 0")
        require(0 <= self.base_momentum <= self.max_momentum < 1, "base_momentum",
                "needs 0 <= base_momentum <= max_momentum < 1")


# the built-in components' schemas by name, for the checks made before the registry (and torch)
# loads; tests/test_optim.py checks that they agree with the registry
OPTIMIZERS = {"gd": SGDConfig, "sgd": SGDConfig, "momentum": SGDConfig, "nesterov": SGDConfig,
              "adam": AdamConfig, "adamw": AdamConfig, "nadam": NAdamConfig, "adagrad": AdagradConfig,
              "adadelta": AdadeltaConfig, "rmsprop": RMSpropConfig, "lbfgs": LBFGSConfig}
SCHEDULERS = {"none": SchedulerConfig, "step": StepConfig, "multistep": MultiStepConfig,
              "exponential": ExponentialConfig, "inverse_time": InverseTimeConfig, "cosine": CosineConfig,
              "warmup_cosine": WarmupCosineConfig, "plateau": PlateauConfig, "onecycle": OneCycleConfig}
