"""An encoder–decoder over token sequences, with optional attention (issue 16).

The encoder (an embedding, then an RNN / GRU / LSTM, optionally bidirectional) reads the
source as a packed sequence, so padding never enters its states. The decoder starts from
the encoder's final state (bridged to its size) and predicts one token per step from the
previous token and, with attention, a context vector: the attention-weighted mean of the
encoder's outputs over the source's real (unpadded) positions.

Attention scores (`model.attention`): `dot` s = hᵀe and `general` s = hᵀWe (Luong: the
query is the decoder's new state), `additive` s = vᵀtanh(W₁h + W₂e) (Bahdanau: the query is
the previous state and the context feeds the step). `none` is the plain encoder–decoder:
the final state is the only context. Decoding: teacher forcing in training (each step is
fed the true previous token with probability `model.teacher_forcing`), greedy or beam
search (`model.beam`) at evaluation. `model.cell=transformer` is the encoder–decoder
Transformer of `dlx.models.seq2seq_transformer`, with the same interface.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlx.models.task_schemas import Seq2SeqConfig  # torch-free: checked before torch loads

PAD, SOS, EOS = 0, 1, 2  # as dlx.data.sequences
CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM, "transformer": None}  # transformer: seq2seq_transformer.py


class Attention(nn.Module):
    def __init__(self, kind: str, size: int):
        super().__init__()
        self.kind = kind
        if kind == "general":
            self.w = nn.Linear(size, size, bias=False)
        elif kind == "additive":
            self.wq, self.wk = nn.Linear(size, size, bias=False), nn.Linear(size, size)
            self.v = nn.Linear(size, 1, bias=False)

    def keys(self, enc: torch.Tensor) -> torch.Tensor:
        """What the scores compare a query with, computed once per source: (B, S, H)."""
        return self.w(enc) if self.kind == "general" else self.wk(enc) if self.kind == "additive" else enc

    def forward(self, query, keys, enc, mask):
        """query (B, H), keys/enc (B, S, H), mask (B, S) true on real tokens -> context, weights."""
        if self.kind == "additive":
            scores = self.v(torch.tanh(self.wq(query)[:, None] + keys)).squeeze(2)
        else:
            scores = torch.bmm(keys, query[:, :, None]).squeeze(2)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
        return torch.bmm(weights[:, None], enc).squeeze(1), weights


class Seq2Seq(nn.Module):
    def __init__(self, cfg: Seq2SeqConfig, vocab_size: int):
        super().__init__()
        self.cfg, self.vocab_size, h = cfg, vocab_size, cfg.hidden_size
        self.lstm = cfg.cell == "lstm"
        self.dirs = 2 if cfg.bidirectional else 1
        self.src_embed = nn.Embedding(vocab_size, cfg.embedding, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(vocab_size, cfg.embedding, padding_idx=PAD)
        self.encoder = CELLS[cfg.cell](cfg.embedding, h, cfg.num_layers, batch_first=True,
                                       bidirectional=cfg.bidirectional)
        self.attend = cfg.attention != "none"
        feed = h if self.attend else 0  # the context is fed to each step with attention
        self.decoder = CELLS[cfg.cell](cfg.embedding + feed, h, cfg.num_layers, batch_first=True)
        self.bridge = nn.Linear(self.dirs * h, h)  # encoder final state(s) -> decoder initial state
        self.enc_proj = nn.Linear(self.dirs * h, h) if self.dirs == 2 else nn.Identity()
        self.attention = Attention(cfg.attention, h) if self.attend else None
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(h + feed, vocab_size)

    # ------------------------------------------------------------ encoder

    def encode(self, src: torch.Tensor):
        """src (B, S) padded with PAD -> (enc (B, S, H), mask (B, S), decoder state)."""
        mask = src != PAD
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.drop(self.src_embed(src)), lengths, batch_first=True,
                                      enforce_sorted=False)
        out, state = self.encoder(packed)
        enc, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        state = tuple(self._bridge(s) for s in state) if self.lstm else self._bridge(state)
        return self.enc_proj(enc), mask, state

    def _bridge(self, s: torch.Tensor) -> torch.Tensor:
        """(layers*dirs, B, H) -> (layers, B, H): each layer's directions joined, then projected."""
        layers, b = self.cfg.num_layers, s.shape[1]
        s = s.view(layers, self.dirs, b, -1).permute(0, 2, 1, 3).reshape(layers, b, -1)
        return torch.tanh(self.bridge(s))

    # ------------------------------------------------------------ decoder

    def step(self, token, state, context, memory):
        """One decoder step: token (B,), state, previous context (B, H) or None -> logits, state,
        context, attention weights (B, S) or None."""
        emb = self.drop(self.tgt_embed(token))[:, None]
        weights = None
        if not self.attend:
            out, state = self.decoder(emb, state)
            return self.out(self.drop(out[:, 0])), state, None, None
        enc, keys, mask = memory
        if self.cfg.attention == "additive":  # Bahdanau: attend with the previous state first
            context, weights = self.attention(_top(state), keys, enc, mask)
            out, state = self.decoder(torch.cat([emb, context[:, None]], dim=2), state)
        else:  # Luong: step with the previous context fed in, then attend with the new state
            out, state = self.decoder(torch.cat([emb, context[:, None]], dim=2), state)
            context, weights = self.attention(out[:, 0], keys, enc, mask)
        logits = self.out(self.drop(torch.cat([out[:, 0], context], dim=1)))
        return logits, state, context, weights

    def start(self, src):
        enc, mask, state = self.encode(src)
        memory = (enc, self.attention.keys(enc), mask) if self.attend else None
        context = enc.new_zeros(enc.shape[0], self.cfg.hidden_size) if self.attend else None
        return state, context, memory

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, teacher_forcing: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (B, T, V) for target `tgt` (B, T): each step fed the true previous token with
        probability `teacher_forcing`, else the model's own previous guess."""
        state, context, memory = self.start(src)
        token = torch.full_like(tgt[:, 0], SOS)
        logits = []
        for t in range(tgt.shape[1]):
            step_logits, state, context, _ = self.step(token, state, context, memory)
            logits.append(step_logits)
            token = tgt[:, t]
            if teacher_forcing < 1:
                own = step_logits.argmax(dim=1)
                coin = torch.rand(token.shape, generator=generator).to(token.device) < teacher_forcing
                token = torch.where(coin, token, own)
        return torch.stack(logits, dim=1)

    @staticmethod
    def reorder_state(state, index: torch.Tensor):
        """Beam search: the states (layers, B, H) — or an LSTM's pair — of the chosen beams."""
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, steps: int):
        """Tokens (B, steps), PAD after EOS, and attention weights (B, steps, S) or None."""
        state, context, memory = self.start(src)
        token = torch.full((src.shape[0],), SOS, dtype=torch.long, device=src.device)
        done = torch.zeros_like(token, dtype=torch.bool)
        tokens, attn = [], []
        for _ in range(steps):
            logits, state, context, weights = self.step(token, state, context, memory)
            token = logits.argmax(dim=1)
            tokens.append(token.masked_fill(done, PAD))
            done = done | (token == EOS)
            if weights is not None:
                attn.append(weights)
        return torch.stack(tokens, dim=1), (torch.stack(attn, dim=1) if attn else None)


def _top(state) -> torch.Tensor:
    return (state[0] if isinstance(state, tuple) else state)[-1]


def build_seq2seq(cfg: Seq2SeqConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    if cfg.cell == "transformer":
        from dlx.models.seq2seq_transformer import TransformerSeq2Seq

        return TransformerSeq2Seq(cfg, num_outputs, input_shape[0])
    return Seq2Seq(cfg, num_outputs)
