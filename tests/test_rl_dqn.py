"""model=dqn (issue 25): the target network's hard and Polyak updates, the Double-DQN target, the
replay buffer's ring and sampling, the epsilon schedule — each against a hand-computed answer; DQN
learns a bandit's better arm and a chain's better end; a kill -9 resume is bit-identical; the
unsuitable inputs are one line."""

from __future__ import annotations

import signal
from contextlib import nullcontext
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

import dlx
from dlx.data.envs import Spaces
from dlx.engine.rl.dqn import DQN, epsilon_at, move_target, td_targets
from dlx.engine.rl.replay import ReplayBuffer
from dlx.models.dqn_schema import DQNConfig
from dlx.use.restore import restore
from tests.test_resume import check_files_parse, finish, stop_at, the_run
from tests.test_rl_agents import SMALL  # importing it registers DlxBandit-v0 and DlxChain-v0
from tests.test_rl_resume import TIMED

SPACES = Spaces((3,), True, n_actions=2)


def agent(**keys) -> DQN:
    torch.manual_seed(0)
    return DQN(DQNConfig(hidden=[8], **keys), SPACES)


def fake_trainer(optimizer):
    """What `DQN.update` asks of the trainer: autocast, backward_and_step, the task's optimizers."""

    def backward_and_step(loss, opt, module):
        loss.backward()
        opt.step()

    return SimpleNamespace(autocast=nullcontext, backward_and_step=backward_and_step,
                           task=SimpleNamespace(optimizers={"model": optimizer}))


# ---------------------------------------------------------------- the target network


def test_a_hard_update_copies_and_polyak_averages_exactly():
    online, target = agent().q, agent().q
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)  # the two differ everywhere
    before = [p.clone() for p in target.parameters()]
    move_target(target, online, 0.25)
    for t, s, old in zip(target.parameters(), online.parameters(), before):
        assert torch.equal(t, 0.25 * s + 0.75 * old)  # tau = 1/4, a power of two: the rule to the bit
    move_target(target, online, 1.0)
    assert all(torch.equal(t, s) for t, s in zip(target.parameters(), online.parameters()))


def test_the_target_moves_every_target_update_gradient_steps_only():
    dqn = agent(target_update=3, batch_size=4)
    optimizer = torch.optim.SGD(dqn.q.parameters(), lr=0.1)
    trainer = fake_trainer(optimizer)
    replay = dqn.buffer()
    replay.add(torch.randn(8, 3), torch.randint(2, (8,)), torch.ones(8), torch.randn(8, 3), torch.zeros(8, dtype=bool))
    start = [p.clone() for p in dqn.target.parameters()]
    assert all(not p.requires_grad for p in dqn.target.parameters())
    for _ in range(2):
        dqn.update(trainer, optimizer, replay.sample(4))
    assert all(torch.equal(t, s) for t, s in zip(dqn.target.parameters(), start))  # not yet
    assert not all(torch.equal(q, s) for q, s in zip(dqn.q.parameters(), start))  # the online net learned
    dqn.update(trainer, optimizer, replay.sample(4))
    assert all(torch.equal(t, q) for t, q in zip(dqn.target.parameters(), dqn.q.parameters()))


