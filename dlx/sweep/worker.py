"""Sweep workers: pop a trial from the study's queue, run it, tell optuna; until the queue is empty.

`work()` is the loop (in the sweep's own process for `--jobs 1`); `run_workers()` starts
`--jobs N` of them as `python -m dlx.sweep.worker` processes and polls the study meanwhile.

Every trial a sweep will run is queued in the study up front (`enqueue_trial`: a grid's
combinations, or empty slots that random/TPE fill in when popped). Popping is atomic, so
any number of workers, in this process, in `--jobs` subprocesses or on other machines
(`--join`), split the queue without running anything twice.

The objective is replaceable: `make_objective(spec)` returns a function
`(overrides, ctx) -> (value, record)`; `--cv K` plugs in a mean over folds there.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from dlx.errors import ConfigError, DlxError, RunError
from dlx.sweep.space import CHOICE, INT, SearchSpace
from dlx.sweep import store


@dataclass
class TrialContext:
    """What an objective needs besides the overrides."""

    number: int  # the optuna trial number
    runs_root: Path  # where its run folder(s) go: <sweep>/runs
    metric: str  # the validation metric optimised, e.g. val_acc
    callbacks: list = field(default_factory=list)  # pass to experiment.run: run id, pruning


Objective = Callable[[list, TrialContext], "tuple[float, dict]"]

RECORDED = ("train_", "val_", "test_", "best_", "epochs_run", "params")


def train_objective(overrides: list, ctx: TrialContext) -> tuple[float, dict]:
    """One training run; the value is the metric at the run's best epoch (trainer.monitor = metric)."""
    from dlx import config
    from dlx.engine import experiment

    exp = config.load(overrides)
    summary = experiment.run(exp, overrides, callbacks=ctx.callbacks, runs_root=ctx.runs_root)
    return outcome_of(summary, ctx.metric)


def outcome_of(summary: dict, metric: str) -> tuple[float, dict]:
    """A finished run's (value, record): the metric at its best epoch, and what trials.csv keeps."""
    value = summary["best_value"] if summary["monitor"] == metric else summary[metric]
    record = {k: v for k, v in summary.items()
              if k.startswith(RECORDED) and not k.endswith("_size") and isinstance(v, (int, float))}
    record["parameters"] = record.pop("params", None)  # "params" would read as the swept ones
    return float(value), record


def cv_trial_dir(runs_root: Path, number: int) -> Path:
    """A --cv trial's CV folder: <sweep>/cv/trial-<n>/ (fold runs inside), beside <sweep>/runs/."""
    return Path(runs_root).parent / "cv" / f"trial-{number:04d}"


def cv_objective(overrides: list, ctx: TrialContext, folds: int) -> tuple[float, dict]:
    """K-fold CV of the trial's config; the value is the mean over folds of the metric at each
    fold's best epoch, and trials.csv carries every validation metric's mean and std."""
    from dlx.cv.driver import cross_validate

    result = cross_validate(overrides, folds, cv_dir=cv_trial_dir(ctx.runs_root, ctx.number))
    if not result.averaged:
        raise RunError(f"every one of the {folds} folds failed; see {result.path}/folds.csv")
    key = f"best_{ctx.metric}" if f"best_{ctx.metric}" in result.metrics else ctx.metric
    record = {"run_id": f"cv/{result.path.name}", "folds_averaged": result.averaged}
    for name in result.metrics:
        record[f"{name}_mean"] = result.mean(name)
        record[f"{name}_std"] = result.std(name)
    return float(result.mean(key)), record


def make_objective(spec: dict) -> Objective:
    """The objective named by `spec["objective"]` (set by `sweep.start(objective=...)`).

    Another objective, e.g. `{"kind": "cv", "folds": 5}` for a mean over k folds, adds a branch
    here. Its contract: `(overrides, ctx) -> (value, record)`; `value` is `ctx.metric` (a
    validation metric, higher or lower per the sweep's direction), `record` a JSON-able dict
    of what to keep per trial (it becomes trials.csv columns; a `run_id` key replaces the one
    `ctx.callbacks` record). Hand `ctx.callbacks` to every `experiment.run`: they record the
    run id and, with --prune, report `ctx.metric` per epoch (for several runs per trial,
    report once per epoch yourself or refuse --prune).
    """
    objective = spec.get("objective") or {}
    kind = objective.get("kind", "train")
    if kind == "train":
        return train_objective
    if kind == "cv":
        return partial(cv_objective, folds=int(objective["folds"]))
    raise ConfigError(f"unknown sweep objective '{kind}' in {spec['id']}/sweep.json")


class TrialTracker:
    """Experiment callback: records the trial's run id; with --prune, reports and prunes per epoch."""

    def __init__(self, trial, metric: str, prune: bool):
        self.trial, self.metric, self.prune = trial, metric, prune
        self.run_dir = None

    def on_fit_start(self, run_dir, exp, params) -> None:
        self.run_dir = run_dir
        self.trial.set_user_attr("run_id", run_dir.id)

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


def sampler_for(spec: dict, number: int):
    """Seeded per trial, so a trial's parameters do not depend on which worker ran it."""
    import optuna

    seed = int(spec["seed"]) * 100_003 + number
    if spec["sampler"] == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)  # a grid's trials are all fixed: never consulted


def pruner_for(spec: dict):
    import optuna

    return optuna.pruners.MedianPruner(n_warmup_steps=1) if spec.get("prune") else optuna.pruners.NopPruner()


def open_study(spec: dict, url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=spec["id"], storage=store.open_storage(url), pruner=pruner_for(spec))
    # the study's own (caching) storage: trials popped or changed behind its back would be
    # unknown to it. Study.ask() pops from it too, but would create a trial when the queue is empty.
    return study, study._storage


