"""Convolutional parts of the generative models (`model.family=conv`, images only).

Every stage halves (encoder, discriminator) or doubles (decoder, generator) the image's sides
with a 4×4 kernel, stride 2, padding 1 — the DCGAN recipe (Radford et al. 2016): strided
convolutions instead of pooling, transposed convolutions to upsample, batch norm in the GAN's
generator and in every discriminator stage but the first, LeakyReLU(0.2) in the discriminator.
Outputs are linear (no tanh): the data is standardised, not squashed into [-1, 1].
"""

from __future__ import annotations

from torch import nn

from dlx.errors import ConfigError


def conv_grid(input_shape: tuple[int, ...], channels: list[int]) -> tuple[int, int, int]:
    """(image channels, height, width) after len(channels) halvings; a ConfigError when the data
    is not an image or its sides do not halve that many times."""
    if len(input_shape) != 3:
        raise ConfigError(f"model.family=conv needs images (C, H, W), but this data has shape {tuple(input_shape)}; "
                          "use model.family=mlp")
    c, h, w = input_shape
    k = 2 ** len(channels)
    if h % k or w % k:
        raise ConfigError(f"model.family=conv with {len(channels)} model.channels halves the image {len(channels)} "
                          f"times, but {h}×{w} is not divisible by {k}; use fewer model.channels")
    return c, h // k, w // k


def down(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)  # (B, c_out, H/2, W/2)


def up(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)  # (B, c_out, 2H, 2W)


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, channels[-1] * H/2^k * W/2^k): strided convolutions with ReLU."""

    def __init__(self, input_shape, channels: list[int], negative_slope: float = 0.0, batchnorm: bool = False):
        super().__init__()
        c, h, w = conv_grid(input_shape, channels)
        layers, width = [], c
        for i, out in enumerate(channels):
            layers.append(down(width, out))
            if batchnorm and i > 0:  # DCGAN: no batch norm on the discriminator's input stage
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(negative_slope) if negative_slope else nn.ReLU())
            width = out
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.features = width * h * w

    def forward(self, x):
        return self.net(x)


class ConvDecoder(nn.Module):
    """(B, latent) -> (B, C, H, W): a linear map to the smallest grid, then transposed
    convolutions (batch norm before each ReLU for a GAN's generator); the last one is linear."""

    def __init__(self, latent: int, input_shape, channels: list[int], batchnorm: bool = False):
        super().__init__()
        c, h, w = conv_grid(input_shape, channels)
        widths = list(reversed(channels))
        self.project = nn.Linear(latent, widths[0] * h * w)
        self.grid = (widths[0], h, w)
        layers: list[nn.Module] = [nn.BatchNorm2d(widths[0])] if batchnorm else []
        layers.append(nn.ReLU())
        for a, b in zip(widths, widths[1:]):
            layers.append(up(a, b))
            if batchnorm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.ReLU())
        layers.append(up(widths[-1], c))  # back to the image's channels and full size
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(self.project(z).view(-1, *self.grid))


def dcgan_discriminator(input_shape, channels: list[int]) -> nn.Sequential:
    """Image -> one logit: strided convolutions, batch norm (not on the first), LeakyReLU(0.2)."""
    encoder = ConvEncoder(input_shape, channels, negative_slope=0.2, batchnorm=True)
    return nn.Sequential(encoder, nn.Linear(encoder.features, 1))
