"""Data-parallel runs (trainer.devices=N, gloo on CPU): uneven batches weighted as one process
weighs them, refused before anything starts when N is more than the machine has, and ranks
that end with their launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.test_distributed import BASE, MLP, assert_same_training, only_run, run_dlx

# ---------------------------------------------------------------- 2: uneven shares of a batch


def test_the_wrapped_model_counts_its_samples_through_the_hook(tmp_path):
    """The forward records the batch's samples; the hook (one rank here) gives the plain mean."""
    import torch.distributed as dist

    from dlx.engine import distributed, shares

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        wrapped = distributed.DataParallel(model)
        x, y = torch.randn(9, 3), torch.randn(9, 2)
        torch.nn.functional.mse_loss(wrapped(x), y).backward()
        assert wrapped.share.samples == 9.0
        expected = [p.grad.clone() for p in model.parameters()]  # one rank: the plain mean
        shares.set_samples(wrapped, 4)  # a task counting otherwise (tokens) says so
        assert wrapped.share.samples == 4.0
        shares.set_samples(model, 4)  # not data-parallel: nothing to do
        for got, want in zip([p.grad for p in model.parameters()], expected):
            torch.testing.assert_close(got, want)
    finally:
        dist.destroy_process_group()


class Bucket:
    def __init__(self, grads):
        self.grads = grads

    def buffer(self):
        return self.grads


def test_the_hook_gives_the_sample_weighted_mean(monkeypatch):
    """What each rank sends: n_r * g_r and n_r; what it gets back: their sums' ratio."""
    import torch.distributed as dist
    from torch.futures import Future

    from dlx.engine import shares

    sent = []

    def all_reduce(tensor, async_op=False):  # two ranks: this one's tensor plus the other's
        sent.append(tensor.clone())
        other = torch.tensor([8 * 2.0, 8 * -1.0, 8.0])  # rank 1: mean gradient (2, -1) over 8 samples
        tensor.add_(other)
        done = Future()
        done.set_result([tensor])

        class Work:
            def get_future(self):
                return done

        return Work()

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    share = shares.Share()
    share.samples = 9.0
    grads = torch.tensor([1.0, 1.0])  # rank 0: mean gradient (1, 1) over 9 samples
    result = shares.weighted_mean(share, Bucket(grads)).wait()
    torch.testing.assert_close(sent[0], torch.tensor([9.0, 9.0, 9.0]))
    torch.testing.assert_close(result, torch.tensor([(9 + 16) / 17, (9 - 8) / 17]))


