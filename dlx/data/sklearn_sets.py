"""Datasets bundled with scikit-learn: no download."""

from __future__ import annotations

import numpy as np

from dlx.data.bundle import DataConfig, ImageDataConfig, RawData
from dlx.data.schemas import RegressionDataConfig


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


def load_iris(cfg: DataConfig) -> RawData:
    from sklearn.datasets import load_iris as sk

    return _table(sk, "multiclass")


def load_wine(cfg: DataConfig) -> RawData:
    from sklearn.datasets import load_wine as sk

    return _table(sk, "multiclass")


def load_breast_cancer(cfg: DataConfig) -> RawData:
    from sklearn.datasets import load_breast_cancer as sk

    return _table(sk, "binary")


def load_diabetes(cfg: RegressionDataConfig) -> RawData:
    from sklearn.datasets import load_diabetes as sk

    return _table(lambda: sk(scaled=False), "regression")
