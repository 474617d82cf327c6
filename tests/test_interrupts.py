"""Ctrl-C, SIGTERM and kill -9 on `dlx sweep` and `dlx cv` (issue 13, items 1-3 and 5).

Real processes and real signals. Each child pauses at a test point (`dlx.testhooks`): the test
waits for the marker file the point creates, then signals; no sleeping for timing. The output
folder's name has a space, so every printed resume command is run exactly as a shell splits it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_process

OUT = "my outputs"  # a space: the resume hint must quote it
TINY = ["trainer.epochs=2", "data.limit=150", "trainer.num_threads=1", f"output_dir={OUT}"]
TIMEOUT = 180


def start(cwd: Path, args: list[str], pause: str) -> tuple[subprocess.Popen, Path]:
    marker = cwd / f"paused-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DLX_TEST_PAUSE": pause, "DLX_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "dlx", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, marker


def wait_until(predicate, proc: subprocess.Popen | None = None, what: str = "the pause point"):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"dlx ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling interval, not a timing assumption


def signal_at(cwd: Path, args: list[str], pause: str, sig) -> subprocess.CompletedProcess:
    proc, marker = start(cwd, args, pause)
    wait_until(marker.exists, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def resume_hint(stderr: str, command: str) -> list[str]:
    """The one line's `finish it with: dlx ...`, split as a shell would: the argv after `dlx`."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), stderr
    hint = shlex.split(lines[0].split("finish it with: ", 1)[1])
    assert hint[:3] == ["dlx", command, "--resume"], hint
    return hint[1:]


def only(folder: Path) -> Path:
    (path,) = [p for p in folder.iterdir() if p.is_dir()]
    return path


def status(run: Path) -> str:
    return json.loads((run / "status.json").read_text())["status"]


def study_trials(sweep: Path) -> list[dict]:
    import csv

    with open(sweep / "trials.csv") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- sweep


@pytest.mark.slow
@pytest.mark.parametrize("jobs, sig, code", [(1, signal.SIGINT, 130), (2, signal.SIGTERM, 143)])
def test_a_signal_stops_the_whole_sweep_and_resume_finishes_the_interrupted_trials(tmp_path, jobs, sig, code):
    grid = ["optim.lr=0.1,0.03,0.01", "optim=sgd"]
    stopped = signal_at(tmp_path, ["sweep", *grid, *TINY, "--jobs", str(jobs), "-q"], "step@3", sig)
    assert stopped.returncode == code, stopped.stderr
    args = resume_hint(stopped.stderr, "sweep")
    assert "Traceback" not in stopped.stderr
    sweep = only(tmp_path / OUT / "sweeps")
    rows = study_trials(sweep)
    states = Counter(r["state"] for r in rows)
    assert states["INTERRUPTED"] >= 1 and states["FAIL"] == 0, rows  # interrupted, not failed
    assert states["COMPLETE"] < 3  # it stopped: the other trials did not train on
    runs = {r["run_id"]: r["state"] for r in rows if r["run_id"]}
    for run_id, state in runs.items():
        if state == "INTERRUPTED":
            assert status(sweep / "runs" / run_id) == "interrupted"

    finished = run_process(args, cwd=tmp_path, timeout=TIMEOUT)
    assert finished.returncode == 0, finished.stderr
    rows = study_trials(sweep)
    done = Counter(r["optim.lr"] for r in rows if r["state"] == "COMPLETE")
    assert sorted(done) == ["0.01", "0.03", "0.1"] and set(done.values()) == {1}
    for run_id, state in runs.items():  # the interrupted runs were finished in place, from last.pt
        if state == "INTERRUPTED":
            assert (sweep / "runs" / run_id / "summary.json").is_file()
            assert "resumed from" in (sweep / "runs" / run_id / "log.txt").read_text()


# ---------------------------------------------------------------- cv


