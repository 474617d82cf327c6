"""Sweeps: the live trial table and the leaderboard (`dlx sweep`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from dlx.report.text import console, fmt
from dlx.sweep.records import TPE_STARTUP_TRIALS

if TYPE_CHECKING:
    from dlx.sweep.records import SweepSpec

SWEEP_STYLES = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "INTERRUPTED": "magenta", "RUNNING": "cyan", "WAITING": "dim"}


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


def sweep_table(rows: list[dict], spec: SweepSpec, limit: int = 20) -> Table:
    """The live view: the latest trials that started, newest last; the rest counted in the caption."""
    keys = spec.keys
    started = [r for r in sorted(rows, key=lambda r: r["number"]) if r["state"] != "WAITING"]
    waiting = len(rows) - len(started)
    done = sum(r["state"] in ("COMPLETE", "PRUNED", "FAIL", "INTERRUPTED") for r in rows)
    table = Table(title=f"sweep {spec.id} · {spec.sampler} · {spec.metric} ({spec.direction[:3]})",
                  title_justify="left", caption=f"{done}/{len(rows)} done · {waiting} waiting",
                  caption_justify="left")
    for name in ("trial", *keys, "state", spec.metric, "time"):
        table.add_column(name, justify="right" if name in ("trial", spec.metric, "time") else "left")
    for row in started[-limit:]:
        table.add_row(*_trial_cells(row, keys, spec.metric))
    return table


class SweepDisplay:
    """`on_update(rows)` for a sweep: a live table on a terminal, one plain line per trial event otherwise."""

    def __init__(self, quiet: bool = False, out: Console | None = None):
        self.console = out or console
        self.mode = "quiet" if quiet else ("rich" if self.console.is_terminal else "plain")
        self.live = None
        self.seen: dict[int, str] = {}
        self.spec = None

    def update(self, rows: list[dict], spec: SweepSpec) -> None:
        if self.mode == "quiet":
            return
        if self.spec is None:
            self.spec = spec
            # the sweep's own count: a resumed one also lists its interrupted attempts among the rows
            self.console.print(f"sweep [bold]{spec.id}[/]: {spec.trials} trials, {spec.sampler}, "
                               f"{spec.direction} {spec.metric}", highlight=False, soft_wrap=True)
            if spec.sampler == "tpe":  # else its first trials look like TPE's choices
                self.console.print(f"tpe: the first {min(TPE_STARTUP_TRIALS, spec.trials)} trials are random "
                                   "(optuna's n_startup_trials)", highlight=False, soft_wrap=True)
        if self.mode == "rich":
            from rich.live import Live

            if self.live is None:
                self.live = Live(console=self.console, refresh_per_second=4, transient=True)
                self.live.start()
            self.live.update(sweep_table(rows, self.spec))
            return
        keys = self.spec.keys
        for row in sorted(rows, key=lambda r: r["number"]):
            if row["state"] == "WAITING" or self.seen.get(row["number"]) == row["state"]:
                continue
            if row["state"] == "RUNNING" and any(row.get(k) is None for k in keys):
                continue  # popped, parameters not drawn yet
            self.seen[row["number"]] = row["state"]
            params = " ".join(f"{k}={_param(row.get(k))}" for k in keys)
            value = f"  {self.spec.metric} {fmt(row['value'])}" if row.get("value") is not None else ""
            reason = f"  ({_short(row['reason'], 100)})" if row.get("reason") and row["state"] != "COMPLETE" else ""
            duration = f"  {row['duration_s']:.1f} s" if row.get("duration_s") else ""
            print(f"trial {row['number']:>3} {row['state'].lower():<8} {params}{value}{duration}{reason}", flush=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def leaderboard(rows: list[dict], spec: SweepSpec, best: dict | None) -> Table:
    """Every trial, best first by the objective; the best row highlighted."""
    from dlx.sweep.store import sort_rows

    keys = spec.keys
    metric = spec.metric
    test = "test_" + metric[len("val_"):]
    table = Table(title=f"leaderboard · {spec.id} · {metric} ({spec.direction[:3]})", title_justify="left")
    for name in ("rank", "trial", *keys, "state", metric, test, "time", "run / reason"):
        table.add_column(name, justify="right" if name in ("rank", "trial", metric, test, "time") else "left")
    rank = 0
    for row in sort_rows(rows, spec.direction):
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
    where = f" --storage {spec.storage}" if spec.storage else ""
    console.print(f"sweep {spec.id}: {len(result['rows'])} trials queued in {result['sweep_dir']}\n"
                  f"start workers with: dlx sweep --join {spec.id}{where}", highlight=False, soft_wrap=True)


def print_sweep_result(result: dict) -> None:
    spec, best, folder = result["spec"], result["best"], result["sweep_dir"]
    retried = result.get("retried") or set()  # an interrupted attempt run again: one trial, not two
    rows = [r for r in result["rows"] if r["number"] not in retried]
    # a log file or a pipe gets the whole table unwrapped, not squeezed into 80 columns
    out = console if console.is_terminal else Console(width=1000, file=sys.stdout)
    out.print(leaderboard(rows, spec, best))
    states = {}
    for row in rows:
        states[row["state"].lower()] = states.get(row["state"].lower(), 0) + 1
    again = f" ({len(retried)} interrupted attempt{'s' * (len(retried) != 1)} run again, in trials.csv)" if retried else ""
    console.print(f"{len(rows)} trials: " + ", ".join(f"{n} {s}" for s, n in states.items()) + again,
                  highlight=False)
    if best is not None:
        console.print(f"best: trial {best['number']}  {spec.metric} {fmt(best['value'])}\n"
                      f"files: {folder}/trials.csv, {folder}/best.yaml\n"
                      f"reproduce: dlx train $(cat {folder}/best.overrides)", highlight=False, soft_wrap=True)
