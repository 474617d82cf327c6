"""Losses for classification and regression, chosen from the data's task unless set.

A loss decides how many outputs the model needs (`bce` on binary data: one logit;
`cross_entropy`: one per class), so the experiment asks the loss before it builds
the model. The module imports torch only when a loss is built, so `dlx.config.precheck` checks
the loss group's values with these schemas before torch loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlx.constraints import Checked, fraction, positive
from dlx.errors import ConfigError
from dlx.registry import LOSSES

if TYPE_CHECKING:  # torch loads when a loss is built: the schemas above are checked before it (precheck)
    import torch

DEFAULT_FOR_TASK = {"multiclass": "cross_entropy", "binary": "bce", "regression": "mse",
                    "graph-nodes": "cross_entropy", "graph-set": "cross_entropy"}  # node / graph labels (issue 17)


@dataclass
class LossConfig(Checked):
    """`loss=auto`: every loss's keys, since auto may become any of them."""

    name: str = "auto"  # auto: cross_entropy (multiclass), bce (binary), mse (regression)
    label_smoothing: float = fraction(0.0)  # cross_entropy only
    delta: float = positive(1.0)  # huber
    margin: float = positive(1.0)  # hinge


@dataclass
class PlainLossConfig:
    """A loss with no keys of its own (bce, mse, mae)."""

    name: str = ""  # the config node names it


@dataclass
class CrossEntropyConfig(Checked):
    name: str = "cross_entropy"
    label_smoothing: float = fraction(0.0)


@dataclass
class HuberConfig(Checked):
    name: str = "huber"
    delta: float = positive(1.0)


@dataclass
class HingeConfig(Checked):
    name: str = "hinge"
    margin: float = positive(1.0)


@dataclass
class Loss:
    name: str
    fn: object  # (outputs, targets) -> scalar tensor
    num_outputs: int

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fn(out, y)


def build_loss(cfg: LossConfig, task: str, num_classes: int, num_targets: int = 1, label_smoothing: float = 0.0) -> Loss:
    """The loss for `task`; `num_classes` for classification, `num_targets` for regression."""
    name = DEFAULT_FOR_TASK[task] if cfg.name == "auto" else cfg.name
    entry = LOSSES.get(name)
    tasks = entry.meta.get("tasks", ("multiclass", "binary", "regression"))
    if task not in tasks:
        fits = ", ".join(n for n in LOSSES.names() if task in LOSSES.get(n).meta.get("tasks", (task,)))
        raise ConfigError(f"loss '{name}' does not fit {task} data ({num_classes} classes); use one of: {fits}")
    if label_smoothing and name != "cross_entropy":
        raise ConfigError(f"regularizer.label_smoothing={label_smoothing} needs loss cross_entropy, not '{name}'")
    # regularizer.label_smoothing wins when set; `auto` keeps its own for cross_entropy only
    smoothing = label_smoothing or getattr(cfg, "label_smoothing", 0.0)
    return entry.builder(cfg, num_classes=num_classes, num_targets=num_targets, label_smoothing=smoothing)


@LOSSES.register("auto", schema=LossConfig, tasks=("multiclass", "binary", "regression"),
                 summary="chosen from the data's task: cross_entropy (multiclass), bce (binary), mse (regression)")
def _auto(cfg, **_):  # pragma: no cover - resolved by build_loss before lookup
    raise AssertionError("'auto' is resolved by build_loss")


@LOSSES.register("cross_entropy", schema=CrossEntropyConfig, tasks=("multiclass", "binary", "graph-nodes", "graph-set"),
                 summary="cross-entropy on logits, for multi-class data (and binary with two outputs)")
def cross_entropy(cfg, num_classes, label_smoothing=0.0, **_):
    from torch.nn import functional as F

    def fn(out, y):
        return F.cross_entropy(out, y, label_smoothing=label_smoothing)

    return Loss("cross_entropy", fn, num_classes)


@LOSSES.register("bce", schema=PlainLossConfig, tasks=("binary",),
                 summary="binary cross-entropy on one logit (sigmoid inside), for binary data")
def bce(cfg, num_classes, **_):
    from torch.nn import functional as F

    def fn(out, y):  # one logit per sample; targets 0/1
        return F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype))

    return Loss("bce", fn, 1)


@LOSSES.register("hinge", schema=HingeConfig, tasks=("multiclass", "binary"),
                 summary="multi-class margin (hinge): Σ_j≠y max(0, margin − s_y + s_j) / classes")
def hinge(cfg, num_classes, **_):
    from torch.nn import functional as F

    def fn(out, y):  # Weston–Watkins: Σ_{j≠y} max(0, margin − s_y + s_j) / classes
        return F.multi_margin_loss(out, y, margin=cfg.margin)

    return Loss("hinge", fn, num_classes)


def _regression(name, loss_fn):
    def build(cfg, num_targets=1, **_):
        from torch.nn import functional as F

        def fn(out, y):
            return loss_fn(F, out.reshape(y.shape), y, cfg)

        return Loss(name, fn, num_targets)

    return build


LOSSES.register("mse", schema=PlainLossConfig, tasks=("regression",),
                summary="mean squared error, for regression (the default there)")(
    _regression("mse", lambda F, o, y, c: F.mse_loss(o, y))
)
LOSSES.register("mae", schema=PlainLossConfig, tasks=("regression",),
                summary="mean absolute error (L1), for regression; robust to outliers")(
    _regression("mae", lambda F, o, y, c: F.l1_loss(o, y))
)
LOSSES.register("huber", schema=HuberConfig, tasks=("regression",),
                summary="Huber: squared below delta, linear above, for regression")(
    _regression("huber", lambda F, o, y, c: F.huber_loss(o, y, delta=c.delta))
)
