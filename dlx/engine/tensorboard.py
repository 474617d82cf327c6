"""`trainer.loggers=[tensorboard]` (or `trainer.tensorboard=true`): TensorBoard event files in the run folder.

A trainer callback: per epoch the metrics (`loss/train`, `loss/val`, `acc/val`, ...) and
the learning rate; at the end the hyper-parameters with the final metrics (the HPARAMS
tab). `tensorboard --logdir outputs` then shows every run. The tensorboard package is an
optional extra (`pip install 'dlx[tensorboard]'`), imported only when asked for.
"""

from __future__ import annotations

import math
import weakref
from pathlib import Path

from dlx.engine.callbacks import Callback
from dlx.errors import DlxError

SPLITS = ("train", "val")


def attach_tensorboard(exp) -> "TensorBoardLogger | None":
    """The callback for `exp`'s run, or None unless trainer.loggers lists tensorboard (or trainer.tensorboard).

    Called before the run folder exists, so a missing extra fails before any work.
    """
    if "tensorboard" not in exp.trainer.trackers:
        return None
    from omegaconf import OmegaConf

    return TensorBoardLogger(OmegaConf.to_container(exp.raw, resolve=True))


def tag(key: str) -> str:
    """`val_loss` -> `loss/val`, so TensorBoard files train and val of a metric together."""
    split, _, name = key.partition("_")
    return f"{name}/{split}" if split in SPLITS and name else key


def hparams_of(config: dict) -> dict:
    """Flat scalar hyper-parameters, as TensorBoard accepts them (no None, no lists)."""
    from dlx.store.runs import flatten

    out = {}
    for key, value in flatten(config).items():
        out[key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out


def final_metrics(summary: dict) -> dict:
    numbers = {k: v for k, v in summary.items() if k.startswith(("train_", "val_", "test_"))
               and not k.endswith("_size") and isinstance(v, (int, float)) and math.isfinite(v)}
    if isinstance(summary.get("best_value"), (int, float)):
        numbers[f"best_{summary.get('monitor', 'value')}"] = summary["best_value"]
    return {f"hparam/{k}": float(v) for k, v in numbers.items()}


class TensorBoardLogger(Callback):
    """Trainer callback writing one event file into the run folder given to `open`."""

    def __init__(self, config: dict):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise DlxError("trainer.tensorboard=true needs tensorboard: pip install 'dlx[tensorboard]'") from None
        self._writer_class = SummaryWriter
        self.hparams = hparams_of(config)
        self.writer = None

    def open(self, log_dir: Path) -> "TensorBoardLogger":
        self.writer = self._writer_class(log_dir=str(log_dir))
        # a run that fails or is interrupted never reaches close(): stop the writer's thread anyway
        weakref.finalize(self, self.writer.close)
        return self

    def on_epoch_end(self, trainer, row: dict) -> None:
        epoch = row["epoch"]
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(tag(key), value, epoch)
        self.writer.flush()  # a killed run keeps every finished epoch

    def on_fit_end(self, trainer, summary) -> None:
        self.close(summary)

    def close(self, summary: dict | None = None) -> None:
        """Write the hyper-parameters with the final metrics (when the run finished), then close."""
        if summary is not None:
            # run_name="." keeps the HPARAMS record in this run's folder, not in a new subfolder
            self.writer.add_hparams(self.hparams, final_metrics(summary), run_name=".")
        self.writer.close()