@pytest.mark.slow
@pytest.mark.parametrize("jobs, sig, code", [(1, signal.SIGINT, 130), (2, signal.SIGTERM, 143)])
def test_a_signal_stops_the_whole_cv_and_resume_finishes_the_interrupted_folds(tmp_path, jobs, sig, code):
    stopped = signal_at(tmp_path, ["cv", "--folds", "3", "--jobs", str(jobs), *TINY, "-q"], "step@3", sig)
    assert stopped.returncode == code, stopped.stderr
    args = resume_hint(stopped.stderr, "cv")
    cv = only(tmp_path / OUT / "cv")
    folds = {p.name: status(p) for p in cv.glob("fold-*") if (p / "status.json").exists()}
    assert "interrupted" in folds.values() and "failed" not in folds.values(), folds
    assert len(folds) < 3 or jobs == 2  # one at a time: the other folds never started
    assert not (cv / "summary.json").exists()

    finished = run_process(args, cwd=tmp_path, timeout=TIMEOUT)
    assert finished.returncode == 0, finished.stderr
    rows = (cv / "folds.csv").read_text().splitlines()
    assert len(rows) == 4 and all(",finished," in row for row in rows[1:]), rows
    for name, was in folds.items():
        if was == "interrupted":
            assert "resumed from" in (cv / name / "log.txt").read_text()


@pytest.mark.slow
def test_kill_9_of_cv_leaves_no_orphans_and_resume_never_writes_a_held_fold(tmp_path):
    from dlx.store.rundir import RunDir

    proc, marker = start(tmp_path, ["cv", "--folds", "3", "--jobs", "2", *TINY, "-q"], "step@2")
    wait_until(marker.exists, proc)
    cv = only(tmp_path / OUT / "cv")
    fold = Path(cv / "fold-0")
    wait_until(lambda: (fold / "status.json").exists(), proc, "fold-0's status")
    worker = json.loads((fold / "status.json").read_text())["pid"]
    proc.kill()  # kill -9 of the parent alone: its fold workers are in their own sessions
    proc.communicate(timeout=TIMEOUT)

    from dlx.parallel import pid_alive

    wait_until(lambda: not pid_alive(worker), what="the orphaned fold worker to exit")
    assert status(fold) == "interrupted"  # it stopped at a step boundary, and said so

    held = RunDir(fold)
    held.lock()  # as a live process writing fold-0 would
    try:
        before = (fold / "status.json").read_bytes()
        refused = run_process(["cv", "--resume", cv.name, f"output_dir={OUT}"], cwd=tmp_path, timeout=TIMEOUT)
        assert refused.returncode == 2 and "fold-0" in refused.stderr and "another process" in refused.stderr
        assert (fold / "status.json").read_bytes() == before
    finally:
        held.unlock()
    finished = run_process(["cv", "--resume", cv.name, f"output_dir={OUT}"], cwd=tmp_path, timeout=TIMEOUT)
    assert finished.returncode == 0, finished.stderr
    assert (cv / "summary.json").is_file()


# ---------------------------------------------------------------- train


@pytest.mark.slow
def test_train_resume_hint_pastes_into_a_shell_with_spaces(tmp_path):
    stopped = signal_at(tmp_path, ["train", *TINY], "step@2", signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    line = stopped.stderr.strip()
    hint = shlex.split(line.split("resume with: ", 1)[1])
    assert hint[:3] == ["dlx", "train", "--resume"] and f"output_dir={OUT}" in hint
    finished = run_process(hint[1:], cwd=tmp_path, timeout=TIMEOUT)
    assert finished.returncode == 0, finished.stderr


def test_one_context_manager_installs_the_stop_handlers_and_puts_the_old_ones_back():
    import threading

    from dlx.signals import SIGNAL_EXIT, handling

    before = {s: signal.getsignal(s) for s in SIGNAL_EXIT}
    seen = []
    with handling(lambda signum, _frame: seen.append(signum)):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to the main thread: the handler answers it
        installed = signal.getsignal(signal.SIGTERM)
        in_thread = []

        def other_thread():
            with handling(print):  # only the main thread may set handlers: nothing installed, no error
                in_thread.append(signal.getsignal(signal.SIGTERM))

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert seen == [signal.SIGTERM] and in_thread == [installed]
    assert {s: signal.getsignal(s) for s in SIGNAL_EXIT} == before
