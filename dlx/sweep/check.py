"""The checks a sweep makes before any trial: every value of its space composes, and the first
trial's data measures the sweep's metric.

They need the components, torch and the data code. With `--jobs N` the workers import those
anyway, so worker 0 answers them (`ask_worker`) and the driver itself never imports torch or
scikit-learn: it only parses the space, keeps the study and draws the table. In one process
(`--jobs 1`, `--jobs 0`) or with plugins (which the workers load only from the sweep's records),
the driver checks in its own process (`check_space`).
"""

from __future__ import annotations

from dlx.errors import ConfigError, DataError, DlxError, RunError
from dlx.sweep.space import SearchSpace, validate_space

ERRORS = {cls.__name__: cls for cls in (ConfigError, DataError, RunError)}


def check_space(space: SearchSpace, metric_given: bool, objective: dict | None) -> dict:
    """Compose every probe of `space`, read the first trial's data; returns what the sweep's spec
    needs: `fixed` (the space's fixed overrides, with the monitor its data implies), `output_dir`,
    `monitor`, `mode` (min | max) and `val_size` (validation samples per trial, per fold with CV)."""
    from dlx import heap

    with heap.setting_up():  # torch, scikit-learn: no garbage collection while they load
        exp, val_size = fit_to_data(space, validate_space(space), metric_given, objective)
    return {"fixed": list(space.fixed), "output_dir": str(exp.output_dir), "monitor": exp.trainer.monitor,
            "mode": exp.trainer.mode, "val_size": val_size}


def fit_to_data(space: SearchSpace, exp, metric_given: bool, objective: dict | None):
    """(exp, val_size) once the first trial's data is read: the default metric follows its task
    (val_acc means val_loss on regression, as in each run), a metric the data does not measure
    is refused before any trial, and the validation size is kept for `store.indistinct`."""
    from dataclasses import replace

    from dlx import data
    from dlx.engine.monitor import monitor_for
    from dlx.engine.tasks import task_class

    bundle = data.build(exp.data)
    monitor = monitor_for(exp, bundle.kind)
    if not metric_given and monitor != exp.trainer.monitor:
        space.fixed.append(f"trainer.monitor={monitor}")
        exp = replace(exp, trainer=replace(exp.trainer, monitor=monitor))
    valid = [f"val_{m}" for m in task_class(bundle.kind, exp.model.name).metric_names_for(bundle)]
    if exp.trainer.monitor not in valid:
        given = f"--metric {exp.trainer.monitor}" if metric_given else f"trainer.monitor={exp.trainer.monitor}"
        raise ConfigError(f"{given} is not measured on {bundle.kind} data ({exp.data.name}); "
                          f"choose one of: {', '.join(valid)}")
    val_size = len(bundle.val)
    if (objective or {}).get("kind") == "cv":  # each fold validates on a K-th of train + val
        val_size = (len(bundle.train) + len(bundle.val)) // int(objective["folds"])
    return exp, val_size


def answer(request: dict) -> dict:
    """In a worker: `check_space` for the driver's request, or the one-line error it raised."""
    space = SearchSpace.from_json(request["space"])
    try:
        return {"checked": check_space(space, bool(request["metric_given"]), request.get("objective"))}
    except DlxError as e:
        kind = type(e).__name__ if type(e).__name__ in ERRORS else ("ConfigError" if e.exit_code == 2 else "RunError")
        return {"refused": str(e), "kind": kind}


def ask_worker(workers, space: SearchSpace, metric_given: bool, objective: dict | None) -> dict:
    """`check_space` answered by worker 0 (which has torch loaded by then); its error is raised here."""
    workers.send(0, {"check": {"space": space.to_json(), "metric_given": metric_given, "objective": objective}})
    while True:
        for i, message in workers.messages(timeout=1.0):
            if i != 0:
                continue
            if message is None:
                raise RunError(f"sweep worker 0 exited while checking the space; see {workers.logs[0]}")
            if "refused" in message:
                raise ERRORS.get(message.get("kind"), ConfigError)(message["refused"])
            if "checked" in message:
                space.fixed[:] = message["checked"]["fixed"]
                return message["checked"]
