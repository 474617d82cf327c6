"""Filter, sort, fold and diff the run frames that `runs.load_runs` reads: pandas only.

Nothing here touches `outputs/` or draws; `report.py` renders what these return.
"""

from __future__ import annotations

import json
import math
import re

from dlx.errors import ConfigError, closest
from dlx.store.runs import GROUPS, config_columns, metric_mode

SPLITS = ("train_", "val_", "test_")
_CONDITION = re.compile(r"^\s*([^=!<>\s]+)\s*(==|=|!=|>=|<=|>|<)\s*(.*?)\s*$")


def resolve_column(df, key: str) -> str:
    """A column of `df` for a user's key: exact, a group name (`model` -> `model.name`), `best`."""
    if key in df.columns:
        return key
    if key == "best" and len(best_columns(df)) == 1:
        return best_columns(df)[0]
    for candidate in (f"{key}.name", "best_value" if key == "best" else None):
        if candidate in df.columns:
            return candidate
    hint = closest(key, list(df.columns) + [g for g in GROUPS if f"{g}.name" in df.columns])
    did_you_mean = f" — did you mean '{hint}'?" if hint else ""
    raise ConfigError(f"unknown key '{key}'{did_you_mean} (any config key such as optim.lr, "
                      "or a summary field such as test_acc)")


def metric_columns(df) -> list[str]:
    """best_<monitor> (one per monitor), then train_/val_/test_ metrics that are numbers (sizes
    are not metrics). `best_value` itself is not one: it holds different metrics in different runs."""
    cols = [c for c in df.columns if c.startswith(SPLITS) and not c.endswith("_size")]
    cols = [c for c in cols if _is_numeric(df[c])]
    return best_columns(df) + cols


def monitors(df) -> list[str]:
    """The runs' monitored metrics (`val_acc`, `val_loss`, ...), sorted by name."""
    if "monitor" not in df or not len(df):
        return []
    return sorted({str(m) for m in df["monitor"].dropna()})


def best_columns(df) -> list[str]:
    """`best_<monitor>` columns that `add_best_columns` made: one per monitor among the runs."""
    return [f"best_{m}" for m in monitors(df) if f"best_{m}" in df.columns]


def add_best_columns(df):
    """A `best_<monitor>` column per monitor (`best_val_acc`, `best_val_loss`): the run's
    best_value where it monitored that metric, blank elsewhere. No column mixes metrics."""
    import pandas as pd

    if "best_value" not in df or not len(df):
        return df
    df = df.copy()
    values = pd.to_numeric(df["best_value"], errors="coerce")
    for m in monitors(df):
        df[f"best_{m}"] = values.where(df["monitor"] == m)
    return df


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def objective_mode(df, column: str) -> str | None:
    """min | max for a metric column (best_<monitor> follows that monitor and the monitor_mode
    of its runs); None otherwise."""
    base = re.sub(r"_(mean|std)$", "", column)
    if base.startswith("best_") and base != "best_value":
        monitor = base.removeprefix("best_")
        runs = df[df["monitor"] == monitor] if "monitor" in df else df.iloc[:0]
        modes = runs["trainer.monitor_mode"].dropna() if "trainer.monitor_mode" in runs else []
        explicit = [m for m in modes if m in ("min", "max")]
        return explicit[0] if explicit else metric_mode(monitor)
    if column == "best_value" or column.startswith("best_value_"):
        modes = df["trainer.monitor_mode"].dropna() if "trainer.monitor_mode" in df else []
        explicit = [m for m in modes if m in ("min", "max")]
        if explicit:
            return explicit[0]
        named = df["monitor"].dropna() if "monitor" in df else []
        return metric_mode(named.mode()[0]) if len(named) else "max"
    if base.startswith(SPLITS):
        return metric_mode(base)
    return None


# ---------------------------------------------------------------- where, sort, limit


