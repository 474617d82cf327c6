"""Synthetic 2-D sets from a seed: the linear vs non-linear decision-boundary examples,
and a 1-D regression. `data.seed` draws both the points and the split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlx.data.bundle import DataConfig, RawData
from dlx.errors import require
from dlx.registry import DATASETS


SIZE = "n_samples=1,000"  # what `dlx data` shows: the default, and the key that changes it


@dataclass
class SyntheticConfig(DataConfig):
    n_samples: int = 1000
    noise: float = 0.1  # standard deviation of Gaussian noise on the inputs (sine: on the target)

    def __post_init__(self):
        super().__post_init__()
        require(self.n_samples >= 10, "n_samples", f"must be >= 10, got {self.n_samples}")
        require(self.noise >= 0, "noise", f"must be >= 0, got {self.noise}")


@dataclass
class SpiralsConfig(SyntheticConfig):
    arms: int = 3  # one class per arm
    turns: float = 1.0  # how far each arm winds around the centre

    def __post_init__(self):
        super().__post_init__()
        require(2 <= self.arms <= 20, "arms", f"must be in [2, 20], got {self.arms}")
        require(self.turns > 0, "turns", f"must be > 0, got {self.turns}")


def _classes(x: np.ndarray, y: np.ndarray) -> RawData:
    k = int(y.max()) + 1
    return RawData(x.astype(np.float32), y.astype(np.int64), "binary" if k == 2 else "multiclass",
                   [str(c) for c in range(k)])


def _noisy(rng: np.random.Generator, x: np.ndarray, noise: float) -> np.ndarray:
    return x + rng.normal(scale=noise, size=x.shape) if noise else x


@DATASETS.register("moons", schema=SyntheticConfig, download=False, task="binary", shape=(2,), size=SIZE,
                   summary="two interleaving half circles (non-linear boundary)")
def load_moons(cfg: SyntheticConfig) -> RawData:
    from sklearn.datasets import make_moons

    x, y = make_moons(cfg.n_samples, noise=cfg.noise, random_state=cfg.seed)
    return _classes(x, y)


@DATASETS.register("circles", schema=SyntheticConfig, download=False, task="binary", shape=(2,),
                   size=SIZE, summary="a circle inside a circle (needs a non-linear boundary)")
def load_circles(cfg: SyntheticConfig) -> RawData:
    from sklearn.datasets import make_circles

    x, y = make_circles(cfg.n_samples, noise=cfg.noise, factor=0.5, random_state=cfg.seed)
    return _classes(x, y)


@DATASETS.register("spirals", schema=SpiralsConfig, download=False, task="multiclass", shape=(2,),
                   size=SIZE, summary="k interleaved spiral arms, one class per arm (binary when k=2)")
def load_spirals(cfg: SpiralsConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    y = np.arange(cfg.n_samples) % cfg.arms
    t = np.sqrt(rng.uniform(0.02, 1, cfg.n_samples))  # radius; sqrt spreads points evenly along the arm
    angle = 2 * np.pi * (cfg.turns * t + y / cfg.arms)
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    return _classes(_noisy(rng, x, cfg.noise), y)


@DATASETS.register("xor", schema=SyntheticConfig, download=False, task="binary", shape=(2,), size=SIZE,
                   summary="XOR of the signs of two coordinates: no line separates it")
def load_xor(cfg: SyntheticConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    x = rng.uniform(-1, 1, size=(cfg.n_samples, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return _classes(_noisy(rng, x, cfg.noise), y)


@DATASETS.register("linear", schema=SyntheticConfig, download=False, task="binary", shape=(2,),
                   size=SIZE, summary="two classes on either side of a random line (separable at noise=0)")
def load_linear(cfg: SyntheticConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    angle = rng.uniform(0, 2 * np.pi)
    normal = np.array([np.cos(angle), np.sin(angle)])
    x = rng.uniform(-1, 1, size=(cfg.n_samples, 2))
    y = (x @ normal > 0).astype(np.int64)
    return _classes(_noisy(rng, x, cfg.noise), y)


@dataclass
class SineConfig(SyntheticConfig):
    scale_target: bool = True  # fit mean/std of y on train; metrics stay in the target's units


@DATASETS.register("sine", schema=SineConfig, download=False, task="regression", shape=(1,),
                   size=SIZE, summary="y = sin(x) + noise on [-π, π] (regression)")
def load_sine(cfg: SineConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    x = rng.uniform(-np.pi, np.pi, size=(cfg.n_samples, 1))
    y = np.sin(x[:, 0]) + (rng.normal(scale=cfg.noise, size=cfg.n_samples) if cfg.noise else 0)
    return RawData(x.astype(np.float32), y.astype(np.float32), "regression")
