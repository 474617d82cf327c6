"""Metrics per task, accumulated on the device without a sync per batch.

Each accumulator takes (outputs, targets, loss) batch by batch and returns a dict
of plain floats at the end: `{"loss": .., "acc": .., "top5": ..}` for classification,
`{"loss": .., "mae": .., "rmse": .., "r2": ..}` for regression. Extra loss terms (a
penalty, a VAE's KL) are averaged per batch with `add_term(name, value)`.
`state_dict()` / `load_state_dict()` carry the running sums through a mid-epoch checkpoint.
"""

from __future__ import annotations

import math

import torch

from dlx.objective import MINIMIZED, mode_for  # noqa: F401  (re-exported)


def metric_names(task: str, num_outputs: int) -> list[str]:
    if task == "regression":
        return ["loss", "mae", "rmse", "r2"]
    names = ["loss", "acc"]
    if task == "multiclass" and num_outputs > 5:
        names.append("top5")
    if task == "binary":
        names.append("auc")
    return names


class Accumulator:
    """The shared part: named extra terms, and the state a checkpoint keeps (`STATE` names it)."""

    STATE: tuple[str, ...] = ()

    def reset(self) -> None:
        self.terms: dict[str, float] = {}  # name -> sum over batches
        self.term_batches: dict[str, int] = {}

    def add_term(self, name: str, value: float) -> None:
        """One batch's value of an extra loss term; `compute()` reports its mean per batch."""
        self.terms[name] = self.terms.get(name, 0.0) + value
        self.term_batches[name] = self.term_batches.get(name, 0) + 1

    def term_means(self) -> dict[str, float]:
        return {name: total / max(self.term_batches[name], 1) for name, total in self.terms.items()}

    def state_dict(self) -> dict:
        """The running sums (copies): tensors, numbers, lists and dicts only."""
        return {key: _copy(getattr(self, key)) for key in (*self.STATE, "terms", "term_batches")}

    def load_state_dict(self, state: dict) -> None:
        for key in (*self.STATE, "terms", "term_batches"):
            setattr(self, key, _copy(state[key]))


