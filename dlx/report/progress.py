"""The training progress (a trainer callback) and the final summary table of `dlx train`."""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.table import Table

from dlx.engine.callbacks import Callback
from dlx.report.profile import profile_line
from dlx.report.text import console, fmt


FIXED_WIDTH = 62  # epoch 30/30, 120/120, the bar, ETA 0:00:00, 12,345/s and the gaps between
REFRESH_S = 0.25  # the live line is redrawn at most this often (4 per second)


class ProgressDisplay(Callback):
    """Trainer callback: a live rich line on a terminal (epoch, batches, ETA, samples/s, the
    running loss), plain lines otherwise (one per epoch), nothing when quiet."""

    def __init__(self, epochs: int, quiet: bool = False, out: Console | None = None):
        self.console = out or console
        self.epochs = epochs
        self.mode = "quiet" if quiet else ("rich" if self.console.is_terminal else "plain")
        self.progress = None
        self.task = None
        self.last = ""  # the last epoch's metrics, shown beside the next epoch's progress
        self._epoch_began = self._next_draw = 0.0
        self._samples, self._loss_sum, self._steps = 0, 0.0, 0
        if self.mode != "rich":  # no per-batch listener: the trainer's loop pays nothing
            self.on_batch_end = None

    def on_fit_start(self, trainer, ctx) -> None:
        if self.mode == "quiet":
            return
        exp = ctx.exp
        self.console.print(
            f"[bold]{ctx.run_dir.id}[/]  {exp.model.name} · {exp.optim.name} · {exp.data.name}  "
            f"({ctx.params:,} parameters)", highlight=False)
        for line in set_up_notes(trainer, ctx):
            self.console.print(f"  {line}", style="dim", highlight=False, markup=False, soft_wrap=True)
        if self.mode == "rich":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
            from rich.table import Column

            # the epoch counter and ETA first, the metrics last: a narrow terminal cuts the metrics
            self.progress = Progress(
                TextColumn("epoch {task.fields[epoch]}"), MofNCompleteColumn(), BarColumn(bar_width=12),
                TextColumn("ETA {task.fields[eta]}"), TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[metrics]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
                console=self.console, transient=False, refresh_per_second=4)
            self.task = self.progress.add_task("train", total=None, epoch=f"{1}/{self.epochs}", eta="-:--:--",
                                               rate="", metrics="")
            self.progress.start()

    def on_epoch_start(self, trainer, epoch: int) -> None:
        if self.mode != "rich":
            return
        self._epoch_began = self._next_draw = time.perf_counter()
        self._samples, self._loss_sum, self._steps = 0, 0.0, 0
        self.progress.update(self.task, completed=0, total=None, epoch=f"{epoch}/{trainer.cfg.epochs}",
                             eta="-:--:--", rate="")

    def on_batch_end(self, trainer, info) -> None:
        """Per batch: sums only; the line is redrawn a few times a second."""
        self._samples += info.samples
        self._loss_sum += info.loss
        self._steps += 1
        now = time.perf_counter()
        if now < self._next_draw:
            return
        self._next_draw = now + REFRESH_S
        elapsed = max(now - self._epoch_began, 1e-9)
        eta = "-:--:--"
        if info.total:
            eta = _clock((info.total - info.done) * elapsed / max(info.done, 1))
        loss = f"loss {fmt(self._loss_sum / self._steps)}"
        self.progress.update(self.task, completed=info.done, total=info.total, eta=eta,
                             rate=f"{self._samples / elapsed:,.0f}/s",
                             metrics=self._fit(f"{loss}  {self.last}" if self.last else loss))

    def on_epoch_end(self, trainer, row: dict) -> None:
        if self.mode == "quiet":
            return
        shown = {k: v for k, v in row.items()  # the losses, the usual scores, and whatever is monitored
                 if (k.endswith(("loss", "acc", "r2", "mae")) and "top5" not in k) or k == trainer.cfg.monitor}
        text = "  ".join(f"{k} {fmt(v)}" for k, v in shown.items())
        if self.mode == "rich":
            self.last = f"(epoch {row['epoch']}: {text})"
            total = self.progress.tasks[0].total
            self.progress.update(self.task, epoch=f"{row['epoch']}/{trainer.cfg.epochs}", metrics=self._fit(text),
                                 completed=total or 0, eta="0:00:00")
        else:
            # plain print: a log file or a pipe wants one unwrapped line per epoch
            print(f"epoch {row['epoch']:>3}/{trainer.cfg.epochs}  lr {row['lr']:.3g}  {text}", flush=True)

    def on_fit_end(self, trainer, summary) -> None:
        self.close()

    def _fit(self, text: str) -> str:
        """`text` cut to the width the other columns leave: rich would otherwise shrink every
        column of the line, the epoch counter and ETA with them."""
        room = max(8, self.console.width - FIXED_WIDTH)
        return text if len(text) <= room else text[:room - 1] + "…"

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def set_up_notes(trainer, ctx) -> list[str]:
    """What the set-up did, said on the terminal as in log.txt: the threads `auto` chose, what
    model.init_from loaded and froze, a bagging member's sample, the data-parallel processes."""
    notes = []
    if ctx.resumed_from is None:  # a fresh run: its log.txt holds only this set-up's lines so far
        try:
            notes = (ctx.run_dir.path / "log.txt").read_text(encoding="utf-8").splitlines()
        except OSError:
            notes = []
    cfg = ctx.exp.trainer  # trainer is None for a fitted scikit-learn estimator
    if getattr(cfg, "devices", 1) > 1:
        notes.append(f"data-parallel: {cfg.devices} processes, batch_size {cfg.batch_size} split between them")
    return [n for n in notes if n.strip()]


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def split_headers(summary: dict) -> tuple[str, str, str]:
    """The columns' headers, saying which epoch each comes from: train and val are the last
    epoch's, test is the best epoch's weights (restored before the test)."""
    last, best = summary.get("epochs_run"), summary.get("best_epoch")
    if last is None or best is None or last == best:
        at = f" (epoch {last})" if last is not None else ""
        return f"train{at}", f"val{at}", f"test{at}"
    return f"train (epoch {last})", f"val (epoch {last})", f"test (best: epoch {best})"


def summary_table(summary: dict) -> Table:
    """Final metrics: one row per metric, columns train / val / test, each header naming its epoch."""
    names = []
    for key in summary:
        for split in ("train_", "val_", "test_"):
            if key.startswith(split) and key[len(split):] not in names and key != "train_size":
                if not key.endswith("_size"):
                    names.append(key[len(split):])
    table = Table(title=f"{summary['run_id']}", title_justify="left")
    table.add_column("metric")
    for header in split_headers(summary):
        table.add_column(header, justify="right")
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
    profile = profile_line(summary["path"]) if summary.get("path") else None  # trainer.profile=true
    if profile:
        console.print(profile, highlight=False, soft_wrap=True)
