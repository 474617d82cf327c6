"""Faults handled in-process (fast): divergence, a full disk, out of memory, unsafe or
corrupt checkpoints, resume refusals and allowed changes.

A "crashed" run here is a finished run whose summary.json is removed and whose status is
set back to running: exactly the files a kill between its last checkpoint and summary.json
leaves (tests/test_resume.py kills real processes).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import torch

from dlx.store.rundir import RunDir

TINY = ["trainer.epochs=2", "data.limit=100", "trainer.num_threads=1", "trainer.deterministic=true", "-q"]


def only_run(cwd: Path = Path(".")) -> Path:
    (path,) = (Path(cwd) / "outputs" / "runs").iterdir()
    return path


def crash(run: Path) -> None:
    """Make `run` look killed just before its summary was written."""
    (run / "summary.json").unlink()
    (run / "status.json").write_text(json.dumps({"status": "running", "pid": 0}))


def weights(run: Path, name: str = "last") -> dict:
    return torch.load(run / "checkpoints" / f"{name}.pt", weights_only=True)


def results(run: Path) -> tuple:
    summary = json.loads((run / "summary.json").read_text())
    keep = {k: v for k, v in summary.items() if k not in ("duration_s", "path", "run_id")}
    rows = [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in weights(run)["history"]]
    return keep, rows, weights(run)["model"]


def assert_same(a: tuple, b: tuple) -> None:
    assert a[0] == b[0] and a[1] == b[1]
    assert all(torch.equal(a[2][k], b[2][k]) for k in a[2])


def error_line(result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.out + result.err
    return lines[0]


# ---------------------------------------------------------------- divergence


def test_nan_loss_stops_the_run_and_says_what_to_try(dlx):
    # SGD: Adam's step is bounded by its lr, so at lr=1e6 its loss grows huge but stays finite
    result = dlx("train", *TINY, "optim=sgd", "optim.lr=1e6")
    line = error_line(result)
    assert result.code == 1
    assert "diverged" in line and "optim.lr" in line and "clip_grad_norm" in line and "warm-up" in line
    status = json.loads((only_run() / "status.json").read_text())
    assert status["status"] == "failed" and status["epoch"] >= 1 and status["step"] >= 1
    assert f"epoch {status['epoch']}, step {status['step']}" in line
    assert not (only_run() / "summary.json").exists()


def test_divergence_after_an_epoch_keeps_the_best_checkpoint(dlx, monkeypatch):
    """Blow the weights up after step 10 (epoch 2): the NaN guard must catch the next step."""
    from dlx.engine.trainer import Trainer

    real = Trainer._backward_and_step

    def poisoned(self, total):
        real(self, total)
        if self.step >= 10:
            with torch.no_grad():
                for p in self.model.parameters():
                    p.fill_(float("inf"))

    monkeypatch.setattr(Trainer, "_backward_and_step", poisoned)
    result = dlx("train", *TINY, "trainer.epochs=3", "data.limit=200")  # 7 steps per epoch
    assert result.code == 1 and "step 12" in error_line(result)
    status = json.loads((only_run() / "status.json").read_text())
    assert (status["status"], status["epoch"], status["step"]) == ("failed", 2, 12)
    best = weights(only_run(), "best")
    assert best["epoch"] == 1 and all(torch.isfinite(t).all() for t in best["model"].values())
    assert weights(only_run())["epoch"] == 1  # last.pt: the last whole epoch, untouched


# ---------------------------------------------------------------- disk and memory


def test_full_disk_is_one_line_and_damages_nothing(dlx, monkeypatch):
    """The second write of last.pt goes to /dev/full: a real ENOSPC from the kernel."""
    import builtins

    from dlx.store import files as run_store

    calls = {"last": 0}

    def fake_open(path, mode="r", *args, **kwargs):
        if Path(path).name.startswith(".last.pt."):
            calls["last"] += 1
            if calls["last"] == 2:
                return builtins.open("/dev/full", mode)
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(run_store, "open", fake_open, raising=False)
    result = dlx("train", *TINY)
    line = error_line(result)
    assert result.code == 1
    assert "last.pt" in line and os.strerror(errno.ENOSPC) in line and "free space" in line
    run = only_run()
    assert weights(run)["epoch"] == 1  # the previous checkpoint is whole
    assert json.loads((run / "status.json").read_text())["status"] == "failed"
    assert not list(run.rglob(".*.tmp"))


def test_out_of_memory_names_the_batch_size(dlx, monkeypatch):
    from dlx.engine.trainer import Trainer

    def oom(self, batches):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(Trainer, "train_one_epoch", oom)
    result = dlx("train", *TINY, "trainer.batch_size=64")
    line = error_line(result)
    assert result.code == 1
    assert "out of memory" in line and "trainer.batch_size=64" in line and "trainer.batch_size=32" in line
    assert json.loads((only_run() / "status.json").read_text())["status"] == "failed"


# ---------------------------------------------------------------- checkpoints on resume


class Payload:
    """Unpickling this runs `os.makedirs(path)`: a visible side effect."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def test_malicious_checkpoint_is_refused_and_never_runs(dlx, tmp_path):
    assert dlx("train", *TINY).code == 0
    run = only_run()
    crash(run)
    state = weights(run)
    bomb = tmp_path / "payload-ran"
    state["meta"] = Payload(str(bomb))
    torch.save(state, run / "checkpoints" / "last.pt")  # a pickle with a code-running object

    result = dlx("train", "--resume", "last", "-q")
    line = error_line(result)
    assert result.code == 1
    assert "refusing to load" in line and "last.pt" in line and "could run code" in line
    assert not bomb.exists(), "the pickled code ran"
    # the payload is live: an unsafe load would have run it
    control = tmp_path / "control-ran"
    state["meta"] = Payload(str(control))
    torch.save(state, tmp_path / "control.pt")
    torch.load(tmp_path / "control.pt", weights_only=False)
    assert control.exists()


