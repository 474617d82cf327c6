"""The trainer group's schema: a dataclass only, importable without torch.

`dlx.config.precheck` checks `trainer.*` (ranges, names) with it before any heavy module
loads, so `trainer.epochs=0` is answered in a fraction of a second; `dlx.engine.trainer`
runs with the same class.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlx.errors import require
from dlx.objective import mode_for

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("32", "bf16", "16")
WATCH = ("none", "grads", "weights", "activations", "all")  # dlx.engine.watch


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
    devices: int = 1  # data-parallel processes (dlx.engine.distributed); batch_size stays the global batch
    backend: str = "auto"  # auto (nccl on CUDA, else gloo) | gloo | nccl
    sync_bn: bool = False  # batch norm statistics over the global batch (SyncBatchNorm) when devices > 1
    channels_last: bool = False  # NHWC memory layout for CNNs (faster convolutions on GPUs)
    compile: bool = False  # torch.compile the model (opt-in: a slow first step)
    watch: str = "none"  # none | grads | weights | activations | all: per-layer statistics (layers.csv)
    profile: bool = False  # per-epoch time split (profile.csv)
    overfit_batches: int = 0  # > 0: train and validate on the first N batches only (a sanity check)

    def __post_init__(self):
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.eval_batch_size >= 1, "eval_batch_size", f"must be >= 1, got {self.eval_batch_size}")
        # torch.manual_seed takes [-2**63, 2**64); numpy's seed is reduced modulo 2**32
        require(-2**63 <= self.seed < 2**64, "seed", f"must be in [-2**63, 2**64), got {self.seed}")
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
        require(self.devices >= 1, "devices", f"must be >= 1 (processes, one per device), got {self.devices}")
        require(self.backend in ("auto", "gloo", "nccl"), "backend",
                f"must be auto, gloo or nccl, got '{self.backend}'")
        require(self.watch in WATCH, "watch", f"must be one of {', '.join(WATCH)}; got '{self.watch}'")
        require(self.overfit_batches >= 0, "overfit_batches", f"must be >= 0, got {self.overfit_batches}")

    @property
    def mode(self) -> str:
        return mode_for(self.monitor) if self.monitor_mode == "auto" else self.monitor_mode
