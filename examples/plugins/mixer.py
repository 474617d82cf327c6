"""A dlx plugin: a small MLP-Mixer (Tolstikhin et al., 2021) for images.

    dlx --plugin examples/plugins/mixer.py train model=mixer data=digits model.dim=64

The image is cut into patches; each block mixes across patches (token MLP), then across
features (channel MLP), each with a residual and a LayerNorm before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlx import register_model
from dlx.errors import ConfigError, require


@dataclass
class MixerConfig:
    patch_size: int = 2  # patches of patch_size × patch_size pixels; must divide the image's sides
    dim: int = 32  # features per patch (token)
    depth: int = 2  # mixer blocks
    token_hidden: int = 32  # hidden width of the token-mixing MLP
    channel_hidden: int = 64  # hidden width of the channel-mixing MLP
    dropout: float = 0.0  # inside both MLPs

    def __post_init__(self):
        for key in ("patch_size", "dim", "depth", "token_hidden", "channel_hidden"):
            require(getattr(self, key) >= 1, key, f"must be >= 1, got {getattr(self, key)}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")


def mlp(width: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, width))


class MixerBlock(nn.Module):
    def __init__(self, tokens: int, cfg: MixerConfig):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.token_mlp = mlp(tokens, cfg.token_hidden, cfg.dropout)
        self.channel_mlp = mlp(cfg.dim, cfg.channel_hidden, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D)
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)  # mix across patches
        return x + self.channel_mlp(self.norm2(x))  # mix across features


class Mixer(nn.Module):
    def __init__(self, cfg: MixerConfig, channels: int, tokens: int, num_outputs: int):
        super().__init__()
        self.patches = nn.Conv2d(channels, cfg.dim, cfg.patch_size, stride=cfg.patch_size)  # one linear map per patch
        self.blocks = nn.Sequential(*(MixerBlock(tokens, cfg) for _ in range(cfg.depth)))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        x = self.patches(x).flatten(2).transpose(1, 2)  # (B, T, D), T = (H/p)·(W/p)
        x = self.norm(self.blocks(x))
        return self.head(x.mean(dim=1))  # (B, outputs)


@register_model("mixer", schema=MixerConfig, accepts=("image",), summary="MLP-Mixer: token and channel MLPs")
def build_mixer(cfg: MixerConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    if len(input_shape) != 3:
        raise ConfigError(f"model mixer needs images (C, H, W), got input shape {tuple(input_shape)}")
    channels, height, width = input_shape
    if height % cfg.patch_size or width % cfg.patch_size:
        raise ConfigError(f"model.patch_size={cfg.patch_size} must divide the image's {height}×{width}")
    tokens = (height // cfg.patch_size) * (width // cfg.patch_size)
    return Mixer(cfg, channels, tokens, num_outputs)
