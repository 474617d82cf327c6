"""The run store as tables and curves (`dlx runs`, `show`, `compare`)."""

from __future__ import annotations

import logging
import math
import re
import sys

from rich.console import Console
from rich.table import Table

from dlx.errors import ConfigError
from dlx.report.text import (STATUS_STYLE, as_int, cell, console, count, duration, fmt, main_metric,
                             plain_table)
from dlx.report.termplot import COLORS, Series, line_chart
from dlx.store import compare, runs

__all__ = ["GROUP_COLUMNS", "skipped", "unreadable", "best_label", "runs_table", "mean_std", "aggregate_display",
           "aggregate_table", "print_frame", "list_runs", "print_aggregate", "compare_runs", "print_comparison"]

log = logging.getLogger(__name__)

GROUP_COLUMNS = ("model", "optim", "scheduler", "regularizer", "data")


def skipped(path, reason: str) -> None:
    """`runs.load_runs`'s on_skip: a run folder it could not read."""
    log.warning(f"skipping {path}: {reason}")


def unreadable(path, reason: str) -> None:
    """`runs.load_runs`'s on_skip for a run the user named: one error line, not a warning and a second error."""
    raise ConfigError(f"cannot read run {path}: {reason}; name another run, or delete that folder")


def best_label(column: str, sep: str = " ") -> str:
    """`best_val_acc` -> `best val_acc`: the header names the metric the run kept its best by."""
    return column.replace("best_", f"best{sep}", 1) if column.startswith("best_") else column


def _test_columns(df) -> list[str]:
    # top-5 is rarely what a glance needs; it stays in --format csv/json
    return [c for c in df.columns if c.startswith("test_") and not c.endswith(("_size", "_top5"))]


def _has_values(df, column: str) -> bool:
    return column in df.columns and bool(df[column].notna().any())


def _run_columns(df) -> list[tuple[str, str, object, bool]]:
    """(field, header, formatter, numeric) for the runs table; two-line headers keep numbers narrow.

    One best column per monitored metric (`best val_acc`, `best val_loss`): a run fills its own.
    """

    short = {"scheduler": "sched", "regularizer": "reg"}
    columns = [(g, short.get(g, g), cell, False) for g in GROUP_COLUMNS]
    columns += [("epochs_run", "ep", lambda v: cell(as_int(v)), True)]
    # only the metrics the listed runs have: `--where data=digits` hides regression's columns
    columns += [(c, best_label(c, "\n"), cell, True) for c in compare.best_columns(df) if _has_values(df, c)]
    columns += [(c, c.replace("_", "\n", 1), cell, True) for c in _test_columns(df) if _has_values(df, c)]
    columns += [("params", "params", count, True), ("duration_s", "time", duration, True)]
    return [c for c in columns if c[0] in df]


def runs_table(df, title: str = "runs", split_ids: bool = False) -> Table:
    """One row per run: id, status, groups, epochs, best monitored value, test metrics, size, time.

    What every run shares (groups, epochs, size) moves into the caption, so 80 columns show what
    differs; `split_ids` puts an id's label under its time (the time alone is a usable prefix).
    """
    shareable = (*GROUP_COLUMNS, "epochs_run", "params")
    columns, shared = [], []
    for field, header, show, numeric in _run_columns(df):
        if field in shareable and len(df) > 1 and df[field].map(show).nunique() == 1:
            shared.append(f"{header} {show(df[field].iloc[0])}")
        else:
            columns.append((field, header, show, numeric))
    caption = "shared: " + " · ".join(shared) if shared else None
    table = Table(title=title, caption=caption, caption_justify="left",
                  **plain_table(padding=(0, 0), collapse_padding=True))
    # an id is never folded mid-word: split ids keep their time stamp (19 characters, a usable
    # prefix) on the first line and their label on the second, at any width
    table.add_column("id", no_wrap=True, min_width=19 if split_ids else None)
    table.add_column("status", no_wrap=True)
    for _, header, _, numeric in columns:
        table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
    for _, row in df.iterrows():
        status = row.get("status")
        run_id = re.sub(r"^(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)_", "\\1_\n", row["id"]) if split_ids else row["id"]
        table.add_row(run_id, f"[{STATUS_STYLE.get(status, 'default')}]{status}[/]",
                      *(show(row.get(field)) for field, _, show, _ in columns))
    return table