def test_corrupt_last_checkpoint_falls_back_to_the_previous_one(dlx):
    assert dlx("train", *TINY).code == 0
    run = only_run()
    expected = results(run)
    assert weights(run, "last.prev")["epoch"] == 1  # kept from the epoch before
    crash(run)
    (run / "checkpoints" / "last.pt").write_bytes(b"\x00garbage" * 100)

    result = dlx("train", "--resume", run.name, "-q")
    assert result.code == 0, result.err
    warning = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "last.pt" in warning[0] and "last.prev.pt" in warning[0]
    assert "resumed from checkpoints/last.prev.pt: the end of epoch 1" in (run / "log.txt").read_text()
    assert_same(results(run), expected)


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(dlx):
    assert dlx("train", *TINY).code == 0
    run = only_run()
    crash(run)
    for name in ("last.pt", "last.prev.pt"):
        (run / "checkpoints" / name).write_bytes(b"")
    result = dlx("train", "--resume", "last", "-q")
    line = error_line(result)
    assert result.code == 1 and "no readable checkpoint" in line and "last.prev.pt" in line
    assert not (run / "summary.json").exists()


def test_resume_with_changed_model_is_refused_naming_the_key(dlx):
    assert dlx("train", *TINY).code == 0
    crash(only_run())
    result = dlx("train", "--resume", "last", "model.hidden=[32]", "optim.lr=0.1")
    line = error_line(result)
    assert result.code == 2
    assert "model.hidden ([256, 128] → [32])" in line and "optim.lr (0.001 → 0.1)" in line
    assert "trainer.epochs" in line  # what may change


def test_resume_may_train_longer_and_equals_the_longer_run(dlx, tmp_path, monkeypatch):
    longer = tmp_path / "longer"
    longer.mkdir()
    monkeypatch.chdir(longer)
    assert dlx("train", *TINY, "trainer.epochs=3").code == 0
    expected = results(only_run(longer))
    monkeypatch.chdir(tmp_path)
    assert dlx("train", *TINY).code == 0
    run = only_run(tmp_path)
    crash(run)
    result = dlx("train", "--resume", "last", "trainer.epochs=3", "-q")
    assert result.code == 0, result.err
    assert_same(results(run), expected)
    assert "epochs: 3" in (run / "config.yaml").read_text()
    assert (run / "overrides.yaml").read_text().strip().endswith("- trainer.epochs=3")


def test_resume_of_a_run_still_being_written_is_refused(dlx):
    import fcntl

    assert dlx("train", *TINY).code == 0
    run = only_run()
    crash(run)
    with open(run / ".lock", "w") as held:  # another process training it right now
        fcntl.flock(held, fcntl.LOCK_EX)
        result = dlx("train", "--resume", "last", "-q")
    assert result.code == 2 and "another dlx process" in error_line(result)


def test_run_lock_is_released_after_a_run(tmp_path):
    import fcntl

    run = RunDir.create(tmp_path, "x")
    assert not run.is_being_written()
    run.lock()
    assert run.is_being_written()
    run.unlock()
    assert not run.is_being_written()
    run.lock()  # would raise if the first lock were still held
    run.unlock()
    with open(run.path / ".lock", "w") as other:  # as another process holding it
        fcntl.flock(other, fcntl.LOCK_EX)
        assert run.is_being_written()


def test_resume_without_any_checkpoint_starts_over_and_says_so(dlx):
    assert dlx("train", *TINY).code == 0
    run = only_run()
    expected = results(run)
    crash(run)
    for path in (run / "checkpoints").iterdir():
        path.unlink()
    result = dlx("train", "--resume", "last", "-q")
    assert result.code == 0, result.err
    # the true reason: its epochs are in metrics.csv, their checkpoints are gone (issue 13 item 4)
    assert "has no checkpoint (metrics.csv records" in result.err and "from the start" in result.err
    assert_same(results(run), expected)


def test_a_checkpoint_that_is_not_a_training_state_is_skipped(dlx):
    assert dlx("train", *TINY).code == 0
    run = only_run()
    crash(run)
    best = run / "checkpoints" / "best.pt"
    (run / "checkpoints" / "last.pt").write_bytes(best.read_bytes())  # weights only: no optimizer
    result = dlx("train", "--resume", "last", "-q")
    assert result.code == 0, result.err
    assert "not a resumable dlx checkpoint" in result.err and "resuming from last.prev.pt" in result.err


def test_resume_with_fewer_epochs_than_done_is_refused(dlx):
    assert dlx("train", *TINY).code == 0
    crash(only_run())
    result = dlx("train", "--resume", "last", "trainer.epochs=1")
    line = error_line(result)
    assert result.code == 2 and "already trained 2 epochs" in line and "trainer.epochs >= 2" in line
    assert dlx("train", "--resume", "last", "-q").code == 0  # the refusal released the run
