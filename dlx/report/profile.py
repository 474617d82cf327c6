"""Where a run's time went (`trainer.profile=true`): a line after training, a table for
`dlx show --profile`, a bar chart for `dlx plot --profile`. Read from the run's profile.csv."""

from __future__ import annotations

import csv
from pathlib import Path

from rich.table import Table

from dlx.errors import ConfigError
from dlx.report.text import console, plain_table
from dlx.store.runs import RUN, find_run

PHASES = ("data", "forward", "backward", "optimizer", "evaluation", "checkpoint")  # engine/profile.py's order


def read_profile(run_path) -> list[dict]:
    """profile.csv's rows (one per epoch) as numbers, or a ConfigError saying how to get one."""
    path = Path(run_path) / "profile.csv"
    if not path.is_file():
        raise ConfigError(f"run {Path(run_path).name} has no profile.csv; train it with trainer.profile=true")
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def phase_totals(rows: list[dict]) -> dict[str, float]:
    """Seconds per phase over all epochs, in the engine's order."""
    return {p: sum(r.get(p, 0.0) for r in rows) for p in PHASES if any(p in r for r in rows)}


def profile_line(run_path) -> str | None:
    """`profile: backward 41% · forward 30% · ...` for the end of `dlx train`; None without profile.csv."""
    try:
        totals = phase_totals(read_profile(run_path))
    except (ConfigError, OSError, ValueError):
        return None
    whole = sum(totals.values())
    if whole <= 0:
        return None
    parts = sorted(totals.items(), key=lambda kv: -kv[1])
    shares = " · ".join(f"{p} {100 * s / whole:.0f}%" for p, s in parts)
    return f"profile: {shares} of {whole:.1f} s (dlx show --profile, dlx plot --profile)"


def profile_table(rows: list[dict], title: str) -> Table:
    """One row per phase: seconds over all epochs, share, seconds per epoch; the caption gives
    the steps and the slowest step (profile.csv keeps every epoch's figures)."""
    totals = phase_totals(rows)
    whole = sum(totals.values()) or 1.0
    steps = int(sum(r.get("steps", 0) for r in rows))
    slowest = 1000 * max((r.get("slowest_step", 0.0) for r in rows), default=0.0)
    table = Table(title=title, caption=f"{len(rows)} epoch(s) · {steps} steps · slowest step {slowest:.0f} ms",
                  caption_justify="left", **plain_table())
    for name in ("phase", "seconds", "share", "per epoch"):
        table.add_column(name, justify="left" if name == "phase" else "right", no_wrap=True)
    for phase, seconds in totals.items():
        table.add_row(phase, f"{seconds:.3f}", f"{100 * seconds / whole:.0f}%", f"{seconds / max(len(rows), 1):.3f}")
    return table


def show_profile(root, ref: str) -> None:
    """`dlx show RUN --profile`: seconds per phase and epoch."""
    path = find_run(Path(root), ref, kinds=(RUN,))
    console.print(profile_table(read_profile(path), f"{path.name}: seconds per phase (profile.csv)"))


def profile_figure(rows: list[dict], title: str):
    """A horizontal bar per phase: seconds over all epochs."""
    from dlx.report.figures import new_figure

    totals = phase_totals(rows)
    fig = new_figure((6, 3))
    ax = fig.add_subplot(1, 1, 1)
    names = list(totals)[::-1]
    ax.barh(names, [totals[n] for n in names], color="tab:blue")
    ax.set_xlabel("seconds (all epochs)")
    ax.set_title(title, fontsize=9)
    return fig


def plot_profile(root, ref: str, output) -> Path:
    """`dlx plot RUN --profile`: the bar chart, saved to `output`."""
    from dlx.report.figures import check_output, save_figure

    check_output(output)
    path = find_run(Path(root), ref, kinds=(RUN,))
    return save_figure(profile_figure(read_profile(path), f"{path.name}: time per phase"), output)
