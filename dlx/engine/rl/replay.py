"""The replay buffer of off-policy agents (model=dqn): a ring of tensors on the agent's device.

A vector env's step of N transitions is written at once (one indexed copy per field, no Python
per transition); once full, the oldest transitions are overwritten first. Minibatches are drawn
uniformly with replacement, as in Mnih et al. 2015, from torch's global RNG on the buffer's
device (saved and restored by the trainer), so a resumed run draws what an uninterrupted one does.

Memory: `capacity` x (2 observations x 4 bytes x obs size + 8 (action) + 4 (reward) + 1 (flag))
bytes: the next observation is stored, not derived, since at an episode's end it is the true last
observation (the env has already reset). The checkpoint holds the filled part, as much again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")


@dataclass
class Transitions:
    """A minibatch, every tensor with leading dimension B."""

    obs: torch.Tensor  # (B, *obs_shape)
    actions: torch.Tensor  # (B,) long
    rewards: torch.Tensor  # (B,) float32
    next_obs: torch.Tensor  # (B, *obs_shape) the true next observation (the last one where an episode ended)
    terminated: torch.Tensor  # (B,) bool: no future value after next_obs (a time limit is not termination)


class ReplayBuffer:
    """`capacity` transitions in preallocated tensors; `pos` is where the next one goes."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], device):
        self.capacity, self.device = capacity, torch.device(device)
        self.obs = torch.zeros((capacity, *obs_shape), dtype=torch.float32, device=device)
        self.next_obs = torch.zeros_like(self.obs)
        self.actions = torch.zeros(capacity, dtype=torch.long, device=device)
        self.rewards = torch.zeros(capacity, dtype=torch.float32, device=device)
        self.terminated = torch.zeros(capacity, dtype=torch.bool, device=device)
        self.pos = 0  # the next row written
        self.size = 0  # rows filled

    def __len__(self) -> int:
        return self.size

    def add(self, obs, actions, rewards, next_obs, terminated) -> None:
        """Store N transitions (each argument with leading dimension N) after the last ones."""
        n = len(actions)
        if n > self.capacity:  # more than fit: only the newest survive a ring anyway
            obs, actions, rewards, next_obs, terminated = (v[-self.capacity:] for v in
                                                           (obs, actions, rewards, next_obs, terminated))
            n = self.capacity
        rows = (self.pos + torch.arange(n, device=self.device)) % self.capacity
        for name, value in zip(FIELDS, (obs, actions, rewards, next_obs, terminated)):
            getattr(self, name)[rows] = value
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> Transitions:
        """`batch_size` transitions drawn uniformly (with replacement) from the filled rows."""
        rows = torch.randint(self.size, (batch_size,), device=self.device)
        return Transitions(*(getattr(self, name)[rows] for name in FIELDS))

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """The filled rows (on the CPU) and the position: a partly filled buffer saves only its part."""
        return {"pos": self.pos, "size": self.size,
                **{name: getattr(self, name)[:self.size].cpu() for name in FIELDS}}

    def load_state_dict(self, state: dict) -> None:
        size = state["size"]
        for name in FIELDS:
            getattr(self, name)[:size] = state[name].to(self.device)
        self.pos, self.size = state["pos"], size
