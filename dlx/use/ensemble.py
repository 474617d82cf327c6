"""`dlx ensemble`: combine trained runs on their common test split.

`mean` averages the members' class probabilities (or regression values); `vote` takes the
majority of their predicted classes, ties going to the class with the higher mean
probability. Members must share the task, the classes and the test split (the same data,
data.seed and data.test_fraction); CV folds and sweep trials of one study always do.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from dlx.errors import ConfigError, DataError

log = logging.getLogger(__name__)

METHODS = ("mean", "vote")
# the data keys that fix the test split (folds, limit and val_fraction only cut train ∪ val)
TEST_SPLIT_KEYS = ("name", "path", "target", "features", "task", "seed", "test_fraction", "root")


def combine(scores: np.ndarray, method: str, task: str) -> np.ndarray:
    """(M members, N samples, C) -> (N, C): mean probabilities / values, or vote fractions."""
    if method not in METHODS:
        raise ConfigError(f"--method {method}: choose mean or vote")
    mean = scores.mean(axis=0)
    if method == "mean":
        return mean
    if task == "regression":
        raise ConfigError("--method vote needs classes; a regression ensemble averages (--method mean)")
    m, n, c = scores.shape
    votes = np.zeros((n, c))
    np.add.at(votes, (np.arange(n)[None, :].repeat(m, 0), scores.argmax(axis=2)), 1.0)
    # ties: the class with the higher mean probability (a 1e-9 nudge cannot outweigh a vote)
    return votes / m + 1e-9 * mean


def metrics_of(scores: np.ndarray, y: np.ndarray, task: str) -> dict:
    """acc (and nll) for classes, mae / rmse / r2 for values."""
    if task == "regression":
        from dlx.use.evaluate import regression_metrics

        return regression_metrics(y.reshape(scores.shape), scores)
    p = scores[np.arange(len(y)), y]
    return {"acc": float((scores.argmax(axis=1) == y).mean()), "nll": float(-np.log(np.clip(p, 1e-12, 1)).mean())}


def primary(task: str) -> str:
    return "rmse" if task == "regression" else "acc"


def summarize(member_scores: np.ndarray, y: np.ndarray, task: str, method: str, ids: list[str]) -> dict:
    """Each member's metrics, their mean ± sample std, and the combined model's metrics."""
    members = {i: metrics_of(s, y, task) for i, s in zip(ids, member_scores)}
    combined = combine(member_scores, method, task)
    names = list(next(iter(members.values())))
    stats = {}
    for name in names:
        values = np.array([m[name] for m in members.values()])
        stats[name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else None}
    ensemble = metrics_of(combined, y, task) if method == "mean" else {
        "acc": float((combined.argmax(axis=1) == y).mean())}
    return {"task": task, "method": method, "metric": primary(task), "size": int(len(y)), "members": members,
            "member_stats": stats, "ensemble": ensemble}, combined


def member_paths(output_dir: str, runs: list[str], cv: Optional[str], sweep: Optional[str],
                 top: Optional[int]) -> list[Path]:
    """Runs named one by one, a CV's folds, or a sweep's `top` best trials."""
    from dlx.store.runs import metric_mode, read_summary, select_runs
    from dlx.use.restore import find

    if sum(bool(x) for x in (runs, cv, sweep)) != 1:
        raise ConfigError("name the members: run ids, or --cv CV_ID, or --sweep SWEEP_ID --top K (one of them)")
    if top is not None and not sweep:
        raise ConfigError("--top K picks the best trials of a --sweep")
    if runs:
        paths = [find(r, output_dir) for r in runs]
    else:
        records = select_runs(Path(output_dir), cv=cv, sweep=sweep)
        finished = [(r.path, read_summary(r.path)) for r in records]
        finished = [(p, s) for p, s in finished if s and s.get("best_value") is not None]
        if sweep:
            if not finished:
                raise ConfigError(f"sweep {sweep} has no finished trial to ensemble")
            sign = -1 if metric_mode(finished[0][1]["monitor"]) == "max" else 1
            finished.sort(key=lambda ps: sign * ps[1]["best_value"])
            if top is not None and top > len(finished):
                log.warning(f"--top {top}: sweep {sweep} has {len(finished)} finished trial(s); "
                            f"the ensemble uses those {len(finished)}")
            finished = finished[:top or 5]
        paths = [p for p, _ in finished]
    if len(set(paths)) < 2:
        raise ConfigError(f"an ensemble needs at least two different runs, got {len(set(paths))}")
    return paths


def check_members(restored: list) -> None:
    """One task, one set of classes, one test split — else a one-line refusal naming two members."""
    first = restored[0]
    for other in restored[1:]:
        if other.kind != first.kind:
            raise DataError(f"ensemble members have different tasks: {first.run_id} is {first.kind}, "
                            f"{other.run_id} is {other.kind}")
        if other.classes != first.classes:
            raise DataError(f"ensemble members predict different classes: {first.run_id} and {other.run_id}")
        for key in TEST_SPLIT_KEYS:
            a, b = getattr(first.exp.data, key, None), getattr(other.exp.data, key, None)
            if a != b:
                raise DataError(f"ensemble members have different test splits: data.{key} is {a!r} in "
                                f"{first.run_id} but {b!r} in {other.run_id}; combine runs of the same data")


def member_scores(restored: list) -> tuple[np.ndarray, np.ndarray]:
    """(M, N, C) scores on the shared test split and the (N,) targets."""
    from dlx.use.evaluate import Scoring

    scores, y, index = [], None, None
    for r in restored:
        s, targets, where = r.problem.split_scores(Scoring(r), "test")  # the run's Task (refuses what has none)
        if index is not None and not np.array_equal(index, where):
            raise DataError(f"ensemble members have different test splits ({restored[0].run_id}, {r.run_id})")
        scores.append(s.numpy())
        y, index = targets.numpy(), where
    return np.stack(scores), y


def predictions_frame(combined: np.ndarray, y: np.ndarray, classes: list[str], task: str):
    import pandas as pd

    if task == "regression":
        return pd.DataFrame({"target": y.reshape(len(combined), -1)[:, 0], "prediction": combined[:, 0]})
    names = np.asarray(classes, dtype=object)
    frame = pd.DataFrame({"target": names[y], "prediction": names[combined.argmax(axis=1)]})
    for i, c in enumerate(classes):
        frame[f"score_{c}"] = combined[:, i]
    return frame


def build(paths: list[Path], method: str = "mean", output_dir: str = "outputs", label: str = "ensemble",
          folder: Optional[Path] = None, extra: Optional[list[dict]] = None) -> dict:
    """Restore, check, score and combine the members; write outputs/ensembles/<id>/."""
    from dlx.store import ensembles as store
    from dlx.use.restore import restore

    if method not in METHODS:
        raise ConfigError(f"--method {method}: choose mean or vote")
    restored = [restore(p) for p in paths]
    check_members(restored)
    if method == "vote" and restored[0].kind == "regression":
        raise ConfigError("--method vote needs classes; a regression ensemble averages (--method mean)")
    scores, y = member_scores(restored)
    ids = [_member_id(r) for r in restored]
    summary, combined = summarize(scores, y, restored[0].kind, method, ids)
    folder = folder or store.create_ensemble_dir(output_dir, label)
    members = [{"id": i, "path": str(r.path), "checkpoint": r.checkpoint, **(e or {})}
               for i, r, e in zip(ids, restored, extra or [None] * len(ids))]
    summary = {"ensemble_id": folder.name, "path": str(folder), **summary}
    store.write_ensemble(folder, members, summary,
                         predictions_frame(combined, y, restored[0].classes, restored[0].kind))
    return summary


def _member_id(r) -> str:
    parent = r.path.parent.name
    return f"{parent}/{r.path.name}" if r.path.name.startswith(("fold-", "member-")) else r.path.name
