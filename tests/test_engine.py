"""The engine's parts: callback hooks, metric state, best weights / early stopping, tasks, RunSummary."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from dlx.engine.callbacks import HOOKS, BestWeights, Callback, EarlyStopping
from dlx.engine.tasks import Task, task_class
from dlx.engine.trainer import Trainer, TrainerConfig
from dlx.errors import ConfigError, first_line
from dlx.metrics import accumulator
from dlx.optim.schedulers import Schedule
from dlx.store.summary import RunSummary

TINY = ["trainer.epochs=3", "data.limit=200", "trainer.num_threads=1", "trainer.checkpoint_every_steps=5"]


# ---------------------------------------------------------------- callbacks


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_fit_start(self, trainer, ctx):
        self.calls.append(("on_fit_start", ctx.run_dir.id, ctx.params))

    def on_epoch_start(self, trainer, epoch):
        self.calls.append(("on_epoch_start", epoch))

    def on_step_checkpoint(self, trainer, step):
        self.calls.append(("on_step_checkpoint", step))

    def on_epoch_end(self, trainer, row):
        self.calls.append(("on_epoch_end", row["epoch"]))

    def on_improved(self, trainer, row):
        self.calls.append(("on_improved", row["epoch"]))

    def on_fit_end(self, trainer, summary):
        self.calls.append(("on_fit_end", summary["run_id"]))


def test_every_hook_is_called_once_per_event_in_order_with_its_signature(tmp_path):
    from dlx import config
    from dlx.engine import experiment

    recorder = Recorder()
    summary = experiment.run(config.load([*TINY, f"output_dir={tmp_path}"]), callbacks=[recorder])
    names = [c[0] for c in recorder.calls]
    assert set(names) == set(HOOKS)  # every hook of the base class is reached
    assert recorder.calls[0] == ("on_fit_start", summary.run_id, summary.params)
    assert recorder.calls[-1] == ("on_fit_end", summary.run_id)
    assert [c[1] for c in recorder.calls if c[0] == "on_epoch_start"] == [1, 2, 3]
    assert [c[1] for c in recorder.calls if c[0] == "on_step_checkpoint"] == [5, 10, 15, 20]  # 7 steps an epoch
    improved = [c[1] for c in recorder.calls if c[0] == "on_improved"]
    assert improved[0] == 1 and summary.best_epoch == improved[-1]
    # on_improved comes before the epoch's on_epoch_end for later callbacks: files hold the decision
    assert names.index("on_improved") < names.index("on_epoch_end")


def rows(values, monitor="val_loss"):
    return [{"epoch": i, monitor: v} for i, v in enumerate(values, start=1)]


class FakeTrainer:
    def __init__(self):
        self.model = nn.Linear(2, 1)
        self.stop_training = False
        from dlx.engine.callbacks import Callbacks

        self.callbacks = Callbacks()


def test_early_stopping_counts_epochs_without_improvement_beyond_min_delta():
    trainer = FakeTrainer()
    stop = EarlyStopping("val_loss", "min", patience=2, min_delta=0.1)
    for row in rows([1.0, 0.95, math.nan, 0.5, 0.45]):  # 0.95 and 0.45 improve by < min_delta; NaN is skipped
        stop.on_epoch_end(trainer, row)
        assert not trainer.stop_training
    stop.on_epoch_end(trainer, {"epoch": 6, "val_loss": 0.5})
    assert trainer.stop_training and stop.stopped and stop.bad_epochs == 2


def test_best_weights_keeps_the_best_epoch_and_restores_it():
    trainer = FakeTrainer()
    best = BestWeights("val_acc", "max")
    kept = {}
    for row, scale in zip(rows([0.5, 0.8, 0.7], "val_acc"), (1.0, 2.0, 3.0)):
        with torch.no_grad():
            trainer.model.weight.fill_(scale)
        best.on_epoch_end(trainer, row)
        kept.setdefault(best.epoch, trainer.model.weight.clone())
    assert (best.epoch, best.value) == (2, 0.8)
    best.restore(trainer.model)
    assert torch.equal(trainer.model.weight, kept[2])
    restored = BestWeights("val_acc", "max")
    restored.load_state_dict(best.state_dict())
    assert (restored.epoch, restored.value) == (2, 0.8)


def test_best_weights_names_the_metrics_when_the_monitor_is_not_measured():
    from dlx.errors import RunError

    with pytest.raises(RunError, match="trainer.monitor=val_auc is not a metric of this run; choose one of: val_loss"):
        BestWeights("val_auc", "max").on_epoch_end(FakeTrainer(), {"epoch": 1, "val_loss": 1.0})


# ---------------------------------------------------------------- metric state


@pytest.mark.parametrize("kind,outputs", [("multiclass", 10), ("binary", 1), ("regression", 2)])
def test_an_accumulator_restored_mid_way_computes_what_the_whole_pass_does(kind, outputs):
    torch.manual_seed(0)
    batches = []
    for _ in range(6):
        out = torch.randn(8, outputs)
        y = torch.randn(8, outputs) if kind == "regression" else torch.randint(0, max(outputs, 2), (8,))
        batches.append((out, y, float(torch.rand(()))))
    whole = accumulator(kind, outputs, keep_scores=True)
    first = accumulator(kind, outputs, keep_scores=True)
    for i, (out, y, loss) in enumerate(batches):
        whole.update(out, y, loss)
        whole.add_term("penalty", loss / 3)
        if i < 3:
            first.update(out, y, loss)
            first.add_term("penalty", loss / 3)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)  # through a file, as a checkpoint takes it
    second = accumulator(kind, outputs, keep_scores=True)
    second.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    for out, y, loss in batches[3:]:
        second.update(out, y, loss)
        second.add_term("penalty", loss / 3)
    assert second.compute() == whole.compute()
    assert whole.compute()["penalty"] == pytest.approx(sum(b[2] for b in batches) / 3 / 6)


# ---------------------------------------------------------------- tasks


def test_the_supervised_task_trains_every_kind_of_labelled_data_and_others_are_refused():
    from dlx.engine.supervised import SupervisedTask

    assert all(task_class(kind) is SupervisedTask for kind in ("multiclass", "binary", "regression"))
    with pytest.raises(ConfigError, match="no task trains on 'graphs' data; tasks exist for: binary, ") as e:
        task_class("graphs")
    assert "multiclass" in str(e.value) and "seq2seq" in str(e.value)  # every registered task's kinds


class TwoOptimizers(Task):
    """A GAN-shaped task: two modules, each with its own optimizer, both stepped every batch."""

    def __init__(self):
        torch.manual_seed(0)
        self.first, self.second = nn.Linear(3, 1), nn.Linear(3, 1)
        self.model = nn.ModuleDict({"first": self.first, "second": self.second})
        self.optimizers = {"first": torch.optim.Adam(self.first.parameters(), lr=0.01),
                           "second": torch.optim.SGD(self.second.parameters(), lr=0.05, momentum=0.9)}
        self.schedules = {"first": Schedule(), "second": Schedule()}
        self.batch_size = 4

    def metric_names(self):
        return ["loss"]

    def train_metrics(self):
        return accumulator("regression", 1)

    def eval_metrics(self, keep_scores=True):
        return accumulator("regression", 1)

    def train_step(self, trainer, batch, metrics):
        x, y = batch
        for name, module in (("first", self.first), ("second", self.second)):
            loss = nn.functional.mse_loss(module(x).squeeze(1), y)
            self.optimizers[name].zero_grad(set_to_none=True)
            trainer.backward_and_step(loss, self.optimizers[name], module)
        metrics.update(module(x).detach(), y, loss.item())
        metrics.add_term("first_loss", nn.functional.mse_loss(self.first(x).squeeze(1), y).item())
        return loss.item()

    def eval_step(self, trainer, batch, metrics):
        x, y = batch
        metrics.update(self.second(x), y, nn.functional.mse_loss(self.second(x).squeeze(1), y).item())


def test_a_task_with_two_optimizers_saves_both_and_resumes_exactly():
    torch.manual_seed(1)
    x, y = torch.randn(24, 3), torch.randn(24)
    batches = [(x[i:i + 4], y[i:i + 4]) for i in range(0, 24, 4)]
    cfg = TrainerConfig(epochs=2, monitor="val_loss", checkpoint_every_steps=1)
    states = []

    class Keep(Callback):
        def on_step_checkpoint(self, trainer, step):
            buffer = io.BytesIO()
            torch.save(trainer.state_dict(), buffer)
            states.append(buffer.getvalue())

    whole = Trainer(cfg, TwoOptimizers(), device=torch.device("cpu"), callbacks=[Keep()])
    whole.fit(batches, batches)
    state = torch.load(io.BytesIO(states[8]), weights_only=True)  # epoch 2, batch 3
    assert set(state["optimizer"]) == {"first", "second"} and state["epoch_in_progress"]["batches"] == 3
    resumed = Trainer(cfg, TwoOptimizers(), device=torch.device("cpu"))
    resumed.load_state_dict(state)
    resumed.fit(batches, batches)
    for k, v in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[k], v), k
    drop = ("epoch_time_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.history] == \
        [{k: v for k, v in r.items() if k not in drop} for r in whole.history]
    assert "train_first_loss" in whole.history[0]


# ---------------------------------------------------------------- the run summary


def test_run_summary_round_trips_summary_json_in_its_key_order(tmp_path):
    from dlx import config
    from dlx.engine import experiment

    summary = experiment.run(config.load(["trainer.epochs=1", "data.limit=200", "trainer.num_threads=1",
                                          f"output_dir={tmp_path}"]))
    text = (Path(summary.path) / "summary.json").read_text()
    on_disk = json.loads(text)
    assert list(on_disk) == list(summary.to_json()) and on_disk == summary.to_json()
    again = RunSummary.from_json(on_disk)
    assert again == summary and again.metrics["test_acc"] == summary["test_acc"] == on_disk["test_acc"]
    assert dict(summary.items()) == on_disk  # also read as a mapping, as summary.json's readers do
    with pytest.raises(ValueError, match="not a run summary: no best_value"):
        RunSummary.from_json({k: v for k, v in on_disk.items() if k != "best_value"})


def test_first_line_quotes_an_error_in_one_short_line():
    assert first_line(ValueError("  bad thing\nmore detail")) == "bad thing"
    assert first_line(KeyError()) == "KeyError"
    assert len(first_line(RuntimeError("x" * 500))) == 200


def test_a_checkpoint_from_before_callbacks_is_refused_in_one_line(tmp_path):
    from dlx.engine.experiment import continue_from
    from dlx.engine.resume import Resume
    from dlx.errors import RunError
    from dlx.store.rundir import RunDir

    run = RunDir.create(tmp_path, "old")
    old = {"model": {}, "optimizer": {}, "schedule": {}, "epoch": 1, "step": 7, "history": [], "rng": {},
           "best_state": None, "bad_epochs": 0, "stopped_early": False}  # the format before callbacks
    with pytest.raises(RunError, match="last.pt was written by an older dlx .* start a new run with `dlx train`"):
        continue_from(None, Resume(run, old, run.checkpoint_path("last"), []), run)
