"""Mixed precision, channels_last and torch.compile: opt-in switches on the trainer."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from tests.conftest import FAST

CNN = ["model=cnn", "model.channels=[8,8]", "model.fc=[32]"]


def summary(output_dir) -> dict:
    (run,) = (output_dir / "runs").iterdir()
    return json.loads((run / "summary.json").read_text())


def test_the_switches_are_off_by_default_and_shown_by_cfg(dlx):
    r = dlx("train", "--cfg")
    assert r.code == 0
    for line in ("precision: '32'", "channels_last: false", "compile: false", "devices: 1", "sync_bn: false"):
        assert line in r.out


def test_bf16_autocast_runs_the_matmuls_in_bfloat16_on_cpu():
    from dlx.engine.trainer import Trainer, TrainerConfig

    cpu = torch.device("cpu")
    with Trainer.autocast(SimpleNamespace(cfg=TrainerConfig(precision="bf16"), device=cpu)):
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.bfloat16
    with Trainer.autocast(SimpleNamespace(cfg=TrainerConfig(), device=cpu)):
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.float32


def test_a_bf16_run_learns_about_as_well_as_fp32(dlx, tmp_path):
    small = [*FAST, "model.hidden=[32]", "optim.lr=0.01"]  # bf16 matmuls are emulated on CPUs without native support
    assert dlx("train", *small, "trainer.precision=bf16", "output_dir=bf16", "-q").code == 0
    assert dlx("train", *small, "output_dir=fp32", "-q").code == 0
    bf16, fp32 = (summary(tmp_path / name) for name in ("bf16", "fp32"))
    assert bf16["test_acc"] > 0.5 and abs(bf16["test_acc"] - fp32["test_acc"]) < 0.1
    assert bf16["train_loss"] != fp32["train_loss"]  # the bf16 run did round differently


def test_fp16_needs_cuda(dlx):
    r = dlx("train", *FAST, "trainer.precision=16")
    assert r.code == 2 and "trainer.precision=16 needs a CUDA GPU" in r.err and "bf16" in r.err


def test_channels_last_keeps_the_maths_and_the_checkpoint_keys():
    from dlx import config, models
    from dlx.engine.distributed import wrap_model

    exp = config.load(CNN)
    torch.manual_seed(0)
    plain = models.build(exp.model, (1, 8, 8), 10, None, None).eval()
    nhwc = models.build(exp.model, (1, 8, 8), 10, None, None).eval()
    nhwc.load_state_dict(plain.state_dict())
    nhwc = wrap_model(nhwc, config.load([*CNN, "trainer.channels_last=true"]).trainer, None, torch.device("cpu"))
    conv = next(m for m in nhwc.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(nhwc(x), plain(x), atol=1e-5, rtol=1e-5)
    assert list(nhwc.state_dict()) == list(plain.state_dict())


def test_a_channels_last_cnn_run_trains(dlx, tmp_path):
    r = dlx("train", *CNN, *FAST, "trainer.channels_last=true", "-q")
    assert r.code == 0, r.err
    assert summary(tmp_path / "outputs")["test_acc"] > 0.2


def test_compile_is_applied_in_place_only_when_asked(monkeypatch):
    from dlx import config, models
    from dlx.engine.distributed import wrap_model

    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self))
    for flag, calls in (("false", 0), ("true", 1)):
        exp = config.load([f"trainer.compile={flag}"])
        model = models.build(exp.model, (64,), 10, None, None)
        assert wrap_model(model, exp.trainer, None, torch.device("cpu")) is model
        assert len(compiled) == calls
