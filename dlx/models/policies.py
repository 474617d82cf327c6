"""Agent networks: policies (categorical, Gaussian), value heads, and the observation normaliser.

Every trunk is dlx's MLP (`hidden`, `activation`, `init`, `norm` of the agent's config), so an
agent's network reads like any other model of dlx. An actor-critic shares one trunk between the
policy and the value head (`shared=true`) or gives each its own.
"""

from __future__ import annotations


import torch
from torch import nn

from dlx.models.layers import init_weights
from dlx.models.mlp import MLP
from dlx.models.schemas import MLPConfig


class RunningNorm(nn.Module):
    """Observation normalisation fitted online: (x - mean) / std over every observation seen,
    clipped to ±`clip`. Its statistics are buffers: saved with the weights, used by eval and export."""

    def __init__(self, shape: tuple[int, ...], enabled: bool = True, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.enabled, self.clip, self.eps = enabled, clip, eps
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge a batch (B, *shape) into the statistics (Chan et al.'s parallel variance)."""
        if not self.enabled:
            return
        x = x.double()
        n, mean, var = x.shape[0], x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        self.var.copy_((self.var * self.count + var * n + delta.square() * self.count * n / total) / total)
        self.mean.add_(delta * n / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        scaled = (x - self.mean.float()) / torch.sqrt(self.var.float() + self.eps)
        return scaled.clamp(-self.clip, self.clip)


def mlp(cfg, in_features: int, out: int, gain: float | None = None) -> nn.Module:
    """dlx's MLP with the agent's `hidden`, `activation`, `init`, `norm`; `gain`: the last layer's
    weights orthogonal with that gain (small for a policy's logits: a near-uniform first policy)."""
    net = MLP(MLPConfig(hidden=list(cfg.hidden), activation=cfg.activation, init=cfg.init, norm=cfg.norm),
              in_features, out)
    init_weights(net, cfg.init, 0.01, cfg.activation)
    if gain is not None:
        last = net.net[-1]
        nn.init.orthogonal_(last.weight, gain)
        nn.init.zeros_(last.bias)
    return net


def trunk(cfg, in_features: int) -> nn.Module:
    """The MLP without its output layer: (B, in_features) -> (B, hidden[-1])."""
    net = mlp(cfg, in_features, 1)
    return nn.Sequential(*list(net.net)[:-1])


class ActorCritic(nn.Module):
    """A policy head (logits or the Gaussian's mean) and a value head over one shared trunk or two.

    `log_std` is a learned vector (state-independent), as in PPO's original continuous control."""

    def __init__(self, cfg, in_features: int, num_outputs: int, *, discrete: bool, shared: bool,
                 value: bool = True, log_std: float = 0.0):
        super().__init__()
        self.discrete, self.shared = discrete, shared
        width = cfg.hidden[-1] if cfg.hidden else in_features
        if shared:
            self.body = trunk(cfg, in_features) if cfg.hidden else nn.Identity()
            self.actor = nn.Linear(width, num_outputs)
            self.critic = nn.Linear(width, 1) if value else None
            nn.init.orthogonal_(self.actor.weight, 0.01)
            nn.init.zeros_(self.actor.bias)
        else:
            self.body = nn.Identity()
            self.actor = mlp(cfg, in_features, num_outputs, gain=0.01)
            self.critic = mlp(cfg, in_features, 1, gain=1.0) if value else None
        self.log_std = None if discrete else nn.Parameter(torch.full((num_outputs,), float(log_std)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits or mean (B, A), value (B,) or None)."""
        h = self.body(obs)
        value = self.critic(h).squeeze(-1) if self.critic is not None else None
        return self.actor(h), value

    def distribution(self, out: torch.Tensor):
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out))


class PolicyHead(nn.Module):
    """What `dlx export` writes: raw observation -> normalised -> logits / action mean."""

    def __init__(self, norm: RunningNorm, net: ActorCritic):
        super().__init__()
        self.norm, self.net = norm, net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net.actor(self.net.body(self.norm(obs)))


