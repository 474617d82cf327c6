"""Layers shared by every model family: activations by name, maxout and weight initialisation."""

from __future__ import annotations

import math

import torch
from torch import nn

from dlx.errors import ConfigError
# the checks the schemas make (torch-free, before torch loads), re-exported for the families
from dlx.models.schemas import INITS, NORMS, check_activation, check_init  # noqa: F401

ACTIVATIONS = {
    "sigmoid": lambda: nn.Sigmoid(),
    "tanh": lambda: nn.Tanh(),
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda slope=0.01: nn.LeakyReLU(slope),
    "prelu": lambda: nn.PReLU(),
    "elu": lambda: nn.ELU(),
    "gelu": lambda: nn.GELU(),
    "identity": lambda: nn.Identity(),
    "maxout": lambda pieces=2, dim=-1: Maxout(pieces, dim),  # the layer before it must be k times wider
}


def activation(name: str, negative_slope: float = 0.01, pieces: int = 2, dim: int = -1) -> nn.Module:
    """A fresh activation module by name (`relu`, `tanh`, ...).

    `maxout` takes the max over `pieces` inputs per output along `dim` (-1 after a Linear,
    1 after a Conv), so the layer before it must be `widen(name, pieces)` times wider.
    """
    check_activation(name)
    if name == "leaky_relu":
        return ACTIVATIONS[name](negative_slope)
    if name == "maxout":
        return ACTIVATIONS[name](pieces, dim)
    return ACTIVATIONS[name]()


def widen(name: str, pieces: int) -> int:
    """How many times wider the layer before activation `name` must be (maxout: k)."""
    return pieces if name == "maxout" else 1


class Maxout(nn.Module):
    """Maxout (Goodfellow et al. 2013): each output is the max of k linear pieces.

    The k pieces are k consecutive features (dim=-1, after a Linear) or channels (dim=1,
    after a Conv) of the previous layer, which is therefore k times wider: k*C -> C.
    """

    def __init__(self, pieces: int, dim: int = -1):
        super().__init__()
        self.pieces, self.dim = pieces, dim

    def forward(self, x):
        dim = self.dim % x.dim()
        grouped = x.unflatten(dim, (x.shape[dim] // self.pieces, self.pieces))  # (..., C, k, ...)
        return grouped.amax(dim=dim + 1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}, dim={self.dim}"


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
    for w, bias in _weights(model):
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
        if bias is not None:
            nn.init.zeros_(bias)


def _weights(model: nn.Module):
    """(weight, bias) of every Linear/Conv layer and every recurrent layer's matrices."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            yield module.weight, module.bias
        elif isinstance(module, nn.RNNBase):
            for pname, p in module.named_parameters(recurse=False):
                if pname.startswith("weight_"):  # weight_ih_l0, weight_hh_l0_reverse, ...
                    yield p, getattr(module, "bias" + pname[len("weight"):], None)


def flat_features(input_shape: tuple[int, ...]) -> int:
    return int(math.prod(input_shape))


def require_shape(model: str, input_shape: tuple[int, ...], ndim: int, what: str) -> None:
    if len(input_shape) != ndim:
        raise ConfigError(
            f"model '{model}' needs {what} input, but this data has shape {tuple(input_shape)}; "
            "choose model=mlp, rnn, lstm, gru or transformer for tabular data"
        )


def as_sequence(input_shape: tuple[int, ...], tabular: str) -> tuple[int, int]:
    """(steps, features per step) for sequence models; see `to_sequence`."""
    if len(input_shape) == 3:  # image (C, H, W): one step per row, the row's C*W pixels
        c, h, w = input_shape
        return h, c * w
    if len(input_shape) == 2:  # already a sequence (T, F)
        return input_shape[0], input_shape[1]
    if len(input_shape) == 1:
        return (input_shape[0], 1) if tabular == "per_feature" else (1, input_shape[0])
    raise ConfigError(f"sequence models read images, sequences or tabular rows, not shape {tuple(input_shape)}")


def to_sequence(x, steps: int, features: int):
    """(B, C, H, W) | (B, T, F) | (B, F) -> (B, T, F): rows of an image become time steps."""
    if x.dim() == 4:
        x = x.permute(0, 2, 1, 3)  # (B, H, C, W): the row index leads
    return x.reshape(x.shape[0], steps, features)  # (B, T, F)


def norm_kind(cfg) -> str:
    """The model's normalisation: `norm`, or for norm=auto what the `batchnorm` key says
    (so model.batchnorm and regularizer.batchnorm keep working)."""
    if cfg.norm != "auto":
        return cfg.norm
    return "batch" if getattr(cfg, "batchnorm", False) else "none"


def group_count(channels: int, most: int = 32) -> int:
    """Groups for group norm: the largest divisor of `channels` up to 32 (Wu & He 2018 use 32)."""
    return next(g for g in range(min(most, channels), 0, -1) if channels % g == 0)


def norm_layer(kind: str, channels: int, image: bool) -> nn.Module:
    """A normalisation of `channels` features (image: of (B, C, H, W) maps, else of (B, C)).

    batch: BatchNorm over the batch; layer: over each sample's features (for maps: over
    C, H, W, i.e. group norm with one group); group: over groups of channels; none: nothing.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels) if image else nn.BatchNorm1d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels) if image else nn.LayerNorm(channels)
    if kind == "group":
        return nn.GroupNorm(group_count(channels), channels)
    return nn.Identity()
