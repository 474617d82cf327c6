"""Looking inside training (issue 15): per-layer statistics, the LR range test, the overfit
check, the profile, decision boundaries, norm/skip variants, receptive fields, sweep analysis."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import FAST

DEEP = "model.hidden=[32,32,32,32,32,32,32]"  # 7 hidden layers + the output layer: 8 layers


def only_run(root: Path) -> Path:
    (run,) = list((root / "outputs" / "runs").iterdir())
    return run


def epoch_grads(run: Path, epoch: int = 1) -> list[float]:
    """grad_norm per layer at `epoch`, first layer first (layers.csv keeps model order)."""
    with open(run / "layers.csv") as f:
        return [float(r["value"]) for r in csv.DictReader(f) if r["stat"] == "grad_norm" and int(r["epoch"]) == epoch]


def test_deep_sigmoid_mlp_vanishes_and_says_so(dlx, tmp_path):
    result = dlx("train", DEEP, "model.activation=sigmoid", "trainer.watch=grads", "trainer.epochs=1",
                 "data.limit=300", "trainer.num_threads=1")
    assert result.code == 0, result.err
    grads = epoch_grads(only_run(tmp_path))
    assert len(grads) == 8
    assert grads[0] <= grads[-1] / 100
    warnings = [line for line in result.err.splitlines() if line.startswith("warning: vanishing gradients")]
    assert len(warnings) == 1 and "batch norm" in warnings[0] and "relu" in warnings[0]
    assert "warning: vanishing" in (only_run(tmp_path) / "log.txt").read_text()


def test_relu_with_batch_norm_keeps_gradients_flowing(dlx, tmp_path):
    result = dlx("train", DEEP, "model.activation=relu", "model.norm=batch", "trainer.watch=grads",
                 "trainer.epochs=1", "data.limit=300", "trainer.num_threads=1")
    assert result.code == 0, result.err
    grads = epoch_grads(only_run(tmp_path))
    assert len(grads) == 8 and grads[0] >= grads[-1] / 10
    assert "warning" not in result.err


def test_watch_all_writes_every_statistic_and_show_plot_read_it(dlx, tmp_path):
    result = dlx("train", *FAST, "model.activation=relu", "trainer.watch=all")
    assert result.code == 0, result.err
    run = only_run(tmp_path)
    with open(run / "layers.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "layer", "stat", "value"]
    stats = {r["stat"] for r in rows}
    assert {"grad_norm", "update_ratio", "weight_norm", "act_mean", "act_std", "dead_frac"} <= stats
    assert {int(r["epoch"]) for r in rows} == {1, 2}
    dead = [float(r["value"]) for r in rows if r["stat"] == "dead_frac"]
    assert all(0.0 <= d <= 1.0 for d in dead)
    shown = dlx("show", "last", "--layers")
    assert shown.code == 0 and "grad_norm" in shown.out and "net.1" in shown.out
    drawn = dlx("plot", "last", "--layers", "grad_norm", "-o", "g.png")
    assert drawn.code == 0 and (tmp_path / "g.png").stat().st_size > 1000
    unknown = dlx("plot", "last", "--layers", "gradnorm", "-o", "g.png")
    assert unknown.code == 2 and "--layers gradnorm" in unknown.err and "grad_norm" in unknown.err


def test_watch_off_hooks_nothing():
    """trainer.watch=none (the default): no callback, no hook on the model or the optimizer."""
    import torch

    from dlx import config, data
    from dlx.engine.experiment import make_trainer
    from dlx.engine.tasks import build_task
    from dlx.engine.watch import LayerWatch

    exp = config.load(["data.limit=100"])
    bundle = data.build(exp.data)
    task = build_task(exp, bundle, torch.device("cpu"))

    class Run:
        id, path = "r", Path(".")

    trainer = make_trainer(exp, task, bundle, Run(), torch.device("cpu"), None, [])
    assert trainer.callbacks.find(LayerWatch) is None
    assert all(not m._forward_hooks for m in task.model.modules())
    assert not task.optimizer._optimizer_step_pre_hooks and not task.optimizer._optimizer_step_post_hooks


def test_watch_with_tensorboard_writes_histograms(dlx, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = dlx("train", *FAST, "trainer.watch=grads", "trainer.tensorboard=true")
    assert result.code == 0, result.err
    events = EventAccumulator(str(only_run(tmp_path)), size_guidance={"histograms": 0}).Reload()
    tags = events.Tags()["histograms"]
    assert "weights/net.1" in tags and "grads/net.1" in tags


def test_lr_find_adam_suggests_a_sane_rate_and_leaves_no_run(dlx, tmp_path):
    result = dlx("lr-find", "trainer.num_threads=1")
    assert result.code == 0, result.err
    line = next(line for line in result.out.splitlines() if line.startswith("use: optim.lr="))
    lr = float(line.split("=", 1)[1])
    assert 1e-4 <= lr <= 3e-2
    (folder,) = list((tmp_path / "outputs" / "lr-find").iterdir())
    with open(folder / "curve.csv") as f:
        rows = list(csv.DictReader(f))
    assert 10 <= len(rows) <= 100 and float(rows[0]["lr"]) == pytest.approx(1e-7)
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == sorted(lrs)
    assert (folder / "curve.png").stat().st_size > 1000
    assert not (tmp_path / "outputs" / "runs").exists()


def test_lr_find_runs_with_sgd(dlx, tmp_path):
    result = dlx("lr-find", "optim=sgd", "trainer.num_threads=1", "data.limit=300", "--steps", "40")
    assert result.code == 0, result.err
    assert "steps, lr 1.0e-07" in result.out
    assert len(list((tmp_path / "outputs" / "lr-find").iterdir())) == 1


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, said", [("SIGINT", 130, "Ctrl-C"), ("SIGTERM", 143, "SIGTERM")])
def test_lr_find_stopped_by_a_signal_says_so_in_one_line(tmp_path, sig, code, said):
    import signal

    from tests.test_interrupts import signal_at

    stopped = signal_at(tmp_path, ["lr-find", "trainer.num_threads=1", "data.limit=300", "--steps", "40"],
                        "step@3", getattr(signal, sig))
    assert stopped.returncode == code, stopped.stderr
    assert stopped.stderr.strip().splitlines() == [f"interrupted: dlx lr-find stopped by {said}; nothing was written"]
    assert not (tmp_path / "outputs" / "lr-find").exists()


def test_lr_find_suggestion_rule():
    from dlx.engine.lr_find import schedule, suggest

    lrs = schedule(1e-4, 1.0, 5)
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1.0)
    rows = [{"lr": lr, "smoothed": s} for lr, s in zip(lrs, [2.0, 1.5, 0.5, 1.0, 9.0])]
    assert suggest(rows) == (pytest.approx(lrs[2] / 10), lrs[2])
    rising = [{"lr": lr, "smoothed": s} for lr, s in zip(lrs, [1.0, 2.0, 3.0, 4.0, 5.0])]
    assert suggest(rising)[0] is None


def test_overfit_one_batch_reaches_training_accuracy_one(dlx, tmp_path):
    result = dlx("train", "trainer.overfit_batches=1", "trainer.epochs=40", "trainer.num_threads=1")
    assert result.code == 0, result.err
    summary = json.loads((only_run(tmp_path) / "summary.json").read_text())
    assert summary["train_size"] == 32  # one batch of trainer.batch_size
    assert summary["train_acc"] == 1.0 and summary["val_size"] == 32  # validated on the same batch
    assert "overfit check on 1 batch(es)" in result.out and "fitted" in result.out


def test_profile_splits_each_epoch(dlx, tmp_path):
    result = dlx("train", *FAST, "trainer.profile=true")
    assert result.code == 0, result.err
    with open(only_run(tmp_path) / "profile.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row in rows:
        for phase in ("data", "forward", "backward", "optimizer", "evaluation", "checkpoint"):
            assert float(row[phase]) >= 0
        assert float(row["forward"]) > 0 and float(row["checkpoint"]) > 0
        assert int(row["steps"]) == 10  # data.limit=300 training samples, batches of 32


def test_slow_iteration_warns_once(monkeypatch):
    import logging

    from dlx.engine import profile

    monkeypatch.setattr(profile, "SLOW_STEP_S", 0.0)
    said = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    profile.log.addHandler(handler)  # its own handler: the CLI's install() stops propagation at `dlx`
    try:
        p = profile.Profiler()
        p.on_epoch_start(None, 1)
        p.slowest = 0.01
        p.on_epoch_end(None, {"epoch": 1})
        p.on_epoch_end(None, {"epoch": 2})
    finally:
        profile.log.removeHandler(handler)
    assert len(said) == 1 and "500 ms" in said[0]


def test_boundary_on_moons(dlx, tmp_path):
    assert dlx("train", "data=moons", "trainer.epochs=2", "trainer.num_threads=1").code == 0
    result = dlx("plot", "last", "--boundary", "-o", "b.png")
    assert result.code == 0, result.err
    assert (tmp_path / "b.png").stat().st_size > 5000


@pytest.mark.parametrize("model", ["mlp", "cnn", "resnet"])
@pytest.mark.parametrize("norm", ["batch", "layer", "group", "none"])
def test_norm_choices_build_and_train_a_step(model, norm):
    import torch
    from torch import nn

    from dlx import config, models

    extra = ["model.depth=20", "model.width=4"] if model == "resnet" else \
        (["model.channels=[4,8]", "model.fc=[]"] if model == "cnn" else [])
    exp = config.load([f"model={model}", f"model.norm={norm}", *extra])
    net = models.build(exp.model, (1, 8, 8), 10)
    kinds = {type(m) for m in net.modules()}
    wanted = {"batch": (nn.BatchNorm1d, nn.BatchNorm2d), "layer": (nn.LayerNorm, nn.GroupNorm),
              "group": (nn.GroupNorm,), "none": ()}[norm]
    if wanted:
        assert kinds & set(wanted)
    else:
        assert not any("Norm" in k.__name__ for k in kinds)
    net(torch.randn(4, 1, 8, 8)).sum().backward()


def test_batchnorm_key_and_regularizer_still_switch_batch_norm():
    from torch import nn

    from dlx import config, models

    for overrides in (["model.batchnorm=true"], ["regularizer=batchnorm"]):
        exp = config.load(overrides)
        net = models.build(exp.model, (64,), 10, exp.regularizer.dropout, exp.regularizer.batchnorm)
        assert any(isinstance(m, nn.BatchNorm1d) for m in net.modules())


def test_resnet_without_skips_is_the_same_network_minus_the_identity():
    import torch

    from dlx import config, models

    nets = {}
    for skip in ("true", "false"):
        exp = config.load(["model=resnet", "model.width=4", f"model.skip={skip}", "model.zero_init_residual=false"])
        torch.manual_seed(0)
        nets[skip] = models.build(exp.model, (1, 8, 8), 10).eval()
    assert not any(n.endswith("downsample") for n, _ in nets["false"].named_modules())
    x = torch.randn(2, 1, 8, 8)
    assert not torch.allclose(nets["true"](x), nets["false"](x))


def test_receptive_field_grows_with_convolutions_and_pooling(dlx):
    from dlx import config
    from dlx.use.describe import describe

    exp = config.load(["model=cnn", "model.channels=[4,4]", "model.kernel_size=3", "model.pool_every=1"])
    _, summary, _ = describe(exp)
    fields = {r.name: r.receptive_field for r in summary.rows if r.receptive_field}
    # conv 3x3: 3; pool 2x2/2: 4; conv 3x3 at jump 2: 8; pool: 10
    assert fields == {"features.0.conv": 3, "features.0.pool": 4, "features.1.conv": 8, "features.1.pool": 10}
    shown = dlx("models", "show", "cnn", "model.channels=[4,4]", "model.pool_every=1")
    assert shown.code == 0 and "receptive field" in shown.out and "10x10" in shown.out


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    from dlx.sweep import driver

    out = tmp_path_factory.mktemp("sweep") / "outputs"
    result = driver.start(["data=moons", "trainer.epochs=1", "trainer.num_threads=1", "data.n_samples=200",
                           "optim.lr=tag(log,interval(1e-4,1e-1))", "model.hidden=[8],[16],[32]",
                           f"output_dir={out}"], sampler="random", trials=5)
    return out, result


def test_sweep_importance_and_plot(dlx, swept, tmp_path):
    out, result = swept
    shown = dlx("show", "last", "--importance", "--output-dir", str(out))
    assert shown.code == 0, shown.err
    assert "optim.lr" in shown.out and "model.hidden" in shown.out
    drawn = dlx("plot", "--sweep", "last", "-o", "s.png", "--output-dir", str(out))
    assert drawn.code == 0 and (tmp_path / "s.png").stat().st_size > 5000


def test_refined_space_is_narrower_around_the_best(swept):
    from dlx.sweep.refine import open_sweep, refined_overrides
    from dlx.sweep.space import parse_space

    out, _ = swept
    overrides, spec = refined_overrides(str(out), "last", 2, [])
    _, _, study = open_sweep(str(out), "last")
    best = sorted((t for t in study.trials if t.value is not None), key=lambda t: -t.value)[:2]
    space = parse_space(overrides)
    lr = next(d for d in space.dims if d.key == "optim.lr") if "optim.lr" in space.keys else None
    lrs = [t.params["optim.lr"] for t in best]
    assert lr is not None and lr.log
    assert 1e-4 <= lr.low <= min(lrs) and max(lrs) <= lr.high <= 1e-1
    assert "data=moons" in overrides and "trainer.epochs=1" in overrides
    hidden = {t.params["model.hidden"] for t in best}
    kept = next((o for o in overrides if o.startswith("model.hidden=")), "")
    assert set(kept.split("=", 1)[1].split(",")) == hidden
