"""Generative models: autoencoder, variational autoencoder and GAN; `model.family`: mlp | conv
(convolutional encoder / decoder, DCGAN generator / discriminator: dlx/models/deconv.py).

They are trained by the tasks in dlx/engine/generative.py (chosen by the model: `task=` in
the registry), which ignore the data's labels. family=mlp flattens inputs of any shape; outputs
have the input's shape.
"""

from __future__ import annotations

import torch
from torch import nn

from dlx.models.deconv import ConvDecoder, ConvEncoder, dcgan_discriminator
from dlx.models.layers import flat_features
from dlx.models.task_schemas import AutoencoderConfig, GANConfig, VAEConfig  # torch-free: checked before torch loads


def mlp(widths: list[int], activation=nn.ReLU, out_activation=None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(activation())
    if out_activation is not None:
        layers.append(out_activation())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """x -> code -> reconstruction; `variational`: the code is a Gaussian (mu, logvar), sampled
    by the reparameterisation z = mu + sigma * eps in training and z = mu in evaluation."""

    def __init__(self, cfg: AutoencoderConfig, input_shape: tuple[int, ...], variational: bool):
        super().__init__()
        self.input_shape, self.latent, self.variational = tuple(input_shape), cfg.latent, variational
        self.conv = cfg.family == "conv"
        code = cfg.latent * (2 if variational else 1)
        if self.conv:
            self.encoder = ConvEncoder(input_shape, cfg.channels)
            self.code = nn.Linear(self.encoder.features, code)
            self.decoder = ConvDecoder(cfg.latent, input_shape, cfg.channels)
            return
        features = flat_features(input_shape)
        self.encoder = mlp([features, *cfg.hidden], out_activation=nn.ReLU)
        self.code = nn.Linear(cfg.hidden[-1], code)
        self.decoder = mlp([cfg.latent, *reversed(cfg.hidden), features])

    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, logvar) of q(z|x); an autoencoder's code and None."""
        h = self.code(self.encoder(x if self.conv else x.flatten(1)))
        return h.chunk(2, dim=1) if self.variational else (h, None)

    def decode(self, z) -> torch.Tensor:
        """Decoder output in the input's shape (logits when model.recon=bce)."""
        return self.decoder(z).view(-1, *self.input_shape)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu
        if self.variational and self.training:
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        return self.decode(z), mu, logvar


def build_autoencoder(cfg: AutoencoderConfig, input_shape, num_outputs: int) -> nn.Module:
    return Autoencoder(cfg, input_shape, variational=False)


def build_vae(cfg: VAEConfig, input_shape, num_outputs: int) -> nn.Module:
    return Autoencoder(cfg, input_shape, variational=True)


class GAN(nn.Module):
    """A generator (noise -> a sample of the input's shape) and a discriminator (sample -> logit)."""

    def __init__(self, cfg: GANConfig, input_shape: tuple[int, ...]):
        super().__init__()
        self.input_shape, self.noise = tuple(input_shape), cfg.noise
        self.conv = cfg.family == "conv"
        if self.conv:  # DCGAN
            self.generator = ConvDecoder(cfg.noise, input_shape, cfg.channels, batchnorm=True)
            self.discriminator = dcgan_discriminator(input_shape, cfg.channels)
            return
        features = flat_features(input_shape)
        self.generator = mlp([cfg.noise, *cfg.hidden, features])
        self.discriminator = mlp([features, *cfg.d_hidden, 1], activation=lambda: nn.LeakyReLU(0.2))

    def generate(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        device = device or next(self.parameters()).device
        z = torch.randn(n, self.noise, generator=generator) if generator is not None else \
            torch.randn(n, self.noise, device=device)
        return self.generator(z.to(device)).view(n, *self.input_shape)

    def discriminate(self, x) -> torch.Tensor:
        return self.discriminator(x if self.conv else x.flatten(1)).squeeze(1)

    def forward(self, x):  # a module must have one; the GAN task calls generate / discriminate
        return self.discriminate(x)


def build_gan(cfg: GANConfig, input_shape, num_outputs: int) -> nn.Module:
    return GAN(cfg, input_shape)
