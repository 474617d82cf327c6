"""The data group's schemas and the built-in datasets' declarations: importable without torch,
numpy or pandas.

`DATASETS.declare(name, schema, builder="module:attr", ...)` at the bottom is the table of
built-in datasets: `dlx.config` checks the data keys (declared ranges and choices, files that
must exist) with these before it loads any heavy module, so a typo in a path is answered in a
fraction of a second; the builder is imported when the dataset is first loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from dlx.constraints import Checked, at_least, choices, fraction, interval
from dlx.errors import DataError, require
from dlx.registry import DATASETS

TASKS = ("multiclass", "binary", "regression")
PREPROCESS = ("none", "center", "standardize", "minmax", "minmax_sym", "pixels")
DISK_PREPROCESS = ("none", "pixels", "standardize")
IMPUTE = ("none", "mean", "median", "most_frequent")
SEED_LIMIT = 2**32  # scikit-learn's splitters take seeds in [0, 2**32)


def preprocess_key(default: str = "standardize"):
    """`data.preprocess`, declared again where a dataset changes its default (keeping its choices)."""
    return choices(default, *PREPROCESS)


@dataclass
class DataConfig(Checked):
    """Keys shared by every dataset; a dataset's schema subclasses this one."""

    name: str = "digits"
    val_fraction: float = fraction(0.2)  # of what is left after the test split (0: none, e.g. a CV refit)
    test_fraction: float = fraction(0.2)  # of the whole; ignored when the dataset has its own test set
    preprocess: str = preprocess_key()
    seed: int = interval(0, 0, SEED_LIMIT, closed="left")  # the split's seed, apart from trainer.seed
    limit: int = at_least(0, 0)  # use only the first N training samples (0 = all)
    folds: int = 0  # k-fold: validate on fold `fold` of `folds` (0 = a plain split)
    fold: int = 0
    repeat: int = at_least(0, 0)  # repeated k-fold: which shuffle
    root: Optional[str] = None  # where downloaded or user files live

    def validate(self) -> None:
        require(self.val_fraction + self.test_fraction < 1, "val_fraction",
                "val_fraction + test_fraction must be < 1")
        require(self.folds == 0 or self.folds >= 2, "folds", f"must be 0 (off) or >= 2, got {self.folds}")
        require(0 <= self.fold < max(self.folds, 1), "fold", f"must be in [0, folds), got {self.fold}")

    def check_files(self) -> None:
        """Files the dataset needs that must already exist (user data); cheap: no reading."""


@dataclass
class RegressionDataConfig(DataConfig):
    """A regression dataset: the target is standardised for training unless told otherwise."""

    scale_target: bool = True  # fit mean/std of y on train; metrics stay in the target's units


@dataclass
class AugmentConfig(Checked):
    """Random changes to training images, each off at 0 / false. Never applied to val or test."""

    key_prefix = "augment."
    crop_padding: int = at_least(0, 0)  # pad by this many pixels, then crop back to the original size at random
    flip: bool = False  # horizontal flip with probability 1/2
    rotation: float = interval(0.0, 0, 180)  # rotate by a random angle in [-rotation, rotation] degrees
    brightness: float = fraction(0.0)  # scale intensities by a random factor in [1-b, 1+b]
    contrast: float = fraction(0.0)  # scale the distance from each image's mean by a factor in [1-c, 1+c]

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
    task: str = choices("auto", "auto", *TASKS)  # auto (from the target) | multiclass | binary | regression
    sep: str = ","
    dropna: bool = False  # drop rows with a missing value instead of stopping
    impute: str = choices("none", *IMPUTE)  # fill missing feature values: none | mean | median | most_frequent (fitted on train)
    group_col: Optional[str] = None  # a column of group ids: k-fold keeps each group in one fold (not a feature)
    scale_target: bool = True  # regression: standardise y on train; metrics stay in the target's units

    def validate(self) -> None:
        super().validate()
        require(not (self.dropna and self.impute != "none"), "impute",
                "data.dropna=true drops the rows that data.impute would fill; set only one of them")

    def check_files(self) -> None:
        existing(self.path, "csv", "CSV file")


