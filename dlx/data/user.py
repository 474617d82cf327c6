"""The user's own data: a CSV table, or a folder of images with one sub-folder per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlx.data.bundle import RawData
from dlx.data.disk import DiskData, auto_workers
from dlx.data.schemas import CSVConfig, ImageFolderConfig, existing
from dlx.errors import DataError, closest, first_line

MAX_CLASSES = 20  # an integer target with at most this many distinct values is a class label
MAX_ONE_HOT = 100  # a text feature with more distinct values is an id or free text, not a category


# ---------------------------------------------------------------- csv


def infer_task(target) -> str:
    """Text, booleans or few integer values: classes (binary when two); other numbers: regression."""
    import pandas as pd

    values = target.dropna()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        if not (integral and values.nunique() <= MAX_CLASSES):
            return "regression"
    return "binary" if values.nunique() == 2 else "multiclass"


def check_missing(frame, path: Path, dropna: bool, imputed=(), protected=()):
    """Rows with a missing value: dropped (data.dropna), filled later (numeric `imputed` columns,
    data.impute, fitted on the training rows), else one error that says where."""
    rows = frame.drop(columns=list(imputed)).isna().any(axis=1)
    if dropna or not rows.any():
        return frame[~rows]
    counts = frame.drop(columns=list(imputed)).isna().sum()
    bad = counts[counts > 0]
    column, n = bad.index[0], int(bad.iloc[0])
    lines = (frame.index[frame[column].isna()][:3] + 2).tolist()  # file lines: 1-based, after the header
    impute_hint = "" if imputed or column in protected else ", or data.impute=mean|median|most_frequent to fill them"
    others = f"; also missing in {', '.join(repr(c) for c in bad.index[1:])}" if len(bad) > 1 else ""
    raise DataError(f"{path.name}: column '{column}' has {n} missing value(s) (line {', '.join(map(str, lines))}"
                    f"{'...' if n > 3 else ''}){others}; set data.dropna=true to drop those "
                    f"{int(rows.sum())} row(s){impute_hint}")




def _check_finite(frame, path: Path) -> None:
    """inf / -inf read as numbers, and values beyond float32 (±3.4e38, read as float64) become
    inf once cast: every loss turns NaN. Stop and say where."""
    import pandas as pd

    limit = float(np.finfo(np.float32).max)
    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad = np.abs(numbers) > limit  # inf, and finite numbers float32 cannot hold
        if bad.any():
            lines = (frame.index[bad][:3] + 2).tolist()
            kind = "an infinite value" if np.isinf(numbers[bad]).all() else \
                f"a value beyond float32's range (±{limit:.3g})"
            raise DataError(f"{path.name}: column '{column}' has {kind} (line {', '.join(map(str, lines))}); "
                            "rescale the column (e.g. other units or a log), replace the value, or leave the "
                            "column out with data.features=[...]")


def _columns(df, cfg: CSVConfig, path: Path) -> list[str]:
    if not cfg.target:
        raise DataError(f"csv needs data.target: the column to predict; columns: {', '.join(map(str, df.columns))}")
    for column in [cfg.target, *(cfg.features or [])]:
        if column not in df.columns:
            hint = closest(column, df.columns)
            did_you_mean = f" — did you mean '{hint}'?" if hint else ""
            raise DataError(f"{path.name} has no column '{column}'{did_you_mean}; "
                            f"columns: {', '.join(map(str, df.columns))}")
    if cfg.group_col and cfg.group_col not in df.columns:
        hint = closest(cfg.group_col, df.columns)
        did_you_mean = f" — did you mean '{hint}'?" if hint else ""
        raise DataError(f"{path.name} has no group column '{cfg.group_col}' (data.group_col){did_you_mean}; "
                        f"columns: {', '.join(map(str, df.columns))}")
    if cfg.group_col and cfg.group_col in (cfg.target, *(cfg.features or [])):
        raise DataError(f"{path.name}: data.group_col '{cfg.group_col}' is also the target or a feature; "
                        "a group column is neither")
    features = list(cfg.features) if cfg.features else [c for c in df.columns
                                                         if c not in (cfg.target, cfg.group_col)]
    if cfg.target in features:
        raise DataError(f"data.features lists the target '{cfg.target}'; the model cannot see what it predicts, "
                        "so drop it from data.features")
    if len(set(features)) < len(features):
        twice = next(c for c in features if features.count(c) > 1)
        raise DataError(f"data.features lists '{twice}' twice; give each column once")
    if not features:
        raise DataError(f"{path.name}: no feature columns left besides the target '{cfg.target}'")
    return features


def _encode_target(target, task: str, path: Path):
    import pandas as pd

    if task == "regression":
        if not pd.api.types.is_numeric_dtype(target):
            raise DataError(f"{path.name}: target '{target.name}' is not numeric, so it cannot be regressed; "
                            "set data.task=auto or multiclass")
        return np.array(target, dtype=np.float32), []  # a copy: pandas may hand out read-only views
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target) \
            and np.all(np.mod(target.to_numpy(dtype=float), 1) == 0):
        values = target.to_numpy().astype(np.int64)  # 1.0, 2.0 -> classes '1', '2'
    else:
        values = target.astype(str).to_numpy()
    classes, y = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{path.name}: target '{target.name}' has a single class ('{classes[0]}'); "
                        "a classifier needs at least two")
    if task == "binary" and len(classes) != 2:
        raise DataError(f"{path.name}: data.task=binary but target '{target.name}' has {len(classes)} classes")
    return y.astype(np.int64), [str(c) for c in classes]


def _encode_features(frame, path: Path) -> tuple[np.ndarray, dict]:
    """Numbers pass through; text and booleans become one 0/1 column per value (one-hot).

    Also returns the encoding (features, categories, columns), saved with the run so that
    `dlx predict` encodes new rows exactly the same way (issue 14, dlx/use/inputs.py)."""
    import pandas as pd

    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) and values.nunique() > MAX_ONE_HOT:
            raise DataError(f"{path.name}: column '{column}' is text with {values.nunique()} distinct values "
                            f"(one-hot would add that many inputs); leave it out with data.features=[...]")
    encoded = pd.get_dummies(frame, dtype=np.float32)
    categories = {str(c): sorted(map(str, frame[c].dropna().unique())) for c in frame.columns
                  if not pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])}
    encoding = {"features": [str(c) for c in frame.columns], "categories": categories,
                "columns": [str(c) for c in encoded.columns]}
    return np.array(encoded, dtype=np.float32), encoding


def load_csv(cfg: CSVConfig) -> RawData:
    import pandas as pd

    path = existing(cfg.path, "csv", "CSV file")
    try:
        df = pd.read_csv(path, sep=cfg.sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, IsADirectoryError) as e:
        raise DataError(f"cannot read {path} as CSV: {first_line(e, limit=None)}") from None
    features = _columns(df, cfg, path)
    groups = [cfg.group_col] if cfg.group_col else []
    imputed = [c for c in features if cfg.impute != "none" and pd.api.types.is_numeric_dtype(df[c])]
    frame = check_missing(df[features + [cfg.target] + groups], path, cfg.dropna, imputed,
                           protected=[cfg.target, *groups])
    if len(frame) == 0:
        raise DataError(f"{path.name}: no rows left to learn from")
    _check_finite(frame.drop(columns=groups), path)  # group ids become text: any value will do
    task = infer_task(frame[cfg.target]) if cfg.task == "auto" else cfg.task
    y, classes = _encode_target(frame[cfg.target], task, path)
    if task != "regression" and len(classes) == 2:
        task = "binary"
    x, encoding = _encode_features(frame[features], path)
    # group ids as text: one kind of value however pandas read the column
    return RawData(x, y, task, classes, groups=frame[cfg.group_col].astype(str).to_numpy() if groups else None,
                   encoding=encoding)


# ---------------------------------------------------------------- image_folder


def load_image_folder(cfg: ImageFolderConfig) -> DiskData:
    from torchvision.datasets import ImageFolder

    root = existing(cfg.path, "image_folder", "image folder", cfg.root)
    if not root.is_dir() or not any(p.is_dir() for p in root.iterdir()):
        raise DataError(f"image_folder: {root} has no class sub-folders; expected {root}/<class>/<image>.png")
    try:
        files = ImageFolder(str(root))
    except FileNotFoundError as e:  # a class folder without a single image
        raise DataError(f"image_folder: {first_line(e, limit=None)}") from None
    if len(files.classes) < 2:
        raise DataError(f"image_folder: {root} has one class sub-folder ({files.classes[0]}); "
                        "a classifier needs at least two")
    task = "binary" if len(files.classes) == 2 else "multiclass"
    return DiskData(files, np.asarray(files.targets, dtype=np.int64), task, list(files.classes),
                    image_size=cfg.image_size, workers=auto_workers(cfg.workers), skip_bad_files=cfg.skip_bad_files)
