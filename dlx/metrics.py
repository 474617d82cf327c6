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
            self.scores.append(score.float().cpu())
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
        out = out.detach().reshape(y.shape).float()
        y = y.float()
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


def roc_auc(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Area under the ROC curve by the rank-sum (Mann–Whitney U) formula, ties averaged."""
    scores = scores.double()
    pos = targets == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = scores.argsort()
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.double)
    # average the ranks of tied scores
    uniq, inverse = torch.unique(scores, return_inverse=True)
    if len(uniq) < len(scores):
        sums = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inverse, ranks)
        counts = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inverse, torch.ones_like(ranks))
        ranks = (sums / counts)[inverse]
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
