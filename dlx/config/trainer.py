"""The trainer group's schema: a dataclass only, importable without torch.

It lives in the config layer (below the engine, which runs with it): `dlx.config.precheck`
checks `trainer.*` with it before any heavy module loads, so `trainer.epochs=0` is answered in a
fraction of a second; `dlx.engine.trainer` runs with the same class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from dlx.constraints import Checked, at_least, choices, interval
from dlx.errors import require
from dlx.objective import mode_for

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("32", "bf16", "16")
WATCH = ("none", "grads", "weights", "activations", "all")  # dlx.engine.watch
LOGGERS = ("tensorboard", "mlflow")  # trackers beside the run store (dlx.engine.tensorboard, dlx.engine.mlflow_logger)


@dataclass
class MlflowConfig(Checked):
    """`trainer.loggers=[mlflow]`: where the MLflow logger writes (dlx.engine.mlflow_logger)."""

    key_prefix = "mlflow."
    tracking_uri: Optional[str] = None  # None: sqlite:///<output_dir>/mlflow.db (offline, no server)
    experiment: Optional[str] = None  # None: the data's name
    log_model: bool = False  # also log the best model with mlflow.pytorch (signature, input example)


@dataclass
class TrainerConfig(Checked):
    """The training loop: its keys and defaults (`dlx train --cfg` shows them all)."""

    epochs: int = at_least(30, 1)
    batch_size: int = at_least(32, 1)
    eval_batch_size: int = at_least(1024, 1)
    device: str = "cpu"  # cpu | auto | cuda | cuda:N | mps
    # torch.manual_seed takes [-2**63, 2**64); numpy's seed is reduced modulo 2**32
    seed: int = interval(0, -2**63, 2**64, closed="left")
    deterministic: bool = False
    monitor: str = "auto"  # the validation metric that picks the best epoch; auto: val_acc (classes), val_loss (regression)
    monitor_mode: str = choices("auto", "auto", "min", "max")  # auto: from the name
    # auto: chosen from the free cores, the load and the model's size (log.txt says); N; 0 = torch's default
    num_threads: Any = "auto"
    precision: str = choices("32", *PRECISIONS)  # 32 | bf16 | 16 (mixed precision)
    checkpoint: bool = True  # write checkpoints/{last,best}.pt
    checkpoint_every_steps: int = at_least(0, 0)  # also write last.pt every N steps (0 = per epoch only)
    checkpoint_every_s: float = at_least(1.0, 0.0)  # epoch-end last.pt at least this far apart (0 = every epoch)
    tensorboard: bool = False  # the same as listing tensorboard in loggers
    loggers: list[str] = field(default_factory=list)  # tensorboard, mlflow (the run store is always written)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    devices: int = at_least(1, 1)  # data-parallel processes (dlx.engine.distributed); batch_size stays the global batch
    backend: str = choices("auto", "auto", "gloo", "nccl")  # auto: nccl on CUDA, else gloo
    sync_bn: bool = False  # batch norm statistics over the global batch (SyncBatchNorm) when devices > 1
    channels_last: bool = False  # NHWC memory layout for CNNs (faster convolutions on GPUs)
    compile: bool = False  # torch.compile the model (opt-in: a slow first step)
    watch: str = choices("none", *WATCH)  # per-layer statistics (layers.csv)
    profile: bool = False  # per-epoch time split (profile.csv)
    overfit_batches: int = at_least(0, 0)  # > 0: train and validate on the first N batches only (a sanity check)

    def validate(self) -> None:
        threads = self.num_threads
        require(threads == "auto" or (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 0),
                "num_threads", f"must be auto or a whole number >= 0 (0: torch's default), got '{threads}'")
        base = self.device.split(":")[0]
        require(base in DEVICES and (":" not in self.device or self.device.split(":")[1].isdigit()),
                "device", f"must be one of auto, cpu, cuda, cuda:N, mps; got '{self.device}'")
        require(self.monitor == "auto" or self.monitor.startswith("val_"), "monitor",
                f"must be auto or a validation metric such as val_acc or val_loss, got '{self.monitor}'")
        for name in self.loggers:  # constraints.choices has no list form: checked here with its wording
            require(name in LOGGERS, "loggers", f"unknown logger '{name}'; choices: {', '.join(LOGGERS)}")

    @property
    def trackers(self) -> set[str]:
        """The trackers asked for: `loggers`, plus tensorboard when `tensorboard=true`."""
        return set(self.loggers) | ({"tensorboard"} if self.tensorboard else set())

    @property
    def mode(self) -> str:
        return mode_for(self.monitor) if self.monitor_mode == "auto" else self.monitor_mode
