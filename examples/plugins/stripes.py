"""A dlx plugin: `stripes`, generated images of stripes in one of four orientations.

    dlx --plugin examples/plugins/stripes.py train data=stripes data.noise=0.5

Each sample is a 1×size×size image of period-4 stripes — horizontal, vertical, diagonal or
anti-diagonal (the class) — at a random offset, plus Gaussian noise. Drawn from data.seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlx import register_dataset
from dlx.data import DataConfig, RawData
from dlx.errors import require

ORIENTATIONS = ("horizontal", "vertical", "diagonal", "anti_diagonal")


@dataclass
class StripesConfig(DataConfig):  # DataConfig: the split keys every dataset has
    name: str = "stripes"
    n_samples: int = 1000  # images generated
    size: int = 8  # each image is size × size pixels
    noise: float = 0.5  # std of the Gaussian noise on every pixel

    def __post_init__(self):
        super().__post_init__()
        require(self.n_samples >= 20, "n_samples", f"must be >= 20, got {self.n_samples}")
        require(self.size >= 4, "size", f"must be >= 4, got {self.size}")
        require(self.noise >= 0, "noise", f"must be >= 0, got {self.noise}")


@register_dataset("stripes", schema=StripesConfig, task="multiclass", shape=(1, 8, 8), size="n_samples=1,000",
                  download=False, summary="generated 8×8 images of stripes in 4 orientations")
def build_stripes(cfg: StripesConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    y = rng.integers(0, len(ORIENTATIONS), cfg.n_samples)
    offset = rng.integers(0, 4, cfg.n_samples)[:, None, None]
    i, j = np.meshgrid(np.arange(cfg.size), np.arange(cfg.size), indexing="ij")  # (size, size)
    coordinate = np.stack([i, j, i + j, i - j])[y] + offset  # (N, size, size): the one each class stripes along
    x = ((coordinate // 2) % 2).astype(np.float32)
    x += rng.normal(scale=cfg.noise, size=x.shape).astype(np.float32)
    return RawData(x[:, None], y.astype(np.int64), "multiclass", list(ORIENTATIONS), is_image=True)
