"""Exact resume of an agent (issue 25): a ppo run killed with SIGKILL mid-epoch, stopped with Ctrl-C
later, and resumed twice ends bit for bit where an uninterrupted run ends — metrics, weights (the observation
statistics among them), optimizer state — so the envs' positions and RNGs, the episodes under way
and the agent's RNG draws all come back from the checkpoint."""

from __future__ import annotations

import signal

import pandas as pd
import pytest
import torch

from tests.test_resume import check_files_parse, finish, stop_at, the_run

# 4 envs x 32 steps = 128 env steps per iteration; 384 per epoch = 3 iterations; last.pt every 2 iterations
RUN = ["train", "model=ppo", "data=cartpole", "data.num_envs=4", "model.n_steps=32", "data.steps_per_epoch=384",
       "data.eval_episodes=2", "data.test_episodes=3", "data.normalize_obs=true", "model.hidden=[16]",
       "trainer.epochs=3", "trainer.num_threads=1", "trainer.checkpoint_every_steps=2", "-q"]
TIMED = ["epoch_time_s", "train_steps_per_s"]  # wall-clock figures: the only values allowed to differ


def outcome(run) -> dict:
    metrics = pd.read_csv(run / "metrics.csv").drop(columns=TIMED)
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    return {"metrics": metrics.to_dict("list"), "last": last["model"], "best": best["model"],
            "optimizer": last["optimizer"]["state"], "runner": last["rl"]["runner"]["env_steps"]}


def assert_same(a: dict, b: dict) -> None:
    assert a["metrics"] == b["metrics"]
    for part in ("last", "best"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k}"
    for i, state in a["optimizer"].items():
        for k, v in state.items():
            assert torch.equal(v, b["optimizer"][i][k]), f"optimizer {i}.{k}"
    assert a["runner"] == b["runner"]


@pytest.mark.slow
def test_a_killed_ppo_run_resumes_bit_for_bit(tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    reference.mkdir(), interrupted.mkdir()
    finish(reference, RUN)
    expected = outcome(the_run(reference))
    assert expected["last"]["obs_norm.count"] > 0  # the statistics are fitted and saved with the weights

    # killed at step 5 (epoch 2, last.pt of step 4: mid-epoch), then Ctrl-C at the resumed run's 3rd step
    # (step 7: it stops there, saves last.pt and exits 130, resumable)
    args = RUN
    for point, sig, code in (("step@5", signal.SIGKILL, -9), ("step@3", signal.SIGINT, 130)):
        result = stop_at(interrupted, args, point, sig)
        assert result.returncode == code, result.stderr
        check_files_parse(the_run(interrupted))
        args = ["train", "--resume", "last", "-q"]
    finish(interrupted, args)
    assert_same(outcome(the_run(interrupted)), expected)
    assert (the_run(interrupted) / "log.txt").read_text().count("resumed from") == 2
