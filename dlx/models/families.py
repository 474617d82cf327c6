"""Every built-in model family, imported (so registered), and `build` by name.

Each family lives in its own file; every builder takes (cfg, input_shape, num_outputs).
"""

from __future__ import annotations

from dataclasses import fields, replace

from dlx.models import cnn, mlp, recurrent, resnet, transformer  # noqa: F401  (registers)
from dlx.models import baselines  # noqa: F401  (registers knn, linear, logistic: issue 19)
from dlx.models import generative, gnn  # noqa: F401  (registers autoencoder, vae, gan, gnn: issue 17)
from dlx.models import lm, seq2seq  # noqa: F401  (registers: issue 16)
from dlx.registry import MODELS


def build(cfg, input_shape: tuple[int, ...], num_outputs: int, dropout=None, batchnorm=None):
    """Build `cfg.name`; a regularizer's dropout / batchnorm override the model's own."""
    names = {f.name for f in fields(cfg)}
    if dropout is not None and "dropout" in names:
        cfg = replace(cfg, dropout=dropout)
    if batchnorm is not None and "batchnorm" in names:
        cfg = replace(cfg, batchnorm=batchnorm)
    return MODELS.build(cfg.name, cfg, tuple(input_shape), num_outputs)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
