"""Synthetic 2-D sets from a seed: the linear vs non-linear decision-boundary examples,
and a 1-D regression. `data.seed` draws both the points and the split."""

from __future__ import annotations

import numpy as np

from dlx.data.bundle import RawData
from dlx.data.dataset_schemas import SineConfig, SpiralsConfig, SyntheticConfig  # noqa: F401  (declared there)




def _classes(x: np.ndarray, y: np.ndarray) -> RawData:
    k = int(y.max()) + 1
    return RawData(x.astype(np.float32), y.astype(np.int64), "binary" if k == 2 else "multiclass",
                   [str(c) for c in range(k)])


def _noisy(rng: np.random.Generator, x: np.ndarray, noise: float) -> np.ndarray:
    return x + rng.normal(scale=noise, size=x.shape) if noise else x


def load_moons(cfg: SyntheticConfig) -> RawData:
    from sklearn.datasets import make_moons

    x, y = make_moons(cfg.n_samples, noise=cfg.noise, random_state=cfg.seed)
    return _classes(x, y)


def load_circles(cfg: SyntheticConfig) -> RawData:
    from sklearn.datasets import make_circles

    x, y = make_circles(cfg.n_samples, noise=cfg.noise, factor=0.5, random_state=cfg.seed)
    return _classes(x, y)


def load_spirals(cfg: SpiralsConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    y = np.arange(cfg.n_samples) % cfg.arms
    t = np.sqrt(rng.uniform(0.02, 1, cfg.n_samples))  # radius; sqrt spreads points evenly along the arm
    angle = 2 * np.pi * (cfg.turns * t + y / cfg.arms)
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    return _classes(_noisy(rng, x, cfg.noise), y)


def load_xor(cfg: SyntheticConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    x = rng.uniform(-1, 1, size=(cfg.n_samples, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return _classes(_noisy(rng, x, cfg.noise), y)


def load_linear(cfg: SyntheticConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    angle = rng.uniform(0, 2 * np.pi)
    normal = np.array([np.cos(angle), np.sin(angle)])
    x = rng.uniform(-1, 1, size=(cfg.n_samples, 2))
    y = (x @ normal > 0).astype(np.int64)
    return _classes(_noisy(rng, x, cfg.noise), y)


def load_sine(cfg: SineConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    x = rng.uniform(-np.pi, np.pi, size=(cfg.n_samples, 1))
    y = np.sin(x[:, 0]) + (rng.normal(scale=cfg.noise, size=cfg.n_samples) if cfg.noise else 0)
    return RawData(x.astype(np.float32), y.astype(np.float32), "regression")
