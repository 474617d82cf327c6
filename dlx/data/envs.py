"""Environments as data: gymnasium envs (the optional extra `rl`) for the RL task.

`load_env(cfg)` is the loader of every environment dataset (declared in dlx.data.env_schemas):
it makes one env to read its spaces and returns an `EnvBundle` of kind `environment`, whose
"splits" are sizes only (env steps per epoch, validation and test episodes); the RL task
(dlx.engine.rl.task) makes the envs it steps with `make_vector_env` and `make_env`. gymnasium is
imported inside the functions: the RL task registers with the others, gymnasium or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from dlx.data.bundle import DataBundle
from dlx.data.env_schemas import ENVIRONMENT, EnvConfig
from dlx.errors import ConfigError

DEFAULT_LIMIT = 1000  # steps per episode for an env registered without a time limit (evaluation must end)


@dataclass(frozen=True)
class Spaces:
    """An environment's spaces as an agent needs them."""

    obs_shape: tuple[int, ...]  # what the networks see: (n,) one-hot for a discrete observation
    discrete: bool  # actions are 0..n_actions-1 (else a Box of action_dim floats)
    n_actions: int = 0  # discrete: the number of actions
    action_dim: int = 0  # continuous: the size of an action
    low: list[float] = field(default_factory=list)  # continuous: the bounds of each action component
    high: list[float] = field(default_factory=list)
    obs_states: int = 0  # a discrete observation (FrozenLake): the number of states, else 0

    @property
    def num_outputs(self) -> int:
        """Logits (discrete) or the action mean's size (continuous): what the policy outputs."""
        return self.n_actions if self.discrete else self.action_dim


def spaces_of(obs_space, action_space) -> Spaces:
    """The `Spaces` of one env's observation and action spaces; one line for those dlx cannot use."""
    from gymnasium import spaces

    if isinstance(obs_space, spaces.Discrete):
        obs_shape, states = (int(obs_space.n),), int(obs_space.n)
    elif isinstance(obs_space, spaces.Box):
        obs_shape, states = tuple(obs_space.shape), 0
    else:
        raise ConfigError(f"observations of type {type(obs_space).__name__} are not supported; agents read "
                          "Box (vectors) or Discrete (states) observations")
    if isinstance(action_space, spaces.Discrete):
        return Spaces(obs_shape, True, n_actions=int(action_space.n), obs_states=states)
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return Spaces(obs_shape, False, action_dim=int(action_space.shape[0]), low=action_space.low.tolist(),
                      high=action_space.high.tolist(), obs_states=states)
    raise ConfigError(f"actions of type {type(action_space).__name__} are not supported; agents take Discrete "
                      "or one-dimensional Box actions")


def make_env(cfg: EnvConfig, render: bool = False):
    """One gymnasium env of `cfg` (data.max_episode_steps applied; rgb_array frames when `render`)."""
    import gymnasium

    kwargs = dict(cfg.make_kwargs())
    if cfg.max_episode_steps:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    elif gymnasium.envs.registry[cfg.env].max_episode_steps is None:
        kwargs["max_episode_steps"] = DEFAULT_LIMIT
    if render:
        kwargs["render_mode"] = "rgb_array"
    try:
        return gymnasium.make(cfg.env, **kwargs)
    except gymnasium.error.DependencyNotInstalled as e:
        raise ConfigError(f"environment {cfg.env}: {str(e).splitlines()[0]}") from None


def make_vector_env(cfg: EnvConfig, num_envs: int):
    """`num_envs` envs stepped together in this process, a finished one reset in the same step."""
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    return SyncVectorEnv([lambda: make_env(cfg) for _ in range(num_envs)], autoreset_mode=AutoresetMode.SAME_STEP)


def env_spaces(cfg: EnvConfig) -> Spaces:
    env = make_env(cfg)
    try:
        return spaces_of(env.observation_space, env.action_space)
    finally:
        env.close()


@dataclass
class EnvSplit:
    """A 'split' of an environment: its size only (env steps, or episodes)."""

    size: int
    index: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return self.size

    def to(self, device) -> "EnvSplit":
        return self


@dataclass
class EnvBundle(DataBundle):
    spaces: Optional[Spaces] = None


def load_env(cfg: EnvConfig) -> EnvBundle:
    """The bundle of an environment: its spaces, and the sizes of an epoch, a validation and the test."""
    spaces = env_spaces(cfg)
    return EnvBundle(EnvSplit(cfg.steps_per_epoch), EnvSplit(cfg.eval_episodes), EnvSplit(cfg.test_episodes),
                     input_shape=spaces.obs_shape, kind=ENVIRONMENT, classes=[], spaces=spaces)
