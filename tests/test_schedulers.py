"""Learning-rate schedules: metrics.csv's `lr` column (the lr each epoch trained at)
follows each schedule's formula, written out here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from dlx.config import group_choices

ROOT = Path(__file__).resolve().parents[1]
SCHEDULES = group_choices("scheduler")  # every registered schedule, and each preset
# 64 training samples in batches of 32: two optimizer steps per epoch
TINY = ["data.limit=64", "trainer.batch_size=32", "trainer.num_threads=1", "model.hidden=[8]",
        "trainer.checkpoint=false", "optim=sgd", "optim.lr=0.1"]
LR0 = 0.1


def lr_column(dlx, tmp_path, epochs: int, *overrides) -> list[float]:
    res = dlx("train", "-q", f"trainer.epochs={epochs}", *TINY, *overrides)
    assert res.code == 0, res.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    return pd.read_csv(run / "metrics.csv")["lr"].tolist()


def test_step_halves_every_five_epochs(dlx, tmp_path):
    lrs = lr_column(dlx, tmp_path, 12, "scheduler=step", "scheduler.step_size=5", "scheduler.gamma=0.5")
    assert lrs == pytest.approx([LR0 * 0.5 ** ((e - 1) // 5) for e in range(1, 13)])
    assert lrs[4] == LR0 and lrs[5] == LR0 / 2 and lrs[10] == LR0 / 4  # drops after epochs 5 and 10


def test_multistep_drops_at_each_milestone(dlx, tmp_path):
    lrs = lr_column(dlx, tmp_path, 7, "scheduler=multistep", "scheduler.milestones=[2,5]", "scheduler.gamma=0.1")
    assert lrs == pytest.approx([LR0 * 0.1 ** sum(e - 1 >= m for m in (2, 5)) for e in range(1, 8)])


def test_exponential(dlx, tmp_path):
    lrs = lr_column(dlx, tmp_path, 5, "scheduler=exponential", "scheduler.gamma=0.8")
    assert lrs == pytest.approx([LR0 * 0.8 ** t for t in range(5)])


def test_inverse_time(dlx, tmp_path):
    lrs = lr_column(dlx, tmp_path, 5, "scheduler=inverse_time", "scheduler.decay=0.5")
    assert lrs == pytest.approx([LR0 / (1 + 0.5 * t) for t in range(5)])


def test_cosine_reaches_towards_min_lr(dlx, tmp_path):
    E, floor = 6, 0.01
    lrs = lr_column(dlx, tmp_path, E, "scheduler=cosine", f"scheduler.min_lr={floor}")
    assert lrs == pytest.approx([floor + (LR0 - floor) * (1 + math.cos(math.pi * t / E)) / 2 for t in range(E)])


def test_warmup_rises_linearly_then_cosine(dlx, tmp_path):
    E, W, floor = 9, 3, 0.001
    lrs = lr_column(dlx, tmp_path, E, "scheduler=warmup_cosine", f"scheduler.warmup_epochs={W}",
                    f"scheduler.min_lr={floor}")
    warm = [LR0 * e / W for e in range(1, W + 1)]
    cos = [floor + (LR0 - floor) * (1 + math.cos(math.pi * (t - W) / (E - W))) / 2 for t in range(W, E)]
    assert lrs == pytest.approx(warm + cos)
    assert lrs[1] - lrs[0] == pytest.approx(lrs[2] - lrs[1])  # linear rise
    assert all(a > b for a, b in zip(lrs[W:], lrs[W + 1:]))  # then falls


def test_plateau_drops_by_factor_after_patience_and_never_below_min_lr(dlx, tmp_path):
    # threshold 0.999: only a 1000-fold fall of val_loss counts as progress, so every epoch
    # after the first stalls — the lr's path is then the rule's alone
    factor, patience, floor, E = 0.5, 1, 0.03, 9
    lrs = lr_column(dlx, tmp_path, E, "scheduler=plateau", f"scheduler.factor={factor}",
                    f"scheduler.patience={patience}", f"scheduler.min_lr={floor}", "scheduler.threshold=0.999",
                    "trainer.monitor=val_loss")
    expected, lr, bad = [], LR0, 0
    for epoch in range(1, E + 1):
        expected.append(lr)
        bad = 0 if epoch == 1 else bad + 1
        if bad > patience:  # `patience` stalled epochs tolerated, the next one reduces
            lr, bad = max(lr * factor, floor), 0
    assert lrs == pytest.approx(expected)
    assert lrs[2] == LR0 and lrs[3] == LR0 * factor and min(lrs) == floor


def test_plateau_follows_the_monitor_direction(dlx, tmp_path):
    # val_acc is maximised: with a huge threshold nothing after epoch 1 counts as better
    lrs = lr_column(dlx, tmp_path, 4, "scheduler=plateau", "scheduler.patience=0", "scheduler.factor=0.1",
                    "scheduler.threshold=100", "scheduler.min_lr=0", "trainer.monitor=val_acc")
    assert lrs == pytest.approx([LR0, LR0, LR0 * 0.1, LR0 * 0.01])


def onecycle_lr(step: int, total: int, max_lr: float, pct: float = 0.3, div: float = 25.0,
                final_div: float = 1e4) -> float:
    """Smith's one cycle, cosine: rise from max_lr/div to max_lr, then fall to max_lr/div/final_div."""
    start, low = max_lr / div, max_lr / div / final_div
    peak = pct * total - 1

    def anneal(a, b, frac):
        return b + (a - b) * (1 + math.cos(math.pi * frac)) / 2

    if step <= peak:
        return anneal(start, max_lr, step / peak)
    return anneal(max_lr, low, (step - peak) / (total - 1 - peak))


def test_onecycle_steps_every_batch(dlx, tmp_path):
    E, S, peak = 6, 2, 0.5
    lrs = lr_column(dlx, tmp_path, E, "scheduler=onecycle", f"scheduler.max_lr={peak}")
    # the lr an epoch starts with is the one after S·(e−1) per-batch steps
    assert lrs == pytest.approx([onecycle_lr(S * e, E * S, peak) for e in range(E)])
    assert lrs[0] == pytest.approx(peak / 25)


def test_none_is_constant(dlx, tmp_path):
    assert lr_column(dlx, tmp_path, 3, "scheduler=none") == [LR0] * 3


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_schedule_trains_two_epochs_from_the_cli(name, dlx, tmp_path):
    res = dlx("train", "-q", f"scheduler={name}", "trainer.epochs=2", *TINY)
    assert res.code == 0, res.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    lrs = pd.read_csv(run / "metrics.csv")["lr"]
    assert summary["scheduler"] == name and len(lrs) == 2 and (lrs > 0).all()


def test_registry_and_conf_agree():
    from dlx.registry import SCHEDULERS
    from dlx.plugins import load_builtins as load_components

    load_components()
    assert SCHEDULERS.names() == SCHEDULES


@pytest.mark.parametrize("overrides, message", [
    (["scheduler=step", "scheduler.step_size=0"], "step_size"),
    (["scheduler=multistep", "scheduler.milestones=[5,2]"], "milestones"),
    (["scheduler=plateau", "scheduler.factor=1.5"], "factor"),
    (["scheduler=onecycle", "scheduler.anneal_strategy=quadratic"], "anneal_strategy"),
])
def test_bad_schedule_settings_are_one_line_errors(overrides, message, dlx):
    res = dlx("train", *overrides)
    assert res.code == 2 and message in res.err and len(res.err.strip().splitlines()) == 1
