"""Beam search for the `dlx.models.seq2seq` models (recurrent or transformer): keep the `k`
most probable prefixes per source.

A finished beam (it produced EOS) only continues with PAD at no cost, so its score stays
its own. With k=1 this is exactly greedy decoding.
"""

from __future__ import annotations

import torch

from dlx.models.seq2seq import EOS, PAD, SOS


@torch.no_grad()
def beam_search(model, src: torch.Tensor, steps: int, k: int) -> torch.Tensor:
    """The most probable target of each source under beam width `k`: tokens (B, steps)."""
    b, device = src.shape[0], src.device
    state, context, memory = model.start(src)
    flat = torch.arange(b, device=device).repeat_interleave(k)
    state = model.reorder_state(state, flat)
    context = context.index_select(0, flat) if context is not None else None
    if memory is not None:
        memory = tuple(m.index_select(0, flat) for m in memory)
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # one live beam at the start: the others would repeat it
    token = torch.full((b * k,), SOS, dtype=torch.long, device=device)
    done = torch.zeros(b * k, dtype=torch.bool, device=device)
    history = torch.zeros(b * k, 0, dtype=torch.long, device=device)
    finished = torch.full((model.vocab_size,), float("-inf"), device=device)
    finished[PAD] = 0.0
    for _ in range(steps):
        logits, state, context, _ = model.step(token, state, context, memory)
        logp = torch.where(done[:, None], finished, logits.float().log_softmax(dim=1))
        total = (scores.reshape(-1, 1) + logp).view(b, -1)  # (B, k*V)
        scores, idx = total.topk(k, dim=1)
        beam, token = idx // model.vocab_size, idx % model.vocab_size
        chosen = (torch.arange(b, device=device)[:, None] * k + beam).view(-1)
        token = token.view(-1)
        state, done = model.reorder_state(state, chosen), done[chosen] | (token == EOS)
        context = context.index_select(0, chosen) if context is not None else None
        history = torch.cat([history[chosen], token[:, None]], dim=1)
    best = scores.argmax(dim=1) + torch.arange(b, device=device) * k
    out = history[best]
    # after the first EOS only PAD: as greedy reports it
    after = (out == EOS).long().cumsum(dim=1) - (out == EOS).long() > 0
    return out.masked_fill(after, PAD)
