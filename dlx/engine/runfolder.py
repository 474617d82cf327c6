"""The run folder of the run path: its label, opening it (config.yaml, overrides.yaml, status),
the callback that keeps it current (metrics.csv, log.txt, checkpoints), and the process set-up.
Shared by networks trained by the loop and scikit-learn baselines fitted once."""

from __future__ import annotations

import math
import time
from pathlib import Path

from dlx import testhooks
from dlx.config import Experiment
from dlx.engine.callbacks import BestWeights, Callback
from dlx.store.rundir import RunDir
from dlx.store.runs import RUNS


def label_for(exp: Experiment) -> str:
    """The run folder's label: the experiment's name, else model, optimizer and data (a fitted
    scikit-learn baseline has no optimizer)."""
    if exp.name:
        return exp.name
    if getattr(exp.model, "fits_estimator", False):
        return f"{exp.model.name}-{exp.data.name}"
    return f"{exp.model.name}-{exp.optim.name}-{exp.data.name}"


class RunWriter(Callback):
    """Keeps the run folder current: metrics.csv and log.txt each epoch; checkpoints/last.pt at
    the end of an epoch when `every_s` (trainer.checkpoint_every_s) has passed since the last
    checkpoint, always at a session's first epoch and its final one, every
    trainer.checkpoint_every_steps and on a stop (Ctrl-C, SIGTERM). An epoch of a few ms would otherwise spend more on its checkpoint than on
    its bookkeeping (issue 24); an epoch longer than `every_s` is checkpointed every time. A
    kill -9 loses the work since the last checkpoint: the epoch in progress and at most `every_s`
    of epochs before. checkpoints/best.pt is written just before the last.pt that follows an
    improvement (the weights wait in BestWeights' copy; without a validation split: the latest
    weights, after last.pt), so best.pt on disk goes with the last.pt written beside it; a run
    that fails writes the waiting best.pt (`save_best`). Under test pause points every epoch
    writes (the kill tests count checkpoints by epoch)."""

    def __init__(self, run: RunDir, checkpoint: bool, meta: dict, every_s: float):
        self.run, self.checkpoint, self.meta = run, checkpoint, meta
        self.every_s = 0.0 if testhooks.ACTIVE else every_s
        self.saved_at = -math.inf  # time.perf_counter() of the last checkpoint
        self.best: dict | None = None  # best.pt's state, written with the next last.pt

    def on_epoch_end(self, trainer, row: dict) -> None:
        self.run.write_metrics(trainer.history)
        self.run.log("  ".join(f"{k}={_fmt(v)}" for k, v in row.items()))
        testhooks.pause("epoch-end")
        final = trainer.stop_training or trainer.epoch >= trainer.cfg.epochs
        if self.checkpoint and (final or time.perf_counter() - self.saved_at >= self.every_s):
            self.save_last(trainer)
            if not any(k.startswith("val_") for k in row):
                self.save_final_as_best(trainer, row)

    def save_final_as_best(self, trainer, row: dict) -> None:
        """No validation split (data.val_fraction=0, a CV refit): nothing chooses an epoch, so the
        latest weights are the best and best.pt holds them (eval and predict read it by default)."""
        if row["epoch"] == 1 or not (self.run.path / "checkpoints" / "best.pt").exists():
            self.run.log("no validation split: the final weights are kept as the best (checkpoints/best.pt)")
        self.run.save_checkpoint("best", {"model": trainer.model.state_dict(), "epoch": row["epoch"], "value": None,
                                          "meta": self.meta})

    def on_step_checkpoint(self, trainer, step: int) -> None:
        self.save_last(trainer)

    def on_improved(self, trainer, row: dict) -> None:
        if self.checkpoint:  # BestWeights has just copied the improved weights: they stay as they are
            weights = trainer.callbacks.find(BestWeights).weights
            self.best = {"model": weights, "epoch": row["epoch"], "value": row[trainer.cfg.monitor], "meta": self.meta}

    def save_last(self, trainer) -> None:
        if self.checkpoint:
            self.save_best()
            self.run.save_checkpoint("last", {**trainer.state_dict(), "meta": self.meta})
            self.saved_at = time.perf_counter()

    def save_best(self) -> None:
        """best.pt of an improvement not yet written."""
        if self.best is not None:
            self.run.save_checkpoint("best", self.best)
            self.best = None


class Clock(Callback):
    """The run's time over all its sessions: a resumed run's `duration_s` and the `epoch_time_s` of an
    epoch continued after a resume add what the earlier sessions spent (saved with each checkpoint;
    time between the last checkpoint and a kill -9 is lost with the work it did). Called first, so
    the row the other callbacks see and write already holds the whole epoch's time."""

    def __init__(self):
        self.session_start = time.perf_counter()
        self.before = 0.0  # seconds the earlier sessions spent, up to their last checkpoint
        self.epoch_before = 0.0  # seconds they spent in the epoch this session continues
        self.epoch_start: float | None = None

    def elapsed(self) -> float:
        """Seconds of this run's training so far, every session counted."""
        return self.before + time.perf_counter() - self.session_start

    def on_epoch_start(self, trainer, epoch: int) -> None:
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, trainer, row: dict) -> None:
        if "epoch_time_s" in row:
            row["epoch_time_s"] += self.epoch_before
        self.epoch_before, self.epoch_start = 0.0, None

    def state_dict(self) -> dict:
        in_epoch = 0.0 if self.epoch_start is None else time.perf_counter() - self.epoch_start
        return {"elapsed_s": self.elapsed(), "epoch_s": self.epoch_before + in_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.before, self.epoch_before = state["elapsed_s"], state["epoch_s"]
        self.session_start = time.perf_counter()


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def setup_torch(exp: Experiment):
    """Threads, seeds and determinism; returns the device."""
    from dlx.engine.runtime import apply_threads, resolve_device, seed_everything

    apply_threads(exp.trainer.num_threads)  # `auto` decides later, when the model's size is known
    seed_everything(exp.trainer.seed, exp.trainer.deterministic)
    return resolve_device(exp.trainer.device)


def open_run(exp: Experiment, overrides, runs_root, run_path, resume, rank=None) -> tuple[RunDir, list]:
    """The run folder, locked, with config.yaml, overrides.yaml and status `running` written
    (a data-parallel rank other than 0 gets a folder that writes nothing)."""
    from dlx.engine import distributed

    root = Path(runs_root) if runs_root is not None else Path(exp.output_dir) / RUNS
    run_dir = distributed.run_dir_for(rank)  # ranks > 0 write nothing
    if run_dir is None and resume is not None:
        run_dir, overrides = resume.run, resume.overrides
    elif run_dir is None:
        run_dir = RunDir.at(Path(run_path)) if run_path is not None else RunDir.create(root, label_for(exp))
    distributed.announce(run_dir)
    run_dir.lock()
    run_dir.write_yaml("config.yaml", exp.raw)
    run_dir.write_yaml("overrides.yaml", list(overrides))
    run_dir.write_status("running")
    return run_dir, list(overrides)
