"""An agent's run through the commands (issue 25): eval --episodes, export of the policy, the
refusals (cv, predict, eval --episodes of a classifier) and every bad input, one line each."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dlx.use.restore import restore
from tests.conftest import run_process

TINY = ["model=ppo", "data=cartpole", "data.steps_per_epoch=256", "trainer.epochs=1", "data.num_envs=2",
        "model.n_steps=64", "data.eval_episodes=2", "data.test_episodes=5", "model.hidden=[16]",
        "trainer.num_threads=1", "data.normalize_obs=true"]


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory):
    """A finished ppo run on CartPole, in its own output folder."""
    import dlx

    root = tmp_path_factory.mktemp("rl")
    return dlx.train(*TINY, output_dir=str(root / "outputs"))


def test_eval_episodes_reports_returns_and_repeats_the_test(dlx, agent_run):
    out = str(agent_run.path.parent.parent)
    result = dlx("eval", str(agent_run.path), "--episodes", "5", "--format", "json", "--output-dir", out)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["size"] == 5 and report["task"] == "environment"
    metrics = report["metrics"]
    assert metrics["return_min"] <= metrics["return_mean"] <= metrics["return_max"]
    assert metrics["episode_length"] == metrics["return_mean"]  # CartPole pays 1 per step
    # the same seeds as the run's test of data.test_episodes=5 episodes: the same mean
    assert metrics["return_mean"] == pytest.approx(agent_run.summary.metrics["test_return_mean"])
    assert (agent_run.path / "eval" / "episodes-5.json").is_file()


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_writes_the_policy_observation_in_logits_out(dlx, agent_run, tmp_path, fmt):
    target = tmp_path / f"policy.{'pt' if fmt == 'torchscript' else 'onnx'}"
    result = dlx("export", str(agent_run.path), "--format", fmt, "-o", str(target))
    assert result.code == 0, result.err
    task = restore(agent_run.path).problem
    obs = torch.tensor([[0.0, 0.1, -0.02, 0.3], [0.01, -0.5, 0.05, -0.2]])
    with torch.inference_mode():
        expected = task.agent.net.actor(task.agent.net.body(task.agent.obs_norm(obs)))  # (2, 2) logits
    if fmt == "torchscript":
        got = torch.jit.load(str(target))(obs)
    else:
        import onnxruntime

        got = torch.from_numpy(onnxruntime.InferenceSession(str(target)).run(None, {"x": obs.numpy()})[0])
    assert got.shape == (2, 2)
    assert torch.allclose(got, expected, atol=1e-5)
    greedy = task.act(obs.numpy())
    assert np.array_equal(greedy, got.argmax(1).numpy())


@pytest.mark.parametrize("argv, fragments", [
    (["predict", "{run}", "--split", "test"], ["predicts no rows", "--episodes"]),
    (["cv", *TINY, "--folds", "3"], ["dlx cv cannot split data=cartpole", "trainer.seed=0,1,2,3,4", "--group-by trainer.seed"]),
])
def test_what_an_agent_refuses(dlx, agent_run, argv, fragments):
    result = dlx(*[a.replace("{run}", str(agent_run.path)) for a in argv])
    assert result.code == 2, result.err
    assert all(f in result.err for f in fragments), result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


BAD = [
    ("env-id", ["data=gym", "data.env=CartPole-v9"], ["unknown environment 'CartPole-v9'", "did you mean"]),
    ("env-extra", ["data=gym", "data.env=LunarLander-v3"], ["LunarLander-v3", "pip install", "gymnasium[box2d]"]),
    ("num-envs", ["data=cartpole", "data.num_envs=0"], ["data.num_envs", "must be >= 1, got 0"]),
    ("gamma-zero", ["data=cartpole", "model.gamma=0"], ["model.gamma", "(0, 1]"]),
    ("gamma-above-one", ["data=cartpole", "model.gamma=1.5"], ["model.gamma", "(0, 1]"]),
    ("agent-on-images", ["data=digits"], ["model=ppo does not train on multiclass data", "data=cartpole"]),
    ("network-on-an-env", ["model=mlp", "data=cartpole"], ["model=mlp is not an agent", "ppo"]),
    ("overfit-batches", ["data=cartpole", "trainer.overfit_batches=2"], ["trainer.overfit_batches=2 does not apply"]),
    ("data-parallel", ["data=cartpole", "trainer.devices=2"], ["trainer.devices=2 does not apply", "data.num_envs"]),
]


@pytest.mark.parametrize("args, fragments", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line(dlx, args, fragments):
    model = [] if any(a.startswith("model=") for a in args) else ["model=ppo"]
    result = dlx("train", *model, *args, "trainer.epochs=1")
    assert result.code == 2, result.err
    assert all(f in result.err for f in fragments), result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_eval_episodes_of_a_classifier_is_refused(dlx):
    assert dlx("train", "model=mlp", "data=iris", "trainer.epochs=1", "-q").code == 0
    result = dlx("eval", "last", "--episodes", "3")
    assert result.code == 2 and "--episodes runs an agent" in result.err and "--split" in result.err, result.err


@pytest.mark.slow
def test_a_sweep_over_agent_keys_maximises_val_return(tmp_path):
    swept = run_process(["sweep", *TINY, "optim.lr=0.01,0.001", "model.gamma=0.9,0.99", "--metric", "val_return",
                         "--jobs", "2"], cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr
    assert "4 trials: 4 complete" in swept.stdout, swept.stdout
    spec = json.loads(next((tmp_path / "outputs" / "sweeps").iterdir()).joinpath("sweep.json").read_text())
    assert spec["metric"] == "val_return" and spec["direction"] == "maximize", spec
