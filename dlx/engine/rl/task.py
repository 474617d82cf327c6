"""The RL task: an agent (model=reinforce, a2c, ppo, dqn) trained on an environment (data kind
`environment`), through dlx's one loop, run store, resume, early stopping and best weights.

The loop's units: a trainer step is one agent *iteration* (collect, then update); an epoch is
`data.steps_per_epoch` env steps (rounded up to whole iterations); validation runs
`data.eval_episodes` greedy episodes on seeded evaluation envs (`val_return`, the default monitor,
maximised); the test runs `data.test_episodes` episodes of the best weights (`test_return_mean`).
The batch sources are sizes only: the task steps the envs itself, so the trainer's batch
machinery (and its exact mid-epoch resume) holds as it is — every random draw comes from torch's
global RNG (saved by the trainer) or the envs (saved by the runner, in this task's state).

After training, a restored run answers `run_episodes` (dlx eval --episodes, dlx play, the
benchmarks), `tabular_view` (FrozenLake's greedy policy and state values) and `dlx export` (the
policy network, observation in, logits or action mean out).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from dlx.data import envs as environments
from dlx.data.env_schemas import ENVIRONMENT
from dlx.engine.rl.agent import Agent, agent_class
from dlx.engine.rl.metrics import EVAL_NAMES, EpisodeMetrics, mean_std
from dlx.engine.rl.runner import Runner, encode
from dlx.engine.tasks import Task
from dlx.errors import ConfigError
from dlx.registry import TASKS

VAL_SEED, TEST_SEED = 1_000_000, 2_000_000  # evaluation envs' seeds: data.seed + these + episode number


@dataclass
class Episode:
    """One episode of a restored agent."""

    total_reward: float
    length: int
    frames: Optional[list] = None  # rgb_array frames (H, W, 3) uint8 when rendered


@dataclass(frozen=True)
class Iterations:
    """An epoch's training 'batches': one token per agent iteration (the env steps it collects)."""

    count: int
    steps: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        for _ in range(self.count):
            yield (range(self.steps),)  # its length: the env steps a progress display counts


@dataclass(frozen=True)
class Episodes:
    """A validation or test 'split': one batch asking for `n` seeded episodes."""

    n: int
    seed: int
    test: bool

    def __len__(self) -> int:
        return 1 if self.n else 0

    def __iter__(self):
        yield self


@TASKS.register("rl", kinds=(ENVIRONMENT,), by_model=False,
                why="; an environment trains an agent: model=ppo, a2c, reinforce or dqn")
