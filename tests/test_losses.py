"""Losses: each equals its formula on known tensors; auto picks by task; a misfit is an error;
every conf/loss/*.yaml trains end to end (digits, or a tiny dataset registered for the test)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dlx import config
from dlx.config import group_choices

from dlx.engine import experiment
from dlx.data.bundle import DataConfig, RawData
from dlx.errors import ConfigError
from dlx.losses import build_loss
from dlx.registry import DATASETS

ROOT = Path(__file__).resolve().parents[1]
LOSSES = group_choices("loss")  # every registered loss, and each preset
TINY = ["trainer.epochs=2", "data.limit=120", "trainer.num_threads=1", "model.hidden=[16]",
        "trainer.checkpoint=false"]


def loss_for(name: str, task: str, num_classes: int = 3, *overrides, smoothing: float = 0.0):
    cfg = config.load([f"loss={name}", *overrides]).loss
    return build_loss(cfg, task, num_classes, 1, smoothing)


OUT = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
Y = torch.tensor([0, 2])


def test_cross_entropy_with_label_smoothing():
    eps = 0.2
    loss = loss_for("cross_entropy", "multiclass", 3, f"loss.label_smoothing={eps}")
    total = 0.0
    for scores, y in zip(OUT.tolist(), Y.tolist()):
        log_p = [s - math.log(sum(math.exp(t) for t in scores)) for s in scores]
        total += (1 - eps) * -log_p[y] + eps * -sum(log_p) / len(log_p)  # target (1−ε)·onehot + ε/K
    assert loss(OUT, Y).item() == pytest.approx(total / 2, rel=1e-6)
    assert loss.num_outputs == 3


def test_regularizer_label_smoothing_reaches_cross_entropy_only():
    plain = loss_for("cross_entropy", "multiclass", 3)(OUT, Y).item()
    smooth = loss_for("cross_entropy", "multiclass", 3, smoothing=0.2)(OUT, Y).item()
    same = loss_for("cross_entropy", "multiclass", 3, "loss.label_smoothing=0.2")(OUT, Y).item()
    assert smooth == pytest.approx(same)
    assert smooth != pytest.approx(plain)
    with pytest.raises(ConfigError, match="label_smoothing"):
        loss_for("mse", "regression", 0, smoothing=0.1)


def test_bce_on_one_logit():
    out, y = torch.tensor([[1.5], [-0.3], [0.0]]), torch.tensor([1, 0, 1])
    loss = loss_for("bce", "binary", 2)
    sig = [1 / (1 + math.exp(-o)) for o in out.flatten().tolist()]
    want = -sum(t * math.log(s) + (1 - t) * math.log(1 - s) for s, t in zip(sig, y.tolist())) / 3
    assert loss(out, y).item() == pytest.approx(want, rel=1e-6)
    assert loss.num_outputs == 1


def test_hinge_is_the_multiclass_margin():
    margin = 1.5
    loss = loss_for("hinge", "multiclass", 3, f"loss.margin={margin}")
    total = 0.0
    for s, y in zip(OUT.tolist(), Y.tolist()):
        total += sum(max(0.0, margin - s[y] + s[j]) for j in range(3) if j != y) / 3
    assert loss(OUT, Y).item() == pytest.approx(total / 2, rel=1e-6)


PRED = torch.tensor([[0.5], [2.0], [-1.0], [4.0]])
TARGET = torch.tensor([0.0, 0.5, -1.2, 1.0])


@pytest.mark.parametrize("name, per_item", [
    ("mse", lambda d: d * d),
    ("mae", lambda d: abs(d)),
    ("huber", lambda d: 0.5 * d * d if abs(d) <= 1.0 else 1.0 * (abs(d) - 0.5)),  # delta 1 in huber.yaml
])
def test_regression_losses(name, per_item):
    loss = loss_for(name, "regression", 0)
    diffs = [p - t for p, t in zip(PRED.flatten().tolist(), TARGET.tolist())]
    assert loss(PRED, TARGET).item() == pytest.approx(sum(map(per_item, diffs)) / len(diffs), rel=1e-6)


def test_huber_delta():
    loss = loss_for("huber", "regression", 0, "loss.delta=2.0")
    d = [p - t for p, t in zip(PRED.flatten().tolist(), TARGET.tolist())]
    want = sum(0.5 * x * x if abs(x) <= 2 else 2 * (abs(x) - 1.0) for x in d) / len(d)
    assert loss(PRED, TARGET).item() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("task, name", [("multiclass", "cross_entropy"), ("binary", "bce"), ("regression", "mse")])
def test_auto_picks_by_task(task, name):
    assert loss_for("auto", task, 10 if task == "multiclass" else 2).name == name


@pytest.mark.parametrize("name, task", [("bce", "multiclass"), ("mse", "multiclass"), ("cross_entropy", "regression"),
                                        ("hinge", "regression"), ("huber", "binary")])
def test_a_loss_that_does_not_fit_the_task_is_an_error(name, task):
    with pytest.raises(ConfigError, match=f"loss '{name}' does not fit {task}"):
        loss_for(name, task, 10)


def test_bce_on_digits_is_one_line_exit_2(dlx):
    res = dlx("train", "loss=bce", *TINY)
    assert res.code == 2
    assert "does not fit multiclass" in res.err and len(res.err.strip().splitlines()) == 1


def test_a_loss_rejects_keys_it_does_not_have(dlx):
    res = dlx("train", "loss=mse", "+loss.margin=1.0")
    assert res.code == 2 and "loss.margin" in res.err


# ---------------------------------------------------------------- end to end


@pytest.fixture
def tiny_datasets():
    """A binary and a regression dataset in the registry for the test's duration only."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype(np.float32)

    def binary(cfg):
        return RawData(x, (x[:, 0] + x[:, 1] > 0).astype(np.int64), "binary", ["no", "yes"])

    def regression(cfg):
        return RawData(x, (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1).astype(np.float32), "regression")

    DATASETS.register("tiny_binary", schema=DataConfig)(binary)
    DATASETS.register("tiny_regression", schema=DataConfig)(regression)
    yield
    for name in ("tiny_binary", "tiny_regression"):
        DATASETS._entries.pop(name, None)


