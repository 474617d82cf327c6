"""A time series from a CSV file as sliding windows (issue 16).

`data=timeseries data.path=FILE data.target=COL [data.features=[A,B]] data.window=W
data.horizon=H`: each sample is W consecutive rows of the features (the target column
itself when no features are named) and its target is the target column H rows after the
window's last row. The rows are split in time order — train, then validation, then test —
and every window lies inside one part with its target, so no training window sees a
validation or test value. Scaling (`data.preprocess`) is fitted on the training rows only.
With `data.folds` (`dlx cv`) the folds chain forward (scikit-learn's TimeSeriesSplit over
the rows before the test part): fold k validates on a later block than it trains on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlx.data import preprocess, splits
from dlx.data.bundle import DataBundle, Split
from dlx.data.dataset_schemas import TimeSeriesConfig  # noqa: F401  (declared there)
from dlx.errors import DataError, first_line


def read_series(cfg: TimeSeriesConfig) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, F), target (N,)) as float32, or a DataError that says what to fix."""
    import pandas as pd

    if not cfg.path or not cfg.target:
        raise DataError("data=timeseries needs data.path=FILE.csv and data.target=COLUMN")
    if not Path(cfg.path).expanduser().is_file():
        raise DataError(f"data.path={cfg.path}: no such file")
    try:
        frame = pd.read_csv(Path(cfg.path).expanduser())
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(f"data.path={cfg.path} is not a readable CSV file ({first_line(e)})") from None
    columns = [*cfg.features] or [cfg.target]
    missing = [c for c in [cfg.target, *columns] if c not in frame.columns]
    if missing:
        raise DataError(f"column {missing[0]!r} is not in {cfg.path}; its columns: {', '.join(map(str, frame.columns))}")
    try:
        values = frame[columns].to_numpy(dtype=np.float32, copy=True)
        target = frame[cfg.target].to_numpy(dtype=np.float32, copy=True)
    except (ValueError, TypeError):
        raise DataError(f"columns {', '.join(columns)} of {cfg.path} must be numbers") from None
    if not (np.isfinite(values).all() and np.isfinite(target).all()):
        raise DataError(f"{cfg.path} has empty or infinite values in {', '.join(columns)}; fill or drop those rows")
    return values, target


def windows(x: torch.Tensor, y: np.ndarray, start: int, cfg: TimeSeriesConfig, part: str) -> Split:
    """Windows of rows x[i:i+W] with target y[i+W-1+H], all inside this part; `index` is the
    target's row in the file."""
    span = cfg.window + cfg.horizon
    if len(y) == 0 and part == "validation":  # data.val_fraction=0 (a CV refit): no validation
        return Split(torch.zeros(0, cfg.window, x.shape[1]), torch.zeros(0), np.zeros(0, dtype=np.int64))
    if len(y) < span:
        raise DataError(f"data.window={cfg.window} plus data.horizon={cfg.horizon} needs {span} rows, but the "
                        f"{part} part has {len(y)}; lower data.window or use a longer series")
    starts = np.arange(len(y) - span + 1)
    take = torch.as_tensor(starts[:, None] + np.arange(cfg.window)[None, :])
    target_rows = starts + span - 1
    return Split(x[take], torch.as_tensor(y[target_rows]), start + target_rows)


def load_timeseries(cfg: TimeSeriesConfig) -> DataBundle:
    values, target = read_series(cfg)
    cut_val, end_val, cut_test = splits.ordered_parts(len(target), cfg)
    x = torch.as_tensor(values)
    stats = preprocess.fit(cfg.preprocess, x[:cut_val])  # the training rows only
    x = preprocess.apply(cfg.preprocess, stats, x)
    train = windows(x[:cut_val], target[:cut_val], 0, cfg, "training")
    if cfg.limit:
        train = Split(train.x[: cfg.limit], train.y[: cfg.limit], train.index[: cfg.limit])
    val = windows(x[cut_val:end_val], target[cut_val:end_val], cut_val, cfg, "validation")
    test = windows(x[cut_test:], target[cut_test:], cut_test, cfg, "test")
    return DataBundle(train, val, test, (cfg.window, values.shape[1]), "regression", [], 1,
                      {"mode": cfg.preprocess, **stats, "split_rows": [cut_val, cut_test]})
