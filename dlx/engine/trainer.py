"""The training loop: epochs of mini-batches, validation, best weights, early stopping.

The trainer knows nothing of the CLI, of sweeps or of `outputs/`: it returns metric
dicts and calls its callbacks (`on_epoch_end(trainer, row)`, `on_improved(trainer)`),
and `experiment.py` turns those into files.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from dlx import testhooks
from dlx.errors import RunError, require
from dlx.metrics import accumulator, mode_for

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("32", "bf16", "16")


@dataclass
class TrainerConfig:
    epochs: int = 30
    batch_size: int = 32
    eval_batch_size: int = 1024
    device: str = "cpu"  # cpu | auto | cuda | cuda:N | mps
    seed: int = 0
    deterministic: bool = False
    monitor: str = "auto"  # the validation metric that picks the best epoch; auto: val_acc (classes), val_loss (regression)
    monitor_mode: str = "auto"  # auto (from the name) | min | max
    num_threads: int = 0  # 0 = torch's default
    precision: str = "32"  # 32 | bf16 | 16 (mixed precision)
    checkpoint: bool = True  # write checkpoints/{last,best}.pt
    checkpoint_every_steps: int = 0  # also write last.pt every N steps (0 = per epoch only)
    tensorboard: bool = False

    def __post_init__(self):
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.eval_batch_size >= 1, "eval_batch_size", f"must be >= 1, got {self.eval_batch_size}")
        base = self.device.split(":")[0]
        require(base in DEVICES and (":" not in self.device or self.device.split(":")[1].isdigit()),
                "device", f"must be one of auto, cpu, cuda, cuda:N, mps; got '{self.device}'")
        require(self.monitor == "auto" or self.monitor.startswith("val_"), "monitor",
                f"must be auto or a validation metric such as val_acc or val_loss, got '{self.monitor}'")
        require(self.monitor_mode in ("auto", "min", "max"), "monitor_mode",
                f"must be auto, min or max, got '{self.monitor_mode}'")
        require(self.num_threads >= 0, "num_threads", f"must be >= 0, got {self.num_threads}")
        require(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        require(self.checkpoint_every_steps >= 0, "checkpoint_every_steps", "must be >= 0")

    @property
    def mode(self) -> str:
        return mode_for(self.monitor) if self.monitor_mode == "auto" else self.monitor_mode


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


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an unavailable device is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RunError(f"trainer.device={name} but CUDA is not available here; use trainer.device=cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise RunError(f"trainer.device={name} but only {torch.cuda.device_count()} GPU(s) exist")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RunError("trainer.device=mps but MPS is not available here; use trainer.device=cpu")
    return torch.device(name)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def rng_state() -> dict:
    """Every global RNG, in types `torch.load(weights_only=True)` accepts (no ndarrays)."""
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = np_state["state"]["key"].tolist()
    state = {"python": random.getstate(), "numpy": np_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np_state = {**state["numpy"], "state": dict(state["numpy"]["state"])}
    np_state["state"]["key"] = np.asarray(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(np_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Fits a model; all that is needed to resume lives in `state_dict()`."""

    def __init__(self, cfg: TrainerConfig, model, loss, optimizer, schedule, *, task: str,
                 num_outputs: int, device: torch.device, penalty=None, clip_grad_norm: float = 0.0,
                 early_stopping=None, shuffle_generator: Optional[torch.Generator] = None,
                 callbacks=(), closure: bool = False):
        self.cfg = cfg
        self.model, self.loss, self.optimizer, self.schedule = model, loss, optimizer, schedule
        self.task, self.num_outputs, self.device = task, num_outputs, device
        self.penalty = penalty
        self.clip_grad_norm = clip_grad_norm
        self.patience = early_stopping.patience if early_stopping else 0
        self.min_delta = early_stopping.min_delta if early_stopping else 0.0
        self.generator = shuffle_generator
        self.callbacks = list(callbacks)
        self.closure = closure  # L-BFGS re-evaluates the loss through a closure
        self.mode = cfg.mode
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.history: list[dict] = []
        self.best_value = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.best_state: Optional[dict] = None
        self.bad_epochs = 0
        self.stopped_early = False
        self.stop_requested = 0  # set to a signal number by a handler: stop at the next step boundary
        self._progress: Optional[dict] = None  # the epoch in progress (see _start_epoch)
        self._resume: Optional[dict] = None  # a mid-epoch checkpoint to continue from
        self.scaler = torch.amp.GradScaler(device.type) if cfg.precision == "16" and device.type == "cuda" else None

    # ------------------------------------------------------------ the loop

    def fit(self, train, val) -> list[dict]:
        """Train until `cfg.epochs` (or early stopping); return one metrics row per epoch."""
        while self.epoch < self.cfg.epochs and not self.stopped_early:
            if self.stop_requested:
                raise StopRequested(self.stop_requested)
            start = time.perf_counter()
            lr = self._start_epoch()["lr"]
            train_metrics = self.train_one_epoch(train)
            val_metrics = self.evaluate(val) if len(val) else {}  # no validation split: a CV refit
            self.epoch += 1
            row = {"epoch": self.epoch, "lr": lr}
            row.update({f"train_{k}": v for k, v in train_metrics.items()})
            row.update({f"val_{k}": v for k, v in val_metrics.items()})
            row["epoch_time_s"] = time.perf_counter() - start
            self.history.append(row)
            if val_metrics:
                self._track_best(row)
            else:  # nothing to choose by: the last epoch's weights are the ones kept
                self.best_epoch, self.best_value = self.epoch, math.nan
            self.schedule.step_epoch(row.get(self.cfg.monitor))
            self._emit("on_epoch_end", row)
        return self.history

    def train_one_epoch(self, batches) -> dict[str, float]:
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss
        model.train()
        progress = self._start_epoch()
        metrics = progress["metrics"]
        # in-memory batches (TensorBatches) already live on the device; a DataLoader's are moved here
        resident = getattr(batches, "x", None)
        move = not (isinstance(resident, torch.Tensor) and resident.device == self.device)
        for xb, yb in self._skip_done(batches, progress):
            if move:
                xb = xb.to(self.device, non_blocking=True)
                yb = yb.to(self.device, non_blocking=True)
            if self.closure:
                out, loss, pen = self._closure_step(xb, yb)
            else:
                with self._autocast():
                    out = model(xb)
                    loss = loss_fn(out, yb)
                    pen = self.penalty() if self.penalty is not None else None
                    total = loss + pen if pen is not None else loss
                optimizer.zero_grad(set_to_none=True)
                self._backward_and_step(total)
            self.step += 1
            progress["batches"] += 1
            value = loss.item()  # one sync per step, as any hand-written loop's `loss.item()`
            if not math.isfinite(value):
                raise Divergence(self.epoch + 1, self.step, value)
            metrics.update(out, yb, value)
            if pen is not None:
                progress["penalty_sum"] += float(pen.detach())  # the penalty keeps its graph for backward
            self.schedule.step_batch()
            if self.cfg.checkpoint_every_steps and self.step % self.cfg.checkpoint_every_steps == 0:
                self._emit("on_step_checkpoint", None)
            if testhooks.ACTIVE:
                testhooks.pause("step")
            if self.stop_requested:
                raise StopRequested(self.stop_requested)
        self._progress = None
        result = metrics.compute()
        if self.penalty is not None:
            result["penalty"] = progress["penalty_sum"] / max(progress["batches"], 1)
        return result

    def _start_epoch(self) -> dict:
        """The epoch in progress: its starting lr and shuffle state, batches done, running sums.

        Everything a mid-epoch checkpoint needs to continue the epoch exactly; a fresh one
        unless an epoch is already under way or a mid-epoch checkpoint was loaded.
        """
        if self._progress is None:
            saved, self._resume = self._resume, None
            # top-5 is a validation/test figure; on the training batches it would only cost time
            metrics = accumulator(self.task, self.num_outputs, top5=False)
            if saved is not None:
                vars(metrics).update(saved["epoch"]["metrics"])
                self._progress = {**saved["epoch"], "metrics": metrics, "resume": saved}
            else:
                self._progress = {
                    "lr": self.optimizer.param_groups[0]["lr"], "batches": 0, "penalty_sum": 0.0,
                    "shuffle_start": self.generator.get_state() if self.generator is not None else None,
                    "metrics": metrics,
                }
        return self._progress

    def _skip_done(self, batches, progress: dict):
        """Iterate `batches`, skipping those a mid-epoch checkpoint had already trained on.

        The skipped batches are drawn (same shuffle, same transforms) but not trained on;
        then every RNG is set back to its state at the checkpoint, so what follows is what
        the uninterrupted run did.
        """
        saved = progress.pop("resume", None)
        if saved is None:
            return iter(batches)
        if self.generator is not None and progress["shuffle_start"] is not None:
            self.generator.set_state(progress["shuffle_start"])
        it = iter(batches)
        for _ in range(progress["batches"]):
            next(it)
        set_rng_state(saved["rng"])
        if self.generator is not None and saved.get("shuffle_rng") is not None:
            self.generator.set_state(saved["shuffle_rng"])
        return it

    def _backward_and_step(self, total) -> None:
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            if self.clip_grad_norm:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            return
        total.backward()
        if self.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()

    def _closure_step(self, xb, yb):
        kept = {}

        def closure():
            self.optimizer.zero_grad(set_to_none=True)
            out = self.model(xb)
            loss = self.loss(out, yb)
            pen = self.penalty() if self.penalty is not None else None
            total = loss + pen if pen is not None else loss
            total.backward()
            if self.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            kept.update(out=out.detach(), loss=loss.detach(), pen=pen)
            return total

        self.optimizer.step(closure)
        return kept["out"], kept["loss"], kept["pen"]

    @torch.inference_mode()
    def evaluate(self, batches, keep_scores: bool = True) -> dict[str, float]:
        """Loss and metrics of the current weights on `batches`, in eval mode."""
        self.model.eval()
        metrics = accumulator(self.task, self.num_outputs, keep_scores=keep_scores)
        for xb, yb in batches:
            xb = xb.to(self.device, non_blocking=True)
            yb = yb.to(self.device, non_blocking=True)
            with self._autocast():
                out = self.model(xb)
                loss = self.loss(out, yb)
            metrics.update(out.float(), yb, loss.item())
        return metrics.compute()

    # ------------------------------------------------------------ best / early stopping

    def _track_best(self, row: dict) -> None:
        value = row.get(self.cfg.monitor)
        if value is None:
            raise RunError(f"trainer.monitor={self.cfg.monitor} is not a metric of this run; "
                           f"choose one of: {', '.join(k for k in row if k.startswith('val_'))}")
        if math.isnan(value):
            return
        better = value < self.best_value - self.min_delta if self.mode == "min" \
            else value > self.best_value + self.min_delta
        if better or self.best_state is None:
            self.best_value, self.best_epoch, self.bad_epochs = value, self.epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self._emit("on_improved", row)
        else:
            self.bad_epochs += 1
            if self.patience and self.bad_epochs >= self.patience:
                self.stopped_early = True

    def position(self) -> dict:
        """{'epoch': the epoch under way (else the last one done), 'step': optimizer steps taken}."""
        return {"epoch": self.epoch + (1 if self._progress is not None else 0), "step": self.step}

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            "rng": rng_state(),
            "shuffle_rng": self.generator.get_state() if self.generator is not None else None,
            "epoch_in_progress": self._epoch_state(),
        }

    def _epoch_state(self) -> Optional[dict]:
        """A mid-epoch checkpoint's view of the epoch in progress (None between epochs)."""
        p = self._progress
        if p is None:
            return None
        if "resume" in p:  # loaded but not yet continued: what was loaded
            return p["resume"]["epoch"]
        metrics = {k: v.clone() if isinstance(v, torch.Tensor) else
                   [t.clone() for t in v] if isinstance(v, list) else v for k, v in vars(p["metrics"]).items()}
        return {"lr": p["lr"], "batches": p["batches"], "penalty_sum": p["penalty_sum"],
                "shuffle_start": p["shuffle_start"], "metrics": metrics}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.history = list(state["history"])
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.best_state = state["best_state"]
        self.bad_epochs, self.stopped_early = state["bad_epochs"], state["stopped_early"]
        set_rng_state(state["rng"])
        if self.generator is not None and state.get("shuffle_rng") is not None:
            self.generator.set_state(state["shuffle_rng"])
        self._progress = None
        in_epoch = state.get("epoch_in_progress")
        self._resume = {"epoch": in_epoch, "rng": state["rng"], "shuffle_rng": state.get("shuffle_rng")} \
            if in_epoch is not None else None

    # ------------------------------------------------------------ helpers

    def _autocast(self):
        if self.cfg.precision == "32":
            return nullcontext()
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _emit(self, event: str, row) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, event, None)
            if fn is not None:
                fn(self, row)
