"""Which way a metric is better — torch-free, so listing and sorting runs stay instant."""

from __future__ import annotations

MINIMIZED = ("loss", "mae", "rmse", "mse", "error", "err", "penalty", "mmd")


def mode_for(metric: str) -> str:
    """'min' for losses and errors, 'max' for accuracies, AUC and R²."""
    return "min" if any(metric.endswith(s) or f"_{s}" in metric for s in MINIMIZED) else "max"
