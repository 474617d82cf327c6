"""`dlx sweep`: grid, random and TPE search over Hydra's sweep grammar, with optuna.

    start(overrides, ...)   parse + validate the space, create the study, queue its trials, run
    resume(ref, ...)        fail the trials a dead sweep left RUNNING, re-queue them, run the rest
    join(ref, ...)          one more set of workers on a sweep that is running (any machine)

The core never prints: progress goes to `on_update(rows, spec)`; the result is returned.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from dlx import heap, plugins
from dlx.cv.driver import cross_validate
from dlx.engine import signals
from dlx.engine.mlflow_logger import close_group
from dlx.errors import ConfigError, DlxError, Interrupted
from dlx.store.runs import read_summary
from dlx.sweep import retry, store
from dlx.sweep.check import ask_worker, check_space
from dlx.sweep.objectives import cv_trial_dir, outcome_of
from dlx.sweep.records import SAMPLERS, SweepSpec
from dlx.sweep.space import SearchSpace, parse_space
from dlx.sweep.worker import open_study, run_workers, start_workers, work

DIRECTIONS = {"min": "minimize", "minimize": "minimize", "max": "maximize", "maximize": "maximize"}
DEFAULT_TRIALS = 20


def start(overrides: list[str], *, sampler: str | None = None, trials: int | None = None, jobs: int = 1,
          metric: str | None = None, direction: str | None = None, prune: bool = False, seed: int = 0,
          storage: str | None = None, command: list[str] = (), objective: dict | None = None,
          on_update=None) -> dict:
    """Create a sweep under `<output_dir>/sweeps/` and run it; every check happens before any trial.

    `objective` names what a trial computes (default `{"kind": "train"}`: one run); see
    `dlx.sweep.objectives.make_objective`.
    """
    space = parse_space(overrides)
    sampler = _check_options(space, sampler, trials, jobs, metric, direction)
    workers = start_workers(jobs) if jobs > 1 else None  # they import torch while this process starts
    try:
        with heap.setting_up():  # optuna and SQLAlchemy: no garbage collection while they load
            sweep_dir, spec, url = _create(space, sampler, trials, metric, direction, prune, seed, storage,
                                           command, objective, jobs, workers)
    except BaseException:
        if workers is not None:
            workers.kill()
            shutil.rmtree(workers.logs[0].parent, ignore_errors=True)
        raise
    return drive(sweep_dir, spec, url, jobs, on_update, workers)


def _create(space: SearchSpace, sampler: str, trials, metric, direction, prune: bool, seed: int, storage,
            command, objective, jobs: int = 1, workers=None):
    """Check the space (in worker 0 when there are workers: this process stays torch-free), then
    create the sweep folder, its spec and its study with every trial queued."""
    if metric:
        space.fixed.append(f"trainer.monitor={metric}")  # each run then keeps its best epoch by it
    if direction:
        space.fixed.append(f"trainer.monitor_mode={DIRECTIONS[direction][:3]}")
    if workers is not None and not plugins.requested() and not plugins.may_register():
        checked = ask_worker(workers, space, bool(metric), objective)
    else:  # plugins load here, and are recorded for the workers
        checked = check_space(space, bool(metric), objective)
    n_trials = len(space.grid()) if sampler == "grid" else (trials or DEFAULT_TRIALS)
    if sampler == "grid" and trials:
        n_trials = min(trials, n_trials)
    sweep_dir = store.create_sweep_dir(checked["output_dir"], _label(sampler, space))
    spec = SweepSpec(
        id=sweep_dir.name, command=tuple(store.redact(storage).join(c.split(storage)) if storage else c
                                         for c in command),
        space=space, sampler=sampler, seed=seed, trials=n_trials, metric=checked["monitor"],
        direction="minimize" if checked["mode"] == "min" else "maximize", prune=prune,
        storage=store.redact(storage), objective=objective or {"kind": "train"}, val_size=checked["val_size"],
        created=datetime.now().isoformat(timespec="seconds"),
        plugins=tuple(plugins.records()), jobs=jobs)  # every worker, --join ones too, loads the plugins
    url = store.storage_url(sweep_dir, storage)
    try:
        _create_study(spec, url)
    except DlxError as e:
        shutil.rmtree(sweep_dir, ignore_errors=True)  # nothing in it yet: leave no empty sweep behind
        if isinstance(e, retry.StorageLost):
            raise e.hint("nothing was started: run the same command once the database answers") from None
        raise
    store.write_spec(sweep_dir, spec)
    study, _ = load_study(spec, url)
    refill(study, space, spec)
    return sweep_dir, spec, url


def resume(ref: str, *, output_dir: str, jobs: int | None = None, trials: int | None = None,
           storage: str | None = None, on_update=None) -> dict:
    """Finish a sweep: dead RUNNING trials become FAIL and are re-queued; only what is left runs,
    on the recorded number of workers unless `jobs` is given."""
    sweep_dir = store.find_sweep(output_dir, ref)
    spec = store.read_spec(sweep_dir)
    plugins.load_recorded(list(spec.plugins))
    url = store.study_url(sweep_dir, spec, storage)
    if trials and spec.sampler == "grid":
        raise ConfigError("--trials cannot change a grid sweep: it runs every combination once")
    jobs = spec.resume_jobs if jobs is None else jobs
    if trials or jobs != spec.jobs:
        spec = replace(spec, trials=trials or spec.trials, jobs=jobs)
        store.write_spec(sweep_dir, spec)
    study, storage = load_study(spec, url)
    requeue_dead(study, storage, spec, sweep_dir)
    refill(study, spec.space, spec)
    return drive(sweep_dir, spec, url, jobs, on_update)


def join(ref: str, *, output_dir: str, jobs: int = 1, storage: str | None = None, on_update=None) -> dict:
    """More workers for a running sweep; with --storage, from any machine that reaches the database."""
    if storage:
        try:
            spec = _spec_from_study(ref, storage)
        except retry.StorageLost as e:
            raise e.hint(f"once it answers: dlx sweep --join {ref} --storage '{e.shown_url}'") from None
        sweep_dir = Path(output_dir) / "sweeps" / spec.id
        (sweep_dir / "runs").mkdir(parents=True, exist_ok=True)
        if not (sweep_dir / store.SPEC).is_file():
            store.write_spec(sweep_dir, spec)
    else:
        sweep_dir = store.find_sweep(output_dir, ref)
        spec = store.read_spec(sweep_dir)
    plugins.load_recorded(list(spec.plugins))
    return drive(sweep_dir, spec, store.study_url(sweep_dir, spec, storage), jobs, on_update)


# ---------------------------------------------------------------- checks and set-up


def _check_options(space: SearchSpace, sampler, trials, jobs, metric, direction) -> str:
    if sampler is not None and sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{sampler}'; choices: {', '.join(SAMPLERS)}")
    sampler = sampler or ("grid" if space.is_grid() else "tpe")
    if sampler == "grid" and not space.is_grid():
        key = next(d.key for d in space.dims if d.kind not in ("choice", "int"))
        raise ConfigError(f"{key}=interval(...) is continuous: a grid needs lists or range(); "
                          "use --sampler random or --sampler tpe")
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    if jobs < 0:
        raise ConfigError(f"--jobs must be 0 (create only) or more, got {jobs}")
    if metric is not None and not metric.startswith("val_"):
        raise ConfigError(f"--metric {metric}: a sweep chooses on a validation metric (val_acc, val_loss, ...); "
                          "test metrics are recorded but never used to choose")
    if direction is not None and direction not in DIRECTIONS:
        raise ConfigError(f"--direction {direction}: choose min or max")
    return sampler


def _label(sampler: str, space: SearchSpace) -> str:
    leaves = "-".join(k.lstrip("+~").split(".")[-1] for k in space.keys)
    return f"{sampler}-{leaves}"[:48]


def _create_study(spec: SweepSpec, url: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=spec.id, storage=store.open_storage(url),
                                    direction=spec.direction)
    except optuna.exceptions.DuplicatedStudyError:
        raise ConfigError(f"the storage already holds a study named {spec.id}") from None
    study.set_user_attr(store.SPEC_ATTR, spec.to_json())


def load_study(spec: SweepSpec, url: str):
    """(study, storage) of the sweep `spec` in the database at `url`; a missing study is one line."""
    try:
        return open_study(spec, url)
    except KeyError:
        raise ConfigError(f"no study {spec.id} in {store.redact(url)}") from None


def _spec_from_study(name: str, url: str) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=store.open_storage(url))
    except KeyError:
        raise ConfigError(f"no sweep '{name}' in {store.redact(url)}; --join needs the full sweep id") from None
    spec = study.user_attrs.get(store.SPEC_ATTR)
    if spec is None:
        raise ConfigError(f"study '{name}' was not made by `dlx sweep`")
    return SweepSpec.from_json(spec)


# ---------------------------------------------------------------- the queue


def _params_key(params: dict, keys: list[str]) -> tuple:
    return tuple(str(params.get(k)) for k in keys)


def _counts(t) -> bool:
    """A trial that counts towards the sweep: everything but one interrupted by a dead sweep."""
    from optuna.trial import TrialState

    return not (t.state == TrialState.FAIL and t.user_attrs.get("interrupted"))


def refill(study, space: SearchSpace, spec: SweepSpec) -> int:
    """Queue what is left: a grid's missing combinations, or empty random/TPE slots up to --trials."""
    live = [t for t in study.get_trials(deepcopy=False) if _counts(t)]
    if spec.sampler == "grid":
        seen = {_params_key(t.user_attrs.get("params") or t.params, space.keys) for t in live}
        todo = [p for p in space.grid() if _params_key(p, space.keys) not in seen]
        todo = todo[:max(0, spec.trials - len(live))]
    else:
        todo = [{}] * max(0, spec.trials - len(live))
    for params in todo:
        study.enqueue_trial(params, user_attrs={"params": params})
    return len(todo)


