"""Everything dlx draws in the terminal, with rich. The core never prints."""

from __future__ import annotations

import math
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


# ---------------------------------------------------------------- cv (issue 7)


# ---------------------------------------------------------------- runs, show, compare (issue 8)
