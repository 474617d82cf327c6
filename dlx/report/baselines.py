"""`dlx baselines`: a line per fitted baseline, then the leaderboard beside the network runs."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from dlx.report.text import console, fmt


class BaselineProgress:
    """A line per baseline as it is fitted (`dlx.use.baselines.run_baselines`'s progress)."""

    def __init__(self, quiet: bool = False, out: Console | None = None):
        self.quiet, self.console = quiet, out or console

    def __call__(self, name: str, row: dict | None) -> None:
        if self.quiet:
            return
        if row is None:
            self.console.print(f"{name:<12} [red]not fitted[/] (see the warning)", highlight=False)
            return
        score = next(k for k in row if k.startswith("val_"))
        self.console.print(f"{name:<12} {score} {fmt(row[score])}  {row['time_s']:.1f} s  {row['run_id']}",
                           highlight=False, soft_wrap=True)


def board_table(board) -> Table:
    """Best first by the validation score; ★ marks the best, test and AUC shown beside."""
    score = board.score
    table = Table(title=f"baselines on {board.data} ({board.kind}): ranked by val_{score}")
    auc = any(r.get("test_auc") is not None for r in board.rows)  # binary data only
    keys = [f"val_{score}", f"test_{score}", *(["test_auc"] if auc else []), "time_s"]
    table.add_column("")
    table.add_column("model")
    table.add_column("kind")
    for key in keys:
        table.add_column(key, justify="right")
    best = board.best()
    rows = sorted(board.rows, key=lambda r: (r["rank_value"] is None, -(r["rank_value"] or 0)))
    for row in rows:
        cells = ["-" if row.get(k) is None else fmt(float(row[k]), 2 if k == "time_s" else 4) for k in keys]
        table.add_row("★" if row is best else "", row["model"], row["source"], *cells)
    return table


def print_board(board, out: Console | None = None) -> None:
    out = out or console
    out.print(board_table(board))
    if board.failed:
        out.print(f"not fitted: {', '.join(board.failed)}", highlight=False)
    if not any(r["source"] == "network" for r in board.rows):
        out.print(f"no network run of data={board.data} yet: `dlx train data={board.data}` adds one",
                  highlight=False)
