"""Return targets against sequences computed by hand (issue 25)."""

from __future__ import annotations

import pytest
import torch

from dlx.engine.rl.returns import discounted_returns, gae


def column(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).unsqueeze(1)  # (T, 1): one env


def test_reward_to_go_restarts_after_an_episode_and_bootstraps_at_the_rollout_end():
    rewards, dones = column(1, 2, 3, 4), column(0, 1, 0, 0).bool()
    bootstrap = column(0, 0, 0, 10)  # V of the state after the rollout's last step
    # G3 = 4 + .5*10 = 9; G2 = 3 + .5*9 = 7.5; G1 = 2 (its episode ends); G0 = 1 + .5*2 = 2
    assert discounted_returns(rewards, dones, 0.5, bootstrap).flatten().tolist() == [2.0, 2.0, 7.5, 9.0]


def test_reward_to_go_of_a_truncated_episode_adds_its_bootstrap():
    rewards, dones = column(1, 1), column(0, 1).bool()
    assert discounted_returns(rewards, dones, 0.9, column(0, 5)).flatten().tolist() == pytest.approx([1 + 0.9 * (1 + 0.9 * 5), 1 + 0.9 * 5])
    assert discounted_returns(rewards, dones, 0.9).flatten().tolist() == pytest.approx([1.9, 1.0])


def test_gae_by_hand():
    rewards, values = column(1, 1, 1), column(0.5, 1.0, 2.0)
    next_values = column(1.0, 0.0, 3.0)  # step 1 terminated: no value after it
    dones = column(0, 1, 0).bool()
    advantages, targets = gae(rewards, values, next_values, dones, gamma=0.9, lam=0.5)
    # deltas: 1 + .9 - .5 = 1.4; 1 + 0 - 1 = 0; 1 + 2.7 - 2 = 1.7; A0 = 1.4 + .45 * 0 (A1 = 0, not across the end)
    assert advantages.flatten().tolist() == pytest.approx([1.4, 0.0, 1.7])
    assert targets.flatten().tolist() == pytest.approx([1.9, 1.0, 3.7])


def test_gae_with_lambda_one_is_the_n_step_return_and_zero_the_td_target():
    rewards, values = column(1, 2, 3), column(0.3, 0.7, 1.1)
    next_values = column(0.7, 1.1, 5.0)  # V of the next state; 5 after the rollout's end
    dones = column(0, 0, 0).bool()
    _, n_step = gae(rewards, values, next_values, dones, gamma=0.9, lam=1.0)
    assert n_step[0].item() == pytest.approx(1 + 0.9 * 2 + 0.81 * 3 + 0.729 * 5)
    _, td = gae(rewards, values, next_values, dones, gamma=0.9, lam=0.0)
    assert td.flatten().tolist() == pytest.approx([1 + 0.9 * 0.7, 2 + 0.9 * 1.1, 3 + 0.9 * 5])
