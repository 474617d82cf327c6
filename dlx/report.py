"""Everything dlx draws in the terminal, with rich. The core never prints."""

from __future__ import annotations

import math
import numbers
import re
import sys


from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def fmt(value, digits: int = 4) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.3g}"
    return str(value)


class ProgressDisplay:
    """Trainer callback: a live rich bar on a terminal, plain lines otherwise, nothing when quiet."""

    def __init__(self, epochs: int, quiet: bool = False, out: Console | None = None):
        self.console = out or console
        self.epochs = epochs
        self.mode = "quiet" if quiet else ("rich" if self.console.is_terminal else "plain")
        self.progress = None
        self.task = None

    def on_fit_start(self, run_dir, exp, params: int) -> None:
        if self.mode == "quiet":
            return
        self.console.print(
            f"[bold]{run_dir.id}[/]  {exp.model.name} · {exp.optim.name} · {exp.data.name}  "
            f"({params:,} parameters)", highlight=False)
        if self.mode == "rich":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("epoch"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[metrics]}"), console=self.console, transient=False)
            self.task = self.progress.add_task("train", total=self.epochs, metrics="")
            self.progress.start()

    def on_epoch_end(self, trainer, row: dict) -> None:
        if self.mode == "quiet":
            return
        shown = {k: v for k, v in row.items() if k.endswith(("loss", "acc", "r2", "mae")) and "top5" not in k}
        text = "  ".join(f"{k} {fmt(v)}" for k, v in shown.items())
        if self.mode == "rich":
            self.progress.update(self.task, completed=row["epoch"], total=trainer.cfg.epochs, metrics=text)
        else:
            # plain print: a log file or a pipe wants one unwrapped line per epoch
            print(f"epoch {row['epoch']:>3}/{trainer.cfg.epochs}  lr {row['lr']:.3g}  {text}", flush=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def summary_table(summary: dict) -> Table:
    """Final metrics: one row per metric, columns train / val / test."""
    names = []
    for key in summary:
        for split in ("train_", "val_", "test_"):
            if key.startswith(split) and key[len(split):] not in names and key != "train_size":
                if not key.endswith("_size"):
                    names.append(key[len(split):])
    table = Table(title=f"{summary['run_id']}", title_justify="left")
    table.add_column("metric")
    for split in ("train", "val", "test"):
        table.add_column(split, justify="right")
    for name in names:
        table.add_row(name, *(fmt(summary.get(f"{split}_{name}", "")) for split in ("train", "val", "test")))
    return table


def summary_footer(summary: dict) -> str:
    return (
        f"best {summary['monitor']} {fmt(summary['best_value'])} at epoch {summary['best_epoch']}/"
        f"{summary['epochs_run']}{' (stopped early)' if summary.get('stopped_early') else ''} · "
        f"{summary['params']:,} params · {summary['duration_s']:.1f} s on {summary['device']}\n"
        f"run: {summary['path']}"
    )


def print_summary(summary: dict) -> None:
    console.print(summary_table(summary))
    console.print(summary_footer(summary), highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """One line on stderr; `message` says what is wrong and what to do."""
    print(f"error: {message}", file=sys.stderr)




# ---------------------------------------------------------------- models (issue 3)


def models_table(entries) -> Table:
    """`dlx models`: one row per registered model (registry entries)."""
    table = Table(title="models (dlx train model=NAME; dlx models show NAME)", title_justify="left")
    for column in ("model", "input", "what it is"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.name, ", ".join(e.meta.get("accepts", ())), e.meta.get("summary", ""))
    return table


def model_summary_table(summary, title: str, depth: int | None = None) -> Table:
    """`dlx models show`: layer, output shape, parameters, with the exact total."""
    from dlx.models.summary import visible_rows

    table = Table(title=title, title_justify="left", show_footer=True)
    table.add_column("layer", footer="total")
    table.add_column("output shape", footer="")
    table.add_column("params", justify="right", footer=f"{summary.total:,}")
    for row, params in visible_rows(summary, depth):
        label = "  " * row.depth + (f"{row.name.rsplit('.', 1)[-1]} ({row.kind})" if row.name else row.kind)
        shape = "(" + ", ".join(map(str, row.output_shape)) + ")" if row.output_shape else "—"
        table.add_row(label, shape, f"{params:,}" if params else "—")
    return table


def print_model_summary(summary, title: str, depth: int | None = None) -> None:
    console.print(model_summary_table(summary, title, depth))
    frozen = summary.total - summary.trainable
    line = f"{summary.total:,} parameters ({summary.trainable:,} trainable"
    line += f", {frozen:,} frozen)" if frozen else ")"
    out = summary.rows[0].output_shape or ()
    console.print(f"{line} · input (B, {', '.join(map(str, summary.input_shape))}) -> output "
                  f"({', '.join(map(str, out))})", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- list (issue 4)


def choices_lines(catalog: dict[str, list[tuple[str, str]]], defaults: dict[str, str]) -> list[str]:
    """`optim  (optim=NAME)` then one `* adam   description` line per choice, for each group."""
    lines = []
    for group, choices in catalog.items():
        if lines:
            lines.append("")
        lines.append(f"{group}  ({group}=NAME)")
        width = max((len(name) for name, _ in choices), default=0)
        for name, text in choices:
            mark = "*" if defaults.get(group) == name else " "
            lines.append(f"  {mark} {name:<{width}}  {text}".rstrip())
    return lines


def print_choices(catalog: dict[str, list[tuple[str, str]]], defaults: dict[str, str]) -> None:
    for line in choices_lines(catalog, defaults):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


# ---------------------------------------------------------------- data (issue 5)


def _shape(shape) -> str:
    return "×".join(map(str, shape)) if isinstance(shape, (tuple, list)) else str(shape)


def print_datasets(rows: list[dict]) -> None:
    """`dlx data`: one row per dataset; the description where the terminal is wide enough."""
    headers = ("name", "task", "shape", "size", "download")
    body = [[r["name"], r["task"], _shape(r["shape"]), f"{r['size']:,}" if isinstance(r["size"], int)
             else str(r["size"]), "yes" if r["download"] else "no"] for r in rows]
    used = sum(max(len(h), *(len(b[i]) for b in body)) + 3 for i, h in enumerate(headers)) + 4
    room = console.width - used  # what is left for the description column
    table = Table(title="datasets (dlx train data=NAME)", title_justify="left")
    for header in headers:
        table.add_column(header, justify="right" if header in ("shape", "size") else "left", no_wrap=True)
    if room >= 20:
        table.add_column("", no_wrap=True, max_width=room, overflow="ellipsis")
    for r, cells in zip(rows, body):
        table.add_row(*cells, *([r["summary"]] if room >= 20 else []))
    console.print(table)


def print_bundle(name: str, bundle) -> None:
    """`dlx data NAME`: what the trainer will see — splits, shape, task, classes, preprocessing."""
    console.print(f"{name}: {bundle.task}, input {_shape(bundle.input_shape)}", highlight=False)
    table = Table()
    table.add_column("split")
    table.add_column("samples", justify="right")
    for split in ("train", "val", "test"):
        table.add_row(split, f"{len(getattr(bundle, split)):,}")
    console.print(table)
    classes = ", ".join(bundle.classes[:12]) + (" ..." if len(bundle.classes) > 12 else "")
    augment = bundle.augment is not None and bundle.augment.active
    console.print(f"classes ({bundle.num_classes}): {classes}" if bundle.classes else
                  f"regression targets: {bundle.num_targets}", highlight=False)
    console.print(f"preprocess: {bundle.preprocess.get('mode')} (fitted on train)"
                  f"{' · augment: on (train only)' if augment else ''}", highlight=False)


# ---------------------------------------------------------------- sweep (issue 6)


SWEEP_STYLES = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan", "WAITING": "dim"}


def _short(text, width: int = 60) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _param(value) -> str:
    """Swept values keep their significant digits: 0.0002, not 0.0002 rounded to 0.0000."""
    return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))


def _trial_cells(row: dict, keys: list[str], metric: str) -> list[str]:
    duration = row.get("duration_s")
    return [str(row["number"]), *(_short(_param(row.get(k)), 24) for k in keys),
            f"[{SWEEP_STYLES.get(row['state'], '')}]{row['state'].lower()}[/]",
            fmt(row["value"]) if row.get("value") is not None else "",
            f"{duration:.1f} s" if duration else ""]


def sweep_table(rows: list[dict], spec: dict, limit: int = 20) -> Table:
    """The live view: the latest trials that started, newest last; the rest counted in the caption."""
    keys = [d["key"] for d in spec["space"]["dims"]]
    started = [r for r in sorted(rows, key=lambda r: r["number"]) if r["state"] != "WAITING"]
    waiting = len(rows) - len(started)
    done = sum(r["state"] in ("COMPLETE", "PRUNED", "FAIL") for r in rows)
    table = Table(title=f"sweep {spec['id']} · {spec['sampler']} · {spec['metric']} ({spec['direction'][:3]})",
                  title_justify="left", caption=f"{done}/{len(rows)} done · {waiting} waiting",
                  caption_justify="left")
    for name in ("trial", *keys, "state", spec["metric"], "time"):
        table.add_column(name, justify="right" if name in ("trial", spec["metric"], "time") else "left")
    for row in started[-limit:]:
        table.add_row(*_trial_cells(row, keys, spec["metric"]))
    return table


class SweepDisplay:
    """`on_update(rows)` for a sweep: a live table on a terminal, one plain line per trial event otherwise."""

    def __init__(self, quiet: bool = False, out: Console | None = None):
        self.console = out or console
        self.mode = "quiet" if quiet else ("rich" if self.console.is_terminal else "plain")
        self.live = None
        self.seen: dict[int, str] = {}
        self.spec = None

    def update(self, rows: list[dict], spec: dict) -> None:
        if self.mode == "quiet":
            return
        if self.spec is None:
            self.spec = spec
            self.console.print(f"sweep [bold]{spec['id']}[/]: {len(rows)} trials, {spec['sampler']}, "
                               f"{spec['direction']} {spec['metric']}", highlight=False, soft_wrap=True)
        if self.mode == "rich":
            from rich.live import Live

            if self.live is None:
                self.live = Live(console=self.console, refresh_per_second=4, transient=True)
                self.live.start()
            self.live.update(sweep_table(rows, self.spec))
            return
        keys = [d["key"] for d in self.spec["space"]["dims"]]
        for row in sorted(rows, key=lambda r: r["number"]):
            if row["state"] == "WAITING" or self.seen.get(row["number"]) == row["state"]:
                continue
            if row["state"] == "RUNNING" and any(row.get(k) is None for k in keys):
                continue  # popped, parameters not drawn yet
            self.seen[row["number"]] = row["state"]
            params = " ".join(f"{k}={_param(row.get(k))}" for k in keys)
            value = f"  {self.spec['metric']} {fmt(row['value'])}" if row.get("value") is not None else ""
            reason = f"  ({_short(row['reason'], 100)})" if row.get("reason") and row["state"] != "COMPLETE" else ""
            duration = f"  {row['duration_s']:.1f} s" if row.get("duration_s") else ""
            print(f"trial {row['number']:>3} {row['state'].lower():<8} {params}{value}{duration}{reason}", flush=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def leaderboard(rows: list[dict], spec: dict, best: dict | None) -> Table:
    """Every trial, best first by the objective; the best row highlighted."""
    from dlx.sweep_store import sort_rows

    keys = [d["key"] for d in spec["space"]["dims"]]
    metric = spec["metric"]
    test = "test_" + metric[len("val_"):]
    table = Table(title=f"leaderboard · {spec['id']} · {metric} ({spec['direction'][:3]})", title_justify="left")
    for name in ("rank", "trial", *keys, "state", metric, test, "time", "run / reason"):
        table.add_column(name, justify="right" if name in ("rank", "trial", metric, test, "time") else "left")
    rank = 0
    for row in sort_rows(rows, spec["direction"]):
        scored = row["state"] == "COMPLETE" and row.get("value") is not None
        rank += scored
        cells = _trial_cells(row, keys, metric)
        note = row.get("run_id") if row["state"] == "COMPLETE" else row.get("reason")
        is_best = best is not None and row["number"] == best["number"]
        table.add_row(str(rank) if scored else "", *cells[:-1], fmt(row.get(test, "")), cells[-1],
                      _short(note, 70), style="bold green" if is_best else None)
    return table


def print_sweep_created(result: dict) -> None:
    spec = result["spec"]
    where = f" --storage {spec['storage']}" if spec.get("storage") else ""
    console.print(f"sweep {spec['id']}: {len(result['rows'])} trials queued in {result['sweep_dir']}\n"
                  f"start workers with: dlx sweep --join {spec['id']}{where}", highlight=False, soft_wrap=True)


def print_sweep_result(result: dict) -> None:
    rows, spec, best, folder = result["rows"], result["spec"], result["best"], result["sweep_dir"]
    # a log file or a pipe gets the whole table unwrapped, not squeezed into 80 columns
    out = console if console.is_terminal else Console(width=1000, file=sys.stdout)
    out.print(leaderboard(rows, spec, best))
    states = {}
    for row in rows:
        states[row["state"].lower()] = states.get(row["state"].lower(), 0) + 1
    console.print(f"{len(rows)} trials: " + ", ".join(f"{n} {s}" for s, n in states.items()), highlight=False)
    if best is not None:
        console.print(f"best: trial {best['number']}  {spec['metric']} {fmt(best['value'])}\n"
                      f"files: {folder}/trials.csv, {folder}/best.yaml\n"
                      f"reproduce: dlx train $(cat {folder}/best.overrides)", highlight=False, soft_wrap=True)



# ---------------------------------------------------------------- cv (issue 7)


class CVProgress:
    """`dlx.cv.cross_validate`'s progress: a line when CV starts, per fold, and at the refit."""

    def __init__(self, quiet: bool = False, out: Console | None = None):
        self.quiet, self.console, self.done = quiet, out or console, 0

    def on_cv_start(self, info: dict) -> None:
        self.total = info["runs"]
        self.done = info["runs"] - info["todo"]
        if self.quiet:
            return
        shape = f"{info['folds']} folds" + (f" × {info['repeats']} repeats" if info["repeats"] > 1 else "")
        reused = f", {self.done} already done" if self.done else ""
        jobs = f"{info['jobs']} job{'s' if info['jobs'] > 1 else ''}"
        self.console.print(f"[bold]cv {info['cv_id']}[/]  {shape}: {info['todo']} to run{reused}, {jobs}",
                           highlight=False, soft_wrap=True)

    def on_fold_end(self, row: dict) -> None:
        self.done += 1
        if self.quiet:
            return
        head = f"{row['fold']:<10} {self.done}/{self.total}"
        if row["status"] != "finished":
            self.console.print(f"{head}  [red]failed[/]: {row['error']}", highlight=False, soft_wrap=True)
            return
        shown = "  ".join(f"{k} {fmt(v)}" for k, v in row.items() if _shown_in_cv(k))
        self.console.print(f"{head}  {shown}  best epoch {row['best_epoch']}  {row['duration_s']:.1f} s",
                           highlight=False, soft_wrap=True)

    def on_refit_start(self, epochs: int) -> None:
        if not self.quiet:
            self.console.print(f"refit on train+val for {epochs} epoch{'s' if epochs != 1 else ''}, "
                               "then one evaluation on the test split", highlight=False, soft_wrap=True)


def _shown_in_cv(key: str) -> bool:
    # top-5 accuracy stays in folds.csv and summary.json: the table keeps to the headline metrics
    return key.startswith("val_") and "top5" not in key


def cv_table(result) -> Table:
    """A row per fold and a final `mean ± std` row over the folds that finished."""
    from rich import box

    best = f"best_{result.monitor}"
    names = [n for n in result.metrics if _shown_in_cv(n)] + [best]
    table = Table(title=f"cv {result.cv_id}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("fold", "status", *names, "best epoch", "time (s)"):
        table.add_column(column.replace("best_", "best "), no_wrap=True,
                         justify="left" if column in ("fold", "status") else "right")
    for row in result.rows:
        ok = row["status"] == "finished"
        table.add_row(row["fold"], "ok" if ok else f"[red]{row['status']}[/]",
                      *(fmt(row[n]) if ok and n in row else "" for n in names),
                      str(row.get("best_epoch", "")), fmt(row["duration_s"], 1) if ok else "")
    table.add_section()

    def pm(name: str, digits: int = 4) -> str:
        m = result.metrics.get(name)
        if not m or m["mean"] is None:
            return ""
        return fmt(m["mean"], digits) + ("" if m["std"] is None else f" ± {fmt(m['std'], digits)}")

    table.add_row("mean ± std", f"{result.averaged}/{len(result.rows)}", *(pm(n) for n in names),
                  pm("best_epoch", 1), "")
    return table


def cv_test_table(refit: dict) -> Table:
    """The test split, apart from the CV figures: the refit's one evaluation."""
    from rich import box

    names = [k for k in refit if k.startswith("test_") and k != "test_size"]
    table = Table(box=box.SIMPLE_HEAD)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_row(*(fmt(refit[n]) for n in names))
    return table


def print_cv(result) -> None:
    from dlx.cv import STD_NOTE

    # piped output is not cut to 80 columns: a fold table is wide, and a log file has room
    out = console if console.is_terminal else Console(width=max(console.width, 160))
    out.print(cv_table(result))
    failed = f" ({len(result.failed)} failed: {', '.join(result.failed)})" if result.failed else ""
    out.print(f"mean ± std over {result.averaged} of {len(result.rows)} folds{failed} · std: {STD_NOTE}\n"
              f"cv: {result.path}", highlight=False, soft_wrap=True)
    if result.refit is not None:
        r = result.refit
        epochs = f"{r['epochs_run']} epoch{'s' if r['epochs_run'] != 1 else ''}"
        out.print(f"\n[bold]TEST SPLIT[/] — evaluated once, after the CV, by a refit on train+val "
                  f"({r['train_size']} samples, {epochs}; {r['test_size']} test samples)",
                  highlight=False, soft_wrap=True)
        out.print(cv_test_table(r))
        out.print(f"refit: {r['path']}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- runs, show, compare (issue 8)

STATUS_STYLE = {"finished": "green", "running": "cyan", "failed": "red", "interrupted": "yellow"}
GROUP_COLUMNS = ("model", "optim", "scheduler", "regularizer", "data")


def _plain(**kwargs) -> dict:
    """Table options for 80 columns: no outer frame, one rule under the header."""
    from rich import box

    return dict(title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                show_edge=False, **kwargs)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def skipped(path, reason: str) -> None:
    """`runs.load_runs`'s on_skip: a run folder it could not read."""
    warn(f"skipping {path}: {reason}")


def unreadable(path, reason: str) -> None:
    """`runs.load_runs`'s on_skip for a run the user named: one error line, not a warning and a second error."""
    from dlx.errors import ConfigError

    raise ConfigError(f"cannot read run {path}: {reason}; name another run, or delete that folder")


def _number(value) -> bool:
    """A real number that is not NaN (numpy scalars included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def duration(seconds) -> str:
    if not _number(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def count(value) -> str:
    if not _number(value):
        return "—"
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(int(value))


def cell(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt(value, digits)


def _monitor_label(df) -> str:
    monitors = df["monitor"].dropna().unique() if "monitor" in df else []
    return f"best {monitors[0]}" if len(monitors) == 1 else "best"


def _test_columns(df) -> list[str]:
    # top-5 is rarely what a glance needs; it stays in --format csv/json
    return [c for c in df.columns if c.startswith("test_") and not c.endswith(("_size", "_top5"))]


def _run_columns(df) -> list[tuple[str, str, object, bool]]:
    """(field, header, formatter, numeric) for the runs table; two-line headers keep numbers narrow."""
    short = {"scheduler": "sched", "regularizer": "reg"}
    columns = [(g, short.get(g, g), cell, False) for g in GROUP_COLUMNS]
    columns += [("epochs_run", "ep", lambda v: cell(_int(v)), True),
                ("best_value", _monitor_label(df).replace(" ", "\n"), cell, True)]
    columns += [(c, c.replace("_", "\n", 1), cell, True) for c in _test_columns(df)]
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
                  **_plain(padding=(0, 0), collapse_padding=True))
    table.add_column("id", overflow="fold")
    table.add_column("status", no_wrap=True)
    for _, header, _, numeric in columns:
        table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
    for _, row in df.iterrows():
        status = row.get("status")
        run_id = re.sub(r"^(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)_", "\\1_\n", row["id"]) if split_ids else row["id"]
        table.add_row(run_id, f"[{STATUS_STYLE.get(status, '')}]{status}[/]",
                      *(show(row.get(field)) for field, _, show, _ in columns))
    return table


def _int(value):
    return int(value) if _number(value) else value


def mean_std(mean, std, digits: int = 4) -> str:
    """`0.9123 ± 0.0101`; a group of one has no spread: just the mean."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return fmt(float(mean), digits)
    return f"{fmt(float(mean), digits)} ± {fmt(float(std), digits)}"


def aggregate_display(agg, best_label: str = "best"):
    """The aggregate frame as text cells: keys, count, then `mean ± std` per metric."""
    import pandas as pd

    keys, metrics = agg.attrs["keys"], agg.attrs["metrics"]
    out = pd.DataFrame({k: agg[k].map(lambda v: "—" if pd.isna(v) else str(v)) for k in keys})
    out["count"] = agg["count"]
    for m in metrics:
        name = best_label if m == "best_value" else m
        out[name] = [mean_std(a, b) for a, b in zip(agg[f"{m}_mean"], agg[f"{m}_std"])]
    return out


def aggregate_table(agg, best_label: str = "best") -> Table:
    """The --group-by table: keys, count, best and test metrics (all metrics: --format csv/json)."""
    shown = aggregate_display(agg, best_label)
    shown = shown[[c for c in shown.columns if c in agg.attrs["keys"] or c in ("count", best_label)
                   or (c.startswith("test_") and not c.endswith("_top5"))]]
    table = Table(title="mean ± std (sample std, ddof=1) per group, best first", **_plain())
    for name in shown.columns:
        table.add_column(name, justify="left" if name in agg.attrs["keys"] else "right")
    for row in shown.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def print_frame(text: str) -> None:
    """csv / json / markdown output for scripts: plain, no rich markup or wrapping."""
    sys.stdout.write(text)
    sys.stdout.flush()


def main_metric(columns, monitor: str | None) -> str:
    """The metric that a curve shows beside the loss: the monitor's, else the first non-loss."""
    base = (monitor or "val_loss").removeprefix("val_")
    if base != "loss" and f"val_{base}" in columns:
        return base
    for c in columns:
        if c.startswith("val_") and c != "val_loss" and not c.endswith("top5"):
            return c.removeprefix("val_")
    return "loss"


def learning_curves(metrics, monitor: str | None, width: int = 80):
    """Loss and the main metric, train dashed vs validation solid, side by side."""
    from dlx.termplot import Series, line_chart

    charts = []
    for name in dict.fromkeys(["loss", main_metric(metrics.columns, monitor)]):
        series = [Series(split, metrics["epoch"], metrics[f"{split}_{name}"], color, split == "train")
                  for split, color in (("train", "cyan"), ("val", "magenta")) if f"{split}_{name}" in metrics]
        charts.append(line_chart(series, width=width // 2 - 2, title=name))
    grid = Table.grid(padding=(0, 2))
    grid.add_row(*charts)
    return grid


def changed_keys(overrides, keys) -> set[str]:
    """The config keys a run's overrides set: `optim.lr=0.1` -> optim.lr; `model=cnn` -> model.name."""
    from dlx.runs import GROUPS

    changed = set()
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0].strip()
        if key in GROUPS:  # a group swapped: its other keys are that choice's defaults
            changed.add(f"{key}.name")
            continue
        changed.update(k for k in keys if k == key or k.startswith(key + "."))
    return changed


def config_lines(flat: dict, changed: set[str]) -> Table:
    """One row per group of `key=value` pairs; keys the overrides set in bold yellow with a `*`."""
    from rich.text import Text

    groups: dict[str, list[str]] = {}
    for key in flat:
        head, _, tail = key.partition(".")
        groups.setdefault(head if tail else "", []).append(key)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for group, keys in groups.items():
        line = Text()
        for key in keys:
            name, value = key.partition(".")[2] or key, flat[key]
            text = f"{name}={'null' if value is None else value}" + ("*" if key in changed else "")
            line.append(text, style="bold yellow" if key in changed else "").append("  ")
        grid.add_row(group or "(top)", line)
    return grid


def epochs_table(metrics, best_epoch=None, monitor: str | None = None, max_rows: int = 20) -> Table:
    """Per-epoch metrics (loss and main metric; long runs sampled evenly, best and last kept)."""
    main = main_metric(metrics.columns, monitor)
    names = ["epoch", "lr"] + [f"{s}_{m}" for m in dict.fromkeys(["loss", main]) for s in ("train", "val")]
    names += [c for c in ("val_top5", "epoch_time_s") if c in metrics and len(names) < 8]
    names = [c for c in names if c in metrics]
    n = len(metrics)
    keep = set(range(n)) if n <= max_rows else \
        {round(i * (n - 1) / (max_rows - 1)) for i in range(max_rows)}
    if best_epoch is not None:
        keep |= set(metrics.index[metrics["epoch"] == best_epoch])
    table = Table(title="per epoch" + (f" ({len(keep)} of {n} shown)" if len(keep) < n else ""), **_plain())
    for name in names:
        table.add_column(name.replace("epoch_time_s", "time"), justify="right")
    for i in sorted(keep):
        row = metrics.iloc[i]
        style = "bold green" if best_epoch is not None and row["epoch"] == best_epoch else None
        table.add_row(*(str(int(row[c])) if c == "epoch" else
                        f"{row[c]:.3g}" if c in ("lr", "epoch_time_s") else cell(row[c]) for c in names),
                      style=style)
    return table


def show_run(root, ref: str) -> None:
    """`dlx show`: config (overrides highlighted), per-epoch table, curves, summary."""
    from rich.text import Text

    from dlx import runs
    from dlx.errors import ConfigError

    record = runs.find_record(root, ref)
    row = runs.load_runs([record], on_skip=unreadable)
    row = row.iloc[0]
    status = row["status"]
    where = f" · {record.kind} {record.group}" if record.group else ""
    console.print(f"[bold]{record.id}[/]  [{STATUS_STYLE.get(status, '')}]{status}[/]{where}  {record.path}",
                  highlight=False, soft_wrap=True)
    flat = runs.flatten(runs.read_config(record.path))
    overrides = runs.read_overrides(record.path)
    console.print(Text("config", style="bold underline"))
    console.print(f"overrides: {' '.join(overrides) or '(none)'}", highlight=False, soft_wrap=True)
    console.print(config_lines(flat, changed_keys(overrides, flat)), end="")
    try:
        metrics = runs.read_metrics(record.path)
    except Exception:  # no epoch finished yet
        metrics = None
    if metrics is not None and len(metrics):
        best_epoch = _int(row.get("best_epoch"))
        console.print(epochs_table(metrics, best_epoch, row.get("monitor")))
        console.print(learning_curves(metrics, row.get("monitor")))
    summary = runs.read_summary(record.path)
    if summary is not None:
        print_summary(summary)
    else:
        info = runs.read_status(record.path)
        reason = f" — {info['reason']}" if info.get("reason") else ""
        console.print(f"no summary: {status}{reason}", highlight=False, soft_wrap=True)


def list_runs(root, *, where=(), sort=None, limit=None, sweep=None, cv=None, members=False,
              group_by=None, fmt: str = "table") -> None:
    """`dlx runs`: the table of runs (or their --group-by aggregate), or csv/json/markdown of it."""
    from dlx import compare, runs

    records = runs.select_runs(root, sweep=sweep, cv=cv, members=members)
    hidden = 0 if members or sweep or cv else sum(1 for r in runs.iter_runs(root) if r.kind != runs.RUN)
    df = compare.apply_where(runs.load_runs(records, on_skip=skipped), where)
    if group_by:
        return print_aggregate(df, group_by, sort, limit, fmt)
    df = compare.sort_runs(df, sort)
    if limit is not None:
        df = df.head(limit)
    if fmt != "table":
        return print_frame(compare.export(df, fmt))
    if not len(df):
        console.print("no runs match" if where else f"no readable runs{' yet' if not records else ''}")
        return
    title = f"{len(df)} run{'s' * (len(df) != 1)}" + (f" (+{hidden} sweep/CV member runs: --all)" if hidden else "")
    table = runs_table(df, title)
    if console.measure(table, options=console.options.update_width(10_000)).maximum > console.width:
        table = runs_table(df, title, split_ids=True)
    console.print(table)


def print_aggregate(df, group_by: str, sort=None, limit=None, fmt: str = "table") -> None:
    """--group-by: finished runs folded into mean ± std per group, best first."""
    from dlx import compare
    from dlx.errors import ConfigError

    keys = [k.strip() for k in group_by.split(",") if k.strip()]
    finished = df[df["status"] == "finished"] if len(df) else df
    if not len(finished):
        unfinished = f" (only {len(df)} unfinished)" if len(df) else ""
        raise ConfigError(f"no finished runs to aggregate{unfinished}; finish one, or drop --group-by")
    agg = compare.aggregate(finished, keys, sort=sort)  # an unknown key stops here, before any warning
    if len(finished) < len(df):
        warn(f"{len(df) - len(finished)} unfinished run(s) left out of the aggregate")
    if limit is not None:
        agg = agg.head(limit)
    if fmt == "markdown":
        return print_frame(compare.to_markdown(aggregate_display(agg, _monitor_label(finished))))
    if fmt != "table":
        return print_frame(compare.export(agg, fmt))
    console.print(aggregate_table(agg, _monitor_label(finished)))


def compare_runs(root, refs=(), *, sweep=None, cv=None, where=(), group_by=None, sort=None,
                 fmt: str = "table") -> None:
    """`dlx compare`: differing config keys, final metrics (best highlighted), overlaid curves."""
    from dlx import compare, runs
    from dlx.errors import ConfigError

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
    df = compare.apply_where(runs.load_runs(records, on_skip=unreadable if refs else skipped), where)
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
        console.print(f"[bold]{tags[run_id]:>3}[/] {run_id}  [{STATUS_STYLE.get(status, '')}]{status}[/]",
                      highlight=False, soft_wrap=True)
    if len(diff):
        console.print(_side_by_side("config keys that differ", "key", diff, tags))
    else:
        console.print("the runs share every config key")
    labels = {"best_value": _monitor_label(df), "epochs_run": "epochs", "duration_s": "time"}
    shown = metrics.copy().astype(object)
    for name, row in metrics.iterrows():
        show = {"params": count, "duration_s": duration, "epochs_run": lambda v: cell(_int(v))}.get(name, cell)
        shown.loc[name] = [f"[bold green]{show(v)}*[/]" if best.get(name) == run_id else f"{show(v)} "
                           for v, run_id in zip(row.tolist(), row.index)]
    console.print(_side_by_side("final metrics (* = best)", "metric", shown.rename(index=labels), tags))
    console.print(_overlaid_curves(df, tags))


def _side_by_side(title: str, first: str, frame, tags: dict) -> Table:
    table = Table(title=title, **_plain())
    table.add_column(first)
    for run_id in frame.columns:
        table.add_column(tags[run_id], justify="right")
    for key, row in frame.iterrows():
        table.add_row(str(key), *(str(v) for v in row.tolist()))
    return table


def _overlaid_curves(df, tags: dict):
    """The main validation metric of every run in one chart, a colour per run."""
    from dlx import runs
    from dlx.termplot import COLORS, Series, line_chart

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