def requeue_dead(study, storage, spec: SweepSpec, sweep_dir: Path | None = None) -> list[int]:
    """RUNNING trials whose worker is gone become FAIL (interrupted); interrupted trials not yet
    retried go back in the queue with their params (`retry_of` links the two)."""
    from optuna.trial import TrialState

    keys = spec.keys
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if store.worker_is_alive(t.user_attrs.get("worker")):
            continue  # a live worker on this machine still runs it
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        if sweep_dir is not None and _complete_from_disk(study, storage, trial_id, t, spec, sweep_dir):
            continue  # killed after its run finished, before optuna heard: keep it, don't run it twice
        storage.set_trial_user_attr(trial_id, "reason", "interrupted: the sweep stopped while it ran")
        storage.set_trial_user_attr(trial_id, "interrupted", True)
        study.tell(t.number, state=TrialState.FAIL)
        failed.append(t.number)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if t.state != TrialState.FAIL or not t.user_attrs.get("interrupted") or t.number in retried:
            continue
        params = t.user_attrs.get("params") or t.params
        if all(k in params for k in keys):  # else refill() queues a fresh slot or the missing point
            study.enqueue_trial(params, user_attrs={
                "params": params, "retry_of": t.number, "first_try": t.user_attrs.get("first_try", t.number),
                "resume_run": t.user_attrs.get("run_id")})
    return failed


