"""Issue 24, the run path: the best epoch (monitor, ties), device errors, lr-find's range, bagging
stopped and resumed, resumed time, runs without validation, per-epoch files off the training thread."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn

from dlx.engine.callbacks import BestWeights, Callbacks, EarlyStopping, Monitor
from dlx.errors import ConfigError

TINY = ["trainer.num_threads=1", "data.limit=200"]


class FakeTrainer:
    def __init__(self):
        self.model = nn.Linear(2, 1)
        self.stop_training = False
        self.callbacks = Callbacks()


def epochs(accs, losses):
    return [{"epoch": i + 1, "val_acc": a, "val_loss": v} for i, (a, v) in enumerate(zip(accs, losses))]


# ---------------------------------------------------------------- 7: ties on an accuracy-like monitor


def test_a_tie_on_accuracy_with_a_lower_val_loss_is_the_best_epoch():
    trainer, best = FakeTrainer(), BestWeights("val_acc", "max")
    for row in epochs([0.5, 0.875, 0.875, 0.875], [1.0, 0.7, 0.26, 0.4]):
        with torch.no_grad():
            trainer.model.weight.fill_(row["epoch"])
        best.on_epoch_end(trainer, row)
    assert (best.epoch, best.value) == (3, 0.875)  # not epoch 2, the first of the tie; not 4 (higher loss)
    assert torch.all(best.weights["weight"] == 3)
    again = BestWeights("val_acc", "max")
    again.load_state_dict(best.state_dict())  # a resumed run keeps breaking ties against epoch 3's loss
    again.on_epoch_end(trainer, {"epoch": 5, "val_acc": 0.875, "val_loss": 0.3})
    assert again.epoch == 3


def test_early_stopping_counts_a_tie_with_a_lower_val_loss_as_an_improvement():
    trainer, stop = FakeTrainer(), EarlyStopping("val_acc", "max", patience=2)
    for row in epochs([0.875, 0.875, 0.875, 0.875], [0.7, 0.5, 0.3, 0.2]):
        stop.on_epoch_end(trainer, row)
    assert not trainer.stop_training and stop.bad_epochs == 0
    for row in epochs([0.875, 0.875], [0.25, 0.9]):  # a tie with a higher loss is not an improvement
        stop.on_epoch_end(trainer, row)
    assert trainer.stop_training and stop.stopped


def test_the_tie_rule_leaves_val_loss_and_min_delta_alone():
    rule = Monitor("val_loss", "min", min_delta=0.1)
    rule.accept({"val_loss": 1.0})
    assert not rule.improved({"val_loss": 0.95}) and rule.improved({"val_loss": 0.85})
    acc = Monitor("val_acc", "max")
    acc.accept({"val_acc": 0.5, "val_loss": 1.0})
    assert not acc.improved({"val_acc": 0.5, "val_loss": math.nan})
    assert not acc.improved({"val_acc": 0.4, "val_loss": 0.1})  # worse accuracy, whatever its loss


# ---------------------------------------------------------------- 6: language models monitor val_loss


def test_language_models_keep_their_best_epoch_by_val_loss():
    from dlx.engine.monitor import resolve_monitor

    assert resolve_monitor("auto", "language", "lm") == "val_loss"
    assert resolve_monitor("val_acc", "language", "lm") == "val_acc"  # asked for, kept
    assert resolve_monitor("auto", "multiclass", "mlp") == "val_acc"


# ---------------------------------------------------------------- 31: an unavailable device


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:3"])
def test_cuda_without_cuda_is_a_config_error(name):
    from dlx.engine.runtime import resolve_device

    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device(name)


def test_a_missing_cuda_index_is_a_config_error():
    from dlx.engine.runtime import resolve_device

    with pytest.raises(ConfigError):
        resolve_device(f"cuda:{max(torch.cuda.device_count(), 1) + 7}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_on_cuda_without_cuda_exits_2(dlx):
    result = dlx("train", "trainer.device=cuda", "trainer.epochs=1", *TINY)
    assert result.code == 2 and "CUDA is not available" in result.err


# ---------------------------------------------------------------- 32: lr-find's range


@pytest.mark.parametrize("start,end", [("1e-7", "inf"), ("1e-7", "nan"), ("nan", "10"), ("1", "1"), ("2", "1")])
def test_lr_find_refuses_a_range_it_cannot_sweep(dlx, tmp_path, start, end):
    result = dlx("lr-find", "--start", start, "--end", end, *TINY)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "--start" in result.err and not (tmp_path / "outputs").exists()


# ---------------------------------------------------------------- 15: no validation split


def test_without_validation_the_summary_says_the_final_weights_are_the_best(dlx, tmp_path):
    result = dlx("train", "data.val_fraction=0", "trainer.epochs=2", *TINY)
    assert result.code == 0, result.err
    assert "no validation split: the final weights are the best, epoch 2/2" in result.out
    assert "best val_acc" not in result.out
    run = next((tmp_path / "outputs" / "runs").iterdir())
    assert (run / "checkpoints" / "best.pt").exists()
    assert dlx("eval", "last").code == 0  # --checkpoint best, the default, is there


# ---------------------------------------------------------------- 18: time over sessions


def test_a_resumed_run_counts_the_time_of_every_session(monkeypatch):
    from dlx.engine import runfolder

    now = [100.0]
    monkeypatch.setattr(runfolder.time, "perf_counter", lambda: now[0])
    first = runfolder.Clock()
    first.on_epoch_start(None, 1)
    now[0] += 7.0  # 7 s into epoch 1, a step checkpoint saves the clock; then kill -9
    saved = first.state_dict()
    assert saved == {"elapsed_s": 7.0, "epoch_s": 7.0}
    now[0] += 1000.0  # the process is gone a while: that time is not training
    second = runfolder.Clock()
    second.load_state_dict(saved)
    second.on_epoch_start(None, 1)  # epoch 1 continued
    now[0] += 3.0
    row = {"epoch": 1, "epoch_time_s": 3.0}  # what the trainer measured in this session
    second.on_epoch_end(None, row)
    assert row["epoch_time_s"] == 10.0 and second.elapsed() == 10.0
    row = {"epoch": 2, "epoch_time_s": 2.0}
    second.on_epoch_start(None, 2)
    now[0] += 2.0
    second.on_epoch_end(None, row)
    assert row["epoch_time_s"] == 2.0 and second.elapsed() == 12.0


# ---------------------------------------------------------------- 10: dlx bag stopped and resumed


@pytest.mark.slow
@pytest.mark.parametrize("jobs,sig,code", [(1, "SIGTERM", 143), (2, "SIGINT", 130)])
def test_a_signal_stops_dlx_bag_and_resume_finishes_the_missing_members(tmp_path, jobs, sig, code):
    import signal

    from tests.conftest import run_process
    from tests.test_interrupts import OUT, TINY as SMALL, resume_hint, signal_at

    # jobs=1: member-0 finished, member-1 stopped at its first epoch's end, member-2 never started;
    # jobs=2: members 0 and 1 stopped together, member-2 not started (or stopped at its first step)
    pause = "epoch-end@3" if jobs == 1 else "epoch-end@1"
    args = ["bag", "-n", "3", "--jobs", str(jobs), *SMALL]
    stopped = signal_at(tmp_path, args, pause, getattr(signal, sig))
    assert stopped.returncode == code, stopped.stderr
    *progress, last = [line for line in stopped.stderr.splitlines() if line.strip()]
    assert all(line.startswith("member-") for line in progress), stopped.stderr  # finished members' lines
    hint = resume_hint(last, "bag")
    (folder,) = (tmp_path / OUT / "ensembles").iterdir()
    assert not (folder / "summary.json").exists()
    members = {p.name: json.loads((p / "status.json").read_text())["status"]
               for p in folder.glob("member-*") if (p / "status.json").exists()}
    assert members.get("member-1") == "interrupted"
    if jobs == 1:
        assert members == {"member-0": "finished", "member-1": "interrupted"}
        assert [line.split(":")[0] for line in progress] == ["member-0"]  # not "member-1: failed"
    finished_before = {m for m, s in members.items() if s == "finished"}
    mtimes = {m: (folder / m / "summary.json").stat().st_mtime_ns for m in finished_before}
    again = run_process(hint, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    summary = json.loads((folder / "summary.json").read_text())
    assert len(summary["members"]) == 3
    assert {m: (folder / m / "summary.json").stat().st_mtime_ns for m in finished_before} == mtimes  # kept
    log = (folder / "member-1" / "log.txt").read_text()
    assert "resumed from" in log  # continued from its checkpoint, not started over


# ---------------------------------------------------------------- 36: checkpoints off the training thread


def test_a_checkpoint_holds_the_state_of_its_moment_while_training_changes_the_tensors(tmp_path):
    from dlx.store.rundir import RunDir, snapshot

    model = nn.Linear(3, 2)
    state = {"model": model.state_dict(), "history": [{"epoch": 1}], "step": 7}
    copy = snapshot(state)
    assert copy["model"]._metadata == state["model"]._metadata  # load_state_dict's versions kept
    run = RunDir.create(tmp_path, "snap")
    expected = model.weight.detach().clone()
    run.save_checkpoint("last", state)
    with torch.no_grad():
        model.weight.add_(1.0)  # the next steps, while the writer thread serialises
    state["history"].append({"epoch": 2})
    run.flush()
    saved = torch.load(run.checkpoint_path("last"), weights_only=True)
    assert torch.equal(saved["model"]["weight"], expected) and saved["history"] == [{"epoch": 1}]
    assert saved["step"] == 7


def test_metrics_csv_appended_row_by_row_reads_as_the_whole_file_rewritten(tmp_path):
    import csv

    from dlx.store.rundir import RunDir

    rows = [{"epoch": e, "lr": 0.1 / e, "val_loss": 1 / 3 + e} for e in range(1, 4)]
    rows.append({"epoch": 4, "lr": 0.025, "val_loss": 2.0, "epoch_time_s": 0.5})  # a new column
    rows.append({"epoch": 5, "lr": 0.02, "val_loss": 1.5, "epoch_time_s": 0.4})
    run = RunDir.create(tmp_path, "m")
    for n in range(1, len(rows) + 1):
        run.write_metrics(rows[:n])
        with open(run.path / "metrics.csv", newline="") as f:
            read = list(csv.DictReader(f))
        assert [{k: v for k, v in r.items() if v != ""} for r in read] == [
            {k: str(v) for k, v in r.items()} for r in rows[:n]]
    (run.path / "metrics.csv").write_text("epoch\n1\n2\n3\n4\n5\n6\n")  # a killed session's extra epoch
    again = RunDir.at(run.path)  # a resumed session: its first write is whole
    again.write_metrics(rows[:2])
    assert (run.path / "metrics.csv").read_text().count("\n") == 3


class LoopStandIn(FakeTrainer):
    """What the run writer reads of a trainer: epochs, history, its callbacks, its state."""

    def __init__(self, epochs: int, writer):
        super().__init__()
        self.cfg = type("Cfg", (), {"epochs": epochs, "monitor": "val_acc"})()
        self.epoch, self.history = 0, []
        self.callbacks = Callbacks([BestWeights("val_acc", "max"), writer])

    def end_epoch(self, val_acc: float) -> None:
        self.epoch += 1
        with torch.no_grad():
            self.model.weight.fill_(self.epoch)  # the weights tell the epoch they come from
        row = {"epoch": self.epoch, "val_acc": val_acc, "val_loss": 1.0}
        self.history.append(row)
        self.callbacks.emit("on_epoch_end", self, row)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "epoch": self.epoch, "history": self.history}


@pytest.mark.parametrize("every_s, written", [(0.0, [1, 2, 3, 4, 5]), (3600.0, [1, 5])])
def test_epoch_end_checkpoints_are_spaced_and_best_pt_goes_with_the_next_last_pt(tmp_path, every_s, written):
    """The first and the final epoch always write; between them, epochs closer than `every_s` to the
    last checkpoint do not. best.pt is written just before the last.pt that follows its improvement,
    holding the improved epoch's weights, so the two files on disk belong to the same moment."""
    from dlx.engine.runfolder import RunWriter
    from dlx.store.rundir import RunDir

    run = RunDir.create(tmp_path, "spaced")
    saves = []
    save = run.save_checkpoint
    run.save_checkpoint = lambda name, state: saves.append((name, state["epoch"])) or save(name, state)
    trainer = LoopStandIn(5, RunWriter(run, True, {}, every_s=every_s))
    for acc in (0.5, 0.75, 0.7, 0.6, 0.65):  # improvements at epochs 1 and 2
        trainer.end_epoch(acc)
    run.flush()
    assert [e for name, e in saves if name == "last"] == written
    assert saves[saves.index(("best", 2)) + 1][0] == "last"  # epoch 2's best.pt, then a last.pt
    best = torch.load(run.checkpoint_path("best"), weights_only=True)
    assert best["epoch"] == 2 and torch.all(best["model"]["weight"] == 2)
    assert torch.load(run.checkpoint_path("last"), weights_only=True)["epoch"] == 5


