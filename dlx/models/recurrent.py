"""Recurrent networks: Elman RNN, LSTM and GRU over a sequence, then a linear head.

An image (C, H, W) is read row by row: H time steps of C*W features. A sequence (T, F)
is read as it is. A tabular row (F,) is read one feature per step (`tabular: per_feature`,
F steps of 1 feature) or as a single step of F features (`tabular: one_step`).

Token sequences (data whose inputs are ids, e.g. data=majority, running_max) are embedded
(`hidden_size` wide) and read as packed sequences, so padding (id 0) never enters a state:
`pool: last` is each sequence's own last step, `mean` the mean over its real steps. For
tagging data (`per_step`) the head reads every step: (B, T, outputs), many-to-many.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlx.models.layers import as_sequence, init_weights, to_sequence
from dlx.models.schemas import RecurrentConfig  # torch-free: checked before torch loads

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Recurrent(nn.Module):
    def __init__(self, cfg: RecurrentConfig, input_shape: tuple[int, ...], num_outputs: int, vocab: int = 0,
                 per_step: bool = False):
        super().__init__()
        self.per_step = per_step
        if vocab:  # token ids (B, T): an embedding, id 0 is padding
            self.steps, self.features = input_shape[0], cfg.hidden_size
            self.embed = nn.Embedding(vocab, cfg.hidden_size, padding_idx=0)
        else:
            self.steps, self.features = as_sequence(input_shape, cfg.tabular)
            self.embed = None
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
        if self.embed is not None:
            return self.read_tokens(x)
        x = to_sequence(x, self.steps, self.features)  # (B, T, F)
        out, h = self.rnn(x)  # out: (B, T, dirs*H); h: (layers*dirs, B, H), a pair for LSTM
        return self.head(self.drop(self.pooled(out, h, out.mean(dim=1))))

    def read_tokens(self, x):
        """Token ids (B, T), 0 = padding -> (B, outputs), or (B, T, outputs) per step."""
        keep = x != 0  # (B, T)
        lengths = keep.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embed(x), lengths, batch_first=True, enforce_sorted=False)
        out, h = self.rnn(packed)  # h: each sequence's state after its own last real step
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # zeros past the end
        if self.per_step:
            return self.head(self.drop(out))  # (B, T, outputs)
        mean = out.sum(dim=1) / lengths.to(out.device, out.dtype)[:, None]
        return self.head(self.drop(self.pooled(out, h, mean)))

    def pooled(self, out, h, mean):
        if self.pool == "mean":
            z = mean  # (B, dirs*H)
        else:
            h = h[0] if isinstance(h, tuple) else h
            # the top layer's final state per direction (the backward one has read right to left)
            z = h[-self.directions:]  # (dirs, B, H)
            z = z.transpose(0, 1).reshape(out.shape[0], -1)  # (B, dirs*H)
        return z


def build_recurrent(cfg: RecurrentConfig, input_shape: tuple[int, ...], num_outputs: int, vocab: int = 0,
                    per_step: bool = False) -> nn.Module:
    model = Recurrent(cfg, input_shape, num_outputs, vocab, per_step)
    init_weights(model, cfg.init, cfg.init_std, getattr(cfg, "activation", "tanh"))
    return model
