"""Convolutional network: [Conv -> BatchNorm -> activation -> pool] blocks, then FC layers."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dlx.errors import ConfigError, require
from dlx.models.layers import (activation, check_activation_keys, check_norm, init_weights, norm_kind, norm_layer,
                               require_shape, widen)
from dlx.registry import MODELS
from dlx.use.transfer import TransferKeys  # model.init_from, model.freeze (issue 14)

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


@dataclass
class CNNConfig(TransferKeys):
    name: str = "cnn"
    channels: list[int] = field(default_factory=lambda: [64, 64, 128, 128])  # one conv block per entry
    kernel_size: int = 3
    stride: int = 1
    padding: str = "same"  # same | an integer
    pool: str = "max"  # max | avg
    pool_every: int = 2  # pool after every block (1) or every second one (2)
    fc: list[int] = field(default_factory=lambda: [256])  # hidden fully-connected widths: [] | [a] | [a, b]
    dropout: float = 0.5  # before each fully-connected layer
    batchnorm: bool = True  # BatchNorm2d after each convolution, before the activation (norm=auto)
    norm: str = "auto"  # auto (= batch if batchnorm, else none) | batch | layer | group | none
    activation: str = "relu"
    negative_slope: float = 0.01  # leaky_relu only
    maxout_pieces: int = 2  # maxout only
    init: str = "default"
    init_std: float = 0.01  # init=normal only

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        require(len(self.channels) > 0 and all(c > 0 for c in self.channels), "channels",
                f"needs at least one width > 0, got {self.channels}")
        require(self.kernel_size > 0, "kernel_size", f"must be > 0, got {self.kernel_size}")
        require(self.stride > 0, "stride", f"must be > 0, got {self.stride}")
        require(self.padding == "same" or (self.padding.isdigit()), "padding",
                f"must be 'same' or an integer >= 0, got {self.padding!r}")
        require(self.pool in POOLS, "pool", f"must be max or avg, got {self.pool!r}")
        require(self.pool_every in (1, 2), "pool_every", f"must be 1 or 2, got {self.pool_every}")
        require(len(self.fc) <= 2 and all(w > 0 for w in self.fc), "fc",
                f"takes zero, one or two widths > 0, got {self.fc}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        check_activation_keys(self)
        check_norm(self)


def conv_padding(cfg: CNNConfig) -> int | str:
    if cfg.padding != "same":
        return int(cfg.padding)
    # torch's padding="same" refuses stride > 1; k//2 keeps ceil(H / stride) for odd k
    return "same" if cfg.stride == 1 else cfg.kernel_size // 2


class ConvBlock(nn.Module):
    """Conv -> [BatchNorm] -> activation -> [pool]. Pooling is skipped on a 1-pixel map."""

    def __init__(self, cfg: CNNConfig, c_in: int, c_out: int, pool: bool):
        super().__init__()
        k = widen(cfg.activation, cfg.maxout_pieces)
        norm = norm_kind(cfg)
        self.conv = nn.Conv2d(c_in, c_out * k, cfg.kernel_size, cfg.stride, conv_padding(cfg),
                              bias=norm == "none")  # the norm's shift replaces the bias
        self.norm = norm_layer(norm, c_out * k, image=True)
        self.act = activation(cfg.activation, cfg.negative_slope, cfg.maxout_pieces, dim=1)  # over channels
        self.pool = POOLS[cfg.pool](2) if pool else nn.Identity()

    def forward(self, x):
        x = self.act(self.norm(self.conv(x)))  # (B, C_out, H', W')
        if min(x.shape[-2:]) < 2:  # an 8x8 digit after three poolings: nothing left to pool
            return x
        return self.pool(x)


class CNN(nn.Module):
    def __init__(self, cfg: CNNConfig, input_shape: tuple[int, int, int], num_outputs: int):
        super().__init__()
        blocks, c_in = [], input_shape[0]
        for i, c_out in enumerate(cfg.channels):
            blocks.append(ConvBlock(cfg, c_in, c_out, pool=(i + 1) % cfg.pool_every == 0))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        flat = feature_size(self.features, input_shape)
        head: list[nn.Module] = [nn.Flatten()]  # (B, C, H, W) -> (B, C*H*W)
        k = widen(cfg.activation, cfg.maxout_pieces)
        for width in cfg.fc:
            if cfg.dropout > 0:
                head.append(nn.Dropout(cfg.dropout))
            head += [nn.Linear(flat, width * k), activation(cfg.activation, cfg.negative_slope, cfg.maxout_pieces)]
            flat = width
        if cfg.dropout > 0:
            head.append(nn.Dropout(cfg.dropout))
        head.append(nn.Linear(flat, num_outputs))  # logits, or a linear output for regression
        self.head = nn.Sequential(*head)

    def forward(self, x):
        return self.head(self.features(x))  # (B, C, H, W) -> (B, num_outputs)


@torch.no_grad()
def feature_size(features: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Flattened size after the conv blocks, found by a dry run on one zero image."""
    was_training = features.training
    features.eval()  # BatchNorm refuses a batch of one in training mode
    try:
        out = features(torch.zeros(1, *input_shape))
    except RuntimeError as e:  # e.g. a kernel larger than the padded map
        raise ConfigError(f"model 'cnn' does not fit input {tuple(input_shape)}: {str(e).splitlines()[0]}") from None
    features.train(was_training)
    if out.numel() == 0:
        raise ConfigError(f"model 'cnn': input {tuple(input_shape)} shrinks to nothing; "
                          "use fewer blocks, stride 1 or padding=same")
    return out.numel()


@MODELS.register("cnn", schema=CNNConfig, accepts=("image",),
                 summary="conv blocks (+batch norm) + activation + pooling, then 1-2 FC layers")
def build_cnn(cfg: CNNConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    require_shape("cnn", input_shape, 3, "image (C, H, W)")
    model = CNN(cfg, input_shape, num_outputs)
    init_weights(model, cfg.init, cfg.init_std, cfg.activation)
    return model
