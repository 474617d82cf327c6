"""Sweep workers: pop a trial from the study's queue, run it, tell optuna; until the queue is empty.

`work()` is the loop (in the sweep's own process for `--jobs 1`); `run_workers()` starts
`--jobs N` of them as `python -m dlx.sweep.worker` processes and polls the study meanwhile.

Every trial a sweep will run is queued in the study up front (`enqueue_trial`: a grid's
combinations, or empty slots that random/TPE fill in when popped). Popping is atomic, so
any number of workers, in this process, in `--jobs` subprocesses or on other machines
(`--join`), split the queue without running anything twice.

What a trial computes is `dlx.sweep.objectives` (one run, or a mean over CV folds).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from dlx import heap, parallel, plugins
from dlx.engine import signals
from dlx.errors import DlxError, Interrupted, RunError, first_line
from dlx.log import install as install_warnings
from dlx.signals import handling
from dlx.signals import record as record_signal
from dlx.sweep import check, store
from dlx.sweep.objectives import Objective, TrialContext, make_objective
from dlx.sweep.records import TPE_STARTUP_TRIALS, SweepSpec
from dlx.sweep.space import CHOICE, INT, SearchSpace

log = logging.getLogger(__name__)

INTERRUPTED_REASON = "interrupted: the sweep stopped while it ran"


class TrialTracker:
    """Experiment callback: records the trial's run id; with --prune, reports and prunes per epoch."""

    def __init__(self, trial, metric: str, prune: bool):
        self.trial, self.metric, self.prune = trial, metric, prune
        self.run_dir = None

    def on_fit_start(self, trainer, ctx) -> None:
        self.run_dir = ctx.run_dir
        self.trial.set_user_attr("run_id", ctx.run_dir.id)

    def on_epoch_end(self, trainer, row: dict) -> None:
        value = row.get(self.metric)
        if not self.prune or value is None or not math.isfinite(value):
            return
        self.trial.report(value, row["epoch"])
        if self.trial.should_prune():
            import optuna

            if self.run_dir is not None:
                self.run_dir.write_status("pruned", epoch=row["epoch"])
            raise optuna.TrialPruned(f"pruned at epoch {row['epoch']}: {self.metric} {value:.4g} "
                                     "is worse than the median of earlier trials")


# ---------------------------------------------------------------- one trial


def sampler_for(spec: SweepSpec, number: int):
    """Seeded per trial, so a trial's parameters do not depend on which worker ran it."""
    import optuna

    seed = int(spec.seed) * 100_003 + number
    if spec.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=TPE_STARTUP_TRIALS)
    return optuna.samplers.RandomSampler(seed=seed)  # a grid's trials are all fixed: never consulted


def pruner_for(spec: SweepSpec):
    import optuna

    return optuna.pruners.MedianPruner(n_warmup_steps=1) if spec.prune else optuna.pruners.NopPruner()