def test_early_stopping_and_a_stop_write_last_pt_whatever_the_spacing(tmp_path):
    from dlx.engine.runfolder import RunWriter
    from dlx.store.rundir import RunDir

    run = RunDir.create(tmp_path, "stops")
    writer = RunWriter(run, True, {}, every_s=3600.0)
    trainer = LoopStandIn(10, writer)
    trainer.end_epoch(0.5)
    trainer.end_epoch(0.6)  # improved, not yet written
    writer.save_last(trainer)  # Ctrl-C between steps: last.pt and the best.pt waiting
    run.flush()
    assert torch.load(run.checkpoint_path("best"), weights_only=True)["epoch"] == 2
    assert torch.load(run.checkpoint_path("last"), weights_only=True)["epoch"] == 2
    trainer.end_epoch(0.4)
    trainer.stop_training = True  # early stopping decides before the run writer's turn
    trainer.end_epoch(0.3)
    run.flush()
    assert torch.load(run.checkpoint_path("last"), weights_only=True)["epoch"] == 4


def test_a_failed_run_writes_the_best_pt_still_waiting(tmp_path):
    """An improvement made since the last checkpoint is not lost when the run then fails (diverges,
    runs out of memory): best.pt gets it, as the run is recorded failed."""
    from dlx import config
    from dlx.engine.runfolder import RunWriter
    from dlx.engine.stops import stopped
    from dlx.errors import RunError
    from dlx.store.rundir import RunDir

    run = RunDir.create(tmp_path, "failed")
    trainer = LoopStandIn(10, RunWriter(run, True, {}, every_s=3600.0))
    trainer.position = lambda: {"epoch": trainer.epoch, "step": 0}
    trainer.end_epoch(0.5)  # the first epoch writes
    trainer.end_epoch(0.75)  # improved, waiting for the next checkpoint
    error = stopped(RunError("loss is nan"), config.load([]), run, trainer)
    assert str(error) == "loss is nan"
    best = torch.load(run.checkpoint_path("best"), weights_only=True)
    assert best["epoch"] == 2 and torch.all(best["model"]["weight"] == 2)
    assert json.loads((run.path / "status.json").read_text())["status"] == "failed"
