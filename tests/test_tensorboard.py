"""trainer.loggers=[tensorboard] (or trainer.tensorboard=true): event files in the run folder, read back with TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("tensorboard")


def test_event_file_holds_epoch_scalars_lr_and_hparams(dlx, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = dlx("train", "-q", "trainer.epochs=3", "data.limit=120", "trainer.num_threads=1",
                 "trainer.checkpoint=false", "trainer.tensorboard=true", "optim.lr=0.003")
    assert result.code == 0, result.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    assert list(run.glob("events.out.tfevents.*")), "no event file in the run folder"
    metrics = pd.read_csv(run / "metrics.csv")
    events = EventAccumulator(str(run))
    events.Reload()
    scalars = events.Tags()["scalars"]
    for column, tag in (("train_loss", "loss/train"), ("val_loss", "loss/val"), ("val_acc", "acc/val"),
                        ("lr", "lr")):
        assert tag in scalars
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == list(metrics["epoch"])
        assert [e.value for e in logged] == pytest.approx(list(metrics[column]), rel=1e-5)
    summary = json.loads((run / "summary.json").read_text())
    (final,) = events.Scalars("hparam/test_acc")
    assert final.value == pytest.approx(summary["test_acc"], rel=1e-5)
    assert "_hparams_/experiment" in events.PluginTagToContent("hparams")


def test_loggers_list_asks_for_tensorboard_too(dlx, tmp_path):
    result = dlx("train", "-q", "trainer.epochs=1", "data.limit=120", "trainer.num_threads=1",
                 "trainer.checkpoint=false", "trainer.loggers=[tensorboard]")
    assert result.code == 0, result.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    assert list(run.glob("events.out.tfevents.*")), "trainer.loggers=[tensorboard] wrote no event file"


def test_no_event_file_unless_asked(dlx, tmp_path):
    result = dlx("train", "-q", "trainer.epochs=1", "data.limit=120", "trainer.num_threads=1",
                 "trainer.checkpoint=false")
    assert result.code == 0, result.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    assert not list(Path(run).glob("events.out.tfevents.*"))


def test_missing_extra_is_one_line_before_any_run_folder(dlx, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    result = dlx("train", "-q", "trainer.epochs=1", "data.limit=120", "trainer.tensorboard=true")
    assert result.code == 1
    assert result.err.strip() == "error: trainer.tensorboard=true needs tensorboard: pip install 'dlx[tensorboard]'"
    assert not (tmp_path / "outputs" / "runs").exists()
