"""The data group's schemas: dataclasses only, importable without torch, numpy or pandas.

`dlx.config.validate` checks the data keys (ranges, files that must exist) with these
before it loads any heavy module, so a typo in a path is answered in a fraction of a
second; the dataset builders register the same classes as their schemas.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from dlx.errors import DataError, require

TASKS = ("multiclass", "binary", "regression")
PREPROCESS = ("none", "center", "standardize", "minmax", "minmax_sym", "pixels")
DISK_PREPROCESS = ("none", "pixels", "standardize")
IMPUTE = ("none", "mean", "median", "most_frequent")
SEED_LIMIT = 2**32  # scikit-learn's splitters take seeds in [0, 2**32)


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
        require(0 <= self.seed < SEED_LIMIT, "seed", f"must be in [0, 2**32), got {self.seed}")
        require(self.limit >= 0, "limit", f"must be >= 0, got {self.limit}")
        require(self.folds == 0 or self.folds >= 2, "folds", f"must be 0 (off) or >= 2, got {self.folds}")
        require(0 <= self.fold < max(self.folds, 1), "fold", f"must be in [0, folds), got {self.fold}")
        require(self.repeat >= 0, "repeat", f"must be >= 0, got {self.repeat}")

    def check_files(self) -> None:
        """Files the dataset needs that must already exist (user data); cheap: no reading."""


@dataclass
class RegressionDataConfig(DataConfig):
    """A regression dataset: the target is standardised for training unless told otherwise."""

    scale_target: bool = True  # fit mean/std of y on train; metrics stay in the target's units


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
class VisionConfig(ImageDataConfig):
    download: bool = True  # fetch the files into data.root when they are missing


@dataclass
class CSVConfig(DataConfig):
    path: Optional[str] = None  # the CSV file (relative to where dlx runs)
    target: Optional[str] = None  # the column to predict
    features: Optional[list[str]] = None  # input columns; null = every column but the target
    task: str = "auto"  # auto (from the target) | multiclass | binary | regression
    sep: str = ","
    dropna: bool = False  # drop rows with a missing value instead of stopping
    impute: str = "none"  # fill missing feature values: none | mean | median | most_frequent (fitted on train)
    group_col: Optional[str] = None  # a column of group ids: k-fold keeps each group in one fold (not a feature)
    scale_target: bool = True  # regression: standardise y on train; metrics stay in the target's units

    def __post_init__(self):
        super().__post_init__()
        require(self.task == "auto" or self.task in TASKS, "task",
                f"unknown '{self.task}'; choices: auto, {', '.join(TASKS)}")
        require(self.impute in IMPUTE, "impute", f"unknown '{self.impute}'; choices: {', '.join(IMPUTE)}")
        require(not (self.dropna and self.impute != "none"), "impute",
                "data.dropna=true drops the rows that data.impute would fill; set only one of them")

    def check_files(self) -> None:
        existing(self.path, "csv", "CSV file")


@dataclass
class ImageFolderConfig(ImageDataConfig):
    path: Optional[str] = None  # a folder with one sub-folder of images per class
    image_size: int = 64  # every image is resized to image_size × image_size
    workers: int = -1  # DataLoader processes; -1 = auto (cores - 1, at most 4)
    skip_bad_files: bool = False  # skip images that cannot be decoded (with a warning) instead of stopping

    def __post_init__(self):
        super().__post_init__()
        require(self.preprocess in DISK_PREPROCESS, "preprocess",
                f"'{self.preprocess}' needs the whole split in memory; image_folder takes "
                f"{', '.join(DISK_PREPROCESS)}")
        require(self.image_size >= 4, "image_size", f"must be >= 4, got {self.image_size}")
        require(self.workers >= -1, "workers", f"must be >= 0, or -1 for auto, got {self.workers}")

    def check_files(self) -> None:
        root = existing(self.path, "image_folder", "image folder", self.root)
        if not root.is_dir():
            raise DataError(f"image_folder: {root} is a file; data.path names a folder with one sub-folder "
                            "of images per class")


def existing(path: Optional[str], name: str, what: str, root: Optional[str] = None) -> Path:
    """`path` as a Path that exists, or a DataError saying which key to fix."""
    if not path:
        used_root = f" (data.root={root} is not read by {name})" if root else ""
        raise DataError(f"{name} needs data.path: the {what} to read{used_root}, e.g. data.path=/path/to/it")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{name}: {what} not found: {p}; check data.path (a relative path starts from "
                        "the folder dlx runs in)")
    return p


# the built-in datasets' schemas by name, for the checks made before the registry (and torch) loads;
# tests/test_data_sources.py checks that it agrees with the registry
BUILTIN = {"csv": CSVConfig, "image_folder": ImageFolderConfig, "diabetes": RegressionDataConfig,
           **{name: VisionConfig for name in ("mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100", "svhn")},
           **{name: DataConfig for name in ("iris", "wine", "breast_cancer")}, "digits": ImageDataConfig}


def shared_keys() -> set[str]:
    """The keys every dataset has (DataConfig's): checkable for any dataset, built-in or not."""
    return {f.name for f in fields(DataConfig)}
