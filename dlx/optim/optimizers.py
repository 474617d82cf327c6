"""Optimizers and learning-rate schedules, built by name from `torch.optim`.

Each optimizer has a schema (its own keys under their usual torch names) and a
builder `(cfg, params) -> torch.optim.Optimizer`. Registry metadata tells the
experiment how to feed it: `full_batch` (one step per epoch on the whole training
split: gd, lbfgs) and `closure` (the step re-evaluates the loss: lbfgs). The
learning-rate schedules live in `dlx.optim.schedulers`, re-exported here.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from dlx.errors import ConfigError, InvalidValue
from dlx.optim.schedulers import Schedule, build_schedule  # noqa: F401  (re-exported; registers)
from dlx.optim.schemas import (AdadeltaConfig, AdagradConfig, AdamConfig, LBFGSConfig, NAdamConfig,  # noqa: F401
                               OptimConfig, RMSpropConfig, SGDConfig)
from dlx.registry import OPTIMIZERS

# the schemas (torch-free, checked before torch loads) live in dlx.optim.schemas


def _fused_ok(params) -> bool:
    """torch's fused kernels need every parameter floating point on CPU or CUDA."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def _param_list(params) -> list:
    return [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]


# gd: one step per epoch on the whole training split (experiment.py reads `full_batch`)
def build_sgd(cfg: SGDConfig, params):
    params = list(params)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                           dampening=cfg.dampening, weight_decay=cfg.weight_decay,
                           fused=_fused_ok(_param_list(params)) or None)


def _adam_family(optimizer_cls, cfg: AdamConfig, params):
    params = list(params)
    # fused=True steps ~30 % faster than the default for-each kernel on the CPU
    return optimizer_cls(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                         weight_decay=cfg.weight_decay, amsgrad=cfg.amsgrad,
                         fused=_fused_ok(_param_list(params)) or None)


def build_adam(cfg: AdamConfig, params):
    return _adam_family(torch.optim.Adam, cfg, params)


def build_adamw(cfg: AdamConfig, params):
    return _adam_family(torch.optim.AdamW, cfg, params)


def build_nadam(cfg: NAdamConfig, params):
    return torch.optim.NAdam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                             weight_decay=cfg.weight_decay, momentum_decay=cfg.momentum_decay)


def build_adagrad(cfg: AdagradConfig, params):
    return torch.optim.Adagrad(params, lr=cfg.lr, lr_decay=cfg.lr_decay, weight_decay=cfg.weight_decay,
                               initial_accumulator_value=cfg.initial_accumulator_value, eps=cfg.eps)


def build_adadelta(cfg: AdadeltaConfig, params):
    return torch.optim.Adadelta(params, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps, weight_decay=cfg.weight_decay)


def build_rmsprop(cfg: RMSpropConfig, params):
    return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, weight_decay=cfg.weight_decay,
                               momentum=cfg.momentum, centered=cfg.centered)


# L-BFGS re-evaluates the loss several times per step, through a closure, on the whole
# training split: on mini-batches its curvature estimates mix different losses and it fails.
def build_lbfgs(cfg: LBFGSConfig, params):
    return torch.optim.LBFGS(params, lr=cfg.lr, max_iter=cfg.max_iter, max_eval=cfg.max_eval,
                             tolerance_grad=cfg.tolerance_grad, tolerance_change=cfg.tolerance_change,
                             history_size=cfg.history_size, line_search_fn=cfg.line_search_fn)


def build_optimizer(cfg, params, decoupled_weight_decay: float = 0.0):
    """Build `cfg.name`; a regularizer's decoupled weight decay replaces the optimizer's own."""
    if decoupled_weight_decay:
        try:
            cfg = replace(cfg, weight_decay=decoupled_weight_decay)
        except InvalidValue as e:  # lbfgs has no weight decay
            raise ConfigError(f"regularizer.decoupled_weight_decay with optim={cfg.name}: {e.message}") from None
    return OPTIMIZERS.build(cfg.name, cfg, params)
