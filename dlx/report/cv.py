"""Cross-validation: per-fold lines, the fold table with mean ± std, the test split (`dlx cv`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from dlx.report.text import console, fmt

class CVProgress:
    """`dlx.cv.driver.cross_validate`'s progress: a line when CV starts, per fold, and at the refit."""

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
            colour = "yellow" if row["status"] == "interrupted" else "red"
            self.console.print(f"{head}  [{colour}]{row['status']}[/]: {row['error']}", highlight=False,
                               soft_wrap=True)
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
    from dlx.cv.driver import STD_NOTE

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
