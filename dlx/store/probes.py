"""Folders of runs that are not runs: `outputs/lr-find/<id>/` (curve.csv, curve.png, config.yaml).

They never appear in `dlx runs`: an LR range test trains nothing worth keeping.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dlx.store.files import _yaml_dump, atomic_write_text, make_dir, new_run_id

LR_FIND = "lr-find"


def create_lr_find_dir(output_dir: str, label: str) -> Path:
    return make_dir(Path(output_dir) / LR_FIND, new_run_id(label))


def write_curve(folder: Path, rows: list[dict], config: dict) -> Path:
    """curve.csv (step, lr, loss, smoothed) and the config it was measured with."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["step", "lr", "loss", "smoothed"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(folder) / "curve.csv", buf.getvalue())
    atomic_write_text(Path(folder) / "config.yaml", _yaml_dump(config))
    return Path(folder) / "curve.csv"
