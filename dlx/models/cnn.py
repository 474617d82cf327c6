"""Convolutional network: [Conv -> BatchNorm -> activation -> pool] blocks, then FC layers."""

from __future__ import annotations

import torch
from torch import nn

from dlx.errors import ConfigError
from dlx.models.layers import activation, init_weights, norm_kind, norm_layer, require_shape, widen
from dlx.models.schemas import CNNConfig  # torch-free: checked before torch loads

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


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


def build_cnn(cfg: CNNConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    require_shape("cnn", input_shape, 3, "image (C, H, W)")
    model = CNN(cfg, input_shape, num_outputs)
    init_weights(model, cfg.init, cfg.init_std, cfg.activation)
    return model
