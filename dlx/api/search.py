"""Many runs from Python: sweeps and cross-validations (`Sweep`, `CV`), the run table, comparisons."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from dlx import signals
from dlx.api.run import Run, overrides_of, use_plugins, value_text
from dlx.errors import ConfigError

log = logging.getLogger(__name__)


def sweep(*overrides: str, sampler: Optional[str] = None, trials: Optional[int] = None, jobs: int = 1,
          metric: Optional[str] = None, direction: Optional[str] = None, prune: bool = False, seed: int = 0,
          storage: Optional[str] = None, cv: Optional[int] = None, plugins: Sequence[str] = (),
          on_update=None, command: Sequence[str] = (), **keys) -> "Sweep":
    """A hyper-parameter search, as `dlx sweep` (Hydra's sweep grammar: `"optim.lr=0.1,0.01"`)."""
    from dlx.sweep import driver

    use_plugins(plugins)
    signals.reset()
    result = driver.start(overrides_of(overrides, keys), sampler=sampler, trials=trials, jobs=jobs, metric=metric,
                          direction=direction, prune=prune, seed=seed, storage=storage,
                          objective={"kind": "cv", "folds": cv} if cv else None, command=list(command),
                          on_update=on_update)
    return Sweep(result)


def cv(*overrides: str, folds: Optional[int] = None, repeats: Optional[int] = None, jobs: int = 1,
       test: bool = False, resume: Optional[str] = None, group_col: Optional[str] = None,
       plugins: Sequence[str] = (), progress=None, **keys) -> "CV":
    """K-fold cross-validation, as `dlx cv`; `progress` is a CV progress object (the CLI's table)."""
    from dlx.cv import driver

    use_plugins(plugins)
    signals.reset()
    if resume == "":
        raise ConfigError("--resume needs a cross-validation: its id, a unique part of one, its folder or 'last'")
    return CV(driver.cross_validate(overrides_of(overrides, keys), folds, repeats=repeats, jobs=jobs, test=test,
                                    resume=resume, progress=progress, group_col=group_col))


class Sweep:
    """A sweep that ran: `.leaderboard` (trials as a DataFrame, best first), `.best` (a Run),
    `.study` (the optuna study), `.path`, `.id`."""

    def __init__(self, result: dict):
        self.result = result
        self.path = Path(result["sweep_dir"]).absolute()
        self.spec = result["spec"]
        self.id = self.spec.id

    @property
    def leaderboard(self):
        import pandas as pd

        rows = pd.DataFrame(self.result["rows"])
        if "value" in rows and len(rows):
            rows = rows.sort_values("value", ascending=self.spec.direction == "minimize", na_position="last")
        return rows.reset_index(drop=True)

    @property
    def best(self) -> Optional["Run"]:
        row = self.result["best"]
        if not row or not row.get("run_id"):
            return None  # no trial completed
        # a trial's run is runs/<id>; a --cv trial's "cv/trial-<n>" is a CV folder, its refit a run
        for path in (self.path / "runs" / row["run_id"], self.path / row["run_id"] / "refit"):
            if (path / "config.yaml").is_file():
                return Run(path)
        return None

    @property
    def study(self):
        from dlx.sweep.driver import load_study
        from dlx.sweep.store import storage_url

        if self.spec.storage:  # a database URL: its password is not kept, so it cannot be opened again here
            raise ConfigError(f"sweep {self.id} keeps its study in {self.spec.storage}: open it with optuna")
        return load_study(self.spec, storage_url(self.path, None))[0]

    def __repr__(self) -> str:
        return f"Sweep({self.id!r}, trials={len(self.result['rows'])})"


class CV:
    """A finished cross-validation: `.folds` (one row per fold), `.metrics` (mean and std per
    metric as a DataFrame), `.mean(name)`, `.std(name)`, `.refit` (a Run, with test=True)."""

    def __init__(self, result):
        self.result = result
        self.id, self.path = result.cv_id, Path(result.path).absolute()

    @property
    def folds(self):
        import pandas as pd

        return pd.DataFrame(self.result.rows)

    @property
    def metrics(self):
        import pandas as pd

        return pd.DataFrame({k: {"mean": v["mean"], "std": v["std"]} for k, v in self.result.metrics.items()}).T

    def mean(self, metric: str) -> float:
        return self.result.mean(metric)

    def std(self, metric: str) -> Optional[float]:
        return self.result.std(metric)

    @property
    def refit(self) -> Optional["Run"]:
        path = (self.result.refit or {}).get("path")
        return Run(Path(path)) if path else None

    def __repr__(self) -> str:
        return f"CV({self.id!r}, folds={len(self.result.rows)})"


# ---------------------------------------------------------------- the run store



def runs(output_dir: str = "outputs", *, where: Sequence[str] = (), sort: Optional[str] = None,
         limit: Optional[int] = None, sweep: Optional[str] = None, cv: Optional[str] = None,
         members: bool = False, **filters):
    """What `dlx runs` shows, as a DataFrame; `filters` are `--where KEY=VALUE` (`model="cnn"`)."""
    from dlx.store import compare, runs as store

    conditions = [*where, *(f"{k}={value_text(v)}" for k, v in filters.items())]
    records = store.select_runs(Path(output_dir), sweep=sweep, cv=cv, members=members)
    df = compare.apply_where(compare.add_best_columns(store.load_runs(records, on_skip=skipped)), conditions)
    df = compare.sort_runs(df, sort)
    return (df.head(limit) if limit is not None else df).reset_index(drop=True)


def compare(*refs: str, output_dir: str = "outputs", sweep: Optional[str] = None, cv: Optional[str] = None):
    """What `dlx compare` shows: (config keys that differ, final metrics), two DataFrames, one column per run."""
    from dlx.store import compare as comparing, runs as store

    if refs and (sweep or cv):
        raise ConfigError("give run ids or sweep=/cv=, not both")
    if refs:
        records = list({r.id: r for r in (store.find_record(Path(output_dir), ref) for ref in refs)}.values())
    elif sweep or cv:
        records = store.select_runs(Path(output_dir), sweep=sweep, cv=cv)
    else:
        raise ConfigError("name the runs to compare (ids, prefixes, `last`) or give sweep=/cv=")
    df = comparing.add_best_columns(store.load_runs(records, on_skip=skipped))
    if len(df) < 2:
        raise ConfigError(f"compare needs at least two readable runs, got {len(df)}")
    return comparing.config_diff(df), comparing.final_metrics(df)[0]


def skipped(path, reason: str) -> None:
    log.warning(f"skipped {path}: {reason}")
