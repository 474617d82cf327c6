"""Regularisers: L1/L2/elastic-net penalties added to the loss, and their schema.

Dropout and batch norm are switched on in the models, early stopping is a trainer callback
(dlx.engine.callbacks), decoupled weight decay goes to the optimizer, clipping to the train step:
this one schema gathers them all so they compose with overrides
(`regularizer=l2 regularizer.dropout=0.3`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from dlx.constraints import Checked, at_least, fraction, interval


@dataclass
class EarlyStoppingConfig(Checked):
    key_prefix = "early_stopping."
    patience: int = at_least(0, 0)  # 0 = off: stop when trainer.monitor has not improved for this many epochs
    min_delta: float = at_least(0.0, 0)


@dataclass
class RegularizerConfig(Checked):
    """No regularisation beyond what the model itself sets (the defaults: regularizer=none)."""

    name: str = "none"
    l1: float = at_least(0.0, 0)  # adds l1 * sum|w| to the loss
    l2: float = at_least(0.0, 0)  # adds l2 * sum w^2 to the loss
    penalize_bias: bool = False  # biases and norm parameters are excluded unless true
    decoupled_weight_decay: float = at_least(0.0, 0)  # passed to the optimizer's weight_decay instead
    dropout: Optional[float] = interval(None, 0, 1, closed="left")  # None: keep the model's own rate
    batchnorm: Optional[bool] = None  # None: keep the model's own setting
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    clip_grad_norm: float = at_least(0.0, 0)  # 0 = off
    label_smoothing: float = fraction(0.0)


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
