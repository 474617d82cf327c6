"""Feature scaling fitted on the training split only, applied to every split."""

from __future__ import annotations

import torch

EPS = 1e-8


def _safe(scale: torch.Tensor) -> torch.Tensor:
    """A constant feature in the training split (digits' blank corner pixels) is scaled by 1,
    as scikit-learn's scalers do: dividing by ~0 would blow up whatever varies elsewhere."""
    return torch.where(scale > EPS, scale, torch.ones_like(scale))


def fit(mode: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Statistics per feature (per element of the input shape) of the training inputs."""
    if mode in ("none", "pixels"):
        return {}
    if mode == "center":
        return {"mean": x.mean(dim=0)}
    if mode == "standardize":
        return {"mean": x.mean(dim=0), "std": x.std(dim=0, unbiased=False)}
    if mode in ("minmax", "minmax_sym"):
        return {"min": x.amin(dim=0), "max": x.amax(dim=0)}
    raise ValueError(mode)


def apply(mode: str, stats: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    if mode == "none":
        return x
    if mode == "pixels":
        return x / 255.0
    if mode == "center":
        return x - stats["mean"]
    if mode == "standardize":
        return (x - stats["mean"]) / _safe(stats["std"])
    span = _safe(stats["max"] - stats["min"])
    unit = (x - stats["min"]) / span  # [0, 1] on the training split
    return unit if mode == "minmax" else unit * 2 - 1
