"""Trainer callbacks: one base class, one signature per hook.

The trainer is the loop; whatever watches it — keeping the best weights, stopping early,
writing the run folder, drawing progress, TensorBoard, a sweep's pruning — is a
`Callback`. Hooks, in the order they are called:

    on_fit_start(trainer, ctx)        ctx: FitContext (run folder, experiment, parameter count)
    on_epoch_start(trainer, epoch)    epoch: 1-based; again for an epoch continued after a resume
    on_step_checkpoint(trainer, step) every trainer.checkpoint_every_steps optimizer steps
    on_epoch_end(trainer, row)        row: the epoch's metrics row (epoch, lr, train_*, val_*, ...)
    on_improved(trainer, row)         the monitored metric improved; the model holds those weights
    on_fit_end(trainer, summary)      summary: the RunSummary, or None when the run stopped or failed

A callback that must survive a resume returns its state from `state_dict()` (tensors,
numbers, strings, lists and dicts only: checkpoints load with weights_only=True); the
trainer saves it under `state_key` and hands it back through `load_state_dict()`.
Callbacks run in list order: `BestWeights` and `EarlyStopping` come first, so the files
written at an epoch's end already hold their decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from dlx.errors import RunError

HOOKS = ("on_fit_start", "on_epoch_start", "on_step_checkpoint", "on_epoch_end", "on_improved", "on_fit_end")


@dataclass(frozen=True)
class FitContext:
    """What `on_fit_start` learns about the run: its folder, its experiment, its size."""

    run_dir: Any  # dlx.store.rundir.RunDir
    exp: Any  # dlx.config.Experiment
    params: int  # trainable parameters
    resumed_from: Optional[str] = None  # where a resumed run continues ('checkpoints/last.pt: ...')


class Callback:
    """Base class: every hook does nothing; override the ones you need."""

    @property
    def state_key(self) -> str:
        return type(self).__name__

    def on_fit_start(self, trainer, ctx: FitContext) -> None:
        pass

    def on_epoch_start(self, trainer, epoch: int) -> None:
        pass

    def on_step_checkpoint(self, trainer, step: int) -> None:
        pass

    def on_epoch_end(self, trainer, row: dict) -> None:
        pass

    def on_improved(self, trainer, row: dict) -> None:
        pass

    def on_fit_end(self, trainer, summary) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Callbacks:
    """The trainer's callbacks, called in order; an object that is not a `Callback` takes part
    with the hooks it has (same signatures)."""

    def __init__(self, callbacks=()):
        self.items = list(callbacks)

    def emit(self, hook: str, trainer, arg) -> None:
        for cb in self.items:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(trainer, arg)

    def find(self, kind: type):
        """The first callback of class `kind`, or None."""
        return next((cb for cb in self.items if isinstance(cb, kind)), None)

    def state_dict(self) -> dict:
        """{state_key: state} of every callback with state (keys are unique per run)."""
        states = {}
        for cb in self.items:
            state = cb.state_dict() if hasattr(cb, "state_dict") else {}
            if state:
                states[_key(cb)] = state
        return states

    def load_state_dict(self, states: dict) -> None:
        for cb in self.items:
            if hasattr(cb, "load_state_dict") and _key(cb) in states:
                cb.load_state_dict(states[_key(cb)])


def _key(callback) -> str:
    return getattr(callback, "state_key", type(callback).__name__)


def is_better(value: float, best: float, mode: str, min_delta: float) -> bool:
    return value < best - min_delta if mode == "min" else value > best + min_delta


class Monitor:
    """The one rule for "this epoch improved on the best so far", shared by `BestWeights` and
    `EarlyStopping` (as Keras' MonitorCallback is): the monitored value beats the best by more
    than `min_delta`; or, on a monitor other than val_loss, it equals the best and val_loss is
    lower (accuracy on a small validation split ties for many epochs while the loss still
    falls; sweeps rank tied trials the same way). A NaN epoch never improves.
    """

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        self.monitor, self.mode, self.min_delta = monitor, mode, min_delta
        self.best: Optional[float] = None  # the monitored value at the best epoch
        self.best_loss: Optional[float] = None  # that epoch's val_loss, for ties

    def improved(self, row: dict) -> bool:
        value = row.get(self.monitor)
        if value is None or math.isnan(value):
            return False
        if self.best is None or is_better(value, self.best, self.mode, self.min_delta):
            return True
        loss = row.get("val_loss")
        return (self.monitor != "val_loss" and value == self.best and loss is not None
                and not math.isnan(loss) and (self.best_loss is None or loss < self.best_loss))

    def accept(self, row: dict) -> None:
        """Make `row` the best so far."""
        self.best, self.best_loss = row[self.monitor], row.get("val_loss")

    def state_dict(self) -> dict:
        return {"best": self.best, "best_loss": self.best_loss}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_loss = state["best"], state.get("best_loss")  # runs from before the tie rule


class BestWeights(Callback):
    """Keep a copy of the weights of the best epoch by `monitor`; `restore()` puts them back.

    An epoch is best by `Monitor`'s rule: it beats the best by more than `min_delta` (early
    stopping's), or ties it with a lower val_loss. A NaN epoch is never best. Without a
    validation split (a CV refit, data.val_fraction=0) there is nothing to choose by: the last
    epoch counts as best and its weights stay.
    """

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        self.monitor, self.mode, self.min_delta = monitor, mode, min_delta
        self.rule = Monitor(monitor, mode, min_delta)
        self.value = math.inf if mode == "min" else -math.inf
        self.epoch = 0
        self.weights: Optional[dict] = None

    def on_epoch_end(self, trainer, row: dict) -> None:
        value = row.get(self.monitor)
        if value is None:
            measured = [k for k in row if k.startswith("val_")]
            if not measured:  # no validation split
                self.epoch, self.value = row["epoch"], math.nan
                return
            raise RunError(f"trainer.monitor={self.monitor} is not a metric of this run; "
                           f"choose one of: {', '.join(measured)}")
        if self.rule.improved(row):
            self.rule.accept(row)
            self.value, self.epoch = value, row["epoch"]
            self.weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
            trainer.callbacks.emit("on_improved", trainer, row)

    def restore(self, model) -> None:
        if self.weights is not None:
            model.load_state_dict(self.weights)

    def state_dict(self) -> dict:
        return {"value": self.value, "epoch": self.epoch, "weights": self.weights, "loss": self.rule.best_loss}

    def load_state_dict(self, state: dict) -> None:
        self.value, self.epoch, self.weights = state["value"], state["epoch"], state["weights"]
        if self.weights is not None:
            self.rule.load_state_dict({"best": self.value, "best_loss": state.get("loss")})


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved (by `Monitor`'s rule: by more than `min_delta`, or a tie
    with a lower val_loss) for `patience` epochs."""

    def __init__(self, monitor: str, mode: str, patience: int, min_delta: float = 0.0):
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.rule = Monitor(monitor, mode, min_delta)
        self.bad_epochs = 0
        self.stopped = False

    @property
    def best(self) -> Optional[float]:
        return self.rule.best

    def on_epoch_end(self, trainer, row: dict) -> None:
        value = row.get(self.monitor)
        if value is None or math.isnan(value):
            return
        if self.rule.improved(row):
            self.rule.accept(row)
            self.bad_epochs = 0
            return
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.stopped = True
            trainer.stop_training = True

    def state_dict(self) -> dict:
        return {"best": self.best, "best_loss": self.rule.best_loss, "bad_epochs": self.bad_epochs,
                "stopped": self.stopped}

    def load_state_dict(self, state: dict) -> None:
        self.rule.load_state_dict(state)
        self.bad_epochs, self.stopped = state["bad_epochs"], state["stopped"]
