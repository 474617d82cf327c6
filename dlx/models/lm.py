"""Language models over token windows (issue 16): `model=lm model.arch=transformer|lstm`.

`transformer` is decoder-only: token embeddings plus learned or sinusoidal positions, then
`num_layers` pre-norm Transformer layers under a causal mask (position t sees 0..t only),
then a linear layer to next-token logits. `lstm` is an embedding, a stacked LSTM and the
same output layer. Both map (B, T) token ids to (B, T, V) logits.
"""

from __future__ import annotations

import math
import torch
from torch import nn

from dlx.errors import require
from dlx.models.task_schemas import LMConfig  # torch-free: checked before torch loads

def sinusoidal(length: int, d: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(length, d)
    table[:, 0::2] = torch.sin(pos * rate)
    table[:, 1::2] = torch.cos(pos * rate)[:, : d // 2]
    return table


class TransformerLM(nn.Module):
    def __init__(self, cfg: LMConfig, vocab: int):
        super().__init__()
        self.max_length = cfg.max_length
        self.embed = nn.Embedding(vocab, cfg.d_model)
        if cfg.positions == "learned":
            self.positions = nn.Parameter(torch.randn(cfg.max_length, cfg.d_model) * 0.02)
        else:
            self.register_buffer("positions", sinusoidal(cfg.max_length, cfg.d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.num_heads, cfg.dim_feedforward, cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.d_model, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=x.device)
        h = self.drop(self.embed(x) + self.positions[:t])
        return self.out(self.norm(self.layers(h, mask=mask, is_causal=True)))


class LSTMLM(nn.Module):
    max_length = 0  # no limit

    def __init__(self, cfg: LMConfig, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, cfg.d_model)
        self.lstm = nn.LSTM(cfg.d_model, cfg.d_model, cfg.num_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.d_model, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.drop(self.embed(x)))
        return self.out(self.drop(h))


def build_lm(cfg: LMConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    if cfg.arch == "transformer":
        require(input_shape[0] <= cfg.max_length, "max_length",
                f"must cover data.context={input_shape[0]}; raise model.max_length")
        return TransformerLM(cfg, num_outputs)
    return LSTMLM(cfg, num_outputs)
