"""The Runner: steps a gymnasium vector env for an agent and keeps what exact resume needs.

    runner = Runner(envs, spaces, agent.obs_norm, device, seed=exp.trainer.seed)
    obs = runner.obs                      # (N, *obs_shape) normalised current observations
    step = runner.step(agent.act(obs))    # next obs, rewards, terminated, truncated, final_obs
    runner.drain_episodes()               # [(return, length), ...] of episodes finished since

The vector env resets a finished env in the same step (gymnasium's `AutoresetMode.SAME_STEP`):
`step.obs` holds the first observation of the new episode there and `step.final_obs` the true
last one, which a value target bootstraps from when the episode was truncated (a time limit),
not when it terminated. Observations are encoded (a discrete state one-hot) and normalised with
the running statistics (`RunningNorm`, updated here, saved with the agent's weights).

`state_dict()` holds every env's state (its position and its random generator, read from the
plain attributes of each wrapper: no pickle), the current observations, the episodes under way
and the counters, in the types `torch.load(weights_only=True)` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlx.data.envs import Spaces

SKIPPED = ("_saved_kwargs", "_previous_data", "spec", "metadata", "render_mode")  # not state, or not plain


@dataclass
class Step:
    """One step of every env: tensors on the runner's device, leading dimension N (envs)."""

    obs: torch.Tensor  # (N, *obs_shape) the next observations (a new episode's first where one ended)
    reward: torch.Tensor  # (N,) float32
    terminated: torch.Tensor  # (N,) bool: the episode ended in a terminal state (no bootstrap)
    truncated: torch.Tensor  # (N,) bool: cut by the time limit (bootstrap from final_obs)
    final_obs: torch.Tensor  # (N, *obs_shape) the true next observations (= obs where nothing ended)

    @property
    def done(self) -> torch.Tensor:
        return self.terminated | self.truncated


def encode(raw, spaces: Spaces) -> torch.Tensor:
    """Raw observations (N, ...) as float32 network inputs: a discrete state becomes one-hot."""
    if spaces.obs_states:
        return torch.nn.functional.one_hot(torch.as_tensor(np.asarray(raw), dtype=torch.long),
                                           spaces.obs_states).float()
    return torch.as_tensor(np.asarray(raw), dtype=torch.float32)


class Runner:
    """A vector env, the current observations and the episodes under way."""

    def __init__(self, envs, spaces: Spaces, norm, device, seed: int):
        self.envs, self.spaces, self.norm, self.device = envs, spaces, norm, device
        self.num_envs = envs.num_envs
        self.returns = np.zeros(self.num_envs)  # of the episodes under way
        self.lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.finished: list[tuple[float, int]] = []  # (return, length) not yet drained
        self.env_steps = 0  # over all envs, since the run started
        raw, _ = envs.reset(seed=seed % 2**32)  # env i: seed + i
        self.obs = self.observe(raw, update=True)
        self.bounds = None if spaces.discrete else (np.asarray(spaces.low), np.asarray(spaces.high))

    def observe(self, raw, update: bool) -> torch.Tensor:
        x = encode(raw, self.spaces).to(self.device)
        if update:
            self.norm.update(x)
        return self.norm(x)

    def step(self, actions: torch.Tensor) -> Step:
        """Step every env with `actions` (continuous ones clipped to the bounds for the env only)."""
        a = actions.detach().cpu().numpy()
        if self.bounds is not None:
            a = np.clip(a, *self.bounds)
        raw, reward, terminated, truncated, info = self.envs.step(a)
        obs = self.observe(raw, update=True)
        done = terminated | truncated
        final = obs
        if done.any():
            final = obs.clone()
            ended = np.flatnonzero(done)
            final[torch.as_tensor(ended, device=self.device)] = self.observe(
                np.stack([info["final_obs"][i] for i in ended]), update=False)
        self.count(reward, done)
        self.obs = obs
        as_tensor = lambda v, dtype: torch.as_tensor(v, dtype=dtype, device=self.device)  # noqa: E731
        return Step(obs, as_tensor(reward, torch.float32), as_tensor(terminated, torch.bool),
                    as_tensor(truncated, torch.bool), final)

    def count(self, reward, done) -> None:
        self.env_steps += self.num_envs
        self.returns += reward
        self.lengths += 1
        for i in np.flatnonzero(done):
            self.finished.append((float(self.returns[i]), int(self.lengths[i])))
        self.returns[done], self.lengths[done] = 0.0, 0

    def drain_episodes(self) -> list[tuple[float, int]]:
        """The (return, length) of the episodes finished since the last call."""
        done, self.finished = self.finished, []
        return done

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict:
        return {"envs": [env_state(env) for env in self.envs.envs], "obs": self.obs.cpu(),
                "returns": torch.from_numpy(self.returns.copy()), "lengths": torch.from_numpy(self.lengths.copy()),
                "finished": list(self.finished), "env_steps": self.env_steps}

    def load_state_dict(self, state: dict) -> None:
        for env, saved in zip(self.envs.envs, state["envs"], strict=True):
            set_env_state(env, saved)
        self.obs = state["obs"].to(self.device)
        self.returns, self.lengths = state["returns"].numpy().copy(), state["lengths"].numpy().copy()
        self.finished, self.env_steps = list(state["finished"]), state["env_steps"]


# ---------------------------------------------------------------- an env's state as plain values


def layers(env):
    """The wrappers of `env`, outermost first, down to the environment itself."""
    while env is not None:
        yield env
        env = getattr(env, "env", None)


def env_state(env) -> list[dict]:
    """Each layer's plain attributes (numbers, strings, arrays, random generators): where the env
    is, its episode's step count and its RNG — what a CartPole, a FrozenLake or a TimeLimit holds."""
    return [{k: v for k, v in ((k, plain(v)) for k, v in vars(layer).items() if k not in SKIPPED)
             if v is not NOT_PLAIN} for layer in layers(env)]


def set_env_state(env, state: list[dict]) -> None:
    for layer, saved in zip(layers(env), state, strict=True):
        for key, value in saved.items():
            if isinstance(value, tuple) and value and value[0] == "generator":
                getattr(layer, key).bit_generator.state = value[1]
            else:
                setattr(layer, key, unplain(value))


NOT_PLAIN = object()


def plain(value):
    """`value` in types torch.load(weights_only=True) reads; NOT_PLAIN for anything else."""
    if isinstance(value, np.generic):  # before float: numpy's float64 is one
        return ("scalar", value.item(), str(value.dtype))
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.random.Generator):
        return ("generator", value.bit_generator.state)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":  # numbers (a map of bytes is not state)
        return ("ndarray", torch.from_numpy(value.copy()), str(value.dtype))
    if isinstance(value, (tuple, list)):  # MountainCar's state: (position, velocity)
        items = [plain(v) for v in value]
        return NOT_PLAIN if any(v is NOT_PLAIN for v in items) else (type(value).__name__, items)
    return NOT_PLAIN


def unplain(value):
    if not isinstance(value, tuple):
        return value
    kind, content = value[0], value[1]
    if kind == "ndarray":
        return content.numpy().astype(value[2])
    if kind == "scalar":
        return np.dtype(value[2]).type(content)
    items = [unplain(v) for v in content]
    return tuple(items) if kind == "tuple" else items