def test_double_dqn_values_the_online_argmax_with_the_target_net():
    rewards, terminated = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([False, False, True])
    target_q = torch.tensor([[1.0, 5.0], [2.0, 3.0], [9.0, 9.0]])
    online_q = torch.tensor([[4.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # plain: r + 0.5 max_a Q_target = 1 + 2.5, 0 + 1.5; double: the online argmax (0, 1) valued by the target
    assert td_targets(rewards, terminated, target_q, 0.5).tolist() == [3.5, 1.5, 2.0]
    assert td_targets(rewards, terminated, target_q, 0.5, online_q).tolist() == [1.5, 1.5, 2.0]


def test_dueling_heads_average_the_advantage_out():
    dqn = agent(dueling=True)
    obs = torch.randn(5, 3)
    h = dqn.q.body(obs)
    q = dqn(obs)
    torch.testing.assert_close(q.mean(-1), dqn.q.value(h).squeeze(-1))  # mean_a Q = V
    torch.testing.assert_close(q - q.mean(-1, keepdim=True), dqn.q.advantage(h) - dqn.q.advantage(h).mean(-1, True))
    assert torch.equal(dqn.policy()(obs).argmax(-1), dqn.act(obs, greedy=True))  # export: Q-values as logits


# ---------------------------------------------------------------- replay buffer and epsilon


def transitions(values):
    """Transitions whose every field encodes its number (to see where each one went)."""
    v = torch.tensor(values, dtype=torch.float32)
    return v[:, None].repeat(1, 2), v.long(), v, -v[:, None].repeat(1, 2), v.long() % 2 == 1


def test_the_replay_buffer_wraps_around_oldest_first():
    replay = ReplayBuffer(5, (2,), "cpu")
    replay.add(*transitions([0, 1, 2]))
    assert (replay.pos, len(replay)) == (3, 3)
    replay.add(*transitions([3, 4, 5, 6]))  # rows 3, 4, then 0, 1 again
    assert (replay.pos, len(replay)) == (2, 5)
    assert replay.actions.tolist() == [5, 6, 2, 3, 4]
    assert replay.next_obs[:, 0].tolist() == [-5, -6, -2, -3, -4]
    replay.add(*transitions(list(range(10, 17))))  # more than it holds: the newest five, oldest first
    assert replay.actions.tolist() == [15, 16, 12, 13, 14] and replay.pos == 2


def test_sampling_draws_filled_rows_uniformly_and_keeps_fields_together():
    replay = ReplayBuffer(8, (2,), "cpu")
    replay.add(*transitions([0, 1, 2]))
    torch.manual_seed(0)
    batch = replay.sample(3000)
    assert set(batch.actions.tolist()) == {0, 1, 2}  # never an empty row
    counts = torch.bincount(batch.actions) / 3000
    assert (counts - 1 / 3).abs().max() < 0.05
    assert torch.equal(batch.obs[:, 0], batch.rewards) and torch.equal(batch.next_obs[:, 1], -batch.rewards)
    assert torch.equal(batch.terminated, batch.actions % 2 == 1)
    torch.manual_seed(0)
    assert torch.equal(replay.sample(3000).actions, batch.actions)  # the global RNG decides: resumable


def test_a_saved_buffer_holds_its_filled_rows_and_comes_back_whole():
    replay = ReplayBuffer(8, (2,), "cpu")
    replay.add(*transitions([0, 1, 2]))
    state = replay.state_dict()
    assert state["obs"].shape == (3, 2) and state["pos"] == 3
    again = ReplayBuffer(8, (2,), "cpu")
    again.load_state_dict(state)
    again.add(*transitions([3]))
    replay.add(*transitions([3]))
    for name in ("obs", "actions", "rewards", "next_obs", "terminated"):
        assert torch.equal(getattr(again, name), getattr(replay, name))


def test_epsilon_falls_linearly_then_stays():
    assert [epsilon_at(t, 1.0, 0.05, 100) for t in (0, 50, 100, 1000)] == [1.0, 0.525, 0.05, 0.05]
    assert epsilon_at(0, 1.0, 0.05, 0) == 0.05  # no schedule (a restored agent): the final rate


def test_the_run_reports_epsilon_over_its_env_steps(tmp_path):
    # 1 env, 1 step per iteration, 4 iterations per epoch, 2 epochs: 8 env steps, decay over the first 4
    run = dlx.train("model=dqn", "data=gym", "data.env=DlxBandit-v0", "data.num_envs=1", "data.steps_per_epoch=4",
                    "trainer.epochs=2", "model.train_freq=1", "model.gradient_steps=1", "model.epsilon_fraction=0.5",
                    "model.batch_size=2",
                    "model.learning_starts=2", "model.hidden=[4]", "data.eval_episodes=1", "data.test_episodes=1",
                    "trainer.num_threads=1", output_dir=str(tmp_path))
    metrics = pd.read_csv(run.path / "metrics.csv")
    after = [1 - 0.95 * k / 4 for k in (1, 2, 3)] + [0.05]  # epsilon after iteration k (its env steps)
    assert metrics["train_epsilon"].tolist() == pytest.approx([sum(after) / 4, 0.05])
    assert metrics["train_q_loss"].notna().all() and metrics["train_env_steps"].tolist() == [4, 8]


# ---------------------------------------------------------------- learning the better action

TINY_DQN = ["model.hidden=[16]", "optim.lr=0.01", "model.learning_starts=64", "model.batch_size=32",
            "model.buffer_size=1000", "model.train_freq=1", "model.gradient_steps=4", "model.target_update=20"]


def trained(tmp_path, env: str, steps: int):
    run = dlx.train("model=dqn", f"data.env={env}", f"data.steps_per_epoch={steps}", "trainer.epochs=2",
                    *SMALL, *TINY_DQN, output_dir=str(tmp_path))
    return run, restore(run.path).problem


def test_dqn_learns_the_better_arm(tmp_path):
    run, task = trained(tmp_path, "DlxBandit-v0", 512)
    with torch.inference_mode():
        q = task.agent(torch.zeros(1, 1))[0]
    assert q.argmax() == 1
    assert q.tolist() == pytest.approx([0.5, 1.0], abs=0.1)  # one-step episodes: Q is the arm's pay
    assert run.summary.metrics["test_return_mean"] == 1.0


def test_dqn_walks_the_chain_to_the_better_end(tmp_path):
    _, task = trained(tmp_path, "DlxChain-v0", 1024)
    inner = torch.eye(5)[1:4]  # states 1, 2, 3 (one-hot, as the runner encodes them)
    with torch.inference_mode():
        assert task.agent.act(inner, greedy=True).tolist() == [1, 1, 1]
        assert task.agent.state_values(inner)[2].item() == pytest.approx(1.0, abs=0.15)  # one step from the goal
    assert [(e.total_reward, e.length) for e in task.run_episodes(3, seed=0)] == [(1.0, 2)] * 3


# ---------------------------------------------------------------- unsuitable input


def test_a_continuous_env_is_refused_in_one_line(dlx):
    result = dlx("train", "model=dqn", "data=pendulum")
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1, result.err
    assert "model=dqn needs discrete actions" in lines[0] and "ppo" in lines[0]


def test_a_buffer_smaller_than_a_batch_is_refused_in_one_line(dlx):
    result = dlx("train", "model=dqn", "data=cartpole", "model.buffer_size=10", "model.batch_size=32")
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1, result.err
    assert "model.buffer_size" in lines[0] and "model.batch_size" in lines[0]


# ---------------------------------------------------------------- exact resume

# 4 envs x 8 steps = 32 env steps per iteration; 96 per epoch = 3 iterations; a 200-transition buffer wraps
# in epoch 3; the target moves every 5 gradient steps (4 per iteration); last.pt every 2 iterations
RUN = ["train", "model=dqn", "data=cartpole", "data.num_envs=4", "model.train_freq=8", "data.steps_per_epoch=96",
       "model.buffer_size=200", "model.batch_size=16", "model.learning_starts=32", "model.gradient_steps=4",
       "model.target_update=5",
       "model.epsilon_fraction=0.5", "data.eval_episodes=2", "data.test_episodes=3", "data.normalize_obs=true",
       "model.hidden=[16]", "trainer.epochs=3", "trainer.num_threads=1", "trainer.checkpoint_every_steps=2", "-q"]


def outcome(run) -> dict:
    metrics = pd.read_csv(run / "metrics.csv").drop(columns=TIMED)
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    return {"metrics": metrics.to_dict("list"), "last": last["model"], "best": best["model"],
            "optimizer": last["optimizer"]["state"], "agent": last["rl"]["agent"],
            "runner": last["rl"]["runner"]["env_steps"]}


@pytest.mark.slow
def test_a_killed_dqn_run_resumes_bit_for_bit(tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    reference.mkdir(), interrupted.mkdir()
    finish(reference, RUN)
    expected = outcome(the_run(reference))
    assert expected["agent"]["replay"]["size"] == 200 and expected["agent"]["replay"]["pos"] == 88  # wrapped
    assert any(not torch.equal(expected["last"][k], expected["last"][k.replace("target.", "q.")])
               for k in expected["last"] if k.startswith("target."))  # the target lags the online net

    args = RUN
    for point in ("step@5", "step@3"):  # mid-epoch 2 (last.pt of step 4), then the resumed run's step 7
        result = stop_at(interrupted, args, point, signal.SIGKILL)
        assert result.returncode == -9, result.stderr
        check_files_parse(the_run(interrupted))
        args = ["train", "--resume", "last", "-q"]
    finish(interrupted, args)
    got = outcome(the_run(interrupted))
    assert got["metrics"] == expected["metrics"]
    for part in ("last", "best"):
        assert got[part].keys() == expected[part].keys()
        assert all(torch.equal(got[part][k], expected[part][k]) for k in got[part]), part
    for i, state in expected["optimizer"].items():
        assert all(torch.equal(v, got["optimizer"][i][k]) for k, v in state.items())
    assert (got["agent"]["env_steps"], got["agent"]["updates"]) == (expected["agent"]["env_steps"],
                                                                    expected["agent"]["updates"])
    for k, v in expected["agent"]["replay"].items():
        assert torch.equal(v, got["agent"]["replay"][k]) if torch.is_tensor(v) else v == got["agent"]["replay"][k]
    assert got["runner"] == expected["runner"]
    assert (the_run(interrupted) / "log.txt").read_text().count("resumed from") == 2
