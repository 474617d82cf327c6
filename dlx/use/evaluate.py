"""`dlx eval`: every metric of the task on a split (or on other data with the same features).

Classification adds a confusion matrix, per-class precision / recall / F1 / support (the
definitions of scikit-learn's `classification_report`) and ROC AUC where binary; regression
adds MAE, RMSE, R² and a summary of the residuals. Written to RUN/eval/<name>.json.
"""

from __future__ import annotations

import numpy as np

from dlx.errors import DataError
from dlx.metrics import per_class_report


def score(restored, data) -> tuple:
    """(scores, targets) of `data` (a `Labelled`): probabilities (N, C) or values, and (N,) targets."""
    import torch

    from dlx.use.scores import to_scores

    if data.loader is not None:  # image_folder: the loader already transforms
        outs = [restored.outputs(xb) for xb, _ in data.loader]
        out = torch.cat(outs) if outs else torch.empty(0, restored.meta.num_outputs)
        return to_scores(out, restored.kind, restored.preprocess), data.y
    return restored.predict(data.x), data.y


def task_metrics(restored, data) -> dict:
    """The training loop's own metrics (loss, acc, top5, auc | loss, mae, rmse, r2) on `data`."""
    import torch

    from dlx.losses import build_loss
    from dlx.metrics import accumulator

    exp, meta = restored.exp, restored.meta
    loss = build_loss(exp.loss, restored.kind, len(restored.classes), meta.num_outputs,
                      exp.regularizer.label_smoothing)
    metrics = accumulator(restored.kind, meta.num_outputs, keep_scores=True)
    batches = data.loader if data.loader is not None else _batches(restored, data)
    with torch.inference_mode():
        for xb, yb in batches:
            out = restored.model(xb)
            metrics.update(out.float(), yb, loss(out, yb).item())
    return metrics.compute()


def _batches(restored, data, size: int = 8192):
    x = restored.transform(data.x)
    for i in range(0, len(data.y), size):
        yield x[i:i + size], data.y[i:i + size]


def residuals(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Summary of prediction - target (in the target's units)."""
    e = (y_pred - y_true).reshape(-1)
    q = np.quantile(e, [0.0, 0.25, 0.5, 0.75, 1.0]) if e.size else [np.nan] * 5
    return {"mean": float(e.mean()) if e.size else np.nan, "std": float(e.std()) if e.size else np.nan,
            "min": float(q[0]), "q25": float(q[1]), "median": float(q[2]), "q75": float(q[3]), "max": float(q[4])}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    e = (y_pred - y_true).astype(np.float64)
    variance = float(((y_true - y_true.mean()) ** 2).sum())
    return {"mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e ** 2).mean())),
            "r2": 1.0 - float((e ** 2).sum()) / variance if variance > 0 else float("nan")}


def evaluate(restored, data) -> dict:
    """The report `dlx eval` prints and writes: metrics, and the per-class or residual details."""
    if len(data.y) == 0:
        raise DataError(f"the {data.name} split is empty: nothing to evaluate (try --split all)")
    metrics = task_metrics(restored, data)
    scores, targets = score(restored, data)
    result = {"run_id": restored.run_id, "name": data.name, "checkpoint": restored.checkpoint,
              "task": restored.kind, "size": int(len(targets)), "metrics": metrics}
    if restored.kind == "regression":
        y_pred, y_true = scores.numpy(), targets.numpy().reshape(scores.shape)
        result["residuals"] = residuals(y_true, y_pred)
        metrics.update(regression_metrics(y_true, y_pred))  # in the target's units, however it was scaled
    else:
        y_pred = scores.argmax(dim=1).numpy()
        result["classes"] = restored.classes
        result.update(per_class_report(targets.numpy(), y_pred, restored.classes))
    return result


def evaluate_run(restored, overrides: list[str], split: str, episodes: int | None = None) -> dict:
    """`dlx eval`: the report of `restored` on a split of its data (or of the data the overrides
    choose), by the run's own Task (which refuses in its own words when it has nothing to score);
    `episodes`: an agent's report over that many episodes in its environment."""
    if episodes is not None:
        return restored.problem.evaluate_episodes(Scoring(restored), episodes)
    return restored.problem.evaluate_run(Scoring(restored), list(overrides), split)


class Scoring:
    """The restored run as a Task's `evaluate_run` / `split_scores` sees it: the run itself, plus
    the reports and scores of this module."""

    def __init__(self, restored):
        self.restored = restored

    def __getattr__(self, name: str):
        return getattr(self.restored, name)

    def class_report(self, name: str, metrics: dict, out, y) -> dict:
        """The report of class scores `out` against labels `y`: metrics and per-class figures."""
        import torch

        r = self.restored
        result = {"run_id": r.run_id, "name": name, "checkpoint": r.checkpoint, "task": r.kind,
                  "size": int(len(y)), "metrics": metrics, "classes": r.classes}
        result.update(per_class_report(y.numpy(), torch.argmax(out, 1).numpy(), r.classes))
        return result

    def supervised_report(self, overrides: list[str], split: str) -> dict:
        return evaluate(self.restored, self.restored.load_split(overrides, split))

    def supervised_scores(self, split: str):
        """(scores, targets, positions) of a split of the run's own data."""
        data = self.restored.load_split([], split)
        scores, targets = score(self.restored, data)
        return scores, targets, data.index
