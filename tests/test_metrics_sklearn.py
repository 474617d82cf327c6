"""The metrics computed from whole arrays (scikit-learn's) against dlx's former hand-written ones.

The reference implementations below are the code they replaced, kept here as the oracle:
the values must not change beyond float rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlx.metrics import per_class_report, regression_report, roc_auc


def rank_sum_auc(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """The former `dlx.metrics.roc_auc`: Mann–Whitney U with tied ranks averaged."""
    scores = scores.double()
    pos = targets == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = scores.argsort()
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.double)
    uniq, inverse = torch.unique(scores, return_inverse=True)
    if len(uniq) < len(scores):
        sums = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inverse, ranks)
        counts = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inverse, torch.ones_like(ranks))
        ranks = (sums / counts)[inverse]
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bincount_per_class(y_true, y_pred, classes):
    """The former `dlx.use.evaluate.per_class`."""
    k = len(classes)
    confusion = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(k), where=both > 0)
    rows = {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])} for i, c in enumerate(classes)}
    weights = support / max(support.sum(), 1)
    averages = {
        "macro avg": {"precision": float(precision.mean()), "recall": float(recall.mean()),
                      "f1": float(f1.mean()), "support": int(support.sum())},
        "weighted avg": {"precision": float(precision @ weights), "recall": float(recall @ weights),
                         "f1": float(f1 @ weights), "support": int(support.sum())},
    }
    return {"confusion": confusion.tolist(), "per_class": rows, "averages": averages}


def numpy_regression(y_true, y_pred):
    """The former `dlx.use.evaluate.regression_metrics`."""
    e = (y_pred - y_true).astype(np.float64)
    variance = float(((y_true - y_true.mean()) ** 2).sum())
    return {"mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e ** 2).mean())),
            "r2": 1.0 - float((e ** 2).sum()) / variance if variance > 0 else float("nan")}


def close(a: dict, b: dict, tol: float = 1e-12) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            if not close(x, y, tol):
                return False
        elif isinstance(x, list):
            if x != y:
                return False
        elif not (x == y or (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol * max(1.0, abs(y))):
            return False
    return True


@pytest.mark.parametrize("seed", range(20))
def test_roc_auc_equals_the_rank_sum_formula(seed):
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(2, 300, (1,), generator=g))
    targets = torch.randint(0, 2, (n,), generator=g)
    scores = torch.randn(n, generator=g)
    if seed % 2:  # many ties
        scores = (scores * 2).round()
    assert roc_auc(scores, targets) == pytest.approx(rank_sum_auc(scores, targets), abs=1e-12, nan_ok=True)


def test_roc_auc_of_one_class_is_nan():
    assert math.isnan(roc_auc(torch.randn(5), torch.ones(5, dtype=torch.long)))
    assert math.isnan(roc_auc(torch.randn(5), torch.zeros(5, dtype=torch.long)))


@pytest.mark.parametrize("seed", range(20))
def test_per_class_report_equals_the_bincount_version(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    n = int(rng.integers(1, 200))
    classes = [f"c{i}" for i in range(k)]
    y_true = rng.integers(0, k - (seed % 3 == 0), n)  # sometimes a class never occurs
    y_pred = rng.integers(0, k, n) if seed % 2 else np.where(rng.random(n) < 0.7, y_true, rng.integers(0, k, n))
    new, old = per_class_report(y_true, y_pred, classes), bincount_per_class(y_true, y_pred, classes)
    assert new["confusion"] == old["confusion"]
    assert close(new, old)


def test_per_class_report_of_nothing_counts_nothing():
    report = per_class_report(np.array([], dtype=int), np.array([], dtype=int), ["a", "b"])
    assert report["confusion"] == [[0, 0], [0, 0]]
    assert report["averages"]["macro avg"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("shape", [(50,), (40, 3)])
def test_regression_report_equals_the_numpy_version(seed, shape):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(size=shape) * rng.uniform(0.1, 100)
    y_pred = y_true + rng.normal(size=shape)
    assert close(regression_report(y_true, y_pred), numpy_regression(y_true, y_pred))


def test_regression_report_of_constant_targets_has_no_r2():
    report = regression_report(np.full(4, 2.0), np.array([1.0, 2.0, 3.0, 2.0]))
    assert math.isnan(report["r2"]) and report["mae"] == 0.5