def pop_trial(study, storage, spec: dict, url: str):
    """The next queued trial, now RUNNING and ours; None when the queue is empty."""
    import optuna
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    with store.queue_lock(url):
        for frozen in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
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


def run_trial(study, trial, spec: dict, objective: Objective, runs_root: Path, on_start=None) -> str:
    """Run one trial and tell optuna how it ended: COMPLETE, PRUNED or FAIL (with its reason)."""
    import optuna
    from optuna.trial import TrialState

    space = SearchSpace.from_json(spec["space"])
    trial.set_user_attr("worker", store.worker_name())
    params = suggest(trial, space)
    trial.set_user_attr("params", params)
    if on_start:
        on_start()
    tracker = TrialTracker(trial, spec["metric"], bool(spec.get("prune")))
    ctx = TrialContext(trial.number, runs_root, spec["metric"], [tracker])
    try:
        value, record = objective(space.overrides(params), ctx)
    except optuna.TrialPruned as e:
        trial.set_user_attr("reason", str(e))
        study.tell(trial, state=TrialState.PRUNED)
        return "PRUNED"
    except KeyboardInterrupt:
        trial.set_user_attr("reason", "interrupted: the sweep stopped while it ran")
        trial.set_user_attr("interrupted", True)
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as e:  # a diverged run, a bad combination, a bug: record it, go on
        return _fail(study, trial, _reason(e))
    if not math.isfinite(value):
        return _fail(study, trial, f"{spec['metric']} is {value}")
    trial.set_user_attr("record", record)
    study.tell(trial, value)
    return "COMPLETE"


def _fail(study, trial, reason: str) -> str:
    from optuna.trial import TrialState

    trial.set_user_attr("reason", reason)
    study.tell(trial, state=TrialState.FAIL)
    return "FAIL"


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text if isinstance(e, DlxError) else f"{type(e).__name__}: {text}".rstrip(": ")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def warm_up(spec: dict) -> None:
    """Pay the one-off costs — imports, Hydra's first compose, reading the data — before the first
    trial, so that each worker's trials time training alone, the first one too."""
    from dlx import config, data

    try:
        exp = config.load(SearchSpace.from_json(spec["space"]).fixed)
        data.build(exp.data)
    except DlxError:
        pass  # the trial itself will say what is wrong


def work(sweep_dir: Path, spec: dict, url: str, on_change=None, parent: int | None = None) -> int:
    """Run queued trials until none is left (or the parent process is gone); return how many ran."""
    from dlx import plugins

    plugins.load_recorded(spec.get("plugins"), warn=_warn)
    study, storage = open_study(spec, url)
    objective = make_objective(spec)
    warm_up(spec)
    runs_root = Path(sweep_dir) / "runs"
    runs_root.mkdir(parents=True, exist_ok=True)
    done = 0
    while parent is None or os.getppid() == parent:  # an orphan stops after its trial
        trial = pop_trial(study, storage, spec, url)
        if trial is None:
            break
        run_trial(study, trial, spec, objective, runs_root, on_start=on_change)
        done += 1
        if on_change:
            on_change()
    return done


# ---------------------------------------------------------------- worker processes


def run_workers(sweep_dir: Path, url: str, jobs: int, refresh) -> None:
    """`jobs` long-lived worker processes, the CPU's threads split between them; poll the study."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // jobs)
    root = str(Path(__file__).resolve().parents[1])  # the workers import this same dlx
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    if url != store.storage_url(sweep_dir, None):
        env["DLX_SWEEP_STORAGE"] = url  # not on the command line, where `ps` shows passwords
    logs = Path(sweep_dir) / "workers"
    logs.mkdir(exist_ok=True)
    procs = []
    for i in range(jobs):
        with open(logs / f"worker-{i}.log", "a") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dlx.sweep.worker", str(sweep_dir), "--index", str(i),
                 "--threads", str(threads), "--parent", str(os.getpid())],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env))
    try:
        while any(p.poll() is None for p in procs):
            refresh()
            time.sleep(1.0)  # each refresh reads the whole study: poll gently, the workers need the cores
    except KeyboardInterrupt:
        _stop(procs)
        raise
    bad = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode not in (0, 130)]
    if bad:
        i, code = bad[0]
        raise RunError(f"worker {i} exited with status {code}; see {logs / f'worker-{i}.log'}")


def _stop(procs) -> None:
    """Ctrl-C: let each worker mark its trial interrupted, then make sure they are gone.

    A terminal's Ctrl-C reaches the workers too; they get a moment to record it before
    a second SIGINT (for a `kill -INT` of this process alone), then SIGKILL.
    """
    import signal

    for signal_to_send, grace in ((None, 5), (signal.SIGINT, 10), (signal.SIGKILL, 5)):
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            if signal_to_send is not None:
                p.send_signal(signal_to_send)
        deadline = time.time() + grace
        for p in alive:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass


def main(argv: list[str] | None = None) -> int:
    """`python -m dlx.sweep.worker SWEEP_DIR --threads T`: imports torch once, runs trial after trial."""
    parser = argparse.ArgumentParser(prog="dlx.sweep.worker")
    parser.add_argument("sweep_dir")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--parent", type=int, default=None)
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if torch.cuda.is_available() and torch.cuda.device_count() > 1:
        torch.cuda.set_device(args.index % torch.cuda.device_count())  # one GPU each
    spec = store.read_spec(Path(args.sweep_dir))
    url = store.storage_url(Path(args.sweep_dir), os.environ.get("DLX_SWEEP_STORAGE") or spec.get("storage"))
    try:
        done = work(Path(args.sweep_dir), spec, url, parent=args.parent)
    except KeyboardInterrupt:
        return 130
    except DlxError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"worker {args.index}: {done} trials", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