@dataclass
class ImageFolderConfig(ImageDataConfig):
    path: Optional[str] = None  # a folder with one sub-folder of images per class
    image_size: int = at_least(64, 4)  # every image is resized to image_size × image_size
    workers: int = at_least(-1, -1)  # DataLoader processes; -1 = auto (cores - 1, at most 4)
    skip_bad_files: bool = False  # skip images that cannot be decoded (with a warning) instead of stopping

    def validate(self) -> None:
        super().validate()
        require(self.preprocess in DISK_PREPROCESS, "preprocess",
                f"'{self.preprocess}' needs the whole split in memory; image_folder takes "
                f"{', '.join(DISK_PREPROCESS)}")

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


# ---------------------------------------------------------------- the built-in datasets

_MNIST = "{} 28×28 grey, 60,000 train + 10,000 test, 10 classes (torchvision)"
for _name, _what in (("mnist", "handwritten digits,"), ("fashion_mnist", "Zalando clothes,"),
                     ("kmnist", "cursive Japanese (Kuzushiji) characters,")):
    DATASETS.declare(_name, VisionConfig, f"dlx.data.vision:load_{_name}", download=True, task="multiclass",
                     shape=(1, 28, 28), size=70000, summary=_MNIST.format(_what))
DATASETS.declare("cifar10", VisionConfig, "dlx.data.vision:load_cifar10", download=True, task="multiclass",
                 shape=(3, 32, 32), size=60000,
                 summary="32×32 colour photos, 50,000 train + 10,000 test, 10 classes (torchvision)")
DATASETS.declare("cifar100", VisionConfig, "dlx.data.vision:load_cifar100", download=True, task="multiclass",
                 shape=(3, 32, 32), size=60000,
                 summary="32×32 colour photos, 50,000 train + 10,000 test, 100 classes (torchvision)")
DATASETS.declare("svhn", VisionConfig, "dlx.data.vision:load_svhn", download=True, task="multiclass",
                 shape=(3, 32, 32), size=99289,
                 summary="house numbers from Street View, 73,257 train + 26,032 test, 10 digits (torchvision)")
DATASETS.declare("digits", ImageDataConfig, "dlx.data.sklearn_sets:load_digits", download=False, task="multiclass",
                 shape=(1, 8, 8), size=1797, summary="8×8 handwritten digits (scikit-learn), 1,797 images, 10 classes")
DATASETS.declare("iris", DataConfig, "dlx.data.sklearn_sets:load_iris", download=False, task="multiclass",
                 shape=(4,), size=150, summary="Fisher's iris (scikit-learn): 4 measurements, 3 species")
DATASETS.declare("wine", DataConfig, "dlx.data.sklearn_sets:load_wine", download=False, task="multiclass",
                 shape=(13,), size=178, summary="wine recognition (scikit-learn): 13 chemical measurements, 3 cultivars")
DATASETS.declare("breast_cancer", DataConfig, "dlx.data.sklearn_sets:load_breast_cancer", download=False,
                 task="binary", shape=(30,), size=569,
                 summary="Wisconsin breast cancer (scikit-learn): 30 features, malignant vs benign")
DATASETS.declare("diabetes", RegressionDataConfig, "dlx.data.sklearn_sets:load_diabetes", download=False,
                 task="regression", shape=(10,), size=442,
                 summary="diabetes progression (scikit-learn): 10 features, a disease score one year later")
DATASETS.declare("csv", CSVConfig, "dlx.data.user:load_csv", download=False, task="inferred", shape="columns",
                 size="rows", summary="your own table: data.path=file.csv data.target=column")
DATASETS.declare("image_folder", ImageFolderConfig, "dlx.data.user:load_image_folder", download=False,
                 task="inferred", shape="3×size×size", size="files",
                 summary="your own images: data.path=folder with one sub-folder per class (read from disk)")


def shared_keys() -> set[str]:
    """The keys every dataset has (DataConfig's): checkable for any dataset, built-in or not."""
    return {f.name for f in fields(DataConfig)}
