"""Feature scaling fitted on the training split only, applied to every split."""

from __future__ import annotations

import torch

EPS = 1e-8


def safe_scale(scale: torch.Tensor) -> torch.Tensor:
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
        return (x - stats["mean"]) / safe_scale(stats["std"])
    span = safe_scale(stats["max"] - stats["min"])
    unit = (x - stats["min"]) / span  # [0, 1] on the training split
    return unit if mode == "minmax" else unit * 2 - 1


def fit_impute(strategy: str, x: torch.Tensor) -> torch.Tensor | None:
    """Per-feature fill values for missing (NaN) inputs, from the training rows: scikit-learn's
    SimpleImputer(strategy) — mean, median, or the most frequent value (the smallest on a tie).
    A feature missing on every training row is filled with 0 (SimpleImputer's keep_empty_features)."""
    if strategy == "none":
        return None
    flat = x.reshape(x.shape[0], -1).double()  # (N, features)
    if strategy == "mean":
        fill = flat.nanmean(dim=0)
    elif strategy == "median":
        fill = torch.from_numpy(_nan_median(flat.numpy()))
    elif strategy == "most_frequent":
        fill = torch.tensor([_mode(column) for column in flat.T.tolist()], dtype=torch.float64)
    else:
        raise ValueError(strategy)
    return torch.nan_to_num(fill, nan=0.0).float().reshape(x.shape[1:])


def apply_impute(fill: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    return x if fill is None else torch.where(torch.isnan(x), fill, x)


def _nan_median(values):
    import warnings

    import numpy as np

    with warnings.catch_warnings():  # an all-missing column: NaN, filled with 0 by the caller
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=0)  # the mean of the two middle values, as numpy's median


def _mode(column: list[float]) -> float:
    import numpy as np

    values = np.asarray(column)
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan")
    unique, counts = np.unique(values, return_counts=True)  # sorted: argmax takes the smallest of a tie
    return float(unique[counts.argmax()])
