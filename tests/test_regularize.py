"""Regularisers: penalties equal their formulas, L2 shrinks weights, early stopping stops
and tests the best epoch, dropout is on in training only, and every option trains."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from dlx import config, data
from dlx.engine.experiment import build_parts
from dlx.regularize import build_penalty, penalized_parameters

ROOT = Path(__file__).resolve().parents[1]
REGULARIZERS = config.group_choices("regularizer")  # each preset, and the schema-only none
TINY = ["data.limit=120", "trainer.num_threads=1", "model.hidden=[16]"]
CPU = torch.device("cpu")


def the_run(tmp_path) -> Path:
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    return run


# ---------------------------------------------------------------- penalties

W1, B1 = [[1.0, -2.0], [3.0, 0.5]], [0.1, -0.2]
W2, B2 = [[-1.0, 4.0]], [7.0]


def known_model() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(W1))
        model[0].bias.copy_(torch.tensor(B1))
        model[3].weight.copy_(torch.tensor(W2))
        model[3].bias.copy_(torch.tensor(B2))
    return model


def flat(*tables):
    return [v for t in tables for row in (t if isinstance(t[0], list) else [t]) for v in row]


@pytest.mark.parametrize("choice, overrides", [
    ("l2", ["regularizer.l2=0.001"]),
    ("l1", ["regularizer.l1=0.01"]),
    ("elastic_net", ["regularizer.l1=0.01", "regularizer.l2=0.001"]),
])
def test_penalty_equals_the_formula_on_known_weights(choice, overrides):
    reg = config.load([f"regularizer={choice}", *overrides]).regularizer
    weights = flat(W1, W2)  # biases and batch-norm parameters are excluded by default
    want = reg.l1 * sum(abs(w) for w in weights) + reg.l2 * sum(w * w for w in weights)
    assert float(build_penalty(reg, known_model())().detach()) == pytest.approx(want, rel=1e-6)


def test_penalize_bias_includes_biases_and_norm_parameters():
    reg = config.load(["regularizer=l2", "regularizer.l2=0.5", "regularizer.penalize_bias=true"]).regularizer
    bn_weight, bn_bias = [1.0, 1.0], [0.0, 0.0]  # BatchNorm1d starts at γ = 1, β = 0
    everything = flat(W1, W2) + B1 + B2 + bn_weight + bn_bias
    assert float(build_penalty(reg, known_model())().detach()) == pytest.approx(0.5 * sum(w * w for w in everything))


def test_no_penalty_without_l1_or_l2():
    assert build_penalty(config.load(["regularizer=none"]).regularizer, known_model()) is None
    assert build_penalty(config.load(["regularizer=dropout"]).regularizer, known_model()) is None


def weight_norm(run: Path) -> float:
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    return sum(float(v.pow(2).sum()) for k, v in state.items() if k.endswith("weight") and v.ndim > 1) ** 0.5


def test_l2_shrinks_the_trained_weights(dlx, tmp_path):
    runs = {}
    for choice in ("none", "l2"):
        res = dlx("train", "-q", f"regularizer={choice}", "regularizer.l2=0.05" if choice == "l2" else "name=plain",
                  "trainer.epochs=3", "optim.lr=0.01", *TINY)
        assert res.code == 0, res.err
        runs[choice] = max((tmp_path / "outputs" / "runs").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert weight_norm(runs["l2"]) < 0.9 * weight_norm(runs["none"])
    with_penalty = pd.read_csv(runs["l2"] / "metrics.csv")
    assert (with_penalty["train_penalty"] > 0).all()
    assert "train_penalty" not in pd.read_csv(runs["none"] / "metrics.csv").columns


# ---------------------------------------------------------------- early stopping

OVERFIT = ["data.limit=50", "model.hidden=[256,256]", "optim.lr=0.01", "loss=cross_entropy",
           "trainer.monitor=val_loss", "regularizer=early_stopping", "regularizer.early_stopping.patience=3",
           "trainer.epochs=40", "trainer.num_threads=1"]


def test_early_stopping_stops_and_tests_the_best_epoch(dlx, tmp_path):
    res = dlx("train", "-q", *OVERFIT)
    assert res.code == 0, res.err
    run = the_run(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    metrics = pd.read_csv(run / "metrics.csv")
    assert summary["stopped_early"] is True
    assert summary["epochs_run"] == len(metrics) < 40
    assert summary["epochs_run"] == summary["best_epoch"] + 3  # patience epochs without improvement
    best = metrics["val_loss"].idxmin()
    assert metrics["epoch"][best] == summary["best_epoch"]
    assert summary["best_value"] == pytest.approx(metrics["val_loss"].min())
    assert metrics["val_loss"].iloc[-1] > metrics["val_loss"].min()  # it was overfitting

    # the test metrics are those of the best weights, not of the last epoch's
    exp = config.load(OVERFIT)
    bundle = data.build(exp.data)
    model, loss, *_ = build_parts(exp, bundle, CPU)

    def test_loss(checkpoint: str) -> float:
        model.load_state_dict(torch.load(run / "checkpoints" / checkpoint, weights_only=True)["model"])
        model.eval()
        with torch.no_grad():
            return float(loss(model(bundle.test.x), bundle.test.y))

    assert summary["test_loss"] == pytest.approx(test_loss("best.pt"), rel=1e-5)
    assert summary["test_loss"] != pytest.approx(test_loss("last.pt"), rel=1e-3)


def test_without_early_stopping_every_epoch_runs(dlx, tmp_path):
    res = dlx("train", "-q", *[o for o in OVERFIT if "early_stopping" not in o], "trainer.epochs=8")
    assert res.code == 0, res.err
    summary = json.loads((the_run(tmp_path) / "summary.json").read_text())
    assert summary["stopped_early"] is False and summary["epochs_run"] == 8


# ---------------------------------------------------------------- model switches


def parts(*overrides):
    exp = config.load([*overrides, "data.limit=64"])
    bundle = data.build(exp.data)
    model, *_ = build_parts(exp, bundle, CPU)
    return model, bundle


def test_dropout_is_on_in_training_and_off_in_evaluation():
    torch.manual_seed(0)
    model, bundle = parts("regularizer=dropout")
    rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert rates and all(p == 0.5 for p in rates)
    x = bundle.train.x[:16]
    model.train()
    assert not torch.equal(model(x), model(x))  # a fresh mask each pass
    model.eval()
    kept = model(x)
    assert torch.equal(kept, model(x))
    no_dropout, _ = parts("regularizer=dropout", "regularizer.dropout=0.0")
    assert not any(isinstance(m, nn.Dropout) for m in no_dropout.modules())
    linears = [m for m in no_dropout.modules() if isinstance(m, nn.Linear)]  # no dropout layers at all
    for mine, theirs in zip(linears, [m for m in model.modules() if isinstance(m, nn.Linear)], strict=True):
        mine.load_state_dict(theirs.state_dict())  # the same weights
    no_dropout.eval()
    torch.testing.assert_close(kept, no_dropout(x))


def test_regularizer_options_compose_with_overrides():
    exp = config.load(["regularizer=l2", "regularizer.dropout=0.3"])
    assert exp.regularizer.l2 == 1e-4 and exp.regularizer.dropout == 0.3
    model, _ = parts("regularizer=l2", "regularizer.dropout=0.3")
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.3}


def test_batchnorm_switches_on_and_is_not_penalised():
    model, _ = parts("regularizer=batchnorm", "regularizer.l2=0.01")
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert norms
    penalised = {id(p) for p in penalized_parameters(model)}
    assert not any(id(p) in penalised for m in norms for p in m.parameters())
    plain, _ = parts("regularizer=none")
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())


def test_clip_grad_norm_bounds_each_step():
    from dlx.regularize import RegularizerConfig  # noqa: F401  (the schema the key lives in)
    from dlx.optim.schedulers import Schedule
    from dlx.engine.supervised import SupervisedTask
    from dlx.engine.trainer import Trainer, TrainerConfig

    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x, y = torch.randn(32, 4), torch.randn(32) * 100  # a large loss: a gradient far above the clip
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    lr, clip = 1.0, 0.05
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss = lambda out, t: torch.nn.functional.mse_loss(out.reshape(t.shape), t)  # noqa: E731
    task = SupervisedTask(model, loss, optimizer, Schedule(None), kind="regression", num_outputs=1)
    trainer = Trainer(TrainerConfig(monitor="val_loss", checkpoint=False), task, device=CPU, clip_grad_norm=clip)
    trainer.train_one_epoch([(x, y)])
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(lr * clip, rel=1e-4)  # ‖Δθ‖ = lr · clip


# ---------------------------------------------------------------- every option


@pytest.mark.parametrize("name", REGULARIZERS)
def test_every_regularizer_trains_two_epochs_from_the_cli(name, dlx, tmp_path):
    res = dlx("train", "-q", f"regularizer={name}", "trainer.epochs=2", "trainer.checkpoint=false", *TINY)
    assert res.code == 0, res.err
    run = the_run(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    metrics = pd.read_csv(run / "metrics.csv")
    reg = config.load([f"regularizer={name}"]).regularizer
    assert summary["regularizer"] == name and {"stopped_early", "best_epoch"} <= set(summary)
    assert ("train_penalty" in metrics.columns) == bool(reg.l1 or reg.l2)
    assert len(metrics) == 2 and metrics["train_loss"].notna().all()


def test_standard_is_a_mix():
    reg = config.load(["regularizer=standard"]).regularizer
    assert reg.l2 > 0 and reg.dropout and reg.early_stopping.patience > 0 and reg.clip_grad_norm > 0


# ---------------------------------------------------------------- no hidden regularisation (issue 13, item 11)


def built(*overrides):
    exp = config.load([*TINY, *overrides])
    return build_parts(exp, data.build(exp.data), CPU)


def test_the_default_regularisation_is_in_the_regularizer_group_and_the_loss_is_textbook(dlx):
    exp = config.load([])
    assert exp.regularizer.name == "default" and exp.regularizer.dropout == 0.2
    assert exp.loss.name == "auto" and exp.loss.label_smoothing == 0.0 and exp.regularizer.label_smoothing == 0.0
    assert exp.model.dropout == 0.0  # the model's own rate is textbook; the regularizer sets it
    shown = dlx("train", "--cfg")
    assert "regularizer:\n  name: default" in shown.out and "  dropout: 0.2" in shown.out


@pytest.mark.parametrize("overrides, rate", [((), 0.2), (("regularizer.dropout=0",), None),
                                             (("regularizer=none",), None), (("regularizer.dropout=0.3",), 0.3)])
def test_dropout_switches_off_where_it_is_named(overrides, rate):
    model = built(*overrides)[0]
    rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert rates == ([] if rate is None else [rate])


def test_label_smoothing_switches_on_and_off_in_the_regularizer():
    out, y = torch.randn(8, 10, generator=torch.Generator().manual_seed(0)), torch.arange(8)
    plain = torch.nn.functional.cross_entropy(out, y).item()
    assert built()[1](out, y).item() == pytest.approx(plain)  # the default: no smoothing
    smoothed = built("regularizer.label_smoothing=0.1")[1](out, y).item()
    assert smoothed == pytest.approx(torch.nn.functional.cross_entropy(out, y, label_smoothing=0.1).item())
    assert built("regularizer.label_smoothing=0")[1](out, y).item() == pytest.approx(plain)