def open_study(spec: SweepSpec, url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = store.open_storage(url)
    study = optuna.load_study(study_name=spec.id, storage=storage, pruner=pruner_for(spec))
    # (study, the RDBStorage under it). The study caches finished trials only (they never change)
    # and reads the others through this same storage, so a WAITING trial popped through it (or a
    # dead RUNNING one failed) is seen at once. Study.ask() would create a trial when the queue is empty.
    return study, storage


def pop_trial(study, storage, spec: SweepSpec, url: str):
    """The next queued trial, now RUNNING and ours; None when the queue is empty."""
    import optuna
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    with store.queue_lock(url):
        # listed through the study, whose cache then knows the trial that optuna.trial.Trial will use
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                break
        else:
            return None
    study.sampler = sampler_for(spec, frozen.number)
    return optuna.trial.Trial(study, trial_id)


def suggest(trial, space: SearchSpace) -> dict:
    params = {}
    for d in space.dims:
        if d.kind == CHOICE:
            params[d.key] = trial.suggest_categorical(d.key, list(d.choices))
        elif d.kind == INT:
            params[d.key] = trial.suggest_int(d.key, int(d.low), int(d.high), step=d.step or 1, log=d.log)
        else:
            params[d.key] = trial.suggest_float(d.key, d.low, d.high, log=d.log)
    return params


def run_trial(study, trial, spec: SweepSpec, objective: Objective, runs_root: Path, on_start=None) -> str:
    """Run one trial and tell optuna how it ended: COMPLETE, PRUNED or FAIL (with its reason)."""
    import optuna
    from optuna.trial import TrialState

    space = spec.space
    trial.set_user_attr("worker", store.worker_name())
    params = suggest(trial, space)
    trial.set_user_attr("params", params)
    if on_start:
        on_start()
    tracker = TrialTracker(trial, spec.metric, bool(spec.prune))
    ctx = TrialContext(trial.number, runs_root, spec.metric, [tracker], trial.user_attrs.get("first_try"),
                       trial.user_attrs.get("resume_run"))
    try:
        value, record = objective(space.overrides(params), ctx)
    except optuna.TrialPruned as e:
        trial.set_user_attr("reason", str(e))
        study.tell(trial, state=TrialState.PRUNED)
        return "PRUNED"
    except (Interrupted, KeyboardInterrupt):
        mark_interrupted(study, trial)
        raise
    except Exception as e:  # a diverged run, a bad combination, a bug: record it, go on
        return _fail(study, trial, _reason(e))
    if not math.isfinite(value):
        return _fail(study, trial, f"{spec.metric} is {value}")
    trial.set_user_attr("record", record)
    study.tell(trial, value)
    return "COMPLETE"


def mark_interrupted(study, trial) -> None:
    """A trial stopped by a signal: FAIL for optuna (it has no such state), `interrupted` for dlx,
    so `--resume` queues it again (and continues its run from the checkpoint)."""
    from optuna.trial import TrialState

    trial.set_user_attr("reason", INTERRUPTED_REASON)
    trial.set_user_attr("interrupted", True)
    study.tell(trial, state=TrialState.FAIL)


def _fail(study, trial, reason: str) -> str:
    from optuna.trial import TrialState

    trial.set_user_attr("reason", reason)
    study.tell(trial, state=TrialState.FAIL)
    return "FAIL"


def _reason(e: Exception) -> str:
    text = first_line(e, limit=None) if str(e).strip() else ""  # no message: the type's name alone
    return text if isinstance(e, DlxError) else f"{type(e).__name__}: {text}".rstrip(": ")


def warm_up(spec: SweepSpec) -> None:
    """Pay the one-off costs — imports, Hydra's first compose, reading the data — before the first
    trial, so that each worker's trials time training alone, the first one too."""
    from dlx import config, data

    try:
        exp = config.load(spec.space.fixed)
        data.build(exp.data)
    except DlxError:
        pass  # the trial itself will say what is wrong


def work(sweep_dir: Path, spec: SweepSpec, url: str, on_change=None) -> int:
    """Run queued trials until none is left or a SIGINT/SIGTERM asks to stop; return how many ran.

    A signal during a trial stops it at a step boundary (the trial is marked interrupted and
    `Interrupted` propagates); one between trials stops the loop before the next.
    """
    plugins.load_recorded(list(spec.plugins), warn=log.warning)
    with signals.record_stop_signals():
        study, storage = open_study(spec, url)
        objective = make_objective(spec)
        with heap.setting_up():  # the first trial's data, without garbage collection (dlx/heap.py)
            warm_up(spec)
        runs_root = Path(sweep_dir) / "runs"
        runs_root.mkdir(parents=True, exist_ok=True)
        done = 0
        while not signals.requested:
            trial = pop_trial(study, storage, spec, url)
            if trial is None:
                break
            run_trial(study, trial, spec, objective, runs_root, on_start=on_change)
            done += 1
            if on_change:
                on_change()
    return done


# ---------------------------------------------------------------- worker processes


def start_workers(jobs: int):
    """Start `jobs` sweep workers now: they import torch and dlx while the caller checks the space
    and creates the study, then wait for `run_workers` to hand them the sweep."""
    threads = parallel.threads_per_worker(jobs)
    early_logs = Path(tempfile.mkdtemp(prefix="dlx-sweep-workers-"))  # until the sweep folder exists
    return parallel.Workers("dlx.sweep.worker", lambda i: ["--index", str(i), "--threads", str(threads)],
                            jobs, early_logs)


def run_workers(sweep_dir: Path, url: str, jobs: int, refresh, workers=None) -> None:
    """Hand the sweep to `jobs` long-lived worker processes (`start_workers`, `dlx.parallel`) and
    re-read the study whenever one reports a trial's start or end.

    A SIGINT/SIGTERM is forwarded to each worker once: they stop at a step boundary, mark their
    trials interrupted and exit; the caller then sees `signals.requested`.
    """
    with signals.record_stop_signals():
        workers = workers or start_workers(jobs)
        early_logs = workers.logs
        workers.logs = [Path(sweep_dir) / "workers" / f"worker-{i}.log" for i in range(jobs)]
        workers.logs[0].parent.mkdir(exist_ok=True)
        for i, path in enumerate(workers.logs):  # the URL goes through the pipe: `ps` would show a password
            workers.send(i, {"sweep_dir": str(sweep_dir), "storage": url, "log": str(path)})
        try:
            polled = time.monotonic()
            while workers.running():
                # a worker reports each trial it starts and ends; --join workers elsewhere do not
                if workers.messages(timeout=0.25) or time.monotonic() - polled > 10:
                    refresh()
                    polled = time.monotonic()
        except BaseException:
            workers.stop()
            raise
        codes = workers.wait()
    bad = [(i, code) for i, code in enumerate(codes) if code != 0]
    if bad and not signals.requested:
        i, code = bad[0]
        raise RunError(f"worker {i} exited with status {code}; see {workers.logs[i]} (and {early_logs[i]})")
    shutil.rmtree(early_logs[0].parent, ignore_errors=True)  # what they wrote before the sweep existed


def preload() -> None:
    """What every trial needs, imported before the sweep is known: torch, the first compose, the
    data code, the torch._dynamo hooks that the first optimizer imports (a second or more), and
    optuna's storage (SQLAlchemy), which opening the study needs first, and scikit-learn's splitters,
    which every run's data uses."""
    import importlib

    import optuna
    import sklearn.model_selection  # noqa: F401
    import torch

    from dlx import config

    importlib.import_module("dlx.engine.experiment")  # models, losses, optimizers, the trainer

    config.load([])
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    optuna.storages.RDBStorage("sqlite://")  # an in-memory study database: SQLAlchemy, alembic, optuna's tables


@contextmanager
def stop_at_once():
    """SIGINT/SIGTERM recorded and raised as KeyboardInterrupt: for a worker that has begun nothing
    (importing torch takes seconds; waiting for the driver, as long as it takes)."""
    def handler(signum, _frame):
        record_signal(signum)
        raise KeyboardInterrupt

    with handling(handler):
        yield


def main(argv: list[str] | None = None) -> int:
    """`python -m dlx.sweep.worker [SWEEP_DIR] --threads T`: imports torch once, runs trial after trial.

    Without SWEEP_DIR it preloads, then reads `{"sweep_dir", "storage", "log"}` from its parent.
    """
    install_warnings()  # warnings as `warning: ...` lines on stderr: the worker's log file
    parser = argparse.ArgumentParser(prog="dlx.sweep.worker")
    parser.add_argument("sweep_dir", nargs="?")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--parent", type=int, default=None)
    args = parser.parse_args(argv)
    with signals.record_stop_signals():
        try:
            with stop_at_once():  # nothing started yet: a signal ends the worker even inside its imports
                with heap.setting_up():  # torch and the components load without garbage collection (dlx/heap.py)
                    parallel.start_worker(args.parent, args.threads)
                    channel = parallel.Channel()
                    preload()
                task = {"sweep_dir": args.sweep_dir, "storage": os.environ.get("DLX_SWEEP_STORAGE")}
                if args.sweep_dir is None:
                    task = channel.receive()
                    while task is not None and "check" in task:  # worker 0 checks the space for the driver
                        channel.send(**check.answer(task["check"]))
                        task = channel.receive()
        except KeyboardInterrupt:
            return 0  # stopped before the sweep began: nothing to mark
        if args.sweep_dir is None:
            if task is None or signals.requested:
                return 0  # the sweep was refused, or stopped, before it began
            channel.log_to(task["log"])
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() > 1:
            torch.cuda.set_device(args.index % torch.cuda.device_count())  # one GPU each
        sweep_dir = Path(task["sweep_dir"])
        spec = store.read_spec(sweep_dir)
        url = store.storage_url(sweep_dir, task.get("storage") or spec.storage)
        try:
            done = work(sweep_dir, spec, url, on_change=lambda: channel.send(event="changed"))
        except Interrupted as e:
            return e.exit_code
        except KeyboardInterrupt:
            return signals.exit_code(signals.requested or signal.SIGINT)
        except DlxError as e:
            print(f"error: {e}", file=sys.stderr)
            return e.exit_code
    print(f"worker {args.index}: {done} trials", file=sys.stderr, flush=True)
    return signals.exit_code(signals.requested) if signals.requested else 0


if __name__ == "__main__":
    sys.exit(main())
