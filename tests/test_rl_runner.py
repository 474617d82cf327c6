"""The runner's state is the envs' whole state (issue 25): saved mid-episode and loaded into a runner
started from another seed, the envs step on exactly as the original ones do — for every built-in
environment (positions, time limits, RNGs: FrozenLake's slippery moves draw from theirs)."""

from __future__ import annotations

import io

import pytest
import torch

from dlx import config
from dlx.data.envs import env_spaces, make_vector_env
from dlx.engine.rl.runner import Runner
from dlx.models.policies import RunningNorm

ENVS = ["cartpole", "acrobot", "mountaincar", "pendulum", "frozenlake"]


def runner_for(name: str, seed: int) -> Runner:
    cfg = config.load([f"data={name}", "model=ppo", "data.num_envs=3", "data.normalize_obs=true"]).data
    spaces = env_spaces(cfg)
    return Runner(make_vector_env(cfg, cfg.num_envs), spaces, RunningNorm(spaces.obs_shape), torch.device("cpu"),
                  seed=seed)


def random_actions(runner: Runner, n: int, generator: torch.Generator) -> list[torch.Tensor]:
    s = runner.spaces
    if s.discrete:
        return [torch.randint(s.n_actions, (runner.num_envs,), generator=generator) for _ in range(n)]
    return [torch.rand(runner.num_envs, s.action_dim, generator=generator) * 4 - 2 for _ in range(n)]


def trace(runner: Runner, actions) -> list:
    steps = [runner.step(a) for a in actions]
    return [torch.cat([s.obs.flatten(), s.final_obs.flatten(), s.reward, s.done.float()]) for s in steps]


@pytest.mark.parametrize("name", ENVS)
def test_a_loaded_runner_steps_on_exactly_as_the_saved_one(name):
    g = torch.Generator().manual_seed(0)
    original = runner_for(name, seed=3)
    trace(original, random_actions(original, 250, g))  # some episodes end (CartPole, FrozenLake), all are under way
    original.drain_episodes()
    buffer = io.BytesIO()
    torch.save({"runner": original.state_dict(), "norm": original.norm.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # as a checkpoint is read: plain types only

    after = random_actions(original, 300, g)
    expected = trace(original, after)
    copy = runner_for(name, seed=99)
    copy.load_state_dict(saved["runner"])
    copy.norm.load_state_dict(saved["norm"])
    assert copy.env_steps == 750 and saved["runner"]["finished"] == []
    got = trace(copy, after)
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert copy.finished == original.finished and copy.env_steps == original.env_steps


def test_a_fresh_runner_from_another_seed_steps_differently():
    """What the test above rules out: without the loaded state the traces differ."""
    g = torch.Generator().manual_seed(0)
    actions = random_actions(runner_for("frozenlake", 3), 200, g)
    a, b = trace(runner_for("frozenlake", 3), actions), trace(runner_for("frozenlake", 99), actions)
    assert not all(torch.equal(x, y) for x, y in zip(a, b))
