"""Layers shared by every model family: activations by name and weight initialisation."""

from __future__ import annotations

import math

import torch
from torch import nn

from dlx.errors import ConfigError, unknown

ACTIVATIONS = {
    "sigmoid": lambda: nn.Sigmoid(),
    "tanh": lambda: nn.Tanh(),
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda slope=0.01: nn.LeakyReLU(slope),
    "prelu": lambda: nn.PReLU(),
    "elu": lambda: nn.ELU(),
    "gelu": lambda: nn.GELU(),
    "identity": lambda: nn.Identity(),
}

INITS = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "normal", "zeros")


def check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise unknown("activation", name, ACTIVATIONS)


def activation(name: str, negative_slope: float = 0.01) -> nn.Module:
    """A fresh activation module by name (`relu`, `tanh`, ...)."""
    check_activation(name)
    if name == "leaky_relu":
        return ACTIVATIONS[name](negative_slope)
    return ACTIVATIONS[name]()


def check_init(name: str) -> None:
    if name not in INITS:
        raise unknown("init", name, INITS)


@torch.no_grad()
def init_weights(model: nn.Module, name: str, std: float = 0.01, nonlinearity: str = "relu") -> None:
    """Re-initialise every Linear/Conv weight with scheme `name`; biases start at zero.

    `zeros` exists to show the symmetry problem: every unit of a layer computes the
    same thing and receives the same gradient, so the network does not learn.
    """
    check_init(name)
    if name == "default":
        return
    gain_for = "leaky_relu" if nonlinearity == "leaky_relu" else "relu"
    for module in model.modules():
        if not isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            continue
        w = module.weight
        if name == "xavier_uniform":
            nn.init.xavier_uniform_(w)
        elif name == "xavier_normal":
            nn.init.xavier_normal_(w)
        elif name == "kaiming_uniform":
            nn.init.kaiming_uniform_(w, nonlinearity=gain_for)
        elif name == "kaiming_normal":
            nn.init.kaiming_normal_(w, nonlinearity=gain_for)
        elif name == "normal":
            nn.init.normal_(w, 0.0, std)
        elif name == "zeros":
            nn.init.zeros_(w)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def flat_features(input_shape: tuple[int, ...]) -> int:
    return int(math.prod(input_shape))


def require_shape(model: str, input_shape: tuple[int, ...], ndim: int, what: str) -> None:
    if len(input_shape) != ndim:
        raise ConfigError(
            f"model '{model}' needs {what} input, but this data has shape {tuple(input_shape)}; "
            "choose model=mlp for tabular data"
        )
