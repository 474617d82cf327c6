"""`dlx train` end to end: files, columns, numbers, output modes and errors."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import FAST, ROOT


def only_run(tmp_path):
    runs = list((tmp_path / "outputs" / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_train_writes_the_run(dlx, tmp_path):
    result = dlx("train", *FAST, "optim=sgd", "optim.lr=0.05")
    assert result.code == 0, result.err
    run = only_run(tmp_path)
    assert run.name.endswith("_mlp-sgd-digits")
    for name in ("config.yaml", "overrides.yaml", "metrics.csv", "summary.json", "status.json", "log.txt",
                 "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (run / name).is_file(), name

    metrics = pd.read_csv(run / "metrics.csv")
    for column in ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s",
                   "val_top5"):
        assert column in metrics.columns
    assert metrics["epoch"].tolist() == [1, 2]
    assert (metrics["lr"] == 0.05).all()

    summary = json.loads((run / "summary.json").read_text())
    for key in ("run_id", "status", "epochs_run", "best_epoch", "monitor", "best_value", "test_loss",
                "test_acc", "params", "duration_s", "device"):
        assert key in summary, key
    assert summary["status"] == "finished" and summary["epochs_run"] == 2
    assert summary["best_value"] == metrics["val_acc"].max()
    assert summary["best_epoch"] == int(metrics["val_acc"].idxmax()) + 1
    assert 0.0 <= summary["test_acc"] <= 1.0 and summary["train_size"] == 300

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["optim"]["name"] == "sgd" and config["optim"]["lr"] == 0.05
    assert "optim.lr=0.05" in yaml.safe_load((run / "overrides.yaml").read_text())

    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and best["epoch"] == summary["best_epoch"]
    params = sum(v.numel() for k, v in best["model"].items() if "running" not in k and "num_batches" not in k)
    assert params == summary["params"]


def test_same_seed_same_numbers_different_seed_different(dlx, tmp_path):
    for seed in (1, 1, 2):
        assert dlx("train", *FAST, f"trainer.seed={seed}", "-q").code == 0
    runs = sorted((tmp_path / "outputs" / "runs").iterdir())
    frames = [pd.read_csv(r / "metrics.csv").drop(columns="epoch_time_s") for r in runs]
    by_seed = {}
    for run, frame in zip(runs, frames):
        seed = yaml.safe_load((run / "config.yaml").read_text())["trainer"]["seed"]
        by_seed.setdefault(seed, []).append(frame)
    a, b = by_seed[1]
    pd.testing.assert_frame_equal(a, b)
    assert not by_seed[2][0].equals(a)


def test_cfg_prints_composed_config_and_trains_nothing(dlx, tmp_path):
    result = dlx("train", "--cfg", "optim=sgd", "optim.lr=0.3")
    assert result.code == 0
    printed = yaml.safe_load(result.out)
    assert printed["optim"]["name"] == "sgd" and printed["optim"]["lr"] == 0.3
    assert set(printed) >= {"model", "optim", "scheduler", "regularizer", "data", "trainer"}
    assert not (tmp_path / "outputs").exists()


def test_plain_lines_when_not_a_terminal(dlx):
    result = dlx("train", *FAST)
    assert result.code == 0
    lines = [l for l in result.out.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2 and "val_acc" in lines[0]


def test_quiet_prints_only_the_table(dlx):
    result = dlx("train", *FAST, "--quiet")
    assert result.code == 0
    assert not [l for l in result.out.splitlines() if l.startswith("epoch")]
    assert "test" in result.out and "acc" in result.out


def test_monitor_val_loss_picks_the_lowest(dlx, tmp_path):
    assert dlx("train", *FAST, "trainer.epochs=4", "trainer.monitor=val_loss", "-q").code == 0
    run = only_run(tmp_path)
    metrics = pd.read_csv(run / "metrics.csv")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_value"] == metrics["val_loss"].min()


def test_divergence_fails_the_run(dlx, tmp_path):
    result = dlx("train", *FAST, "optim=sgd", "optim.lr=1e6", "model.dropout=0", "-q")
    assert result.code == 1
    assert "diverged" in result.err and "optim.lr" in result.err
    status = json.loads((only_run(tmp_path) / "status.json").read_text())
    assert status["status"] == "failed" and status["step"] >= 1


@pytest.mark.parametrize("override", ["model=resnett", "optim.lrr=0.1", "trainer.epochs=abc", "optim.lr=-1",
                                      "data.val_fraction=1.5"])
def test_bad_input_exits_2_with_one_line(dlx, override):
    result = dlx("train", override)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err + result.out


@pytest.mark.slow
def test_bad_input_in_a_real_process_has_no_traceback(dlx_process):
    proc = dlx_process("train", "optim.lrr=0.1")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: unknown key 'optim.lrr' — did you mean 'optim.lr'?"
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_help_imports_nothing_heavy():
    code = (
        "import sys; from dlx.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'hydra', 'pandas', 'sklearn', 'optuna', 'torchvision', 'matplotlib') "
        "if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
    assert "train" in proc.stdout


def test_train_help_lists_groups_and_choices(dlx):
    result = dlx("train", "--help")
    assert result.code == 0
    for group in ("model:", "optim:", "scheduler:", "regularizer:", "data:", "trainer:"):
        assert group in result.out
    assert "adam" in result.out and "sgd" in result.out and "--cfg" in result.out


@pytest.mark.slow
def test_default_train_reaches_97_percent(dlx_process, tmp_path):
    """The acceptance bar: `dlx train` with no arguments, ≥ 97 % test accuracy on digits.

    No time limit: a loaded machine makes it slow, not wrong (the work is what is checked)."""
    proc = dlx_process("train", "--quiet", timeout=None)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(next((tmp_path / "outputs" / "runs").glob("*/summary.json")).read_text())
    assert summary["model"] == "mlp" and summary["data"] == "digits" and summary["device"] == "cpu"
    assert summary["test_acc"] >= 0.97, summary["test_acc"]
