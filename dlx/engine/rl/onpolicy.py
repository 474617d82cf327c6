"""The on-policy agents: REINFORCE, A2C and PPO, over one actor-critic network.

Each iteration collects with the current policy and updates once (A2C, REINFORCE) or for
`update_epochs` passes of `minibatches` (PPO). Discrete actions: a categorical policy over
logits; continuous: a Gaussian with a learned state-independent log standard deviation (the
env sees the sample clipped to its bounds; the log-probability is of the unclipped sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dlx.engine.rl.agent import Agent
from dlx.engine.rl.returns import discounted_returns, gae
from dlx.errors import ConfigError
from dlx.models.policies import ActorCritic, PolicyHead


@dataclass
class Rollout:
    """T steps of N envs: every tensor (T, N, ...) on the agent's device."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor  # the episode ended after this step (terminated or truncated)
    next_values: torch.Tensor  # V of the true next state; 0 where the episode terminated


class OnPolicy(Agent):
    """What the three share: the network, acting, the log-probabilities and the losses' parts."""

    value_head = True

    def steps_per_iteration(self, num_envs: int) -> int:
        return self.cfg.n_steps * num_envs

    def rollout(self, runner):
        """`n_steps` steps per env, with their GAE(λ) advantages and value targets (n-step returns at λ=1)."""
        cfg = self.cfg
        roll = self.collect(runner, cfg.n_steps)
        return roll, *gae(roll.rewards, roll.values, roll.next_values, roll.dones, cfg.gamma, cfg.gae_lambda)

    def __init__(self, cfg, spaces, normalize: bool = False):
        super().__init__(cfg, spaces, normalize)
        self.net = ActorCritic(cfg, math.prod(spaces.obs_shape), spaces.num_outputs, discrete=spaces.discrete, shared=cfg.shared,
                               value=self.value_head, log_std=cfg.log_std)

    def forward(self, obs: torch.Tensor):
        """(the action distribution, V(s) or None) of normalised observations (B, *obs_shape)."""
        out, value = self.net(obs.flatten(1))
        return self.net.distribution(out), value

    def act(self, obs: torch.Tensor, greedy: bool = False) -> torch.Tensor:
        dist, _ = self(obs)
        if greedy:
            return dist.probs.argmax(-1) if self.spaces.discrete else dist.mean
        return dist.sample()

    def log_prob(self, dist, actions: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) per sample (summed over a continuous action's components)."""
        lp = dist.log_prob(actions)
        return lp if self.spaces.discrete else lp.sum(-1)

    def entropy(self, dist) -> torch.Tensor:
        h = dist.entropy()
        return h if self.spaces.discrete else h.sum(-1)

    def policy(self) -> torch.nn.Module:
        return PolicyHead(self.obs_norm, self.net)

    def state_values(self, obs: torch.Tensor) -> torch.Tensor:
        _, value = self(obs)
        if value is None:
            raise ConfigError(f"model={self.cfg.name} model.baseline=false learns no state values")
        return value

    @torch.no_grad()
    def collect(self, runner, steps: int) -> Rollout:
        """`steps` steps of every env with the current policy (sampled actions)."""
        obs, actions, log_probs, values, rewards, dones, finals, ended = [], [], [], [], [], [], [], []
        for _ in range(steps):
            dist, value = self(runner.obs)
            action = dist.sample()
            obs.append(runner.obs)
            actions.append(action)
            log_probs.append(self.log_prob(dist, action))
            values.append(value)
            step = runner.step(action)
            rewards.append(step.reward)
            dones.append(step.done)
            finals.append(step.final_obs)
            ended.append(step.terminated)
        rewards, terminal = torch.stack(rewards), torch.stack(ended)
        if self.net.critic is None:  # plain REINFORCE: no value to bootstrap from
            values = next_values = torch.zeros_like(rewards)
        else:
            values = torch.stack(values)
            _, next_values = self(torch.stack(finals).flatten(0, 1))
            next_values = next_values.view(steps, -1) * ~terminal  # no future after a terminal state
        return Rollout(torch.stack(obs), torch.stack(actions), torch.stack(log_probs), values, rewards,
                       torch.stack(dones), next_values)

    def update(self, trainer, loss: torch.Tensor) -> None:
        optimizer = next(iter(trainer.task.optimizers.values()))
        optimizer.zero_grad(set_to_none=True)
        trainer.backward_and_step(loss, optimizer, self)


def standardize(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / (x.std() + 1e-8) if x.numel() > 1 else x - x.mean()


def report(metrics, policy_loss, value_loss, entropy) -> None:
    metrics.add_term("policy_loss", float(policy_loss))
    metrics.add_term("value_loss", float(value_loss))
    metrics.add_term("entropy", float(entropy))


class A2C(OnPolicy):
    """Advantage actor-critic (Mnih et al. 2016, synchronous): n-step returns (gae_lambda=1) or GAE."""

    name = "a2c"

    def train_iteration(self, trainer, runner, metrics) -> float:
        cfg = self.cfg
        roll, advantages, targets = self.rollout(runner)
        with trainer.autocast():
            dist, values = self(roll.obs.flatten(0, 1))
            adv = advantages.flatten()
            adv = standardize(adv) if cfg.normalize_advantage else adv
            policy_loss = -(self.log_prob(dist, roll.actions.flatten(0, 1)) * adv).mean()
            value_loss = (values - targets.flatten()).square().mean()
            entropy = self.entropy(dist).mean()
            loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
        self.update(trainer, loss)
        report(metrics, policy_loss.detach(), value_loss.detach(), entropy.detach())
        return loss.item()


class PPO(OnPolicy):
    """Proximal policy optimisation (Schulman et al. 2017): the clipped surrogate over GAE advantages,
    `update_epochs` passes of `minibatches` shuffled minibatches per rollout."""

    name = "ppo"

    def train_iteration(self, trainer, runner, metrics) -> float:
        cfg = self.cfg
        roll, advantages, targets = self.rollout(runner)
        obs, actions = roll.obs.flatten(0, 1), roll.actions.flatten(0, 1)
        old_log_probs, old_values = roll.log_probs.flatten(), roll.values.flatten()
        advantages, targets = advantages.flatten(), targets.flatten()
        n = obs.shape[0]
        size = max(1, n // cfg.minibatches)
        losses = []
        for _ in range(cfg.update_epochs):
            order = torch.randperm(n, device=obs.device)  # the global RNG: saved with every checkpoint
            kls = []
            for start in range(0, size * cfg.minibatches, size):
                rows = order[start:start + size]
                loss, kl = self.minibatch_loss(trainer, obs[rows], actions[rows], old_log_probs[rows],
                                               old_values[rows], advantages[rows], targets[rows], metrics)
                self.update(trainer, loss)
                losses.append(loss.detach())
                kls.append(kl)
            if cfg.target_kl and torch.stack(kls).mean() > cfg.target_kl:
                break
        return torch.stack(losses).mean().item()

    def minibatch_loss(self, trainer, obs, actions, old_log_probs, old_values, advantages, targets, metrics):
        cfg = self.cfg
        with trainer.autocast():
            dist, values = self(obs)
            log_probs = self.log_prob(dist, actions)
            ratio = (log_probs - old_log_probs).exp()
            adv = standardize(advantages) if cfg.normalize_advantage else advantages
            policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv).mean()
            value_loss = (values - targets).square()
            if cfg.value_clip:
                clipped = old_values + (values - old_values).clamp(-cfg.clip, cfg.clip)
                value_loss = torch.max(value_loss, (clipped - targets).square())
            value_loss = value_loss.mean()
            entropy = self.entropy(dist).mean()
            loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
        with torch.no_grad():
            kl = ((ratio - 1) - (log_probs - old_log_probs)).mean()  # Schulman's k3 estimator of KL(old || new)
            clipped_fraction = ((ratio - 1).abs() > cfg.clip).float().mean()
        report(metrics, policy_loss.detach(), value_loss.detach(), entropy.detach())
        metrics.add_term("approx_kl", float(kl))
        metrics.add_term("clip_fraction", float(clipped_fraction))
        return loss, kl


class Reinforce(OnPolicy):
    """Monte-Carlo policy gradient (Williams 1992) with reward-to-go and, by default, a learned value
    baseline (`baseline=false`: plain REINFORCE). Each iteration collects `n_steps` steps per env and
    updates on the episodes that ended; the steps of an episode still under way carry over (in
    `extra_state`) and are used once it ends, with the log-probabilities of the policy then."""

    name = "reinforce"
    KEYS = ("obs", "actions", "rewards", "dones", "next_values")

    def __init__(self, cfg, spaces, normalize: bool = False):
        self.value_head = cfg.baseline
        super().__init__(cfg, spaces, normalize)
        self.carry: list[dict] = []  # per env: the steps of its episode under way

    def whole_episodes(self, roll: Rollout) -> dict:
        """The steps of every episode that ended, flat (L, ...); the rest carried to the next iteration."""
        n = roll.rewards.shape[1]
        if not self.carry:
            self.carry = [{k: getattr(roll, k)[:0, i] for k in self.KEYS} for i in range(n)]
        done = {k: [] for k in self.KEYS}
        for i in range(n):  # per env, once per iteration (not per step)
            seq = {k: torch.cat([self.carry[i][k], getattr(roll, k)[:, i]]) for k in self.KEYS}
            ends = torch.nonzero(seq["dones"]).flatten()
            cut = int(ends[-1]) + 1 if len(ends) else 0
            for k in self.KEYS:
                done[k].append(seq[k][:cut])
            self.carry[i] = {k: v[cut:] for k, v in seq.items()}
        return {k: torch.cat(v) for k, v in done.items()}

    def train_iteration(self, trainer, runner, metrics) -> float:
        cfg = self.cfg
        ep = self.whole_episodes(self.collect(runner, cfg.n_steps))
        if not len(ep["rewards"]):
            return 0.0  # no episode has ended yet: nothing to learn from
        # reward-to-go within each episode; after a truncated one's last step: V(s') (0 without a baseline)
        returns = discounted_returns(ep["rewards"].unsqueeze(1), ep["dones"].unsqueeze(1), cfg.gamma,
                                     ep["next_values"].unsqueeze(1)).squeeze(1)
        with trainer.autocast():
            dist, values = self(ep["obs"])
            adv = returns - values.detach() if values is not None else returns
            adv = standardize(adv) if cfg.normalize_advantage else adv
            policy_loss = -(self.log_prob(dist, ep["actions"]) * adv).mean()
            value_loss = (values - returns).square().mean() if values is not None else torch.zeros(())
            entropy = self.entropy(dist).mean()
            loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
        self.update(trainer, loss)
        report(metrics, policy_loss.detach(), value_loss.detach(), entropy.detach())
        return loss.item()

    def extra_state(self) -> dict:
        return {"carry": [{k: v.cpu() for k, v in env.items()} for env in self.carry]}

    def load_extra_state(self, state: dict) -> None:
        device = self.obs_norm.mean.device
        self.carry = [{k: v.to(device) for k, v in env.items()} for env in state["carry"]]
