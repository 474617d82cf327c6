"""Generative models: autoencoder, variational autoencoder (MLP encoder / decoder) and a GAN of MLPs.

They are trained by the tasks in dlx/engine/generative.py (chosen by the model: `task=` in
the registry), which ignore the data's labels. Inputs of any shape are flattened; outputs
have the input's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dlx.errors import require
from dlx.models.layers import flat_features
from dlx.registry import MODELS
from dlx.use.transfer import TransferKeys  # model.init_from, model.freeze (issue 14)

RECON = ("mse", "bce")


def mlp(widths: list[int], activation=nn.ReLU, out_activation=None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(activation())
    if out_activation is not None:
        layers.append(out_activation())
    return nn.Sequential(*layers)


def _check_widths(hidden: list[int], latent: int) -> None:
    require(all(h > 0 for h in hidden), "hidden", f"widths must be > 0, got {hidden}")
    require(latent >= 1, "latent", f"must be >= 1, got {latent}")


@dataclass
class AutoencoderConfig(TransferKeys):
    name: str = "autoencoder"
    hidden: list[int] = field(default_factory=lambda: [256, 128])  # encoder widths; the decoder mirrors them
    latent: int = 2  # code size (2: `dlx plot RUN --latent` scatters it)
    recon: str = "mse"  # reconstruction loss, summed over features: mse | bce (inputs in [0, 1]: data.preprocess=minmax)

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        _check_widths(self.hidden, self.latent)
        require(self.recon in RECON, "recon", f"unknown '{self.recon}'; choices: {', '.join(RECON)}")


@dataclass
class VAEConfig(AutoencoderConfig):
    name: str = "vae"
    beta: float = 1.0  # weight of the KL term (beta-VAE; 1 = the ELBO)

    def __post_init__(self):
        super().__post_init__()
        require(self.beta >= 0, "beta", f"must be >= 0, got {self.beta}")


class Autoencoder(nn.Module):
    """x -> code -> reconstruction; `variational`: the code is a Gaussian (mu, logvar), sampled
    by the reparameterisation z = mu + sigma * eps in training and z = mu in evaluation."""

    def __init__(self, cfg: AutoencoderConfig, input_shape: tuple[int, ...], variational: bool):
        super().__init__()
        self.input_shape, self.latent, self.variational = tuple(input_shape), cfg.latent, variational
        features = flat_features(input_shape)
        self.encoder = mlp([features, *cfg.hidden], out_activation=nn.ReLU)
        self.code = nn.Linear(cfg.hidden[-1], cfg.latent * (2 if variational else 1))
        self.decoder = mlp([cfg.latent, *reversed(cfg.hidden), features])

    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, logvar) of q(z|x); an autoencoder's code and None."""
        h = self.code(self.encoder(x.flatten(1)))
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


@MODELS.register("autoencoder", schema=AutoencoderConfig, accepts=("image", "tabular"), task="autoencoder",
                 summary="autoencoder: MLP encoder to model.latent, MLP decoder (labels ignored)")
def build_autoencoder(cfg: AutoencoderConfig, input_shape, num_outputs: int) -> nn.Module:
    return Autoencoder(cfg, input_shape, variational=False)


@MODELS.register("vae", schema=VAEConfig, accepts=("image", "tabular"), task="autoencoder",
                 summary="variational autoencoder (beta-VAE): Gaussian code, reparameterised (labels ignored)")
def build_vae(cfg: VAEConfig, input_shape, num_outputs: int) -> nn.Module:
    return Autoencoder(cfg, input_shape, variational=True)