def _complete_from_disk(study, storage, trial_id: int, trial, spec: SweepSpec, sweep_dir: Path) -> bool:
    """A dead RUNNING trial whose run wrote summary.json (status finished) is told COMPLETE."""
    run_id = trial.user_attrs.get("run_id")
    if not run_id or spec.objective_kind != "train":
        return False
    summary = read_summary(Path(sweep_dir) / "runs" / run_id)
    if not summary or summary.get("status") != "finished":
        return False
    try:
        value, record = outcome_of(summary, spec.metric)
    except KeyError:
        return False
    if not math.isfinite(value):
        return False
    storage.set_trial_user_attr(trial_id, "record", record)
    study.tell(trial.number, value)
    return True


# ---------------------------------------------------------------- running


def drive(sweep_dir: Path, spec: SweepSpec, url: str, jobs: int, on_update=None, workers=None) -> dict:
    """Run the queue with `jobs` workers (1: in this process), keep trials.csv current, sum up."""
    study = open_study(spec, url)[0]
    state = {"finished": None}

    def refresh() -> list[dict]:
        rows = store.trial_rows(study, spec)
        finished = sorted(r["number"] for r in rows if r["state"] in store.ENDED)
        if finished != state["finished"]:
            state["finished"] = finished
            store.write_trials_csv(sweep_dir, rows, spec)
        if on_update:
            on_update(rows, spec)
        return rows

    lost, stopped = None, None
    try:
        refresh()
        if jobs == 1:
            work(sweep_dir, spec, url, on_change=refresh)
        elif jobs > 1:
            run_workers(sweep_dir, url, jobs, refresh, workers)
    except retry.StorageLost as e:  # trials.csv keeps what the study last showed
        lost = e.hint("finished trials are kept; once it answers: " + store.resume_command(spec, url, sweep_dir))
        raise lost from None
    except Interrupted as e:
        stopped = e.exit_code
    else:
        stopped = signals.exit_code(signals.requested) if signals.requested else 0
    finally:
        # the MLflow parent: KILLED when stopped (a resume reopens it), FAILED on a bug
        status = "FINISHED" if stopped == 0 else "KILLED" if stopped else "FAILED"
        rows = finish(sweep_dir, spec, store.trial_rows(study, spec), status) if lost is None else []
        if on_update and lost is None:
            on_update(rows, spec)
    if stopped:
        retried = store.retried(study)  # attempts run again already: not left to run
        raise interrupted(sweep_dir, spec, [r for r in rows if r["number"] not in retried], stopped)
    return {"sweep_dir": sweep_dir, "spec": spec, "rows": rows, "best": store.best_row(rows, spec.direction),
            "indistinct": store.indistinct(rows, spec.metric, spec.val_size, spec.direction),
            "retried": store.retried(study)}


