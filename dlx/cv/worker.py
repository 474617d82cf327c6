"""Running CV folds: in this process, or in `--jobs` worker processes (`dlx.parallel`).

A fold is an ordinary run (`experiment.run`) that never evaluates the test split. A fold that
fails becomes data (a `FoldOutcome`), so the other folds still count; a usage error (bad
monitor, bad data) is the same in every fold and stops the CV at once. A SIGINT/SIGTERM stops
the running folds at a step boundary (status interrupted, last.pt saved) and starts no other;
`dlx cv --resume` continues them from their checkpoints. A fold is written only by the process
that holds its lock.

    python -m dlx.cv.worker --threads T --parent PID   one worker: folds in on stdin, outcomes out
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from dlx import heap, parallel, plugins
from dlx.engine import signals
from dlx.errors import ConfigError, DlxError, Interrupted
from dlx.log import install as install_warnings
from dlx.store.rundir import RunDir
from dlx.store.runs import read_status

STATUSES = ("finished", "failed", "interrupted", "usage")


@dataclass(frozen=True)
class FoldOutcome:
    """How one fold ended: its summary when finished, else the error (one line)."""

    status: str  # finished | failed | interrupted | usage (the same mistake in every fold)
    summary: Optional[dict] = None
    error: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"fold status '{self.status}' is not one of {', '.join(STATUSES)}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "FoldOutcome":
        return cls(str(data["status"]), data.get("summary"), str(data.get("error") or ""))


def run_folds(todo: list, cv_dir: Path, jobs: int, finish) -> None:
    """Run each fold (a `dlx.cv.driver.Fold`), here (jobs=1) or in `jobs` worker processes;
    `finish(fold, outcome)` gets each `FoldOutcome` as it comes. A SIGINT/SIGTERM ends it with
    `Interrupted` once the running folds have stopped and been recorded."""
    with signals.record_stop_signals():
        if jobs == 1 or len(todo) <= 1:
            for fold in todo:
                if signals.requested:
                    break
                finish(fold, _checked(run_fold(fold.overrides, str(cv_dir / fold.name))))
        else:
            _run_in_workers(todo, cv_dir, min(jobs, len(todo)), finish)
    if signals.requested:
        raise Interrupted(signal.Signals(signals.requested).name, signals.exit_code(signals.requested))


def _run_in_workers(todo: list, cv_dir: Path, jobs: int, finish) -> None:
    """Long-lived workers (imports paid once each) take the next fold as soon as they are free."""
    threads = parallel.threads_per_worker(jobs)
    recorded = json.dumps(plugins.records())  # each worker loads the plugins this CV uses
    workers = parallel.Workers("dlx.cv.worker", lambda i: ["--threads", str(threads), "--plugins", recorded], jobs,
                               Path(cv_dir) / "workers")
    waiting, busy, ended = list(todo), {}, set()

    def give(i: int) -> None:
        if waiting and not signals.requested:
            busy[i] = fold = waiting.pop(0)
            workers.send(i, {"fold": fold.name, "overrides": fold.overrides, "path": str(cv_dir / fold.name)})
        else:
            workers.send(i, None)  # no more work: it exits

    try:
        for i in range(jobs):
            give(i)
        while len(ended) < jobs:
            for i, message in workers.messages(timeout=1.0):
                if message is None:  # its output closed: it exited
                    ended.add(i)
                    if i in busy:
                        code = workers.procs[i].wait()
                        why = "interrupted" if signals.requested else "failed"
                        finish(busy.pop(i), FoldOutcome(why, error=f"its worker process ended (exit {code}); "
                                                        f"see {workers.logs[i]}"))
                    continue
                finish(busy.pop(i), _checked(FoldOutcome.from_json(message["outcome"])))
                give(i)
    except BaseException:  # a usage error, or a bug: stop the other folds at a step boundary
        workers.stop()
        raise
    workers.wait()


def _checked(outcome: FoldOutcome) -> FoldOutcome:
    """A usage error (bad monitor, bad data) is the same in every fold: stop at the first."""
    if outcome.status == "usage":
        raise ConfigError(outcome.error)
    return outcome


def run_fold(overrides: list[str], run_path: str) -> FoldOutcome:
    """One fold as an ordinary run that never touches the test split; failures become data.

    An interrupted fold continues from its last checkpoint; a folder another process holds is
    left untouched.
    """
    from dlx.engine import experiment

    path = Path(run_path)
    run = RunDir.at(path)
    try:
        run.lock()
    except ConfigError:
        return FoldOutcome("usage", error=f"{path} is being written by another process; stop it or wait for it")
    try:
        exp, resume = _continuation(path, overrides)
        summary = experiment.run(exp, overrides, run_path=path, evaluate_test=False, resume=resume)
        return FoldOutcome("finished", summary.to_json())  # flat, as summary.json: it crosses processes as JSON
    except Interrupted as e:
        return FoldOutcome("interrupted", error=str(e).split(";")[0])
    except DlxError as e:
        status, error = ("usage" if e.exit_code == 2 else "failed"), str(e)
    except Exception as e:  # a bug in one fold should not lose the others; the log keeps the traceback
        status, error = "failed", f"{type(e).__name__}: {e}"
        run.log(traceback.format_exc())
    try:
        if read_status(path).get("status") != "failed":  # stopped() records it with the epoch and step
            run.write_status("failed", reason=error)
    finally:
        run.unlock()
    return FoldOutcome(status, error=error)


def _continuation(path: Path, overrides: list[str]):
    """(exp, Resume) continuing an interrupted fold from its checkpoint, else (exp, None): a fresh run."""
    from dlx import config
    from dlx.engine import resume

    if read_status(path).get("status") in ("interrupted", "running") and (path / "config.yaml").is_file():
        try:
            return resume.prepare(str(path), [], warn=lambda _message: None)
        except ConfigError:
            pass  # unreadable: train it again from the start
    return config.load(overrides), None


def main(argv: list[str] | None = None) -> int:
    """A fold worker: imports torch once, then runs each fold its parent sends until told to stop."""
    install_warnings()  # warnings as `warning: ...` lines on stderr, which the parent passes on
    parser = argparse.ArgumentParser(prog="dlx.cv.worker")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--parent", type=int, default=None)
    parser.add_argument("--plugins", default="[]")  # dlx.plugins.records() of the parent, as JSON
    args = parser.parse_args(argv)

    with heap.setting_up():  # torch and the components load without garbage collection (dlx/heap.py)
        plugins.load_recorded(json.loads(args.plugins))
    with signals.record_stop_signals():
        with heap.setting_up():
            parallel.start_worker(args.parent, args.threads)
        channel = parallel.Channel()
        while not signals.requested:
            task = channel.receive()
            if task is None:
                break
            outcome = run_fold(task["overrides"], task["path"])
            channel.send(fold=task["fold"], outcome=outcome.to_json())
    return signals.exit_code(signals.requested) if signals.requested else 0


if __name__ == "__main__":
    sys.exit(main())