def _coerce(series, text: str):
    """The user's text as a value comparable with `series` (number, bool, or string)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _is_numeric(series):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"'{text}' is not a number; {series.name} holds numbers") from None
    return None if text.lower() in ("null", "none") else text


def apply_where(df, conditions) -> "object":
    """Keep the rows that satisfy every `key=value` (also !=, <, <=, >, >=)."""
    import pandas as pd

    if not len(df):  # nothing readable: nothing to filter, and no columns to check keys against
        return df
    for condition in conditions or ():
        match = _CONDITION.match(condition)
        if not match:
            raise ConfigError(f"bad --where '{condition}': expected key=value, e.g. model=cnn or test_acc>0.9")
        key, op, text = match.groups()
        column = resolve_column(df, key)
        series, value = df[column], _coerce(df[column], text)
        if op in ("=", "==", "!="):
            if value is None:
                keep = series.isna()
            elif isinstance(value, (bool, float)):
                keep = pd.to_numeric(series, errors="coerce") == float(value)
            else:
                keep = series.astype(str) == value
            keep = ~keep if op == "!=" else keep
        else:
            if not isinstance(value, float):
                raise ConfigError(f"--where {condition}: {op} needs a number")
            numbers = pd.to_numeric(series, errors="coerce")
            keep = {"<": numbers < value, "<=": numbers <= value, ">": numbers > value, ">=": numbers >= value}[op]
        df = df[keep.fillna(False).astype(bool)]
    return df


def sort_runs(df, key: str | None):
    """Best first for a metric (max for acc, min for loss), ascending otherwise; `-key` reverses."""
    if not key or not len(df):
        return df
    reverse = key.startswith("-")
    column = resolve_column(df, key.lstrip("-"))
    if column == "best_value" and len(monitors(df)) > 1:  # `best` of runs that monitor different metrics
        return _best_first_per_monitor(df, [f"best_{m}" for m in monitors(df)], reverse)
    mode = objective_mode(df, column)
    ascending = mode != "max"
    if reverse:
        ascending = not ascending
    return df.sort_values(column, ascending=ascending, na_position="last", kind="stable")


def _best_first_per_monitor(df, columns: list[str], reverse: bool = False, runs=None):
    """Rows in blocks of one monitor (in `columns`' order), each block best first by its own
    direction (read from `runs`, the run rows, when `df` holds groups): values of different
    metrics are never ranked against each other."""
    import pandas as pd

    order = pd.Series(float(len(columns)), index=df.index)
    signed = pd.Series(math.nan, index=df.index)
    for i, column in enumerate(c for c in columns if c in df):
        values = pd.to_numeric(df[column], errors="coerce")
        rows = values.notna()
        mode = objective_mode(df if runs is None else runs, column)
        flip = -1.0 if (mode == "max") != reverse else 1.0
        order[rows], signed[rows] = float(i), values[rows] * flip
    keys = pd.DataFrame({"order": order, "signed": signed})
    ranked = keys.sort_values(["order", "signed"], na_position="last", kind="stable").index
    return df.loc[ranked]


# ---------------------------------------------------------------- --group-by


def identity_keys(df, keys: list[str]) -> list[str]:
    """What makes values comparable, beyond the user's keys: the monitored metric and the
    dataset (its name, and its file for csv/image_folder data) wherever they differ."""
    added = []
    for column in ("monitor", "data", "data.path"):
        if column not in df or column in keys or (column == "data" and "data.name" in keys):
            continue
        if df[column].map(str).nunique() > 1:
            added.append(column)
    return added


def aggregate(df, by, metrics=None, sort: str | None = None):
    """One row per distinct value of the `by` keys: count, then `<m>_mean` and `<m>_std`.

    Runs that monitor different metrics, or train on different datasets, are never folded
    together: the monitor and the dataset join the keys where they differ (`attrs["added"]`).
    std is the sample standard deviation (ddof=1, pandas' default): NaN for a group of
    one. Rows are sorted by the objective (best_<monitor>: each monitor's groups together,
    best first) or `sort`.
    """
    keys = [resolve_column(df, k) for k in by]
    added = identity_keys(df, keys)
    keys += added
    metrics = [resolve_column(df, m) for m in metrics] if metrics else \
        [m for m in metric_columns(df) if not m.startswith("train_")]
    grouped = df.groupby(keys, dropna=False, sort=False)
    out = grouped.size().rename("count").to_frame()
    for m in metrics:
        values = grouped[m]
        out[f"{m}_mean"] = values.mean()
        out[f"{m}_std"] = values.std(ddof=1)
    out = out.reset_index()
    out = _sort_groups(df, out, metrics, sort)
    out.attrs["keys"], out.attrs["metrics"], out.attrs["added"] = keys, metrics, added
    return out.reset_index(drop=True)


def _sort_groups(df, out, metrics: list[str], sort: str | None):
    column = resolve_column(df, sort.lstrip("-")) if sort else None
    reverse = bool(sort and sort.startswith("-"))
    bests = [f"{c}_mean" for c in best_columns(df) if c in metrics]
    if column is None or column == "best_value":
        if len(bests) > 1 or (column is not None and bests):
            return _best_first_per_monitor(out, bests, reverse, runs=df)
        column = bests[0].removesuffix("_mean") if bests else None
    if column is None:
        return out
    target = f"{column}_mean"
    if target not in out:
        raise ConfigError(f"cannot sort groups by '{sort}': not an aggregated metric "
                          f"({', '.join(metrics)})")
    ascending = objective_mode(df, target) != "max"
    if reverse:
        ascending = not ascending
    return out.sort_values(target, ascending=ascending, na_position="last", kind="stable")


# ---------------------------------------------------------------- compare


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # a column with gaps (a key other runs lack) turns ints into floats
    return str(value)


def config_diff(df):
    """Config keys whose values differ between the runs: rows = keys, columns = run ids."""
    import pandas as pd

    keys = [k for k in config_columns(df) if df[k].map(_text).nunique() > 1]
    return pd.DataFrame({run_id: [_text(v) for v in row] for run_id, row in
                         zip(df["id"], df[keys].itertuples(index=False))}, index=keys)


def final_metrics(df):
    """Metrics side by side (rows = metrics, columns = run ids) and each row's best run id.

    Runs on different data have no best: their figures do not measure the same thing.
    """
    import pandas as pd

    rows = [m for m in metric_columns(df)] + [c for c in ("epochs_run", "params", "duration_s") if c in df]
    mixed_data = bool(set(identity_keys(df, [])) - {"monitor"})
    table = pd.DataFrame({run_id: [row[m] for m in rows] for run_id, (_, row) in zip(df["id"], df.iterrows())},
                         index=rows)
    best = {}
    for m in rows:
        mode = objective_mode(df, m)
        values = pd.to_numeric(table.loc[m], errors="coerce").dropna()
        if mode and len(values) > 1 and values.nunique() > 1 and not mixed_data:
            best[m] = values.idxmin() if mode == "min" else values.idxmax()
    return table, best


# ---------------------------------------------------------------- export


def export(df, fmt: str) -> str:
    """csv | json (a list of records, NaN as null) | markdown text of `df`."""
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        records = json.loads(df.to_json(orient="records", double_precision=15))
        return json.dumps(records, indent=2) + "\n"
    if fmt == "markdown":
        return to_markdown(df)
    raise ConfigError(f"unknown format '{fmt}'; choose csv, json or markdown")


def to_markdown(df) -> str:
    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.6g}"
        return _text(v).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"
