"""`dlx sweep` across processes: kill -9 and resume, parallel workers, --join on one study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT
from test_sweep import finished_runs, load_study, read_trials, sweep_dir

# a few epochs per trial: long enough to catch a trial while it runs
SLOWER = ["trainer.epochs=10", "data.limit=600", "trainer.num_threads=1", "trainer.checkpoint=false"]
GRID = ["optim.lr=0.1,0.01,0.001", "optim=sgd,adam"]


def spawn(args, cwd: Path, **env_extra: str) -> subprocess.Popen:
    """`python -m dlx ARGS` in its own session, so the whole group can be killed at once."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env_extra}
    return subprocess.Popen([sys.executable, "-m", "dlx", *args], cwd=cwd, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout: float = 180, what: str = "condition", proc: subprocess.Popen | None = None):
    """Poll `predicate` until it holds; fail at once (with its stderr) if `proc` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def study_states(tmp_path: Path):
    """Trial states from the study, once the sweep's folder and database exist."""
    root = tmp_path / "outputs" / "sweeps"
    if not root.is_dir() or not any((p / "sweep.json").is_file() for p in root.iterdir()):
        return None
    study = load_study(sweep_dir(tmp_path))
    return [(t.state.name, t.user_attrs.get("run_id")) for t in study.get_trials(deepcopy=False)]


@pytest.mark.slow
def test_kill_minus_9_then_resume_finishes_every_trial_once(dlx, tmp_path):
    # each worker holds at its 15th epoch end: 5 epochs into its second trial, its first one done
    marker = tmp_path / "paused"
    proc = spawn(["sweep", *GRID, "--jobs", "2", *SLOWER], tmp_path,
                 DLX_TEST_PAUSE="epoch-end@15", DLX_TEST_MARKER=str(marker))
    try:
        def two_done_two_held():
            states = study_states(tmp_path) or []
            done = sum(s == "COMPLETE" for s, _ in states)
            return done == 2 and sum(s == "RUNNING" and bool(run) for s, run in states) == 2

        wait_for(two_done_two_held, what="2 finished trials and two held mid-run", proc=proc)
        running = {t.number: int(t.user_attrs["worker"].rsplit(":", 1)[1])
                   for t in load_study(sweep_dir(tmp_path)).get_trials(deepcopy=False)
                   if t.state.name == "RUNNING" and t.user_attrs.get("run_id")}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep, mid-trial; its workers are in their own sessions
        proc.communicate(timeout=30)
    from dlx.parallel import pid_alive

    # the workers die with their parent: they stop at a step boundary and mark their trials
    wait_for(lambda: not any(pid_alive(pid) for pid in running.values()), what="the workers to exit")
    folder = sweep_dir(tmp_path)
    trials = {t.number: t for t in load_study(folder).trials}
    killed = [n for n in running if trials[n].state.name != "COMPLETE"]
    assert running and len(read_trials(folder)) >= 2
    for n in killed:  # marked by the worker itself, or left RUNNING if it was past its last step
        assert trials[n].state.name == "RUNNING" or trials[n].user_attrs.get("interrupted")

    r = dlx("sweep", "--resume", folder.name)
    assert r.code == 0, r.err
    rows = read_trials(folder)
    complete = Counter((row["optim.lr"], row["optim"]) for row in rows if row["state"] == "COMPLETE")
    assert len(complete) == 6 and set(complete.values()) == {1}  # all six, none twice
    for row in rows:
        if int(row["number"]) in killed:
            # interrupted mid-run, or killed after its run finished and before optuna heard of it:
            # then resume takes the finished run's value instead of training it again
            assert row["state"] == "COMPLETE" or (row["state"] == "INTERRUPTED" and row["reason"].startswith("interrupted"))
    assert len(finished_runs(folder)) == 6


@pytest.mark.slow
def test_two_join_workers_split_the_trials_without_overlap(dlx, tmp_path):
    grid = ["optim.lr=0.1,0.03,0.01,0.003", "optim=sgd,adam"]
    assert dlx("sweep", *grid, "--jobs", "0", *SLOWER).code == 0
    folder = sweep_dir(tmp_path)

    def trials_of(proc, state):
        study = load_study(folder)
        return [t for t in study.get_trials(deepcopy=False)
                if t.state.name == state and str(t.user_attrs.get("worker", "")).endswith(f":{proc.pid}")]

    # worker A takes a trial and is paused mid-training, so B surely gets some; then both go on
    a = spawn(["sweep", "--join", folder.name, "-q"], tmp_path)
    workers = [a]
    try:
        wait_for(lambda: [t for t in trials_of(a, "RUNNING") if t.user_attrs.get("run_id")], what="A training")
        os.kill(a.pid, signal.SIGSTOP)
        try:
            workers.append(spawn(["sweep", "--join", folder.name, "-q"], tmp_path))
            wait_for(lambda: trials_of(workers[1], "COMPLETE"), what="B to finish a trial")
        finally:
            os.kill(a.pid, signal.SIGCONT)
        for w in workers:
            out, err = w.communicate(timeout=300)
            assert w.returncode == 0, err
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
    trials = load_study(folder).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 8
    assert len({(t.params["optim.lr"], t.params["optim"]) for t in trials}) == 8
    by_worker = Counter(t.user_attrs["worker"] for t in trials)
    assert len(by_worker) == 2 and sum(by_worker.values()) == 8, by_worker  # split, none twice
    assert len(finished_runs(folder)) == 8
