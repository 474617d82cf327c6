"""`RunSummary`: what a finished run reports — summary.json, and what `experiment.run` returns.

A frozen record with a JSON round trip. It is also a read-only mapping of its JSON form
(`summary["best_value"]`, `summary.items()`), because sweeps, CV and reports read runs
from summary.json files and from memory alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property

HEAD = ("run_id", "status", "model", "optim", "scheduler", "regularizer", "data", "task", "epochs_run",
        "best_epoch", "stopped_early", "monitor", "best_value")
# summary.json keeps the key it always had for the data kind, so runs from every version read alike
JSON_KEY = {"kind": "task"}
ATTRIBUTE = {v: k for k, v in JSON_KEY.items()}
TAIL = ("params", "train_size", "val_size", "test_size", "duration_s", "device", "path")


@dataclass(frozen=True)
class RunSummary(Mapping):
    run_id: str
    status: str  # "finished": only finished runs have a summary
    model: str
    optim: str
    scheduler: str
    regularizer: str
    data: str
    kind: str  # the data's kind: multiclass, binary, regression (summary.json's key: "task")
    epochs_run: int
    best_epoch: int  # the epoch whose weights were kept (0: none was finite)
    stopped_early: bool
    monitor: str  # the validation metric that chose the best epoch, e.g. val_acc
    best_value: float  # its value at best_epoch (NaN without a validation split)
    params: int
    train_size: int
    val_size: int
    test_size: int
    duration_s: float
    device: str
    path: str
    # the last epoch's train_*/val_* metrics, then test_* of the best weights (absent: not evaluated)
    metrics: dict = field(default_factory=dict)

    def __post_init__(self):
        clash = set(self.metrics) & {f.name for f in fields(self)}
        if clash:
            raise ValueError(f"metric names clash with summary fields: {', '.join(sorted(clash))}")

    def to_json(self) -> dict:
        """summary.json's keys, in its order: the fixed head, the metrics, the fixed tail."""
        return dict(self._json)

    @classmethod
    def from_json(cls, data: dict) -> "RunSummary":
        named = {JSON_KEY.get(f.name, f.name): f.name for f in fields(cls) if f.name != "metrics"}
        missing = sorted(set(named) - set(data))
        if missing:
            raise ValueError(f"not a run summary: no {', '.join(missing)}")
        return cls(**{attr: data[key] for key, attr in named.items()},
                   metrics={k: v for k, v in data.items() if k not in named})

    @cached_property
    def _json(self) -> dict:
        def value(key):
            return getattr(self, ATTRIBUTE.get(key, key))

        return {**{k: value(k) for k in HEAD}, **self.metrics, **{k: value(k) for k in TAIL}}

    # a read-only mapping of the JSON form
    def __getitem__(self, key: str):
        return self._json[key]

    def __iter__(self):
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)
