"""Datasets bundled with scikit-learn: no download."""

from __future__ import annotations

import numpy as np

from dlx.data.bundle import DataConfig, RawData
from dlx.registry import DATASETS


@DATASETS.register("digits", schema=DataConfig, download=False,
                   summary="8×8 handwritten digits (scikit-learn), 1,797 images, 10 classes")
def load_digits(cfg: DataConfig) -> RawData:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = d.images.astype(np.float32)[:, None, :, :]  # (N, 1, 8, 8), values 0..16
    return RawData(x, d.target.astype(np.int64), "multiclass", [str(c) for c in d.target_names], is_image=True)
