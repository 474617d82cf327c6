"""Return targets over a rollout of T steps from N envs: (T, N) tensors, time first.

An episode ends at step t when `dones[t]`; nothing flows back across that boundary. Where an
episode was cut by a time limit (truncated, not terminated) the caller bootstraps: `next_values`
holds V of the true next state there, and 0 where the episode terminated.
"""

from __future__ import annotations

import torch


def discounted_returns(rewards: torch.Tensor, dones: torch.Tensor, gamma: float,
                       bootstrap: torch.Tensor | None = None) -> torch.Tensor:
    """Reward-to-go G_t = r_t + gamma * G_{t+1}, restarting after each episode's end.

    `bootstrap` (T, N): the value added (discounted) after step t where the episode ends there or
    the rollout ends (a truncated episode's V(s'), else 0)."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        ended = dones[t].float()
        after = bootstrap[t] if bootstrap is not None else torch.zeros_like(running)
        if t == rewards.shape[0] - 1:
            ended = torch.ones_like(ended)  # the rollout's end: only the bootstrap follows
        running = rewards[t] + gamma * (ended * after + (1 - ended) * running)
        returns[t] = running
    return returns


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, dones: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016): (advantages, value targets).

    delta_t = r_t + gamma * next_values_t - V(s_t);  A_t = delta_t + gamma * lam * A_{t+1} within an
    episode. lam = 1 gives n-step returns to the rollout's end (A2C), lam = 0 one-step TD."""
    deltas = rewards + gamma * next_values - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * (1 - dones[t].float()) * running
        advantages[t] = running
    return advantages, advantages + values
