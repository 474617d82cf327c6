"""Transformer encoder (pre-norm): tokens -> [self-attention, feed-forward] blocks -> pooled head.

Tokens: an image becomes non-overlapping `patch_size` x `patch_size` patches (`tokens: patches`,
as in ViT) or its rows (`tokens: rows`); a sequence (T, F) gives T tokens; a tabular row (F,)
gives one token per feature (`tabular: per_feature`) or a single token (`tabular: one_step`).
Token ids (data=majority, running_max: inputs from a vocabulary) are embedded, and a key-padding
mask keeps padding (id 0) out of every attention and of `pool: mean`, so padding never changes a
sequence's output; tagging data reads every position's output (B, T, outputs), many-to-many.

`causal: true` makes the same blocks a decoder-only language model over token ids (data=text):
embeddings plus `positional` positions, a causal mask in every block (position t sees 0..t),
next-token logits at every position (B, T, vocab); no pooling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dlx.errors import ConfigError
from dlx.models.layers import activation, as_sequence, init_weights, to_sequence, widen
from dlx.models.schemas import TransformerConfig  # torch-free: checked before torch loads


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float, causal: bool = False):
        super().__init__()
        self.heads, self.dropout, self.causal = heads, dropout, causal
        self.qkv = nn.Linear(d_model, 3 * d_model)  # queries, keys, values in one product
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x, keep=None):
        b, t, d = x.shape  # (B, T, D)
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # q, k, v: (B, heads, T, head_dim); softmax(q k^T / sqrt(head_dim)) v
        # causal: query t scores keys 0..t only (the upper triangle is masked out)
        # keep (B, T): true on real tokens; padded keys get no weight from any query
        mask = None if keep is None else keep[:, None, None, :]  # (B, 1, 1, T)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=self.causal)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))  # (B, T, D)


class FeedForward(nn.Sequential):
    def __init__(self, cfg: TransformerConfig):
        k = widen(cfg.activation, cfg.maxout_pieces)
        super().__init__(nn.Linear(cfg.d_model, cfg.ff_dim * k),
                         activation(cfg.activation, cfg.negative_slope, cfg.maxout_pieces),
                         nn.Dropout(cfg.dropout), nn.Linear(cfg.ff_dim, cfg.d_model))


class Block(nn.Module):
    """x + attention(norm(x)), then x + feed-forward(norm(x)): pre-norm trains without warm-up."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg.d_model, cfg.heads, cfg.dropout, cfg.causal)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, keep=None):
        x = x + self.drop(self.attn(self.norm1(x), keep))  # (B, T, D)
        return x + self.drop(self.ff(self.norm2(x)))


class Blocks(nn.ModuleList):
    """The stack of blocks, each given the key-padding mask (None: every token is real)."""

    def forward(self, z, keep=None):
        for block in self:
            z = block(z, keep)
        return z


class Tokenizer(nn.Module):
    """Input -> (B, T, D) token embeddings: patches, rows, sequence steps or features."""

    def __init__(self, cfg: TransformerConfig, input_shape: tuple[int, ...], vocab: int = 0):
        super().__init__()
        self.patch = len(input_shape) == 3 and cfg.tokens == "patches"
        self.ids = bool(vocab)
        if self.ids:  # token ids (B, T) from the data's vocabulary; 0 is padding
            self.embed = nn.Embedding(vocab, cfg.d_model, padding_idx=0)
            self.steps = input_shape[0]
        elif self.patch:
            c, h, w = input_shape
            p = cfg.patch_size
            if h % p or w % p:
                raise ConfigError(f"transformer patch_size {p} does not divide the image's {h}x{w} pixels")
            self.embed = nn.Conv2d(c, cfg.d_model, p, stride=p)  # one linear map per patch
            self.steps = (h // p) * (w // p)
        else:
            self.steps, self.features = as_sequence(input_shape, cfg.tabular)
            self.embed = nn.Linear(self.features, cfg.d_model)

    def forward(self, x):
        if self.ids:
            return self.embed(x)  # (B, T, D)
        if self.patch:
            return self.embed(x).flatten(2).transpose(1, 2)  # (B, D, H/p, W/p) -> (B, T, D)
        return self.embed(to_sequence(x, self.steps, self.features))  # (B, T, D)


def sinusoidal(steps: int, d_model: int) -> torch.Tensor:
    """Vaswani et al.'s fixed encoding: sin/cos at geometrically spaced frequencies, (T, D)."""
    pos = torch.arange(steps, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(steps, d_model)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return table


class Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig, input_shape: tuple[int, ...], num_outputs: int, vocab: int = 0,
                 per_step: bool = False):
        super().__init__()
        self.tokens = Tokenizer(cfg, input_shape, vocab)
        self.pool, self.per_step = ("none" if per_step else cfg.pool), per_step
        steps = self.tokens.steps + (1 if self.pool == "cls" else 0)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model)) if self.pool == "cls" else None
        if cfg.positional == "learned":
            self.pos = nn.Parameter(torch.randn(1, steps, cfg.d_model) * 0.02)
        else:  # a buffer: saved with the weights, never trained
            self.register_buffer("pos", sinusoidal(steps, cfg.d_model)[None])
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = Blocks([Block(cfg) for _ in range(cfg.layers)])
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, num_outputs)

    def forward(self, x):
        z = self.tokens(x)  # (B, T, D)
        keep = (x != 0) if self.tokens.ids else None  # (B, T): the key-padding mask of token ids
        if self.cls is not None:
            z = torch.cat([self.cls.expand(z.shape[0], -1, -1), z], dim=1)  # (B, 1+T, D)
            keep = None if keep is None else F.pad(keep, (1, 0), value=True)  # the [CLS] token is real
        z = self.drop(z + self.pos[:, : z.shape[1]])  # a shorter token batch takes the first positions
        z = self.norm(self.blocks(z, keep))
        if self.per_step:
            return self.head(z)  # (B, T, outputs): one output per position
        if self.pool == "cls":
            return self.head(z[:, 0])
        if keep is None:
            return self.head(z.mean(dim=1))  # (B, D)
        return self.head((z * keep[:, :, None]).sum(dim=1) / keep.sum(dim=1, keepdim=True))  # real tokens only


class CausalTransformer(nn.Module):
    """`causal: true`: token ids (B, T) -> next-token logits (B, T, vocab), T <= the data's context."""

    def __init__(self, cfg: TransformerConfig, input_shape: tuple[int, ...], vocab: int):
        super().__init__()
        self.max_length = input_shape[0]  # the context: the positions there are (dlx generate keeps to it)
        self.embed = nn.Embedding(vocab, cfg.d_model)
        if cfg.positional == "learned":
            self.pos = nn.Parameter(torch.randn(1, self.max_length, cfg.d_model) * 0.02)
        else:
            self.register_buffer("pos", sinusoidal(self.max_length, cfg.d_model)[None])
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.Sequential(*[Block(cfg) for _ in range(cfg.layers)])
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, vocab)

    def forward(self, x):
        z = self.drop(self.embed(x) + self.pos[:, : x.shape[1]])  # (B, T, D)
        return self.head(self.norm(self.blocks(z)))  # (B, T, vocab)


def build_transformer(cfg: TransformerConfig, input_shape: tuple[int, ...], num_outputs: int, vocab: int = 0,
                      per_step: bool = False) -> nn.Module:
    if cfg.causal:
        model = CausalTransformer(cfg, input_shape, num_outputs)
    else:
        model = Transformer(cfg, input_shape, num_outputs, vocab, per_step)
    init_weights(model, cfg.init, cfg.init_std, cfg.activation)
    return model
