"""The training loop: epochs of mini-batches and validation, the same for every task.

The trainer knows nothing of the CLI, of sweeps or of `outputs/`, nor of what is trained:
a `Task` (dlx.engine.tasks) builds the model and does each step, and `Callback`s
(dlx.engine.callbacks) keep the best weights, stop early and write the run folder.
What the loop owns is the order of things, the counters, the epoch in progress, the
mixed-precision scaler, signals between steps, and the state a checkpoint resumes from.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Optional

import torch

from dlx import testhooks
from dlx.data.loaders import padding_of
from dlx.engine.callbacks import Callbacks
from dlx.engine.runtime import rng_state, set_rng_state
from dlx.engine.schemas import TrainerConfig  # torch-free: checked before torch loads
from dlx.engine.shares import padding
from dlx.errors import RunError


class Divergence(RunError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, value: float):
        super().__init__(
            f"loss became {value} at epoch {epoch}, step {step}: training diverged — try a lower "
            "optim.lr, regularizer.clip_grad_norm=1.0, or a warm-up (scheduler=warmup_cosine)"
        )
        self.epoch, self.step, self.value = epoch, step, value


class StopRequested(Exception):
    """A signal asked the loop to stop; raised between steps, where the state is whole."""

    def __init__(self, signum: int):
        super().__init__(f"stop requested by signal {signum}")
        self.signum = signum



@dataclass
class EpochProgress:
    """The epoch under way: everything a mid-epoch checkpoint needs to continue it exactly."""

    lr: float  # the learning rate it started with (its metrics row shows it)
    shuffle_start: Optional[torch.Tensor]  # the shuffle generator's state when it started
    metrics: Any  # the task's training accumulator, holding the sums so far
    batches: int = 0  # batches trained on
    skip: Optional[dict] = None  # a loaded checkpoint's RNG states: its batches are yet to be skipped

    def state_dict(self) -> dict:
        return {"lr": self.lr, "batches": self.batches, "shuffle_start": self.shuffle_start,
                "metrics": self.metrics.state_dict()}


@dataclass
class BatchEnd:
    """What `on_batch_end(trainer, info)` listeners get after each training step (a progress bar)."""

    done: int  # batches trained on in this epoch
    total: Optional[int]  # batches in the epoch (None: a source without a length)
    loss: float  # this step's loss
    samples: int  # rows in this batch


def batch_rows(batch) -> int:
    """The rows of a batch: its first tensor's length (x of (x, y), a graph batch's own count)."""
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    try:
        return len(first)
    except TypeError:
        return 1


class Trainer:
    """Fits a task's model; all that is needed to resume lives in `state_dict()`."""

    def __init__(self, cfg: TrainerConfig, task, *, device: torch.device, clip_grad_norm: float = 0.0,
                 shuffle_generator: Optional[torch.Generator] = None, callbacks=()):
        self.cfg, self.task, self.device = cfg, task, device
        self.clip_grad_norm = clip_grad_norm
        self.generator = shuffle_generator
        self.callbacks = Callbacks(callbacks)
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.history: list[dict] = []
        self.stop_training = False  # set by a callback (early stopping): no further epoch
        self.stop_requested = 0  # set to a signal number by a handler: stop at the next step boundary
        self.progress: Optional[EpochProgress] = None
        self._resume: Optional[dict] = None  # a mid-epoch checkpoint to continue from
        self.metric_sync = None  # data-parallel: sums a rank's training metrics over the ranks
        self.scaler = torch.amp.GradScaler(device.type) if cfg.precision == "16" and device.type == "cuda" else None

    @property
    def model(self) -> torch.nn.Module:
        return self.task.model

    # ------------------------------------------------------------ the loop

    def fit(self, train, val) -> list[dict]:
        """Train until `cfg.epochs` or a callback stops it; return one metrics row per epoch."""
        while self.epoch < self.cfg.epochs and not self.stop_training:
            if self.stop_requested:
                raise StopRequested(self.stop_requested)
            start = time.perf_counter()
            lr = self._start_epoch().lr
            self.callbacks.emit("on_epoch_start", self, self.epoch + 1)
            train_metrics = self.train_one_epoch(train)
            val_metrics = self.evaluate(val) if len(val) else {}  # no validation split: a CV refit
            self.epoch += 1
            row = {"epoch": self.epoch, "lr": lr}
            row.update({f"train_{k}": v for k, v in train_metrics.items()})
            row.update({f"val_{k}": v for k, v in val_metrics.items()})
            row["epoch_time_s"] = time.perf_counter() - start
            self.history.append(row)
            for schedule in self.task.schedules.values():
                schedule.step_epoch(row.get(self.cfg.monitor))
            self.callbacks.emit("on_epoch_end", self, row)
        return self.history

    def train_one_epoch(self, batches) -> dict[str, float]:
        task = self.task
        task.model.train()
        progress = self._start_epoch()
        metrics = progress.metrics
        schedules = list(task.schedules.values())
        every = self.cfg.checkpoint_every_steps
        # in-memory batches (TensorBatches) already live on the device; a DataLoader's are moved here
        resident = getattr(batches, "x", None)
        move = not (isinstance(resident, torch.Tensor) and resident.device == self.device)
        # per-batch listeners (a progress bar); none: the loop pays one falsy test per batch
        listeners = [fn for fn in (getattr(cb, "on_batch_end", None) for cb in self.callbacks.items) if fn]
        total = len(batches) if listeners and hasattr(batches, "__len__") else None
        padded = padding_of(batches)  # data-parallel: this rank's repeats of a batch smaller than the world
        for batch in self._skip_done(batches, progress):
            if move:
                batch = task.to_device(batch, self.device)
            if padded is not None and padded(progress.batches):
                with padding(task.model):  # the step is taken with the other ranks, weighs nothing
                    value = task.train_step(self, batch, task.train_metrics())  # and counts in no metric
            else:
                value = task.train_step(self, batch, metrics)
            self.step += 1
            progress.batches += 1
            if not math.isfinite(value):
                raise Divergence(self.epoch + 1, self.step, value)
            for schedule in schedules:
                schedule.step_batch()
            if listeners:
                info = BatchEnd(progress.batches, total, value, batch_rows(batch))
                for listen in listeners:
                    listen(self, info)
            if every and self.step % every == 0:
                self.callbacks.emit("on_step_checkpoint", self, self.step)
            if testhooks.ACTIVE:
                testhooks.pause("step")
            if self.stop_requested:
                raise StopRequested(self.stop_requested)
        self.progress = None
        if self.metric_sync is not None:  # data-parallel: the table a single process would write
            self.metric_sync(metrics)
        return metrics.compute()

    @torch.inference_mode()
    def evaluate(self, batches, keep_scores: bool = True) -> dict[str, float]:
        """Loss and metrics of the current weights on `batches`, in eval mode."""
        task = self.task
        task.model.eval()
        metrics = task.eval_metrics(keep_scores)
        for batch in batches:
            task.eval_step(self, task.to_device(batch, self.device), metrics)
        return metrics.compute()

    def _start_epoch(self) -> EpochProgress:
        """The epoch in progress: a fresh one unless an epoch is under way or a mid-epoch
        checkpoint was loaded."""
        if self.progress is None:
            metrics = self.task.train_metrics()
            saved, self._resume = self._resume, None
            if saved is None:
                shuffle = self.generator.get_state() if self.generator is not None else None
                self.progress = EpochProgress(self.task.lr(), shuffle, metrics)
            else:
                epoch = saved["epoch"]
                metrics.load_state_dict(epoch["metrics"])
                self.progress = EpochProgress(epoch["lr"], epoch["shuffle_start"], metrics, epoch["batches"],
                                              skip=saved)
        return self.progress

    def _skip_done(self, batches, progress: EpochProgress):
        """Iterate `batches`, skipping those a mid-epoch checkpoint had already trained on.

        The skipped batches are drawn (same shuffle, same transforms) but not trained on;
        then every RNG is set back to its state at the checkpoint, so what follows is what
        the uninterrupted run did.
        """
        saved, progress.skip = progress.skip, None
        if saved is None:
            return iter(batches)
        if self.generator is not None and progress.shuffle_start is not None:
            self.generator.set_state(progress.shuffle_start)
        it = iter(batches)
        for _ in range(progress.batches):
            next(it)
        set_rng_state(saved["rng"])
        if self.generator is not None and saved.get("shuffle_rng") is not None:
            self.generator.set_state(saved["shuffle_rng"])
        return it

    # ------------------------------------------------------------ what a task's step calls

    def autocast(self):
        """The mixed-precision context of trainer.precision (nothing at 32)."""
        if self.cfg.precision == "32":
            return nullcontext()
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def backward_and_step(self, loss, optimizer=None, module=None) -> None:
        """Backward through `loss`, clip `module`'s gradients, step `optimizer` (through the
        GradScaler at precision=16). Without them: the task's one optimizer and its model."""
        if optimizer is None:
            self._backward_and_step(loss)
        else:
            self._step(loss, optimizer, module if module is not None else self.task.model)

    def _backward_and_step(self, total) -> None:
        self._step(total, self.task.optimizer, self.task.model)

    def _step(self, total, optimizer, module) -> None:
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            if self.clip_grad_norm:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(module.parameters(), self.clip_grad_norm)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        total.backward()
        self.clip_gradients(module)
        optimizer.step()

    def clip_gradients(self, module) -> None:
        """regularizer.clip_grad_norm, when set, on `module`'s gradients."""
        if self.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.clip_grad_norm)

    # ------------------------------------------------------------ state

    def position(self) -> dict:
        """{'epoch': the epoch under way (else the last one done), 'step': optimizer steps taken}."""
        return {"epoch": self.epoch + (1 if self.progress is not None else 0), "step": self.step}

    def state_dict(self) -> dict:
        """The task's (model, optimizer, schedule), the loop's counters, callbacks' state, RNGs."""
        return {
            **self.task.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "stop_training": self.stop_training,
            "callbacks": self.callbacks.state_dict(),
            "rng": rng_state(),
            "shuffle_rng": self.generator.get_state() if self.generator is not None else None,
            "epoch_in_progress": self.progress.state_dict() if self.progress is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.task.load_state_dict(state)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.history = list(state["history"])
        self.stop_training = state["stop_training"]
        self.callbacks.load_state_dict(state["callbacks"])
        set_rng_state(state["rng"])
        if self.generator is not None and state.get("shuffle_rng") is not None:
            self.generator.set_state(state["shuffle_rng"])
        self.progress = None
        in_epoch = state.get("epoch_in_progress")
        self._resume = {"epoch": in_epoch, "rng": state["rng"], "shuffle_rng": state.get("shuffle_rng")} \
            if in_epoch is not None else None
