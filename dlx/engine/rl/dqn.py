"""Deep Q-network (Mnih et al. 2015), with Double DQN and dueling heads as switches.

Each iteration takes `train_freq` epsilon-greedy steps of every env into the replay buffer, then,
once `learning_starts` env steps are collected, `gradient_steps` gradient steps on uniform
minibatches: the TD target r + gamma (1 - terminated) max_a' Q_target(s', a') (Double DQN: the
online net's argmax, valued by the target net) against Q(s, a) under the Huber loss. Every
`target_update` gradient steps the target net moves to the online net: a copy (tau = 1) or
Polyak averaging. Epsilon falls linearly from `epsilon_start` to `epsilon_end` over
`epsilon_fraction` of the run's env steps.

Exact resume: the target net is a submodule (in the weights); the replay buffer, the env steps
taken (epsilon's position) and the gradient steps (the target schedule's position) are the
agent's `extra_state`.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from dlx.engine.rl.agent import Agent
from dlx.engine.rl.replay import ReplayBuffer, Transitions
from dlx.models.qnets import QNetwork, QPolicy


def td_targets(rewards, terminated, next_q_target, gamma: float, next_q_online=None) -> torch.Tensor:
    """r + gamma * Q_target(s', a*) where the episode goes on, r where it terminated; a* is the
    argmax of `next_q_online` (Double DQN) when given, else of `next_q_target` (the max)."""
    if next_q_online is None:
        value = next_q_target.max(-1).values
    else:
        value = next_q_target.gather(1, next_q_online.argmax(-1, keepdim=True)).squeeze(1)
    return rewards + gamma * value * ~terminated


def epsilon_at(step: int, start: float, end: float, span: float) -> float:
    """Linear decay from `start` to `end` over the first `span` env steps, `end` afterwards."""
    return end if step >= span else start + (end - start) * step / span


@torch.no_grad()
def move_target(target: torch.nn.Module, online: torch.nn.Module, tau: float) -> None:
    """theta- <- theta (tau = 1), else theta- <- tau theta + (1 - tau) theta-; buffers (batch-norm
    statistics) are copied."""
    if tau == 1.0:
        target.load_state_dict(online.state_dict())
        return
    for t, s in zip(target.parameters(), online.parameters()):
        t.mul_(1 - tau).add_(s, alpha=tau)
    for t, s in zip(target.buffers(), online.buffers()):
        t.copy_(s)


class DQN(Agent):
    """The online Q-network `q`, its target `target` (no gradients) and, in training, the replay buffer."""

    discrete_only = True
    name = "dqn"

    def __init__(self, cfg, spaces, normalize: bool = False):
        super().__init__(cfg, spaces, normalize)
        self.q = QNetwork(cfg, math.prod(spaces.obs_shape), spaces.n_actions, cfg.dueling)
        self.target = copy.deepcopy(self.q).requires_grad_(False)
        self.replay: ReplayBuffer | None = None  # made on the agent's device at the first training step
        self.env_steps = 0  # taken by this agent: epsilon's position
        self.updates = 0  # gradient steps taken: the target schedule's position
        self.total_steps = 0  # the run's env steps (known in training); 0: epsilon_end throughout

    def train(self, mode: bool = True):
        super().train(mode)
        self.target.eval()  # the target is never trained: batch norm uses its copied statistics
        return self

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q(s, a) of (normalised) observations: (B, n_actions)."""
        return self.q(obs)

    # ------------------------------------------------------------ acting

    def epsilon(self) -> float:
        cfg = self.cfg
        return epsilon_at(self.env_steps, cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_fraction * self.total_steps)

    def act(self, obs: torch.Tensor, greedy: bool = False) -> torch.Tensor:
        """argmax_a Q(s, a); not greedy: a uniform random action with probability epsilon."""
        best = self.q(obs).argmax(-1)
        if greedy:
            return best
        n = best.shape[0]  # both draws every time: the RNG advances the same whatever epsilon is
        explore = torch.rand(n, device=best.device) < self.epsilon()
        return torch.where(explore, torch.randint(self.spaces.n_actions, (n,), device=best.device), best)

    def policy(self) -> torch.nn.Module:
        return QPolicy(self.obs_norm, self.q)

    def state_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q(obs).max(-1).values

    # ------------------------------------------------------------ training

    def steps_per_iteration(self, num_envs: int) -> int:
        return self.cfg.train_freq * num_envs

    def build_optimizers(self, exp, iterations_per_epoch: int) -> tuple[dict, dict]:
        """The default optimizer (the target's parameters need no gradient); the run's length in env
        steps is taken here, for epsilon's schedule."""
        self.total_steps = exp.trainer.epochs * iterations_per_epoch * self.steps_per_iteration(exp.data.num_envs)
        return super().build_optimizers(exp, iterations_per_epoch)

    def buffer(self) -> ReplayBuffer:
        if self.replay is None:
            self.replay = ReplayBuffer(self.cfg.buffer_size, self.spaces.obs_shape, self.obs_norm.mean.device)
        return self.replay

    @torch.no_grad()
    def collect(self, runner, steps: int) -> None:
        """`steps` epsilon-greedy steps of every env into the replay buffer."""
        replay = self.buffer()
        for _ in range(steps):
            obs = runner.obs
            actions = self.act(obs)
            step = runner.step(actions)
            replay.add(obs, actions, step.reward, step.final_obs, step.terminated)
            self.env_steps += runner.num_envs

    def train_iteration(self, trainer, runner, metrics) -> float:
        cfg = self.cfg
        self.collect(runner, cfg.train_freq)
        metrics.add_term("epsilon", self.epsilon())
        if self.env_steps < cfg.learning_starts:
            return 0.0  # still filling the buffer
        optimizer = trainer.task.optimizers["model"]
        loss = torch.stack([self.update(trainer, optimizer, self.replay.sample(cfg.batch_size))
                            for _ in range(cfg.gradient_steps)]).mean().item()
        metrics.add_term("q_loss", loss)
        return loss

    def update(self, trainer, optimizer, batch: Transitions) -> torch.Tensor:
        """One gradient step on `batch`, then the target's move when its turn has come."""
        cfg = self.cfg
        with torch.no_grad():
            online = self.q(batch.next_obs) if cfg.double else None
            target = td_targets(batch.rewards, batch.terminated, self.target(batch.next_obs), cfg.gamma, online)
        with trainer.autocast():
            q = self.q(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
        loss = (F.smooth_l1_loss if cfg.loss == "huber" else F.mse_loss)(q.float(), target.float())
        optimizer.zero_grad(set_to_none=True)
        trainer.backward_and_step(loss, optimizer, self.q)
        self.updates += 1
        if self.updates % cfg.target_update == 0:
            move_target(self.target, self.q, cfg.tau)
        return loss.detach()

    # ------------------------------------------------------------ state beyond the weights

    def extra_state(self) -> dict:
        return {"replay": self.buffer().state_dict(), "env_steps": self.env_steps, "updates": self.updates}

    def load_extra_state(self, state: dict) -> None:
        self.buffer().load_state_dict(state["replay"])
        self.env_steps, self.updates = state["env_steps"], state["updates"]
