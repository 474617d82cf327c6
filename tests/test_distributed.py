"""Data-parallel training on CPU (gloo): N processes take the steps one process takes."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT

# no dropout: its masks are drawn per process, so only then are the two runs the same maths
MLP = ["model.dropout=0", "model.hidden=[32]", "regularizer=none"]
CNN = ["model=cnn", "model.channels=[8,8]", "model.fc=[32]", "model.dropout=0", "model.batchnorm=false", "regularizer=none"]
# 300 samples, global batch 32: nine full batches and one of 12, all split evenly over 2 ranks
BASE = ["trainer.epochs=2", "data.limit=300", "trainer.num_threads=1", "optim=sgd", "optim.lr=0.1"]


def run_dlx(args, cwd: Path, module=("-m", "dlx"), **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, *module, *args], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=300)


def only_run(output_dir: Path) -> Path:
    (found,) = sorted((output_dir / "runs").iterdir())
    return found


def weights(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=False, map_location="cpu")["model"]


def metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items() if k != "epoch_time_s"} for row in csv.DictReader(f)]


def assert_same_training(one: Path, many: Path) -> None:
    a, b = weights(one), weights(many)
    assert list(a) == list(b)  # the plain model's keys: no `module.` prefix from DDP
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-5, rtol=0)
    rows_one, rows_many = metrics(one), metrics(many)
    assert [r.keys() for r in rows_one] == [r.keys() for r in rows_many]
    for r1, r2 in zip(rows_one, rows_many):
        for key in r1:
            assert r2[key] == pytest.approx(r1[key], rel=1e-6, abs=1e-7), key


# ---------------------------------------------------------------- the batches each rank sees


@pytest.mark.parametrize("n, batch", [(300, 32), (10, 4), (7, 3)])
def test_ranks_share_every_global_batch_without_overlap(n, batch):
    from dlx.data.loaders import TensorBatches

    x = torch.arange(n, dtype=torch.float32)[:, None]
    y = torch.arange(n)

    def epoch(shard):
        g = torch.Generator().manual_seed(3)
        return [yb.tolist() for _, yb in TensorBatches(x, y, batch, shuffle=True, generator=g, shard=shard)]

    whole = epoch((0, 1))
    shares = [epoch((r, 2)) for r in range(2)]
    assert len(shares[0]) == len(shares[1]) == len(whole)  # every rank takes every step
    for k, batch_k in enumerate(whole):
        a, b = shares[0][k], shares[1][k]
        if len(batch_k) >= 2:
            assert sorted(a + b) == sorted(batch_k) and abs(len(a) - len(b)) <= 1
        else:  # fewer samples than ranks: the short rank repeats one, never trains on nothing
            assert a and b and set(a + b) <= set(batch_k)


def test_dataloader_path_shares_the_same_permutation():
    from torch.utils.data import TensorDataset

    from dlx.data.loaders import disk_loader

    class Split:  # what disk_loader reads of a DiskSplit
        dataset, workers = TensorDataset(torch.arange(50)), 0

        def __len__(self):
            return 50

    def epoch(shard):
        loader = disk_loader(Split(), 8, torch.device("cpu"), shuffle=True,
                             generator=torch.Generator().manual_seed(1), shard=shard)
        return [b[0].tolist() for b in loader]

    whole, a, b = epoch((0, 1)), epoch((0, 2)), epoch((1, 2))
    assert len(whole) == len(a) == len(b) == 7
    for batch, mine, theirs in zip(whole, a, b):
        assert sorted(mine + theirs) == sorted(batch) and not set(mine) & set(theirs)


# ---------------------------------------------------------------- checks before any process starts


def test_device_checks_say_what_to_do(monkeypatch):
    from dlx.engine.distributed import check
    from dlx.engine.trainer import TrainerConfig
    from dlx.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check(TrainerConfig(device="cuda", devices=2))
    with pytest.raises(ConfigError, match="only 2 GPU"):
        check(TrainerConfig(device="cuda", devices=4))
    with pytest.raises(ConfigError, match="names one GPU"):
        check(TrainerConfig(device="cuda:1", devices=2))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="nccl needs CUDA"):
        check(TrainerConfig(device="cpu", devices=2, backend="nccl"))
    with pytest.raises(ConfigError, match="SyncBatchNorm"):
        check(TrainerConfig(device="cpu", devices=2, sync_bn=True))


# ---------------------------------------------------------------- two processes = one process


@pytest.mark.slow
def test_two_gloo_processes_train_the_mlp_as_one_process_does(dlx, tmp_path):
    r = run_dlx(["train", *MLP, *BASE, "trainer.devices=2", "output_dir=ddp", "-q"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "" and "best val_acc" in r.stdout  # rank 0's table, once
    assert dlx("train", *MLP, *BASE, "output_dir=one", "-q").code == 0
    ddp = only_run(tmp_path / "ddp")  # only rank 0 wrote a run
    assert_same_training(only_run(tmp_path / "one"), ddp)

    # its checkpoint continues in one process: reopen the run as if stopped after epoch 2
    (ddp / "summary.json").unlink()
    r = dlx("train", "--resume", ddp.name, "output_dir=ddp", "trainer.devices=1", "trainer.epochs=3", "-q")
    assert r.code == 0, r.err
    assert [row["epoch"] for row in metrics(ddp)] == [1.0, 2.0, 3.0]


@pytest.mark.slow
def test_the_cnn_under_torchrun_trains_as_one_process_does(dlx, tmp_path):
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "dlx")
    r = run_dlx(["train", *CNN, *BASE, "output_dir=ddp", "-q"], tmp_path, module=torchrun)
    assert r.returncode == 0, r.stderr
    assert dlx("train", *CNN, *BASE, "output_dir=one", "-q").code == 0
    assert_same_training(only_run(tmp_path / "one"), only_run(tmp_path / "ddp"))


@pytest.mark.slow
def test_a_killed_rank_ends_the_run_in_one_line_and_resume_finishes_it(tmp_path):
    marker = tmp_path / "paused"
    args = ["train", *MLP, *BASE, "trainer.epochs=3", "trainer.devices=2", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DLX_TEST_PAUSE": "step@15", "DLX_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "dlx", *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # a rank is paused in epoch 2 (step 15 of 30)
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.05)
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    run = only_run(tmp_path / "outputs")
    lines = err.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, err
    assert f"(pid {pid}) was killed by SIGKILL" in lines[0] and lines[0].startswith("error: rank ")
    assert lines[0].endswith(f"resume with: dlx train --resume {run.name}")
    assert not (run / "summary.json").exists()

    resumed = run_dlx(["train", "--resume", run.name, "-q"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "summary.json").is_file() and [r["epoch"] for r in metrics(run)] == [1.0, 2.0, 3.0]
