"""The on-policy agents learn the better action on tiny problems with a known answer (issue 25):
a two-armed bandit and a 5-state chain, registered here as gymnasium envs; evaluation with a
fixed seed is repeatable."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces

import dlx
from dlx.use.restore import restore

AGENTS = ["reinforce", "a2c", "ppo"]


class Bandit(gymnasium.Env):
    """One step per episode; arm 1 pays 1, arm 0 pays 0.5."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 1.0 if action == 1 else 0.5, True, False, {}


class Chain(gymnasium.Env):
    """States 0..4, start at 2; action 1 moves right, 0 left; the right end pays 1, the left end 0.2."""

    observation_space = spaces.Discrete(5)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = 2
        return self.s, {}

    def step(self, action):
        self.s += 1 if action == 1 else -1
        ended = self.s in (0, 4)
        return self.s, {0: 0.2, 4: 1.0}.get(self.s, 0.0), ended, False, {}


gymnasium.register("DlxBandit-v0", entry_point=Bandit)
gymnasium.register("DlxChain-v0", entry_point=Chain, max_episode_steps=20)

SMALL = ["data=gym", "data.num_envs=4", "data.eval_episodes=2", "data.test_episodes=4", "trainer.num_threads=1",
         "model.hidden=[16]", "optim.lr=0.01"]
ROLLOUT = {"reinforce": ["model.n_steps=16"], "a2c": ["model.n_steps=8"], "ppo": ["model.n_steps=32"]}


def trained(tmp_path, model: str, env: str, steps: int):
    run = dlx.train(f"model={model}", f"data.env={env}", f"data.steps_per_epoch={steps}", "trainer.epochs=2",
                    *SMALL, *ROLLOUT[model], output_dir=str(tmp_path))
    return run, restore(run.path).problem


@pytest.mark.parametrize("model", AGENTS)
def test_each_agent_learns_the_better_arm(tmp_path, model):
    run, task = trained(tmp_path, model, "DlxBandit-v0", 1024)
    with torch.inference_mode():
        probs = task.agent(torch.zeros(1, 1))[0].probs[0]
    assert probs[1] > 0.9, probs  # the better arm, nearly always
    assert run.summary.metrics["test_return_mean"] == 1.0


@pytest.mark.parametrize("model", AGENTS)
def test_each_agent_walks_the_chain_to_the_better_end(tmp_path, model):
    _, task = trained(tmp_path, model, "DlxChain-v0", 2048)
    inner = torch.eye(5)[1:4]  # states 1, 2, 3 (one-hot, as the runner encodes them)
    with torch.inference_mode():
        assert task.agent.act(inner, greedy=True).tolist() == [1, 1, 1]
    episodes = task.run_episodes(3, seed=0)
    assert [(e.total_reward, e.length) for e in episodes] == [(1.0, 2)] * 3


def test_evaluation_with_a_fixed_seed_is_repeatable(tmp_path):
    run = dlx.train("model=ppo", "data=cartpole", "data.steps_per_epoch=256", "trainer.epochs=1", "data.num_envs=2",
                    "model.n_steps=64", "data.eval_episodes=2", "data.test_episodes=2", "trainer.num_threads=1",
                    output_dir=str(tmp_path))
    task = restore(run.path).problem
    first = task.run_episodes(4, seed=7)
    assert [(e.total_reward, e.length) for e in task.run_episodes(4, seed=7)] == \
        [(e.total_reward, e.length) for e in first]
    sampled = [task.run_episodes(2, seed=7, greedy=False) for _ in range(2)]
    assert all(e.frames is None for e in first) and len(sampled[0]) == 2


def test_frozenlake_tabular_view_walks_from_start_to_goal(tmp_path):
    """Not slippery: the greedy policy drawn per cell leads from S to G around the holes."""
    run = dlx.train("model=ppo", "data=frozenlake", "data.slippery=false", "trainer.epochs=5", "trainer.num_threads=1",
                    output_dir=str(tmp_path))
    assert run.summary.metrics["test_return_mean"] == 1.0  # every test episode reaches the goal
    rows, actions, values = restore(run.path).problem.tabular_view()
    assert rows == ["SFFF", "FHFH", "FFFH", "HFFG"]
    assert actions.shape == values.shape == (4, 4)
    r, c = 0, 0
    for _ in range(16):  # FrozenLake's moves: 0 left, 1 down, 2 right, 3 up
        dr, dc = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}[int(actions[r, c])]
        r, c = min(max(r + dr, 0), 3), min(max(c + dc, 0), 3)
        assert rows[r][c] != "H"
        if rows[r][c] == "G":
            break
    assert rows[r][c] == "G"
    assert values[0, 0] > 0  # the start is worth something: the goal is reachable


def test_a_map_that_is_not_one_state_per_cell_draws_no_grid(tmp_path):
    """Taxi has a map (5x5 in 7x11 characters) but 500 states: no policy grid, no reshape error."""
    from dlx.errors import ConfigError
    from dlx.use.play import grid_view

    run = dlx.train("model=ppo", "data=gym", "data.env=Taxi-v4", "data.limit=256", "trainer.epochs=1",
                    "data.eval_episodes=1", "data.test_episodes=1", "data.max_episode_steps=20",
                    "trainer.num_threads=1", output_dir=str(tmp_path))
    task = restore(run.path).problem
    with pytest.raises(ConfigError, match="not a grid of one state per cell"):
        task.tabular_view()
    assert grid_view(task) is None


def test_a_discrete_only_agent_refuses_continuous_actions_in_one_line():
    from dlx import config
    from dlx.data.envs import env_spaces
    from dlx.engine.rl.agent import Agent
    from dlx.errors import ConfigError

    class DiscreteOnly(Agent):
        discrete_only = True

    pendulum = env_spaces(config.load(["model=ppo", "data=pendulum"]).data)
    with pytest.raises(ConfigError, match=r"model=dqn needs discrete actions.*use model=ppo"):
        DiscreteOnly.check_spaces("dqn", pendulum)
    DiscreteOnly.check_spaces("dqn", env_spaces(config.load(["model=ppo", "data=cartpole"]).data))
