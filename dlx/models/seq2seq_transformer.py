"""`model=seq2seq model.cell=transformer`: the encoder–decoder Transformer (Vaswani et al.).

Token embeddings plus sinusoidal positions feed `num_layers` pre-norm
`nn.TransformerEncoderLayer`s and `nn.TransformerDecoderLayer`s of width `hidden_size` with
`num_heads` heads. (No √d factor on the embeddings: nn.Embedding already draws N(0, 1), where
the paper's are N(0, 1/d); scaled, they drown the positions and reverse barely trains.)
The source's padding is a key-padding mask in the encoder's self-attention and in the
decoder's attention over the encoder (memory); the decoder's self-attention has a causal
mask, so the prediction for step t sees target tokens 0..t-1 only.

Same interface as the recurrent `Seq2Seq` (`forward`, `greedy`, `start`/`step` for beam
search): the decoder "state" is the prefix of tokens decoded so far, and each step re-reads
it (O(T²) per sequence; the targets here are tens of tokens). `model.attention` and
`model.bidirectional` do not apply: every layer attends, and the encoder sees the whole source.
"""

from __future__ import annotations

import torch
from torch import nn

from dlx.models.transformer import sinusoidal

PAD, SOS, EOS = 0, 1, 2  # as dlx.data.sequences


class TransformerSeq2Seq(nn.Module):
    def __init__(self, cfg, vocab_size: int, longest: int):
        super().__init__()
        d = cfg.hidden_size
        self.cfg, self.vocab_size = cfg, vocab_size
        self.src_embed = nn.Embedding(vocab_size, d, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(vocab_size, d, padding_idx=PAD)
        # longest source + EOS + SOS: the positions a target of this data can reach; not saved (a function)
        self.register_buffer("positions", sinusoidal(longest + 2, d), persistent=False)
        enc = nn.TransformerEncoderLayer(d, cfg.num_heads, 4 * d, cfg.dropout, batch_first=True, norm_first=True)
        dec = nn.TransformerDecoderLayer(d, cfg.num_heads, 4 * d, cfg.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc, cfg.num_layers, norm=nn.LayerNorm(d), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, cfg.num_layers, norm=nn.LayerNorm(d))
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(d, vocab_size)

    def _embed(self, table: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        positions = self.positions if t <= len(self.positions) else \
            sinusoidal(t, self.positions.shape[1]).to(tokens.device)  # decoding past the longest target
        return self.drop(table(tokens) + positions[:t])  # (B, T, D)

    def start(self, src: torch.Tensor):
        """Encode src (B, S): (empty prefix (B, 0), no context, memory = (enc (B, S, D), padding (B, S)))."""
        padding = src == PAD  # true where a key is padding: what key_padding_mask means
        enc = self.encoder(self._embed(self.src_embed, src), src_key_padding_mask=padding)
        return src.new_zeros(src.shape[0], 0), None, (enc, padding)

    def decode(self, tokens: torch.Tensor, memory) -> torch.Tensor:
        """Logits (B, T, V) for decoder inputs `tokens` (B, T), each position seeing only those before it.
        Target padding needs no mask of its own: it comes after EOS, so under the causal mask no real
        position reads it, and the loss ignores the positions that do."""
        enc, padding = memory
        t = tokens.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).triu(1)  # True: may not attend
        h = self.decoder(self._embed(self.tgt_embed, tokens), enc, tgt_mask=causal, tgt_is_causal=True,
                         memory_key_padding_mask=padding)
        return self.out(self.drop(h))

    def step(self, token, prefix, context, memory):
        """Append `token` (B,) to the prefix and predict the next: logits (B, V), prefix, None, None."""
        prefix = torch.cat([prefix, token[:, None]], dim=1)
        return self.decode(prefix, memory)[:, -1], prefix, None, None

    @staticmethod
    def reorder_state(prefix: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Beam search: the prefixes of the chosen beams (the batch is dimension 0)."""
        return prefix.index_select(0, index)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, teacher_forcing: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (B, T, V) for `tgt` (B, T). Full teacher forcing is one parallel pass; below 1, each
        step is fed the true previous token with probability `teacher_forcing`, else the model's guess."""
        prefix, _, memory = self.start(src)
        sos = torch.full_like(tgt[:, :1], SOS)
        if teacher_forcing >= 1:
            return self.decode(torch.cat([sos, tgt[:, :-1]], dim=1), memory)
        token, logits = sos[:, 0], []
        for t in range(tgt.shape[1]):
            step_logits, prefix, _, _ = self.step(token, prefix, None, memory)
            logits.append(step_logits)
            coin = torch.rand(token.shape, generator=generator).to(token.device) < teacher_forcing
            token = torch.where(coin, tgt[:, t], step_logits.argmax(dim=1))
        return torch.stack(logits, dim=1)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, steps: int):
        """Tokens (B, steps), PAD after EOS; no attention map (None): the heads' weights are not kept."""
        prefix, _, memory = self.start(src)
        token = torch.full((src.shape[0],), SOS, dtype=torch.long, device=src.device)
        done = torch.zeros_like(token, dtype=torch.bool)
        tokens = []
        for _ in range(steps):
            logits, prefix, _, _ = self.step(token, prefix, None, memory)
            token = logits.argmax(dim=1)
            tokens.append(token.masked_fill(done, PAD))
            done = done | (token == EOS)
        return torch.stack(tokens, dim=1), None
