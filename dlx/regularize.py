"""Regularisers: L1/L2/elastic-net penalties added to the loss, and their schema.

Dropout and batch norm are switched on in the models, early stopping is a trainer callback
(dlx.engine.callbacks), decoupled weight decay goes to the optimizer, clipping to the train step:
this one schema gathers them all so they compose with overrides
(`regularizer=l2 regularizer.dropout=0.3`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from dlx.errors import require


@dataclass
class EarlyStoppingConfig:
    patience: int = 0  # 0 = off: stop when trainer.monitor has not improved for this many epochs
    min_delta: float = 0.0

    def __post_init__(self):
        require(self.patience >= 0, "early_stopping.patience", f"must be >= 0, got {self.patience}")
        require(self.min_delta >= 0, "early_stopping.min_delta", f"must be >= 0, got {self.min_delta}")


@dataclass
class RegularizerConfig:
    name: str = "none"
    l1: float = 0.0  # adds l1 * sum|w| to the loss
    l2: float = 0.0  # adds l2 * sum w^2 to the loss
    penalize_bias: bool = False  # biases and norm parameters are excluded unless true
    decoupled_weight_decay: float = 0.0  # passed to the optimizer's weight_decay instead
    dropout: Optional[float] = None  # None: keep the model's own rate
    batchnorm: Optional[bool] = None  # None: keep the model's own setting
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    clip_grad_norm: float = 0.0  # 0 = off
    label_smoothing: float = 0.0

    def __post_init__(self):
        for key in ("l1", "l2", "decoupled_weight_decay", "clip_grad_norm"):
            value = getattr(self, key)
            require(value >= 0, key, f"must be >= 0, got {value}")
        if self.dropout is not None:
            require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        require(0 <= self.label_smoothing < 1, "label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")


def penalized_parameters(model, penalize_bias: bool = False) -> list:
    """The weights a penalty applies to: all but biases and norm parameters (1-D tensors)."""
    return [p for p in model.parameters() if p.requires_grad and (penalize_bias or p.ndim > 1)]


class Penalty:
    """λ1·Σ|θ| + λ2·Σθ² over the chosen parameters; callable, returns a scalar tensor."""

    def __init__(self, params: list, l1: float = 0.0, l2: float = 0.0):
        self.params = params
        self.l1 = l1
        self.l2 = l2

    def __call__(self):
        total = 0.0
        if self.l1:
            total = total + self.l1 * sum(p.abs().sum() for p in self.params)
        if self.l2:
            total = total + self.l2 * sum(p.pow(2).sum() for p in self.params)
        return total

    @property
    def active(self) -> bool:
        return bool(self.l1 or self.l2) and bool(self.params)


def build_penalty(cfg: RegularizerConfig, model) -> Penalty | None:
    penalty = Penalty(penalized_parameters(model, cfg.penalize_bias), cfg.l1, cfg.l2)
    return penalty if penalty.active else None
