"""Crash safety: kill -9 at chosen moments, resume, and get exactly the uninterrupted run.

The kill points are hit deterministically through dlx.testhooks: the child process
writes a marker file at the point and waits there; the test polls for the marker and
then sends the signal. No sleeps for timing.

Two chains of kills (each resumed run is killed again at the next point), a SIGINT
and a SIGTERM run: every one ends bit for bit equal to one uninterrupted reference.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT

RUN = ["trainer.epochs=4", "data.limit=200", "trainer.num_threads=1", "trainer.deterministic=true"]
# 200 samples / batch 32 = 7 steps per epoch, 28 in all; regularizer.dropout is 0.2, so the
# global torch RNG matters at every step, and the shuffle generator at every epoch.
TIMEOUT = 120


def start(cwd: Path, args: list[str], pause: str | None = None) -> tuple[subprocess.Popen, Path]:
    marker = cwd / f"paused-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if pause:
        env.update(DLX_TEST_PAUSE=pause, DLX_TEST_MARKER=str(marker))
    proc = subprocess.Popen([sys.executable, "-m", "dlx", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, marker


def wait_for(marker: Path, proc: subprocess.Popen) -> None:
    """Poll until the child reaches its pause point (fail if it ends without reaching it)."""
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"dlx ended (exit {proc.returncode}) before its pause point:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("dlx did not reach its pause point in time")
        time.sleep(0.02)  # polling interval, not a timing assumption


def stop_at(cwd: Path, args: list[str], pause: str, sig=signal.SIGKILL) -> subprocess.CompletedProcess:
    proc, marker = start(cwd, args, pause)
    wait_for(marker, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def finish(cwd: Path, args: list[str]) -> subprocess.CompletedProcess:
    proc, _ = start(cwd, args)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return subprocess.CompletedProcess(proc.args, 0, out, err)


def the_run(cwd: Path) -> Path:
    (path,) = (cwd / "outputs" / "runs").iterdir()
    return path


def check_files_parse(run: Path) -> None:
    """Every file of the run folder reads back (temporary `.*.tmp` files and `.lock` aside)."""
    import pandas as pd
    from omegaconf import OmegaConf

    for path in run.rglob("*"):
        if path.is_dir() or path.name.startswith("."):
            continue
        if path.suffix == ".yaml":
            OmegaConf.load(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            assert len(pd.read_csv(path)) >= 1
        elif path.suffix == ".pt":
            assert isinstance(torch.load(path, weights_only=True), dict)
        else:
            assert path.name == "log.txt", path
            path.read_text()


def outcome(run: Path) -> dict:
    """What must match bit for bit: metrics, summary, final and best weights, optimizer state."""
    import pandas as pd

    metrics = pd.read_csv(run / "metrics.csv").drop(columns=["epoch_time_s"])
    summary = json.loads((run / "summary.json").read_text())
    for key in ("run_id", "path", "duration_s"):
        summary.pop(key)
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    return {"metrics": metrics.to_dict("list"), "summary": summary, "last": last["model"],
            "best": best["model"], "optimizer": last["optimizer"]["state"], "history": last["history"]}


def assert_same(a: dict, b: dict) -> None:
    assert a["metrics"] == b["metrics"]
    assert a["summary"] == b["summary"]
    for part in ("last", "best"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k}"
    for i, state in a["optimizer"].items():
        for k, v in state.items():
            assert torch.equal(v, b["optimizer"][i][k]), f"optimizer {i}.{k}"
    assert without_times(a["history"]) == without_times(b["history"])


def without_times(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The uninterrupted run every interrupted one must reproduce."""
    cwd = tmp_path_factory.mktemp("reference")
    finish(cwd, ["train", *RUN, "-q"])
    return outcome(the_run(cwd))


def kill_chain(cwd: Path, first: list[str], points: list[str], sig=signal.SIGKILL) -> None:
    """Start with `first` args; kill -9 at points[0]; resume, kill at points[1]; ... ; finish.

    A point may end in `:TERM` to send SIGTERM there instead (a graceful stop, exit 143).
    """
    args = first
    for point in points:
        point, _, how = point.partition(":")
        sig = signal.SIGTERM if how == "TERM" else signal.SIGKILL
        result = stop_at(cwd, args, point, sig)
        assert result.returncode == (143 if sig == signal.SIGTERM else -signal.SIGKILL), result.stderr
        run = the_run(cwd)
        check_files_parse(run)
        assert not (run / "summary.json").exists()
        args = ["train", "--resume", "last", "-q"]
    finish(cwd, args)
    check_files_parse(the_run(cwd))
    assert not list(the_run(cwd).rglob(".*.tmp")), "resume leaves no temporary file"


