"""The training progress (a trainer callback) and the final summary table of `dlx train`."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from dlx.engine.callbacks import Callback
from dlx.report.text import console, fmt


class ProgressDisplay(Callback):
    """Trainer callback: a live rich bar on a terminal, plain lines otherwise, nothing when quiet."""

    def __init__(self, epochs: int, quiet: bool = False, out: Console | None = None):
        self.console = out or console
        self.epochs = epochs
        self.mode = "quiet" if quiet else ("rich" if self.console.is_terminal else "plain")
        self.progress = None
        self.task = None

    def on_fit_start(self, trainer, ctx) -> None:
        if self.mode == "quiet":
            return
        exp = ctx.exp
        self.console.print(
            f"[bold]{ctx.run_dir.id}[/]  {exp.model.name} · {exp.optim.name} · {exp.data.name}  "
            f"({ctx.params:,} parameters)", highlight=False)
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

    def on_fit_end(self, trainer, summary) -> None:
        self.close()

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
        table.add_row(name, *(_shown(summary.get(f"{split}_{name}", "")) for split in ("train", "val", "test")))
    return table


def _shown(value) -> str:
    """A missing metric (None, NaN: an empty split) as a dash, not `nan` or `None`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt(value)


def summary_footer(summary: dict) -> str:
    best = f"best {summary['monitor']} {_shown(summary['best_value'])} at epoch"
    if not summary.get("val_size", 1):  # nothing chose an epoch: best.pt holds the final weights
        best = "no validation split: the final weights are the best, epoch"
    return (
        f"{best} {summary['best_epoch']}/"
        f"{summary['epochs_run']}{' (stopped early)' if summary.get('stopped_early') else ''} · "
        f"{summary['params']:,} params · {summary['duration_s']:.1f} s on {summary['device']}\n"
        f"run: {summary['path']}"
    )


def print_summary(summary: dict) -> None:
    console.print(summary_table(summary))
    console.print(summary_footer(summary), highlight=False, soft_wrap=True)
