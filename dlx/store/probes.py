"""Folders of runs that are not runs: `outputs/lr-find/<id>/` (curve.csv, curve.png, config.yaml).

They never appear in `dlx runs`: an LR range test trains nothing worth keeping.
"""

from __future__ import annotations

from pathlib import Path

from dlx.store.files import atomic_write_csv, atomic_write_text, make_dir, new_run_id, yaml_dump

LR_FIND = "lr-find"


def create_lr_find_dir(output_dir: str, label: str) -> Path:
    return make_dir(Path(output_dir) / LR_FIND, new_run_id(label))


def write_curve(folder: Path, rows: list[dict], config: dict) -> Path:
    """curve.csv (step, lr, loss, smoothed) and the config it was measured with."""
    atomic_write_csv(Path(folder) / "curve.csv", rows, ["step", "lr", "loss", "smoothed"])
    atomic_write_text(Path(folder) / "config.yaml", yaml_dump(config))
    return Path(folder) / "curve.csv"
