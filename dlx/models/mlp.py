"""Multi-layer perceptron: Linear -> [BatchNorm] -> activation -> [Dropout], repeated."""

from __future__ import annotations

from torch import nn

from dlx.models.layers import activation, flat_features, init_weights, norm_kind, norm_layer, widen
from dlx.models.schemas import MLPConfig  # torch-free: checked before torch loads


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


def build_mlp(cfg: MLPConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    model = MLP(cfg, flat_features(input_shape), num_outputs)
    init_weights(model, cfg.init, cfg.init_std, cfg.activation)
    return model