@pytest.mark.slow
def test_an_uneven_last_batch_trains_as_one_process_does(dlx, tmp_path):
    # 1137 training rows, batch 32: the last batch of every epoch has 17 samples, 9 and 8 per rank
    uneven = [*MLP, *[a for a in BASE if not a.startswith("data.limit")], "data.limit=1137"]
    r = run_dlx(["train", *uneven, "trainer.devices=2", "output_dir=ddp", "-q"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert dlx("train", *uneven, "output_dir=one", "-q").code == 0
    assert_same_training(only_run(tmp_path / "one"), only_run(tmp_path / "ddp"))


@pytest.mark.slow
def test_a_last_batch_smaller_than_the_ranks_trains_as_one_process_does(dlx, tmp_path):
    # 290 training rows, batch 32: the last batch of every epoch is two samples for three ranks;
    # rank 2 steps on a repeat of the second, which must weigh nothing and count in no metric
    tiny = [*MLP, *[a for a in BASE if not a.startswith("data.limit")], "data.limit=290"]
    r = run_dlx(["train", *tiny, "trainer.devices=3", "output_dir=ddp", "-q"], tmp_path, DLX_ALLOW_OVERSUBSCRIBE="1")
    assert r.returncode == 0, r.stderr
    assert dlx("train", *tiny, "output_dir=one", "-q").code == 0
    assert_same_training(only_run(tmp_path / "one"), only_run(tmp_path / "ddp"))


def test_a_rank_knows_which_of_its_shares_are_a_repeated_sample():
    from torch.utils.data import BatchSampler, SequentialSampler

    from dlx.data.loaders import RankShares, TensorBatches, padding_of

    x, y = torch.zeros(65, 2), torch.zeros(65)
    for rank, expected in [(0, []), (1, [2]), (2, [2])]:  # batches of 32, 32 and 1
        loader = TensorBatches(x, y, 32, shard=(rank, 3))
        assert [i for i in range(len(loader)) if padding_of(loader)(i)] == expected
        shares = RankShares(BatchSampler(SequentialSampler(range(65)), 32, drop_last=False), rank, 3)
        padded = padding_of(torch.utils.data.DataLoader(x, batch_sampler=shares))
        assert [i for i in range(len(shares)) if padded(i)] == expected
    assert padding_of(TensorBatches(x, y, 32)) is None  # one process: nothing is repeated
    assert padding_of(TensorBatches(x, y, 2, shard=(2, 3)))(0)  # batches smaller than the world


# ---------------------------------------------------------------- 12, 31: refused before anything starts


def test_more_cpu_ranks_than_cores_are_refused_unless_meant(monkeypatch):
    from dlx.engine.distributed import check
    from dlx.engine.trainer import TrainerConfig
    from dlx.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.delenv("DLX_ALLOW_OVERSUBSCRIBE", raising=False)
    check(TrainerConfig(device="cpu", devices=2))
    with pytest.raises(ConfigError, match=r"trainer.devices=64 but only 2 CPU core\(s\) are usable") as e:
        check(TrainerConfig(device="auto", devices=64))
    assert "trainer.devices=2 or fewer" in str(e.value) and "DLX_ALLOW_OVERSUBSCRIBE=1" in str(e.value)
    monkeypatch.setenv("DLX_ALLOW_OVERSUBSCRIBE", "1")
    check(TrainerConfig(device="cpu", devices=64))


def test_devices_64_on_this_machine_is_one_line_and_starts_nothing(dlx, tmp_path, monkeypatch):
    monkeypatch.delenv("DLX_ALLOW_OVERSUBSCRIBE", raising=False)
    many = len(os.sched_getaffinity(0)) + 1
    result = dlx("train", "trainer.device=cpu", f"trainer.devices={many}", "trainer.epochs=1", "-q")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith(f"error: trainer.devices={many} but only")
    assert not (tmp_path / "outputs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_config_error_for_data_parallel_runs(dlx, tmp_path):
    result = dlx("train", "trainer.device=cuda", "trainer.devices=2", "trainer.epochs=1", "-q")
    assert result.code == 2 and result.err.strip() == ("error: trainer.device=cuda but CUDA is not available "
                                                       "here; use trainer.device=cpu")
    assert not (tmp_path / "outputs").exists()


# ---------------------------------------------------------------- 11: ranks end with their launcher


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_launcher_ends_every_rank(tmp_path):
    from dlx.parallel import pid_alive

    marker = tmp_path / "paused"
    args = ["train", *MLP, *BASE, "trainer.epochs=200", "trainer.devices=2", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DLX_TEST_PAUSE": "step@15", "DLX_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "dlx", *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ranks = []
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # the ranks are training (paused in epoch 2)
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)  # polling interval, not a timing assumption
        ranks = children(proc.pid)
        assert len(ranks) == 2 and int(marker.read_text()) in ranks
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 60
        while any(pid_alive(pid) for pid in ranks) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in ranks if pid_alive(pid)], "ranks outlived their launcher"
    finally:
        for pid in ranks:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------- 33: Ctrl-C of a data-parallel run


@pytest.mark.slow
def test_ctrl_c_of_a_data_parallel_run_is_one_line_and_the_hint_resumes(tmp_path):
    marker = tmp_path / "paused"
    args = ["train", *MLP, *BASE, "trainer.epochs=3", "trainer.devices=2", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DLX_TEST_PAUSE": "step@15", "DLX_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "dlx", *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)  # polling interval, not a timing assumption
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    run = only_run(tmp_path / "outputs")
    assert proc.returncode == 130 and "death signal" not in err
    assert err.strip() == f"interrupted: SIGINT: the data-parallel run stopped; resume with: dlx train --resume {run.name}"
    resumed = run_dlx(["train", "--resume", run.name, "trainer.devices=1", "-q"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "summary.json").is_file()


# ---------------------------------------------------------------- plugins reach the ranks


@pytest.mark.slow
def test_ranks_load_the_plugin_given_and_trust_a_changed_one_only_when_given(tmp_path):
    from tests.test_round3_plugins import TINY_MODEL

    plugin = tmp_path / "tiny.py"
    plugin.write_text(TINY_MODEL)
    quick = ["trainer.epochs=1", "data.limit=120", "trainer.num_threads=1", "-q"]
    first = run_dlx(["--plugin", "tiny.py", "train", "model=tiny", "trainer.devices=2", *quick], tmp_path)
    assert first.returncode == 0, first.stderr
    run = only_run(tmp_path / "outputs")
    (run / "summary.json").unlink()  # reopened, as if it had stopped after its epoch
    marker = tmp_path / "plugin-ran"
    plugin.write_text(TINY_MODEL + f"\nfrom pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    refused = run_dlx(["train", "--resume", run.name, "trainer.epochs=2", "-q"], tmp_path)
    assert refused.returncode == 2 and "has changed" in refused.stderr and not marker.exists()
    trusted = run_dlx(["--plugin", "tiny.py", "train", "--resume", run.name, "trainer.epochs=2", "-q"], tmp_path)
    assert trusted.returncode == 0, trusted.stderr
    assert (run / "summary.json").is_file() and marker.exists()
