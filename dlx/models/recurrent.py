"""Recurrent networks: Elman RNN, LSTM and GRU over a sequence, then a linear head.

An image (C, H, W) is read row by row: H time steps of C*W features. A sequence (T, F)
is read as it is. A tabular row (F,) is read one feature per step (`tabular: per_feature`,
F steps of 1 feature) or as a single step of F features (`tabular: one_step`).
"""

from __future__ import annotations

from torch import nn

from dlx.models.layers import as_sequence, init_weights, to_sequence
from dlx.models.schemas import RNNConfig, RecurrentConfig  # torch-free: checked before torch loads
from dlx.registry import MODELS

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Recurrent(nn.Module):
    def __init__(self, cfg: RecurrentConfig, input_shape: tuple[int, ...], num_outputs: int):
        super().__init__()
        self.steps, self.features = as_sequence(input_shape, cfg.tabular)
        self.pool = cfg.pool
        extra = {"nonlinearity": cfg.activation} if cfg.name == "rnn" else {}
        self.rnn = CELLS[cfg.name](
            self.features, cfg.hidden_size, cfg.num_layers, batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,  # torch applies it between layers only
            bidirectional=cfg.bidirectional, **extra)
        self.directions = 2 if cfg.bidirectional else 1
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.directions * cfg.hidden_size, num_outputs)

    def forward(self, x):
        x = to_sequence(x, self.steps, self.features)  # (B, T, F)
        out, h = self.rnn(x)  # out: (B, T, dirs*H); h: (layers*dirs, B, H), a pair for LSTM
        if self.pool == "mean":
            z = out.mean(dim=1)  # (B, dirs*H)
        else:
            h = h[0] if isinstance(h, tuple) else h
            # the top layer's final state per direction (the backward one has read right to left)
            z = h[-self.directions:]  # (dirs, B, H)
            z = z.transpose(0, 1).reshape(x.shape[0], -1)  # (B, dirs*H)
        return self.head(self.drop(z))


def build_recurrent(cfg: RecurrentConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    model = Recurrent(cfg, input_shape, num_outputs)
    init_weights(model, cfg.init, cfg.init_std, getattr(cfg, "activation", "tanh"))
    return model


_ACCEPTS = ("image", "sequence", "tabular")
MODELS.register("rnn", schema=RNNConfig, accepts=_ACCEPTS,
                summary="Elman RNN (tanh or relu) over rows / steps / features")(build_recurrent)
MODELS.register("lstm", schema=RecurrentConfig, accepts=_ACCEPTS,
                summary="LSTM over rows / steps / features")(build_recurrent)
MODELS.register("gru", schema=RecurrentConfig, accepts=_ACCEPTS,
                summary="GRU over rows / steps / features")(build_recurrent)