def mean_std(mean, std, digits: int = 4) -> str:
    """`0.9123 ± 0.0101`; a group of one has no spread: just the mean."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return fmt(float(mean), digits)
    return f"{fmt(float(mean), digits)} ± {fmt(float(std), digits)}"


def aggregate_display(agg):
    """The aggregate frame as text cells: keys, count, then `mean ± std` per metric."""
    import pandas as pd

    keys, metrics = agg.attrs["keys"], agg.attrs["metrics"]
    out = pd.DataFrame({k: agg[k].map(lambda v: "—" if pd.isna(v) else str(v)) for k in keys})
    out["count"] = agg["count"]
    for m in metrics:
        out[best_label(m)] = [mean_std(a, b) for a, b in zip(agg[f"{m}_mean"], agg[f"{m}_std"])]
    return out


def aggregate_table(agg) -> Table:
    """The --group-by table: keys, count, best and test metrics (all metrics: --format csv/json)."""
    shown = aggregate_display(agg)
    shown = shown[[c for c in shown.columns if c in agg.attrs["keys"] or c == "count"
                   or c.startswith(("best ", "test_")) and not c.endswith("_top5")]]
    table = Table(title="mean ± std (sample std, ddof=1) per group, best first", **plain_table())
    for name in shown.columns:
        table.add_column(name, justify="left" if name in agg.attrs["keys"] else "right")
    for row in shown.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def print_frame(text: str) -> None:
    """csv / json / markdown output for scripts: plain, no rich markup or wrapping."""
    sys.stdout.write(text)
    sys.stdout.flush()


def list_runs(root, *, where=(), sort=None, limit=None, sweep=None, cv=None, members=False,
              group_by=None, fmt: str = "table") -> None:
    """`dlx runs`: the table of runs (or their --group-by aggregate), or csv/json/markdown of it."""

    records = runs.select_runs(root, sweep=sweep, cv=cv, members=members)
    hidden = 0 if members or sweep or cv else sum(1 for r in runs.iter_runs(root) if r.kind != runs.RUN)
    df = compare.apply_where(compare.add_best_columns(runs.load_runs(records, on_skip=skipped)), where)
    if group_by:
        return print_aggregate(df, group_by, sort, limit, fmt)
    df = compare.sort_runs(df, sort)
    if limit is not None:
        df = df.head(limit)
    if fmt != "table":
        return print_frame(compare.export(df if len(df.columns) else _empty_frame(), fmt))
    if not len(df):
        console.print("no runs match" if where else f"no readable runs{' yet' if not records else ''}")
        return
    title = f"{len(df)} run{'s' * (len(df) != 1)}" + (f" (+{hidden} sweep/CV member runs: --all)" if hidden else "")
    # piped output is not cut to 80 columns: a log file or a pager has room for the whole row
    out = console if console.is_terminal else Console(width=max(console.width, 200))
    table = runs_table(df, title)
    if out.measure(table, options=out.options.update_width(10_000)).maximum > out.width:
        table = runs_table(df, title, split_ids=True)
    out.print(table)


def _empty_frame():
    """No runs match: the columns every run has, so `--format csv` still prints its header."""
    import pandas as pd

    return pd.DataFrame(columns=["id", "kind", "group", "status", "started", "path", *GROUP_COLUMNS])


def print_aggregate(df, group_by: str, sort=None, limit=None, fmt: str = "table") -> None:
    """--group-by: finished runs folded into mean ± std per group, best first."""

    keys = [k.strip() for k in group_by.split(",") if k.strip()]
    finished = df[df["status"] == "finished"] if len(df) else df
    if not len(finished):
        unfinished = f" (only {len(df)} unfinished)" if len(df) else ""
        raise ConfigError(f"no finished runs to aggregate{unfinished}; finish one, or drop --group-by")
    agg = compare.aggregate(finished, keys, sort=sort)  # an unknown key stops here, before any warning
    if len(finished) < len(df):
        log.warning(f"{len(df) - len(finished)} unfinished run(s) left out of the aggregate")
    if limit is not None:
        agg = agg.head(limit)
    if agg.attrs["added"]:
        log.warning(f"grouped by {' and '.join(agg.attrs['added'])} too: runs that monitor different metrics "
                    "or use different data are never averaged together")
    if fmt == "markdown":
        return print_frame(compare.to_markdown(aggregate_display(agg)))
    if fmt != "table":
        return print_frame(compare.export(agg, fmt))
    console.print(aggregate_table(agg))


def compare_runs(root, refs=(), *, sweep=None, cv=None, where=(), group_by=None, sort=None,
                 fmt: str = "table") -> None:
    """`dlx compare`: differing config keys, final metrics (best highlighted), overlaid curves."""

    if refs and (sweep or cv):
        raise ConfigError("give run ids or --sweep/--cv, not both")
    if refs:
        records = list({r.id: r for r in (runs.find_record(root, ref) for ref in refs)}.values())
        order = {r.id: i for i, r in enumerate(records)}  # the order the user named them
    elif sweep or cv:
        records = runs.select_runs(root, sweep=sweep, cv=cv)
    else:
        raise ConfigError("name the runs to compare (ids, prefixes, `last`) or give --sweep/--cv")
    # a run named on the command line must be read; one of a sweep or CV may be skipped with a warning
    df = runs.load_runs(records, on_skip=unreadable if refs else skipped)
    df = compare.apply_where(compare.add_best_columns(df), where)
    if refs and len(df):
        df = df.sort_values("id", key=lambda ids: ids.map(order), kind="stable")
    if group_by:
        return print_aggregate(df, group_by, sort, None, fmt)
    if len(df) < 2:
        raise ConfigError(f"compare needs at least two readable runs, got {len(df)}")
    df = compare.sort_runs(df, sort).reset_index(drop=True)
    diff = compare.config_diff(df)
    metrics, best = compare.final_metrics(df)
    if fmt != "table":
        import pandas as pd

        both = pd.concat([diff, metrics]).rename_axis("key").reset_index()
        return print_frame(compare.export(both, fmt))
    print_comparison(df, diff, metrics, best)


def print_comparison(df, diff, metrics, best) -> None:
    """Runs tagged #1, #2, ... (so the tables fit 80 columns), then the two tables and the curves."""
    tags = {run_id: f"#{i + 1}" for i, run_id in enumerate(df["id"])}
    for run_id, status in zip(df["id"], df["status"]):
        console.print(f"[bold]{tags[run_id]:>3}[/] {run_id}  [{STATUS_STYLE.get(status, 'default')}]{status}[/]",
                      highlight=False, soft_wrap=True)
    if len(diff):
        console.print(_side_by_side("config keys that differ", "key", diff, tags))
    else:
        console.print("the runs share every config key")
    labels = {**{m: best_label(m) for m in metrics.index}, "epochs_run": "epochs", "duration_s": "time"}
    shown = metrics.copy().astype(object)
    for name, row in metrics.iterrows():
        show = {"params": count, "duration_s": duration, "epochs_run": lambda v: cell(as_int(v))}.get(name, cell)
        shown.loc[name] = [f"[bold green]{show(v)}*[/]" if best.get(name) == run_id else f"{show(v)} "
                           for v, run_id in zip(row.tolist(), row.index)]
    console.print(_side_by_side("final metrics (* = best)", "metric", shown.rename(index=labels), tags))
    console.print(_overlaid_curves(df, tags))


def _side_by_side(title: str, first: str, frame, tags: dict) -> Table:
    table = Table(title=title, **plain_table())
    table.add_column(first)
    for run_id in frame.columns:
        table.add_column(tags[run_id], justify="right")
    for key, row in frame.iterrows():
        table.add_row(str(key), *(str(v) for v in row.tolist()))
    return table


def _overlaid_curves(df, tags: dict):
    """The main validation metric of every run in one chart, a colour per run."""

    monitors = df["monitor"].dropna() if "monitor" in df else []
    main = main_metric(df.columns, monitors.iloc[0] if len(monitors) else None)
    series = []
    for i, (run_id, path) in enumerate(zip(df["id"], df["path"])):
        try:
            curve = runs.read_metrics(path)
        except Exception:  # a run with no finished epoch has no curve
            continue
        if f"val_{main}" in curve:
            series.append(Series(f"{tags[run_id]} {run_id}", curve["epoch"], curve[f"val_{main}"],
                                 COLORS[i % len(COLORS)]))
    return line_chart(series, width=min(console.width, 100), height=10, title=f"val_{main}")