def interrupted(sweep_dir: Path, spec: SweepSpec, rows: list[dict], code: int) -> Interrupted:
    """The one line a stopped sweep ends with: what happened, and the command that finishes it."""
    import signal

    from dlx.engine.resume import resume_hint

    name = signal.Signals(code - 128).name if code > 128 else "stopped"
    n = sum(r["state"] == "INTERRUPTED" for r in rows)
    left = sum(r["state"] in ("INTERRUPTED", "WAITING") for r in rows)
    what = f"{n} running trial{'s' * (n != 1)} marked interrupted, " if n else ""
    hint = resume_hint("sweep", spec.id, Path(sweep_dir).parents[1])
    return Interrupted(f"{name}: sweep {spec.id} stopped; {what}{left} left to run; "
                       f"finish it with: {hint}", code)


def finish(sweep_dir: Path, spec: SweepSpec, rows: list[dict], status: str = "FINISHED") -> list[dict]:
    store.write_trials_csv(sweep_dir, rows, spec)
    best = store.best_row(rows, spec.direction)
    if best is not None:
        store.write_best(sweep_dir, best, spec)
    close_group(sweep_dir, status=status)  # the parent MLflow run of the trials, if they logged there
    return rows


def refit_best(result: dict):
    """After a `--cv` sweep: the best trial's CV once more with `test=True`. Its folds are all
    done and reused, so this only refits on the whole training data and evaluates the test
    split, once; returns the `CVResult` with `.refit` set."""
    spec, best = result["spec"], result["best"]
    space = spec.space
    overrides = space.overrides({k: best[k] for k in space.keys})
    runs_root = Path(result["sweep_dir"]) / "runs"
    return cross_validate(overrides, int(spec.objective["folds"]), test=True,
                          cv_dir=cv_trial_dir(runs_root, best["number"]))
