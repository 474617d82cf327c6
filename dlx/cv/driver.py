"""Cross-validation: K folds of train ∪ val, each an ordinary run; mean ± std of every metric.

    outputs/cv/<cv-id>/  cv.json         the command, enough to `--resume`
                         assignment.csv  index, repeat, fold (and group): every train/val sample, once per repeat
                         folds.csv       one row per fold: final validation metrics, best epoch, status
                         summary.json    mean, std and per-fold values of each metric (written last)
                         fold-<k>/       one ordinary run per fold (`fold-<r>-<k>/` with --repeats > 1)
                         refit/          with --test: the config refitted on train ∪ val, tested once

Folds never evaluate the test split; with `test=True` the refit evaluates it exactly once.
Std is the sample standard deviation (ddof=1, as pandas' `.std()`), null below two folds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from dlx import plugins
from dlx.cv import store as cv_store
from dlx.cv.folds import plan_folds
from dlx.cv.worker import run_folds
from dlx.engine.mlflow_logger import close_group
from dlx.errors import ConfigError, Interrupted
from dlx.store.rundir import RunDir

FOLD_KEYS = ("data.folds", "data.fold", "data.repeat")
STD_DDOF = 1
STD_NOTE = "sample standard deviation (ddof=1); null below two folds"


@dataclass
class Fold:
    repeat: int
    index: int
    name: str  # the run folder: fold-<k>, or fold-<r>-<k> with repeats
    overrides: list[str]


@dataclass
class CVResult:
    """What `cross_validate` returns: per-fold rows, and mean/std/values of each metric."""

    cv_id: str
    path: Path
    folds: int
    repeats: int
    monitor: str
    rows: list[dict]  # one per fold, as in folds.csv
    metrics: dict[str, dict]  # name -> {"mean", "std", "values": {fold: value}}
    failed: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # folds run by this call (not reused on resume)
    refit: Optional[dict] = None  # the refit run's summary, with --test

    @property
    def averaged(self) -> int:
        return sum(row["status"] == "finished" for row in self.rows)

    def mean(self, metric: str) -> float:
        return self.metrics[metric]["mean"]

    def std(self, metric: str) -> Optional[float]:
        return self.metrics[metric]["std"]


def cross_validate(overrides: Sequence[str] = (), folds: Optional[int] = None, *, repeats: Optional[int] = None,
                   jobs: int = 1, test: bool = False, resume: Optional[str | Path] = None,
                   cv_dir: Optional[Path] = None, progress=None, group_col: Optional[str] = None) -> CVResult:
    """Run K-fold CV of the experiment `overrides` describes; see the module docstring.

    `cv_dir` names the CV folder exactly (a sweep trial's); `resume` (a cv id or folder) runs
    only the folds without a summary.json; `progress` gets `on_cv_start(info)`,
    `on_fold_end(row)` and `on_refit_start(epochs)` (see `report.CVProgress`). `group_col` (csv
    data only) sets data.group_col: GroupKFold, each group whole in one validation fold.
    """
    from dlx import config

    overrides = list(overrides)
    if resume is None and cv_dir is not None and cv_store.has_cv_json(cv_dir):
        resume = cv_dir  # the same CV again (a resumed sweep trial): only its missing folds run
    if resume is not None:
        cv_dir, overrides, folds, repeats, test, group_col = _resume_settings(resume, overrides, folds, repeats,
                                                                              test, group_col)
    folds, repeats = 5 if folds is None else folds, 1 if repeats is None else repeats
    _check_options(overrides, folds, repeats, jobs, group_col)
    saved_overrides, overrides = overrides, with_group_col(overrides, group_col)
    exp = config.load(overrides)
    assignment = plan_folds(exp.data, folds, repeats)  # every input check happens here, before any fold
    plan = [Fold(r, k, fold_name(r, k, repeats), [*overrides, f"data.folds={folds}", f"data.fold={k}",
                                                  f"data.repeat={r}"])
            for r in range(repeats) for k in range(folds)]
    cv_dir = cv_store.new_cv_dir(exp, folds, repeats) if cv_dir is None else cv_store.ensure_dir(Path(cv_dir))
    done = {f.name: cv_store.read_run_summary(cv_dir / f.name) for f in plan}
    todo = [f for f in plan if done[f.name] is None]
    cv_run = _claim(cv_dir, todo)  # nothing is written into a folder another process holds
    try:
        return _run(cv_dir, exp, plan, todo, done, overrides, jobs, test, progress,
                    {"overrides": saved_overrides, "folds": folds, "repeats": repeats, "test": test,
                     "group_col": group_col, "plugins": plugins.records(), "command": command_line(saved_overrides, folds, repeats, test, group_col)},
                    assignment)
    finally:
        cv_run.unlock()


def _claim(cv_dir: Path, todo: list) -> RunDir:
    """Lock the CV folder; refuse while another process runs it or still writes one of its folds
    (a fold worker whose parent was killed stops at its next step: resume once it is gone)."""
    cv_run = RunDir(cv_dir)
    try:
        cv_run.lock()
    except ConfigError:
        raise ConfigError(f"cross-validation {cv_dir.name} is being run by another process right now; "
                          "wait for it to end or stop it first") from None
    held = [f.name for f in todo if (cv_dir / f.name / ".lock").exists()
            and RunDir(cv_dir / f.name).is_being_written()]
    if held:
        cv_run.unlock()
        raise ConfigError(f"{', '.join(held)} of {cv_dir.name} {'is' if len(held) == 1 else 'are'} still being "
                          "written by another process; wait for it to stop, then resume")
    return cv_run


def _run(cv_dir: Path, exp, plan, todo, done, overrides, jobs, test, progress, settings, assignment) -> CVResult:
    from dlx.data import task_of
    from dlx.engine.monitor import resolve_monitor
    from dlx.engine.resume import resume_hint

    cv_store.write_cv_json(cv_dir, settings)
    cv_store.write_assignment(cv_dir, assignment)
    if progress is not None:
        progress.on_cv_start({"cv_id": cv_dir.name, "path": str(cv_dir), "runs": len(plan), "todo": len(todo),
                              "jobs": jobs, "folds": settings["folds"], "repeats": settings["repeats"]})
    monitor = resolve_monitor(exp.trainer.monitor, task_of(exp.data), exp.model.name)  # auto: as each fold resolves it
    rows = {f.name: fold_row(f, "finished", done[f.name], monitor) for f in plan if done[f.name] is not None}

    def finish(fold: Fold, outcome) -> None:
        rows[fold.name] = fold_row(fold, outcome.status, outcome.summary, monitor, outcome.error)
        cv_store.write_folds_csv(cv_dir, [rows[f.name] for f in plan if f.name in rows])
        if progress is not None:
            progress.on_fold_end(rows[fold.name])

    try:
        run_folds(todo, cv_dir, jobs, finish)
    except Interrupted as e:
        close_group(cv_dir, status="KILLED")  # its MLflow parent, reopened by the resume
        stopped = [r["fold"] for r in rows.values() if r["status"] == "interrupted"]
        what = f"{', '.join(stopped)} interrupted, " if stopped else ""
        left = len(plan) - sum(r["status"] == "finished" for r in rows.values())
        raise Interrupted(f"{str(e).split(' ')[0]}: cross-validation {cv_dir.name} stopped; {what}{left} of "
                          f"{len(plan)} folds left; finish it with: "
                          f"{resume_hint('cv', cv_dir.name, exp.output_dir)}", e.exit_code) from None
    ordered = [rows[f.name] for f in plan]
    cv_store.write_folds_csv(cv_dir, ordered)
    result = CVResult(cv_dir.name, cv_dir, settings["folds"], settings["repeats"], monitor, ordered,
                      aggregate(ordered, monitor), failed=[r["fold"] for r in ordered if r["status"] != "finished"],
                      ran=[f.name for f in todo])
    if test and result.averaged:  # with no fold finished there is nothing to learn the recipe from
        result.refit = refit(exp, overrides, ordered, cv_dir, progress)
    cv_store.write_summary(cv_dir, summary_dict(result))  # last: its presence means the CV finished
    close_group(cv_dir, {f"{k}_{s}": v[s] for k, v in result.metrics.items() for s in ("mean", "std")})
    return result


def fold_name(repeat: int, index: int, repeats: int) -> str:
    return f"fold-{index}" if repeats == 1 else f"fold-{repeat}-{index}"


def command_line(overrides: Sequence[str], folds: int, repeats: int, test: bool,
                 group_col: Optional[str] = None) -> str:
    import shlex

    options = [f"--folds {folds}"] + ([f"--repeats {repeats}"] if repeats != 1 else [])
    options += [f"--group-col {shlex.quote(group_col)}"] if group_col else []
    options += ["--test"] if test else []
    return " ".join(["dlx cv", *options, *(shlex.quote(o) for o in overrides)])


def with_group_col(overrides: Sequence[str], group_col: Optional[str]) -> list[str]:
    """The overrides every fold runs with: `--group-col COL` is `data.group_col=COL`."""
    return [*overrides, f"data.group_col={group_col}"] if group_col else list(overrides)


def _check_options(overrides: Sequence[str], folds: int, repeats: int, jobs: int,
                   group_col: Optional[str] = None) -> None:
    from dlx import config
    from dlx.config import parse_overrides

    if folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {folds} (k-fold trains on k−1 folds)")
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    for o in parse_overrides(list(overrides)):
        if o.key_or_group in FOLD_KEYS:
            raise ConfigError(f"'{o.input_line}': dlx cv sets {', '.join(FOLD_KEYS)} itself; "
                              "use --folds and --repeats")
        if group_col is not None and o.key_or_group == "data.group_col":
            raise ConfigError(f"'{o.input_line}' and --group-col {group_col}: give the group column once")
    if group_col is not None:
        if not group_col.strip():
            raise ConfigError("--group-col needs a column name")
        data = config.load(list(overrides)).data
        if not hasattr(data, "group_col"):
            raise ConfigError(f"--group-col needs CSV data (data=csv data.path=... data.target=...), "
                              f"not '{data.name}'")


def _resume_settings(ref: str | Path, overrides, folds, repeats, test, group_col=None):
    """The saved command of CV `ref`; options given again must agree with it."""
    from dlx import config

    cv_dir = Path(ref) if Path(ref).is_dir() else cv_store.find_cv(Path(config.load(overrides).output_dir),
                                                                   str(ref))
    saved = cv_store.read_cv_json(cv_dir)
    plugins.load_recorded(saved.get("plugins"))  # absent from a cv.json written before plugins
    lookup_only = all(o.startswith("output_dir=") for o in overrides)  # where to find it, nothing more
    if not lookup_only and overrides != saved["overrides"]:
        raise ConfigError(f"{cv_dir} holds `{saved['command']}`, not these overrides; resume it without "
                          "overrides, or start a new CV")
    kept_group = saved.get("group_col")  # absent from a cv.json written before --group-col
    for option, given, kept in (("--folds", folds, saved["folds"]), ("--repeats", repeats, saved["repeats"]),
                                ("--group-col", group_col, kept_group)):
        if given is not None and given != kept:
            raise ConfigError(f"{cv_dir} was started with {option} {kept}, not {given}" if kept is not None
                              else f"{cv_dir} was started without {option}, not with {option} {given}")
    return cv_dir, saved["overrides"], saved["folds"], saved["repeats"], test or saved["test"], kept_group


def fold_row(fold: Fold, status: str, summary: Optional[dict], monitor: str, error: Optional[str] = None) -> dict:
    """A folds.csv row: every final validation metric, the best epoch, duration, status."""
    row = {"fold": fold.name, "repeat": fold.repeat, "index": fold.index, "status": status}
    if summary is not None:
        row.update({k: v for k, v in summary.items() if k.startswith("val_") and k != "val_size"})
        row[f"best_{monitor}"] = summary["best_value"]
        row.update(best_epoch=summary["best_epoch"], epochs_run=summary["epochs_run"],
                   stopped_early=summary["stopped_early"], duration_s=summary["duration_s"])
    row["error"] = error or ""
    return row


def metric_columns(rows: list[dict], monitor: str) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k.startswith("val_") and k not in names]
    return names + [f"best_{monitor}", "best_epoch"]


def aggregate(rows: list[dict], monitor: str) -> dict[str, dict]:
    """Mean, sample std and per-fold values of each metric over the finished folds."""
    import numpy as np

    finished = [r for r in rows if r["status"] == "finished"]
    metrics = {}
    for name in metric_columns(finished, monitor):
        # a metric missing from a fold (None, NaN: e.g. an empty split) is left out, never counted as 0
        values = {r["fold"]: float(r[name]) for r in finished if _measured(r.get(name))}
        array = np.array(list(values.values()), dtype=float)
        metrics[name] = {
            "mean": float(array.mean()) if len(array) else None,
            "std": float(array.std(ddof=STD_DDOF)) if len(array) > STD_DDOF else None,
            "values": values,
        }
    return metrics


def _measured(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


# ---------------------------------------------------------------- the refit


def refit_epochs(exp, rows: list[dict]) -> int:
    """The folds' median best epoch (rounded half up) when early stopping chose it, else trainer.epochs."""
    import numpy as np

    best = [r["best_epoch"] for r in rows if r["status"] == "finished"]
    if exp.regularizer.early_stopping.patience == 0 or not best:
        return exp.trainer.epochs
    return max(1, int(math.floor(float(np.median(best)) + 0.5)))


def refit(exp, overrides: Sequence[str], rows: list[dict], cv_dir: Path, progress=None) -> dict:
    """Refit on all of train ∪ val (data.val_fraction=0) for a fixed number of epochs; test once."""
    from dlx import config
    from dlx.engine import experiment

    path = cv_dir / "refit"
    summary = cv_store.read_run_summary(path)
    if summary is not None:  # refitted before a resume
        return summary
    epochs = refit_epochs(exp, rows)
    refit_overrides = [*overrides, "data.folds=0", "data.val_fraction=0",
                       "regularizer.early_stopping.patience=0", f"trainer.epochs={epochs}"]
    if progress is not None:
        progress.on_refit_start(epochs)
    return experiment.run(config.load(refit_overrides), refit_overrides, run_path=path)


def summary_dict(result: CVResult) -> dict:
    """What summary.json holds."""
    import numpy as np

    finished = [r for r in result.rows if r["status"] == "finished"]
    out = {
        "cv_id": result.cv_id,
        "folds": result.folds,
        "repeats": result.repeats,
        "runs": len(result.rows),
        "averaged": result.averaged,
        "failed": result.failed,
        "monitor": result.monitor,
        "std": STD_NOTE,
        "metrics": result.metrics,
        "best_epoch_median": float(np.median([r["best_epoch"] for r in finished])) if finished else None,
        "duration_s": round(sum(r.get("duration_s", 0.0) for r in finished), 3),
        "test": None,
    }
    if result.refit is not None:
        s = result.refit
        out["test"] = {"run": s["path"], "epochs": s["epochs_run"], "train_size": s["train_size"],
                       "test_size": s["test_size"], **{k: v for k, v in s.items()
                                                       if k.startswith("test_") and k != "test_size"}}
    return out
