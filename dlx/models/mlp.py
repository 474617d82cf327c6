"""Multi-layer perceptron: Linear -> [BatchNorm] -> activation -> [Dropout], repeated."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from dlx.errors import require
from dlx.models.layers import (activation, check_activation_keys, check_norm, flat_features, init_weights,
                               norm_kind, norm_layer, widen)
from dlx.registry import MODELS
from dlx.use.transfer import TransferKeys  # model.init_from, model.freeze (issue 14)


@dataclass
class MLPConfig(TransferKeys):
    name: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [256, 128])
    activation: str = "relu"
    negative_slope: float = 0.01  # leaky_relu only
    maxout_pieces: int = 2  # maxout only: linear pieces per unit
    dropout: float = 0.0
    batchnorm: bool = False  # BatchNorm after the linear layer, before the activation (norm=auto)
    norm: str = "auto"  # auto (= batch if batchnorm, else none) | batch | layer | group | none
    init: str = "default"
    init_std: float = 0.01  # init=normal only

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        require(all(h > 0 for h in self.hidden), "hidden", f"widths must be > 0, got {self.hidden}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        check_activation_keys(self)
        check_norm(self)


class MLP(nn.Module):
    def __init__(self, cfg: MLPConfig, in_features: int, num_outputs: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]  # (B, *shape) -> (B, features)
        width = in_features
        k = widen(cfg.activation, cfg.maxout_pieces)  # maxout: k pieces per unit
        norm = norm_kind(cfg)
        for h in cfg.hidden:
            layers.append(nn.Linear(width, h * k, bias=norm == "none"))  # the norm's shift replaces the bias
            if norm != "none":
                layers.append(norm_layer(norm, h * k, image=False))
            layers.append(activation(cfg.activation, cfg.negative_slope, cfg.maxout_pieces))
            if cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            width = h
        layers.append(nn.Linear(width, num_outputs))  # logits, or a linear output for regression
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


@MODELS.register("mlp", schema=MLPConfig, accepts=("image", "sequence", "tabular"),
                 summary="fully-connected layers (+ batch norm, dropout)")
def build_mlp(cfg: MLPConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    model = MLP(cfg, flat_features(input_shape), num_outputs)
    init_weights(model, cfg.init, cfg.init_std, cfg.activation)
    return model