def run_on(data: str, overrides, tmp_path) -> tuple[dict, pd.DataFrame]:
    exp = config.load([*overrides, *TINY, f"output_dir={tmp_path}"])
    exp = replace(exp, data=replace(exp.data, name=data))
    summary = experiment.run(exp)
    return summary, pd.read_csv(Path(summary["path"]) / "metrics.csv")


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_trains_two_epochs(name, tiny_datasets, tmp_path, dlx):
    if name in ("cross_entropy", "hinge", "auto"):  # multi-class: digits, from the CLI
        res = dlx("train", "-q", f"loss={name}", *TINY)
        assert res.code == 0, res.err
        (run,) = (tmp_path / "outputs" / "runs").iterdir()
        summary = json.loads((run / "summary.json").read_text())
        assert summary["test_acc"] > 0.1 and summary["epochs_run"] == 2
        return
    if name == "bce":
        summary, metrics = run_on("tiny_binary", ["loss=bce"], tmp_path)
        assert {"train_loss", "val_acc", "val_auc"} <= set(metrics.columns) and summary["test_acc"] > 0.5
        return
    summary, metrics = run_on("tiny_regression", [f"loss={name}", "trainer.monitor=val_loss"], tmp_path)
    assert {"val_mae", "val_rmse", "val_r2"} <= set(metrics.columns)
    assert {"test_mae", "test_rmse", "test_r2"} <= set(summary)
    assert metrics["train_loss"].iloc[1] < metrics["train_loss"].iloc[0]  # it learns


def test_regression_defaults_to_mse(tiny_datasets, tmp_path):
    summary, metrics = run_on("tiny_regression", ["trainer.monitor=val_loss"], tmp_path)
    # mse is the loss: val_loss equals val_rmse squared
    assert metrics["val_loss"].iloc[-1] == pytest.approx(metrics["val_rmse"].iloc[-1] ** 2, rel=1e-4)
