"""The records a sweep passes between its modules, each with a JSON round-trip (as `space.py`'s).

    SweepSpec   what sweep.json (and the study's user attribute) holds: enough to run, resume, join
    TrialRow    one trial as trials.csv, the live table and the leaderboard show it

The files stay plain JSON and CSV: `to_json()` writes exactly the keys they always had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Optional

from dlx.sweep.space import SearchSpace

SAMPLERS = ("grid", "random", "tpe")
TPE_STARTUP_TRIALS = 10  # optuna's n_startup_trials: TPE samples at random until this many trials ended
DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class SweepSpec:
    """A sweep as created: its space, sampler, metric and direction, where its study lives."""

    id: str
    space: SearchSpace
    sampler: str
    trials: int
    metric: str  # a validation metric, e.g. val_acc
    direction: str  # minimize | maximize
    seed: int = 0
    prune: bool = False
    storage: Optional[str] = None  # the database URL with any password hidden; None: study.db
    objective: dict = field(default_factory=lambda: {"kind": "train"})  # or {"kind": "cv", "folds": K}
    command: tuple[str, ...] = ()
    created: str = ""
    val_size: Optional[int] = None  # validation samples per trial (per fold with --cv), for ties
    plugins: tuple = ()  # dlx.plugins.records(): what every worker loads before its first trial
    jobs: Optional[int] = None  # worker processes it was started with (None: an older sweep.json)

    @property
    def resume_jobs(self) -> int:
        """The workers `--resume` starts when not told: the recorded ones (a create-only sweep's 0: one)."""
        jobs = self.jobs
        if jobs is None:  # an older sweep.json: the --jobs of its command line, if any
            words = [w for part in self.command for w in str(part).split("=", 1)]
            given = words[words.index("--jobs") + 1:][:1] if "--jobs" in words else []
            jobs = int(given[0]) if given and given[0].isdigit() else 1
        return max(1, jobs)

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler '{self.sampler}' is not one of {', '.join(SAMPLERS)}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction '{self.direction}' is not one of {', '.join(DIRECTIONS)}")
        if self.trials < 0:
            raise ValueError(f"trials must be 0 or more, got {self.trials}")

    @property
    def keys(self) -> list[str]:
        return self.space.keys

    @property
    def objective_kind(self) -> str:
        return (self.objective or {}).get("kind", "train")

    def to_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(space=self.space.to_json(), command=list(self.command), objective=dict(self.objective),
                    plugins=[dict(p) for p in self.plugins])
        return data

    @classmethod
    def from_json(cls, data: dict) -> "SweepSpec":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}  # a newer dlx may add keys
        return cls(**{**data, "space": SearchSpace.from_json(data["space"]),
                      "command": tuple(data.get("command") or ()),
                      "plugins": tuple(data.get("plugins") or ()),
                      "objective": dict(data.get("objective") or {"kind": "train"}),
                      "trials": int(data["trials"]), "seed": int(data.get("seed") or 0)})


@dataclass(frozen=True)
class TrialRow:
    """One trial: its state (COMPLETE, PRUNED, FAIL, INTERRUPTED, RUNNING, WAITING), the value of
    the sweep's metric, the swept parameters, its run, and the metrics its objective recorded."""

    number: int
    state: str
    value: Optional[float] = None
    params: dict = field(default_factory=dict)  # swept key -> value
    run_id: Optional[str] = None
    duration_s: Optional[float] = None
    worker: Optional[str] = None  # host:pid
    reason: Optional[str] = None  # why it failed, was pruned or interrupted
    record: dict = field(default_factory=dict)  # train_/val_/test_ metrics, params count, ...

    HEAD = ("number", "state", "value")
    TAIL = ("run_id", "duration_s", "worker", "reason")

    @property
    def scored(self) -> bool:
        return self.state == "COMPLETE" and self.value is not None and math.isfinite(self.value)

    def to_json(self) -> dict:
        """The flat trials.csv row: number, state, value, each swept key, run, ..., the metrics."""
        row = {"number": self.number, "state": self.state, "value": self.value, **self.params,
               **{k: getattr(self, k) for k in self.TAIL}}
        row.update(self.record)  # a CV objective's run_id ("cv/trial-0003") replaces the fold's
        return row

    @classmethod
    def from_json(cls, row: dict, keys: list[str]) -> "TrialRow":
        """From a flat row (`to_json`, or trials.csv read back with `keys` the swept ones)."""
        taken = {*cls.HEAD, *cls.TAIL, *keys}
        value = row.get("value")
        return cls(number=int(row["number"]), state=str(row["state"]),
                   value=None if value in (None, "") else float(value),
                   params={k: row.get(k) for k in keys},
                   run_id=row.get("run_id") or None, worker=row.get("worker") or None,
                   reason=row.get("reason") or None,
                   duration_s=float(row["duration_s"]) if row.get("duration_s") not in (None, "") else None,
                   record={k: v for k, v in row.items() if k not in taken})