@pytest.mark.slow
def test_kill_at_epoch_checkpoints_and_resume_is_exact(tmp_path, reference):
    points = [
        "step@10",  # epoch 2, batch 3: last.pt holds epoch 1
        "write-last@1",  # the resumed run, 64 KiB into writing epoch 2's last.pt
        "replace-last@1",  # epoch 2's last.pt complete under its temporary name, not yet renamed
        "epoch-end@2",  # epoch 3's row in metrics.csv, its last.pt not yet written
        "write-best@1",  # half-way through writing best.pt
        "summary@1",  # trained and tested, summary.json not yet written
    ]
    kill_chain(tmp_path, ["train", *RUN, "-q"], points)
    assert_same(outcome(the_run(tmp_path)), reference)
    log = (the_run(tmp_path) / "log.txt").read_text()
    assert log.count("resumed from") == len(points)


@pytest.mark.slow
def test_kill_between_step_checkpoints_and_resume_mid_epoch_is_exact(tmp_path, reference):
    """With trainer.checkpoint_every_steps, resume continues inside the epoch, same batches."""
    points = [
        "step@11",  # last.pt written at step 9, inside epoch 2
        "write-last@2",  # resumed at step 9: killed writing the step-14 (end of epoch 2) last.pt
        "write-last@3:TERM",  # SIGTERM while writing step 18's last.pt: it completes, then stops there
        "replace-last@1",  # resumed at step 18: step 21's last.pt complete, not renamed
    ]
    kill_chain(tmp_path, ["train", *RUN, "trainer.checkpoint_every_steps=3", "-q"], points)
    run = the_run(tmp_path)
    log = (run / "log.txt").read_text()
    assert "resumed from checkpoints/last.pt: epoch 2, batch 2 (step 9)" in log
    assert "interrupted by SIGTERM at epoch 3, step 18" in log
    assert "resumed from checkpoints/last.pt: epoch 3, batch 4 (step 18)" in log
    assert_same(outcome(run), reference)


@pytest.mark.slow
def test_sigint_saves_marks_interrupted_and_resumes_exactly(tmp_path, reference):
    result = stop_at(tmp_path, ["train", *RUN, "-q"], "step@12", sig=signal.SIGINT)
    run = the_run(tmp_path)
    assert result.returncode == 130, result.stderr
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and status["step"] == 12 and status["epoch"] == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].endswith(f"resume with: dlx train --resume {run.name}")
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 12 and state["epoch_in_progress"]["batches"] == 5  # saved at the step
    check_files_parse(run)
    finish(tmp_path, ["train", "--resume", run.name, "-q"])
    assert_same(outcome(run), reference)


def test_resume_from_every_step_is_exact(tmp_path):
    """In-process and exhaustive: a checkpoint taken after ANY step (mid-epoch or at an
    epoch's end), saved and loaded as a file is, continues into exactly the same run."""
    import io

    from dlx import config

    from dlx.engine import experiment
    from dlx.engine.resume import Resume
    from dlx.store.rundir import RunDir

    overrides = ["trainer.epochs=3", "data.limit=200", "trainer.num_threads=1", "trainer.deterministic=true",
                 "trainer.checkpoint_every_steps=1", f"output_dir={tmp_path}"]
    exp = config.load(overrides)
    states = []

    class Collect:
        def on_step_checkpoint(self, trainer, _row):
            buffer = io.BytesIO()
            torch.save(trainer.state_dict(), buffer)
            states.append(buffer.getvalue())

    expected = experiment.run(exp, callbacks=[Collect()])
    expected_last = torch.load(Path(expected["path"]) / "checkpoints" / "last.pt", weights_only=True)
    assert len(states) == 21  # 7 steps x 3 epochs
    drop = ("run_id", "path", "duration_s")
    for step, blob in enumerate(states, start=1):
        state = torch.load(io.BytesIO(blob), weights_only=True)
        assert state["step"] == step
        run = RunDir.create(tmp_path / "resumed", f"from-step-{step}")
        summary = experiment.run(config.load(overrides), resume=Resume(run, state, Path("mem.pt"), []))
        assert {k: v for k, v in summary.items() if k not in drop} == \
            {k: v for k, v in expected.items() if k not in drop}, f"resumed after step {step}"
        last = torch.load(run.checkpoint_path("last"), weights_only=True)
        assert without_times(last["history"]) == without_times(expected_last["history"]), f"after step {step}"
        for k, v in expected_last["model"].items():
            assert torch.equal(last["model"][k], v), f"resumed after step {step}: {k}"
