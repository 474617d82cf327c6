"""Optimizers: one update through dlx's builders vs the textbook formula, by hand.

Each test builds the optimizer from its conf/optim/<name>.yaml (so the shipped
defaults are what is checked), takes a few steps on a tiny linear least-squares
problem, and replays the same steps with the update rule written out here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlx import config
from dlx.config import group_choices
from dlx.errors import ConfigError
from dlx.optim.optimizers import build_optimizer

ROOT = Path(__file__).resolve().parents[1]
OPTIMS = group_choices("optim")  # every registered optimizer, and each preset
TINY = ["data.limit=120", "trainer.num_threads=1", "model.hidden=[16]", "trainer.checkpoint=false"]
STEPS = 3


def problem():
    torch.manual_seed(0)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    model = nn.Linear(3, 2)
    return model, x, y


def grad(theta, x, y):
    """∇L at theta = (W, b) for L = mean((xWᵀ + b − y)²)."""
    W, b = (t.detach().clone().requires_grad_() for t in theta)
    return torch.autograd.grad(F.mse_loss(x @ W.T + b, y), [W, b])


def dlx_steps(name: str, overrides=(), steps: int = STEPS):
    """Parameters after `steps` steps of the optimizer dlx builds for `optim=name`."""
    cfg = config.load([f"optim={name}", *overrides]).optim
    model, x, y = problem()
    start = [p.detach().clone() for p in model.parameters()]
    opt = build_optimizer(cfg, model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    return cfg, start, x, y, [p.detach() for p in model.parameters()]


def assert_close(got, want):
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def test_gd_is_theta_minus_lr_grad():
    cfg, theta, x, y, got = dlx_steps("gd")
    for _ in range(STEPS):
        theta = [t - cfg.lr * g for t, g in zip(theta, grad(theta, x, y))]
    assert_close(got, theta)


def test_momentum_velocity_update():
    cfg, theta, x, y, got = dlx_steps("momentum")
    beta, lr = cfg.momentum, cfg.lr
    assert beta == 0.9
    V = [torch.zeros_like(t) for t in theta]
    for _ in range(STEPS):  # V ← βV + α∇L;  θ ← θ − V
        V = [beta * v + lr * g for v, g in zip(V, grad(theta, x, y))]
        theta = [t - v for t, v in zip(theta, V)]
    assert_close(got, theta)


def test_nesterov_is_sutskevers_look_ahead():
    """Sutskever: V ← βV + α∇L(θ − βV); θ ← θ − V. torch keeps the look-ahead point θ − βV."""
    cfg, theta, x, y, got = dlx_steps("nesterov")
    beta, lr = cfg.momentum, cfg.lr
    V = [torch.zeros_like(t) for t in theta]
    for _ in range(STEPS):
        ahead = [t - beta * v for t, v in zip(theta, V)]
        V = [beta * v + lr * g for v, g in zip(V, grad(ahead, x, y))]
        theta = [t - v for t, v in zip(theta, V)]
    assert_close(got, [t - beta * v for t, v in zip(theta, V)])
    # and it is not plain momentum
    _, _, _, _, heavy_ball = dlx_steps("momentum")
    assert not torch.allclose(got[0], heavy_ball[0])


def test_rmsprop_running_mean_of_squares():
    cfg, theta, x, y, got = dlx_steps("rmsprop")
    rho, lr, eps = cfg.alpha, cfg.lr, cfg.eps
    s = [torch.zeros_like(t) for t in theta]
    for _ in range(STEPS):  # s ← ρs + (1−ρ)g²;  θ ← θ − α g / (√s + ε)
        g = grad(theta, x, y)
        s = [rho * si + (1 - rho) * gi**2 for si, gi in zip(s, g)]
        theta = [t - lr * gi / (si.sqrt() + eps) for t, gi, si in zip(theta, g, s)]
    assert_close(got, theta)


def adam_by_hand(cfg, theta, x, y, decoupled: float = 0.0):
    (b1, b2), lr, eps = cfg.betas, cfg.lr, cfg.eps
    m = [torch.zeros_like(t) for t in theta]
    v = [torch.zeros_like(t) for t in theta]
    for k in range(1, STEPS + 1):
        g = grad(theta, x, y)
        theta = [t * (1 - lr * decoupled) for t in theta]  # AdamW shrinks θ apart from the gradient
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi**2 for vi, gi in zip(v, g)]
        m_hat = [mi / (1 - b1**k) for mi in m]  # bias correction
        v_hat = [vi / (1 - b2**k) for vi in v]
        theta = [t - lr * mh / (vh.sqrt() + eps) for t, mh, vh in zip(theta, m_hat, v_hat)]
    return theta


def test_adam_with_bias_correction():
    cfg, theta, x, y, got = dlx_steps("adam")
    assert list(cfg.betas) == [0.9, 0.999] and cfg.eps == 1e-8
    assert_close(got, adam_by_hand(cfg, theta, x, y))


def test_adamw_decouples_weight_decay():
    cfg, theta, x, y, got = dlx_steps("adamw")
    assert cfg.weight_decay > 0
    assert_close(got, adam_by_hand(cfg, theta, x, y, decoupled=cfg.weight_decay))


def test_adagrad_sums_squared_gradients():
    cfg, theta, x, y, got = dlx_steps("adagrad")
    G = [torch.zeros_like(t) for t in theta]
    for _ in range(STEPS):  # G ← G + g²;  θ ← θ − α g / (√G + ε)
        g = grad(theta, x, y)
        G = [Gi + gi**2 for Gi, gi in zip(G, g)]
        theta = [t - cfg.lr * gi / (Gi.sqrt() + cfg.eps) for t, gi, Gi in zip(theta, g, G)]
    assert_close(got, theta)


def test_lbfgs_solves_least_squares_in_one_step():
    cfg = config.load(["optim=lbfgs"]).optim
    model, x, y = problem()
    opt = build_optimizer(cfg, model.parameters())

    def closure():
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        return loss

    opt.step(closure)
    X = torch.cat([x, torch.ones(len(x), 1)], dim=1)  # [x 1] @ [Wᵀ; b] = y
    solution = torch.linalg.lstsq(X, y).solution
    torch.testing.assert_close(model.weight.detach(), solution[:3].T, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(model.bias.detach(), solution[3], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["gd", "lbfgs"])
def test_full_batch_optimizers_step_once_per_epoch(name, dlx, tmp_path):
    res = dlx("train", "-q", f"optim={name}", "trainer.epochs=2", "trainer.checkpoint=true", *TINY[:-1])
    assert res.code == 0, res.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["step"] == 2  # one step per epoch: the batch is the whole split


def test_sgd_takes_mini_batch_steps(dlx, tmp_path):
    res = dlx("train", "-q", "optim=sgd", "trainer.epochs=1", "trainer.batch_size=40", "trainer.checkpoint=true",
              *TINY[:-1])
    assert res.code == 0, res.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 3  # 120 samples / 40


@pytest.mark.parametrize("name", OPTIMS)
def test_every_optimizer_trains_two_epochs_from_the_cli(name, dlx, tmp_path):
    res = dlx("train", "-q", f"optim={name}", "trainer.epochs=2", *TINY)
    assert res.code == 0, res.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    metrics = pd.read_csv(run / "metrics.csv")
    assert summary["optim"] == name and summary["epochs_run"] == 2
    assert len(metrics) == 2 and metrics["train_loss"].notna().all()
    assert metrics["lr"].iloc[0] == pytest.approx(config.load([f"optim={name}"]).optim.lr)


def test_registry_and_conf_agree():
    from dlx.registry import OPTIMIZERS
    from dlx.plugins import load_builtins as load_components

    load_components()
    assert OPTIMIZERS.names() == OPTIMS


@pytest.mark.parametrize("overrides, message", [
    (["optim=nesterov", "optim.momentum=0"], "nesterov"),
    (["optim=lbfgs", "optim.weight_decay=0.1"], "regularizer.l2"),
    (["optim=adam", "optim.betas=[0.9,1.5]"], "betas"),
])
def test_bad_optimizer_settings_are_one_line_errors(overrides, message, dlx):
    res = dlx("train", *overrides)
    assert res.code == 2
    assert message in res.err and len(res.err.strip().splitlines()) == 1


def test_decoupled_weight_decay_goes_to_the_optimizer():
    exp = config.load(["optim=sgd", "regularizer.decoupled_weight_decay=0.01"])
    opt = build_optimizer(exp.optim, nn.Linear(2, 2).parameters(), exp.regularizer.decoupled_weight_decay)
    assert opt.param_groups[0]["weight_decay"] == 0.01
    lbfgs = config.load(["optim=lbfgs", "regularizer.decoupled_weight_decay=0.01"])
    with pytest.raises(ConfigError, match="decoupled_weight_decay"):
        build_optimizer(lbfgs.optim, nn.Linear(2, 2).parameters(), 0.01)
    adamw = config.load(["optim=adamw"]).optim  # its own weight_decay is replaced, not added to
    assert build_optimizer(adamw, nn.Linear(2, 2).parameters(), 0.05).param_groups[0]["weight_decay"] == 0.05
