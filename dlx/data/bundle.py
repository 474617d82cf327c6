"""What every dataset builder returns, and the schema every dataset config starts from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from dlx.data.schemas import PREPROCESS, TASKS, AugmentConfig, DataConfig, ImageDataConfig  # noqa: F401  (re-exported)

@dataclass
class RawData:
    """A dataset as arrays, before splitting: what a dataset builder returns."""

    x: np.ndarray  # (N, *input_shape) numbers (float32, or uint8 pixels), made float32 when split
    y: np.ndarray  # (N,) int for classification, (N,) or (N, k) float for regression
    kind: str  # the data kind: multiclass, binary, regression, ... (a Task trains on kinds)
    classes: list[str] = field(default_factory=list)
    test: Optional[tuple[np.ndarray, np.ndarray]] = None  # the dataset's own test split, if any
    is_image: bool = False
    groups: Optional[np.ndarray] = None  # (N,) a group per sample (csv data.group_col): folds keep groups whole
    encoding: Optional[dict] = None  # csv: how columns became features, kept with the run (dlx predict)


@dataclass
class Split:
    """Inputs and targets of one split, as tensors (on the CPU until the trainer moves them)."""

    x: torch.Tensor
    y: torch.Tensor
    index: Optional[np.ndarray] = None  # positions in the dataset, to check partitions

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device), self.index)


@dataclass
class DiskSplit:
    """A split read from files batch by batch: `dataset[i] -> (x (C, H, W) float, label)`."""

    dataset: Any  # a torch Dataset, already transformed for this split (augmented for train only)
    y: torch.Tensor  # the labels, known without reading an image
    index: Optional[np.ndarray] = None
    workers: int = 0  # DataLoader processes

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device) -> "DiskSplit":
        return self  # the DataLoader's batches are moved by the trainer, pinned when on CUDA


@dataclass
class DataBundle:
    train: Split | DiskSplit
    val: Split | DiskSplit
    test: Split | DiskSplit
    input_shape: tuple[int, ...]
    kind: str  # the data kind (what `Task`s register for)
    classes: list[str]
    num_targets: int = 1  # regression outputs
    preprocess: dict[str, Any] = field(default_factory=dict)  # fitted statistics, saved with the run
    augment: Optional[AugmentConfig] = None  # training-split augmentation of in-memory images

    @property
    def num_classes(self) -> int:
        return len(self.classes)
