"""Q-networks of model=dqn: one MLP with an output per action, or dueling heads over a shared trunk.

Both are dlx's MLP with the agent's `hidden`, `activation`, `init`, `norm` (dlx.models.policies.mlp),
so a Q-network reads like any other model of dlx.
"""

from __future__ import annotations

import torch
from torch import nn

from dlx.models.policies import RunningNorm, mlp, trunk


class QNetwork(nn.Module):
    """(B, features) -> Q(s, a) for every action, (B, n_actions).

    Dueling (Wang et al. 2016): a value head V(s) and an advantage head A(s, a) share the trunk,
    Q = V + A - mean_a A, the mean making V and A identifiable (the paper's eq. 9)."""

    def __init__(self, cfg, in_features: int, n_actions: int, dueling: bool = False):
        super().__init__()
        self.dueling = dueling
        if not dueling:
            self.q = mlp(cfg, in_features, n_actions)
            return
        width = cfg.hidden[-1] if cfg.hidden else in_features
        self.body = trunk(cfg, in_features) if cfg.hidden else nn.Flatten()
        self.value, self.advantage = nn.Linear(width, 1), nn.Linear(width, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.dueling:
            return self.q(obs)
        h = self.body(obs)
        advantage = self.advantage(h)
        return self.value(h) + advantage - advantage.mean(-1, keepdim=True)


class QPolicy(nn.Module):
    """What `dlx export` writes for a DQN: raw observation -> normalised -> Q-values (the greedy
    action is their argmax, as for logits)."""

    def __init__(self, norm: RunningNorm, q: QNetwork):
        super().__init__()
        self.norm, self.q = norm, q

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q(self.norm(obs))
