"""Datasets bundled with scikit-learn: no download."""

from __future__ import annotations

import numpy as np

from dlx.data.bundle import DataConfig, ImageDataConfig, RawData
from dlx.data.schemas import RegressionDataConfig
from dlx.registry import DATASETS


@DATASETS.register("digits", schema=ImageDataConfig, download=False, task="multiclass", shape=(1, 8, 8),
                   size=1797, summary="8×8 handwritten digits (scikit-learn), 1,797 images, 10 classes")
def load_digits(cfg: ImageDataConfig) -> RawData:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = d.images.astype(np.float32)[:, None, :, :]  # (N, 1, 8, 8), values 0..16
    return RawData(x, d.target.astype(np.int64), "multiclass", [str(c) for c in d.target_names], is_image=True)


def _table(loader, task: str) -> RawData:
    d = loader()
    x = d.data.astype(np.float32)  # (N, features)
    if task == "regression":
        return RawData(x, d.target.astype(np.float32), task)
    return RawData(x, d.target.astype(np.int64), task, [str(c) for c in d.target_names])


@DATASETS.register("iris", schema=DataConfig, download=False, task="multiclass", shape=(4,), size=150,
                   summary="Fisher's iris (scikit-learn): 4 measurements, 3 species")
def load_iris(cfg: DataConfig) -> RawData:
    from sklearn.datasets import load_iris as sk

    return _table(sk, "multiclass")


@DATASETS.register("wine", schema=DataConfig, download=False, task="multiclass", shape=(13,), size=178,
                   summary="wine recognition (scikit-learn): 13 chemical measurements, 3 cultivars")
def load_wine(cfg: DataConfig) -> RawData:
    from sklearn.datasets import load_wine as sk

    return _table(sk, "multiclass")


@DATASETS.register("breast_cancer", schema=DataConfig, download=False, task="binary", shape=(30,), size=569,
                   summary="Wisconsin breast cancer (scikit-learn): 30 features, malignant vs benign")
def load_breast_cancer(cfg: DataConfig) -> RawData:
    from sklearn.datasets import load_breast_cancer as sk

    return _table(sk, "binary")


@DATASETS.register("diabetes", schema=RegressionDataConfig, download=False, task="regression", shape=(10,), size=442,
                   summary="diabetes progression (scikit-learn): 10 features, a disease score one year later")
def load_diabetes(cfg: RegressionDataConfig) -> RawData:
    from sklearn.datasets import load_diabetes as sk

    return _table(lambda: sk(scaled=False), "regression")