class RLTask(Task):
    """An agent, its optimizers and, in training, the runner that steps its envs."""

    def __init__(self, agent: Agent, env_cfg, *, runner: Optional[Runner] = None, optimizers=None,
                 schedules=None, iterations: int = 0):
        self.agent = self.model = agent
        self.env_cfg, self.runner, self.iterations = env_cfg, runner, iterations
        self.optimizers, self.schedules = optimizers or {}, schedules or {}
        self.batch_size = agent.steps_per_iteration(env_cfg.num_envs) if runner is not None else 0
        self.num_outputs = agent.spaces.num_outputs
        self.env_id = env_cfg.env

    # ------------------------------------------------------------ building

    @classmethod
    def check_trainer(cls, exp) -> None:
        unsupported = {"devices": exp.trainer.devices > 1, "overfit_batches": exp.trainer.overfit_batches > 0}
        for key in (k for k, asked in unsupported.items() if asked):
            raise ConfigError(f"trainer.{key}={getattr(exp.trainer, key)} does not apply to an agent on an environment; "
                              "leave it at its default (more envs: data.num_envs)")

    @classmethod
    def build(cls, exp, bundle, device) -> "RLTask":
        cls.check_trainer(exp)
        agent = cls.build_model(exp, None, device, spaces=bundle.spaces)
        cfg = exp.data
        runner = Runner(environments.make_vector_env(cfg, cfg.num_envs), bundle.spaces, agent.obs_norm, device,
                        seed=exp.trainer.seed)
        steps = min(cfg.steps_per_epoch, cfg.limit or cfg.steps_per_epoch)  # data.limit: a quick look
        iterations = max(1, math.ceil(steps / agent.steps_per_iteration(cfg.num_envs)))
        optimizers, schedules = agent.build_optimizers(exp, iterations)
        return cls(agent, cfg, runner=runner, optimizers=optimizers, schedules=schedules, iterations=iterations)

    @classmethod
    def build_model(cls, exp, meta, device=None, spaces=None) -> Agent:
        """The agent of `exp.model` for the environment of `exp.data` (its spaces read from one env)."""
        if not hasattr(exp.data, "num_envs"):
            raise ConfigError(f"model={exp.model.name} trains on an environment: data=cartpole, acrobot, "
                              "mountaincar, pendulum, frozenlake or gym data.env=<id>")
        agent_cls = agent_class(exp.model.name)
        spaces = spaces or environments.env_spaces(exp.data)
        agent_cls.check_spaces(exp.model.name, spaces)
        agent = agent_cls(exp.model, spaces, normalize=exp.data.normalize_obs)
        return agent.to(device) if device is not None else agent

    @classmethod
    def outputs_of(cls, exp, meta) -> int:
        return meta.num_outputs if meta.num_outputs is not None else environments.env_spaces(exp.data).num_outputs

    @classmethod
    def for_inference(cls, exp, meta, model) -> "RLTask":
        return cls(model, exp.data)

    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        return "val_return" if requested in ("auto", "val_acc", "val_loss") else requested

    # ------------------------------------------------------------ the loop's sources and steps

    def batches(self, bundle, device, generator, *, eval_batch_size: int, min_batch: int = 1, shard=(0, 1)):
        seed = self.env_cfg.seed
        return (Iterations(self.iterations, self.batch_size),
                Episodes(self.env_cfg.eval_episodes, seed + VAL_SEED, False),
                Episodes(self.env_cfg.test_episodes, seed + TEST_SEED, True))

    def to_device(self, batch, device):
        return batch  # tokens: the task steps its envs on the device itself

    @classmethod
    def metric_names_for(cls, bundle) -> list[str]:
        return list(EVAL_NAMES)

    def metric_names(self) -> list[str]:
        return list(EVAL_NAMES)

    def train_metrics(self):
        return EpisodeMetrics(training=True)

    def eval_metrics(self, keep_scores: bool = True):
        return EpisodeMetrics(training=False)

    def train_step(self, trainer, batch, metrics) -> float:
        start = time.perf_counter()
        loss = self.agent.train_iteration(trainer, self.runner, metrics)
        metrics.add_episodes(self.runner.drain_episodes())
        metrics.add_iteration(loss, self.runner.env_steps, self.batch_size, time.perf_counter() - start)
        return loss

    def eval_step(self, trainer, batch: Episodes, metrics) -> None:
        metrics.test = batch.test
        episodes = self.run_episodes(batch.n, batch.seed)
        metrics.add_episodes((e.total_reward, e.length) for e in episodes)

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["rl"] = {"runner": self.runner.state_dict(), "agent": self.agent.extra_state()}
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.runner.load_state_dict(state["rl"]["runner"])
        self.agent.load_extra_state(state["rl"]["agent"])

    # ------------------------------------------------------------ using the agent

    def act(self, raw_obs, greedy: bool = True) -> np.ndarray:
        """Actions for raw observations of the envs (encoded and normalised as in training)."""
        device = next(self.agent.parameters()).device
        obs = self.agent.obs_norm(encode(raw_obs, self.agent.spaces).to(device))
        actions = self.agent.act(obs, greedy=greedy).cpu().numpy()
        if not self.agent.spaces.discrete:
            actions = np.clip(actions, self.agent.spaces.low, self.agent.spaces.high)
        return actions

    @torch.inference_mode()
    def run_episodes(self, n: int, seed: int, *, greedy: bool = True, render: bool = False) -> list[Episode]:
        """`n` episodes of the agent, episode i on an env reset with seed `seed + i`: the same
        episodes for the same seed (greedy). `render`: each episode's rgb_array frames."""
        was_training = self.agent.training
        self.agent.eval()
        try:
            if render:
                return [self.rendered_episode(seed + i, greedy) for i in range(n)]
            return self.batched_episodes(n, seed, greedy)
        finally:
            self.agent.train(was_training)

    def batched_episodes(self, n: int, seed: int, greedy: bool) -> list[Episode]:
        """n envs stepped together until each has finished its first episode."""
        envs = environments.make_vector_env(self.env_cfg, n)
        try:
            obs, _ = envs.reset(seed=[seed + i for i in range(n)])
            totals, lengths = np.zeros(n), np.zeros(n, dtype=np.int64)
            running = np.ones(n, dtype=bool)
            while running.any():
                obs, reward, terminated, truncated, _ = envs.step(self.act(obs, greedy))
                totals += np.where(running, reward, 0.0)
                lengths += running
                running &= ~(terminated | truncated)
            return [Episode(float(t), int(k)) for t, k in zip(totals, lengths)]
        finally:
            envs.close()

    def rendered_episode(self, seed: int, greedy: bool) -> Episode:
        env = environments.make_env(self.env_cfg, render=True)
        try:
            obs, _ = env.reset(seed=seed)
            frames, total, length, done = [env.render()], 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(self.act(np.asarray([obs]), greedy)[0])
                frames.append(env.render())
                total, length, done = total + float(reward), length + 1, terminated or truncated
            return Episode(total, length, frames)
        finally:
            env.close()

    @torch.inference_mode()
    def tabular_view(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """A grid world's map (rows of S F H G), the greedy action and the state value per cell,
        both (nrow, ncol) arrays (FrozenLake's actions: 0 left, 1 down, 2 right, 3 up)."""
        spaces = self.agent.spaces
        env = environments.make_env(self.env_cfg)
        desc = getattr(env.unwrapped, "desc", None)
        env.close()
        if not spaces.obs_states or desc is None or desc.size != spaces.obs_states:  # Taxi: a map, 500 states
            raise ConfigError(f"{self.env_id} is not a grid of one state per cell; the policy grid is drawn for "
                              "data=frozenlake")
        self.agent.eval()
        obs = self.agent.obs_norm(encode(np.arange(spaces.obs_states), spaces))
        actions = self.agent.act(obs, greedy=True).cpu().numpy()
        values = self.agent.state_values(obs).cpu().numpy()
        shape = desc.shape
        return ([b"".join(row).decode() for row in desc], actions.reshape(shape), values.reshape(shape))

    # ------------------------------------------------------------ after training: dlx eval, export, cv

    def evaluate_episodes(self, run, episodes: int) -> dict:
        """`dlx eval RUN --episodes N`: mean ± std return and episode lengths of N greedy episodes,
        seeded as the run's test (so N = data.test_episodes gives its test_return_mean again)."""
        done = self.run_episodes(episodes, self.env_cfg.seed + TEST_SEED)
        returns = [e.total_reward for e in done]
        lengths = [float(e.length) for e in done]
        mean, std = mean_std(returns)
        length_mean, length_std = mean_std(lengths)
        return {"run_id": run.run_id, "name": f"episodes-{episodes}", "checkpoint": run.checkpoint, "task": run.kind,
                "size": episodes, "metrics": {"return_mean": mean, "return_std": std, "return_min": min(returns),
                                              "return_max": max(returns), "episode_length": length_mean,
                                              "episode_length_std": length_std}}

    def evaluate_run(self, run, overrides: list[str], split: str) -> dict:
        return self.evaluate_episodes(run, self.env_cfg.test_episodes)

    def exportable(self, run) -> None:
        """The policy network exports (observation in, logits / action mean out)."""

    def export_module(self):
        return self.agent.policy()

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        raise ConfigError(f"run {run.path.name} is an agent on {self.env_id}: it acts, it predicts no rows; "
                          f"use dlx eval {run.path.name} --episodes 100 (or dlx play)")

    def split_scores(self, run, split: str = "test"):
        raise ConfigError(f"run {run.path.name} is an agent on {self.env_id}; dlx ensemble combines classifiers "
                          "and regressors")