def _copy(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value


class ClassificationMetrics(Accumulator):
    """Loss, accuracy (and top-5 / AUC where they apply) over batches.

    `update` costs a few tensor ops: the loss arrives as the float the loop already read.
    """

    def __init__(self, num_outputs: int, task: str = "multiclass", keep_scores: bool = False,
                 top5: bool = True):
        self.top5 = top5 and task == "multiclass" and num_outputs > 5
        self.binary_logit = num_outputs == 1
        self.keep_scores = keep_scores and task == "binary"
        self.reset()

    STATE = ("n", "loss_sum", "correct", "correct5", "scores", "targets")

    def reset(self):
        super().reset()
        self.n = 0
        self.loss_sum = 0.0
        self.correct = 0
        self.correct5 = 0
        self.scores, self.targets = [], []

    def update(self, out: torch.Tensor, y: torch.Tensor, loss: float) -> None:
        # the loop has already synced on loss.item() this step, so reading the count costs no
        # extra wait; plain ints also keep the per-batch work to three small ops
        n = y.shape[0]
        self.n += n
        self.loss_sum += loss * n
        pred = (out.reshape(-1) > 0).long() if self.binary_logit else out.argmax(dim=1)
        self.correct += int((pred == y).sum())
        if self.top5:
            top = out.topk(5, dim=1).indices  # (B, 5)
            self.correct5 += int((top == y[:, None]).any(dim=1).sum())
        if self.keep_scores:
            out = out.detach()
            score = out.reshape(-1) if self.binary_logit else out[:, 1] - out[:, 0]
            self.scores.append(score.cpu())  # its own precision: a fitted estimator's float64 log-odds keep their order
            self.targets.append(y.cpu())

    def compute(self) -> dict[str, float]:
        if self.n == 0:  # an empty split (data.test_fraction=0) has no metrics: NaN, stored as null
            names = ["loss", "acc"] + ["top5"] * self.top5 + ["auc"] * self.keep_scores
            return {name: math.nan for name in names}
        n = self.n
        result = {"loss": self.loss_sum / n, "acc": float(self.correct) / n}
        if self.top5:
            result["top5"] = float(self.correct5) / n
        if self.keep_scores:
            result["auc"] = roc_auc(torch.cat(self.scores), torch.cat(self.targets))
        result.update(self.term_means())
        return result


class RegressionMetrics(Accumulator):
    """Loss, MAE, RMSE and R² over batches; the error sums stay on the device until `compute`."""

    STATE = ("n", "loss_sum", "sums", "values")

    def __init__(self, num_outputs: int = 1, task: str = "regression", keep_scores: bool = False,
                 top5: bool = False):
        self.reset()

    def reset(self):
        super().reset()
        self.n = 0
        self.loss_sum = 0.0
        self.values = 1  # target values per sample, set by update
        self.sums = None  # |e|, e², y, y² summed on the device

    def update(self, out: torch.Tensor, y: torch.Tensor, loss: float) -> None:
        # float32, or float64 where the outputs are (a fitted scikit-learn estimator's predictions)
        dtype = torch.promote_types(out.dtype, torch.float32)
        out = out.detach().reshape(y.shape).to(dtype)
        y = y.to(dtype)
        err = out - y
        batch = torch.stack([err.abs().sum(), err.pow(2).sum(), y.sum(), y.pow(2).sum()])
        self.loss_sum += loss * y.shape[0]
        self.sums = batch if self.sums is None else self.sums + batch
        self.n += y.shape[0]
        self.values = y.numel() // max(y.shape[0], 1)

    def compute(self) -> dict[str, float]:
        if self.sums is None:
            return {"loss": math.nan, "mae": math.nan, "rmse": math.nan, "r2": math.nan, **self.term_means()}
        abs_err, sq_err, y_sum, y_sq = self.sums.tolist()
        loss = self.loss_sum
        count = self.n * self.values
        variance = y_sq - y_sum * y_sum / count
        return {
            "loss": loss / self.n,
            "mae": abs_err / count,
            "rmse": math.sqrt(sq_err / count),
            "r2": 1.0 - sq_err / variance if variance > 0 else math.nan,
            **self.term_means(),
        }


def accumulator(task: str, num_outputs: int, keep_scores: bool = False, top5: bool = True):
    cls = RegressionMetrics if task == "regression" else ClassificationMetrics
    return cls(num_outputs, task, keep_scores, top5)


# ---------------------------------------------------------------- from whole arrays (scikit-learn)


def roc_auc(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Area under the ROC curve (scikit-learn's `roc_auc_score`, ties counted half); target 1 is
    the positive class. NaN when only one class is present, where it is undefined."""
    from sklearn.metrics import roc_auc_score

    positive = (targets == 1).cpu().numpy()
    if positive.all() or not positive.any():
        return math.nan
    return float(roc_auc_score(positive, scores.double().cpu().numpy()))


def per_class_report(y_true, y_pred, classes: list[str]) -> dict:
    """Confusion matrix (rows: true, columns: predicted) and precision / recall / F1 / support per
    class (scikit-learn's definitions, 0 where a ratio has nothing to divide by), with macro and
    support-weighted averages: `{"confusion", "per_class", "averages"}`. `y_true`, `y_pred`: class
    indices into `classes`."""
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    k = len(classes)
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if len(y_true) == 0:  # scikit-learn refuses empty arrays; nothing was counted
        confusion = np.zeros((k, k), dtype=np.int64)
        precision = recall = f1 = np.zeros(k)
    else:
        confusion = confusion_matrix(y_true, y_pred, labels=np.arange(k))
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=np.arange(k), average=None, zero_division=0)
    support = confusion.sum(axis=1)
    rows = {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])} for i, c in enumerate(classes)}
    weights = support / max(support.sum(), 1)
    total = int(support.sum())
    averages = {  # every class counts in the macro average, one never predicted or absent too
        "macro avg": {"precision": float(precision.mean()), "recall": float(recall.mean()),
                      "f1": float(f1.mean()), "support": total},
        "weighted avg": {"precision": float(precision @ weights), "recall": float(recall @ weights),
                         "f1": float(f1 @ weights), "support": total},
    }
    return {"confusion": confusion.tolist(), "per_class": rows, "averages": averages}


def regression_report(y_true, y_pred) -> dict:
    """MAE, RMSE and R² over every value of (N,) or (N, k) targets (scikit-learn's metrics on the
    flattened arrays, in float64): `{"mae", "rmse", "r2"}`; R² is NaN when the targets are constant."""
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if len(y_true) == 0:
        return {"mae": math.nan, "rmse": math.nan, "r2": math.nan}
    constant = bool((y_true == y_true[0]).all())
    return {"mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": math.sqrt(mean_squared_error(y_true, y_pred)),
            "r2": math.nan if constant else float(r2_score(y_true, y_pred))}
