"""What every dataset builder returns, and the schema every dataset config starts from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from dlx.errors import require

TASKS = ("multiclass", "binary", "regression")
PREPROCESS = ("none", "center", "standardize", "minmax", "minmax_sym", "pixels")


@dataclass
class DataConfig:
    """Keys shared by every dataset; a dataset's schema subclasses this one."""

    name: str = "digits"
    val_fraction: float = 0.2  # of what is left after the test split (0: none, e.g. a CV refit)
    test_fraction: float = 0.2  # of the whole; ignored when the dataset has its own test set
    preprocess: str = "standardize"
    seed: int = 0  # the split's seed, apart from trainer.seed so a seed sweep keeps its test set
    limit: int = 0  # use only the first N training samples (0 = all)
    folds: int = 0  # k-fold: validate on fold `fold` of `folds` (0 = a plain split)
    fold: int = 0
    repeat: int = 0  # repeated k-fold: which shuffle
    root: Optional[str] = None  # where downloaded or user files live

    def __post_init__(self):
        require(0 <= self.val_fraction < 1, "val_fraction", f"must be in [0, 1), got {self.val_fraction}")
        require(0 <= self.test_fraction < 1, "test_fraction", f"must be in [0, 1), got {self.test_fraction}")
        require(self.val_fraction + self.test_fraction < 1, "val_fraction",
                "val_fraction + test_fraction must be < 1")
        require(self.preprocess in PREPROCESS, "preprocess",
                f"unknown '{self.preprocess}'; choices: {', '.join(PREPROCESS)}")
        require(self.limit >= 0, "limit", f"must be >= 0, got {self.limit}")
        require(self.folds == 0 or self.folds >= 2, "folds", f"must be 0 (off) or >= 2, got {self.folds}")
        require(0 <= self.fold < max(self.folds, 1), "fold", f"must be in [0, folds), got {self.fold}")


@dataclass
class AugmentConfig:
    """Random changes to training images, each off at 0 / false. Never applied to val or test."""

    crop_padding: int = 0  # pad by this many pixels, then crop back to the original size at random
    flip: bool = False  # horizontal flip with probability 1/2
    rotation: float = 0.0  # rotate by a random angle in [-rotation, rotation] degrees
    brightness: float = 0.0  # scale intensities by a random factor in [1-b, 1+b]
    contrast: float = 0.0  # scale the distance from each image's mean by a factor in [1-c, 1+c]

    def __post_init__(self):
        require(self.crop_padding >= 0, "augment.crop_padding", f"must be >= 0, got {self.crop_padding}")
        require(0 <= self.rotation <= 180, "augment.rotation", f"must be in [0, 180] degrees, got {self.rotation}")
        require(0 <= self.brightness < 1, "augment.brightness", f"must be in [0, 1), got {self.brightness}")
        require(0 <= self.contrast < 1, "augment.contrast", f"must be in [0, 1), got {self.contrast}")

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.flip or self.rotation or self.brightness or self.contrast)


@dataclass
class ImageDataConfig(DataConfig):
    """Image datasets add augmentation of the training split."""

    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class RawData:
    """A dataset as arrays, before splitting: what a dataset builder returns."""

    x: np.ndarray  # (N, *input_shape) numbers (float32, or uint8 pixels), made float32 when split
    y: np.ndarray  # (N,) int for classification, (N,) or (N, k) float for regression
    task: str
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
    task: str
    classes: list[str]
    num_targets: int = 1  # regression outputs
    preprocess: dict[str, Any] = field(default_factory=dict)  # fitted statistics, saved with the run
    augment: Optional[AugmentConfig] = None  # training-split augmentation of in-memory images

    @property
    def num_classes(self) -> int:
        return len(self.classes)
