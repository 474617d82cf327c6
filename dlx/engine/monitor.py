"""trainer.monitor: the validation metric a run keeps its best epoch by (and stops early on).

`auto` resolves per task (val_acc on classes, val_loss on regression and language models); config.yaml records the
resolved value, as summary.json does.
"""

from __future__ import annotations

from dlx.config import Experiment
from dlx.errors import ConfigError


def monitor_for(exp: Experiment, kind: str) -> str:
    """trainer.monitor as a run on `kind` data reads it (auto: the task's default, e.g. val_acc for
    classes, val_loss for regression)."""
    return resolve_monitor(exp.trainer.monitor, kind, exp.model.name)


def resolve_monitor(monitor: str, kind: str, model: str | None = None) -> str:
    from dlx.engine.tasks import task_class

    cls = task_class(kind, model)
    resolved = cls.monitor_for(monitor, kind)
    if resolved == "auto":  # a task without its own rule for auto: what it monitors for val_acc
        resolved = cls.monitor_for("val_acc", kind)
    return resolved


def for_task(exp: Experiment, task: str) -> Experiment:
    """Resolve trainer.monitor=auto; config.yaml records the resolved value, as summary.json does."""
    from dataclasses import replace

    monitor = monitor_for(exp, task)
    if monitor == exp.trainer.monitor:
        return exp
    exp.raw.trainer.monitor = monitor
    return replace(exp, trainer=replace(exp.trainer, monitor=monitor))


def check(exp: Experiment, task) -> None:
    """trainer.monitor must be a validation metric the task measures."""
    valid = [f"val_{m}" for m in task.metric_names()]
    if exp.trainer.monitor not in valid:
        raise ConfigError(f"trainer.monitor={exp.trainer.monitor} is not measured on {task.kind} data; "
                          f"choose one of: {', '.join(valid)}")
