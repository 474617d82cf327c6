"""What a sweep trial computes: `make_objective(spec)` returns `(overrides, ctx) -> (value, record)`.

    train   one run; the value is the metric at the run's best epoch (the default)
    cv      K-fold cross-validation of the trial's config; the value is the mean over folds

A trial that retries an interrupted one (`dlx sweep --resume`) continues that trial's run in
place from its last checkpoint (train), or that trial's CV, keeping its finished folds (cv).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from dlx.errors import ConfigError, RunError
from dlx.sweep.records import SweepSpec

RECORDED = ("train_", "val_", "test_", "best_", "epochs_run", "params")


@dataclass
class TrialContext:
    """What an objective needs besides the overrides."""

    number: int  # the optuna trial number
    runs_root: Path  # where its run folder(s) go: <sweep>/runs
    metric: str  # the validation metric optimised, e.g. val_acc
    callbacks: list = field(default_factory=list)  # pass to experiment.run: run id, pruning
    first_try: int | None = None  # the trial this one retries (after interruptions): its CV folder
    resume_run: str | None = None  # that trial's run id (a train objective continues it in place)


Objective = Callable[[list, TrialContext], "tuple[float, dict]"]

def train_objective(overrides: list, ctx: TrialContext) -> tuple[float, dict]:
    """One training run; the value is the metric at the run's best epoch (trainer.monitor = metric)."""
    from dlx import config
    from dlx.engine import experiment

    resume = _continued(ctx)
    exp = resume[0] if resume else config.load(overrides)
    summary = experiment.run(exp, overrides, callbacks=ctx.callbacks, runs_root=ctx.runs_root,
                             resume=resume[1] if resume else None)
    return outcome_of(summary, ctx.metric)


def _continued(ctx: TrialContext):
    """(exp, Resume) for the run of the interrupted trial this one retries, from its last checkpoint;
    None when there is none to continue (finished, unreadable, or held by a live process)."""
    from dlx.engine import resume

    if not ctx.resume_run or not (Path(ctx.runs_root) / ctx.resume_run / "config.yaml").is_file():
        return None
    try:
        return resume.prepare(str(Path(ctx.runs_root) / ctx.resume_run), [], warn=lambda _message: None)
    except ConfigError:
        return None  # a fresh run in a new folder: nothing is written into that one


def outcome_of(summary: dict, metric: str) -> tuple[float, dict]:
    """A finished run's (value, record): the metric at its best epoch, and what trials.csv keeps."""
    value = summary["best_value"] if summary["monitor"] == metric else summary[metric]
    record = {k: v for k, v in summary.items()
              if k.startswith(RECORDED) and not k.endswith("_size") and isinstance(v, (int, float))
              and v == v}  # NaN is not a measurement: the trials.csv cell stays blank
    record["parameters"] = record.pop("params", None)  # "params" would read as the swept ones
    return float(value), record


def cv_trial_dir(runs_root: Path, number: int) -> Path:
    """A --cv trial's CV folder: <sweep>/cv/trial-<n>/ (fold runs inside), beside <sweep>/runs/."""
    return Path(runs_root).parent / "cv" / f"trial-{number:04d}"


def cv_objective(overrides: list, ctx: TrialContext, folds: int) -> tuple[float, dict]:
    """K-fold CV of the trial's config; the value is the mean over folds of the metric at each
    fold's best epoch, and trials.csv carries every validation metric's mean and std."""
    from dlx.cv.driver import cross_validate

    # a retry finishes the interrupted trial's CV: its finished folds are kept, the others resumed
    number = ctx.number if ctx.first_try is None else ctx.first_try
    result = cross_validate(overrides, folds, cv_dir=cv_trial_dir(ctx.runs_root, number))
    if not result.averaged:
        raise RunError(f"every one of the {folds} folds failed; see {result.path}/folds.csv")
    key = f"best_{ctx.metric}" if f"best_{ctx.metric}" in result.metrics else ctx.metric
    record = {"run_id": f"cv/{result.path.name}", "folds_averaged": result.averaged}
    for name in result.metrics:
        record[f"{name}_mean"] = result.mean(name)
        record[f"{name}_std"] = result.std(name)
    return float(result.mean(key)), record


def make_objective(spec: SweepSpec) -> Objective:
    """The objective named by `spec.objective` (set by `sweep.start(objective=...)`).

    Another objective, e.g. `{"kind": "cv", "folds": 5}` for a mean over k folds, adds a branch
    here. Its contract: `(overrides, ctx) -> (value, record)`; `value` is `ctx.metric` (a
    validation metric, higher or lower per the sweep's direction), `record` a JSON-able dict
    of what to keep per trial (it becomes trials.csv columns; a `run_id` key replaces the one
    `ctx.callbacks` record). Hand `ctx.callbacks` to every `experiment.run`: they record the
    run id and, with --prune, report `ctx.metric` per epoch (for several runs per trial,
    report once per epoch yourself or refuse --prune).
    """
    objective, kind = spec.objective, spec.objective_kind
    if kind == "train":
        return train_objective
    if kind == "cv":
        return partial(cv_objective, folds=int(objective["folds"]))
    raise ConfigError(f"unknown sweep objective '{kind}' in {spec.id}/sweep.json")
