"""What every table and chart shares: the consoles, number format, cells and table style.

Kept apart from `dlx.report`'s package module so that the command renderers import it
without importing their package (which re-exports them): no import cycle.
"""

from __future__ import annotations

import math
import numbers
import sys

from rich.console import Console

console = Console()
err_console = Console(stderr=True)

STATUS_STYLE = {"finished": "green", "running": "cyan", "failed": "red", "interrupted": "yellow"}


def fmt(value, digits: int = 4) -> str:
    """A number as a table shows it: `digits` decimals, or 3 significant digits when large."""
    if isinstance(value, float):
        if math.isnan(value):
            return "—"  # a value that was not measured (a vote ensemble's nll)
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.3g}"
    return str(value)


def error(message: str) -> None:
    """One line on stderr; `message` says what is wrong and what to do."""
    print(f"error: {message}", file=sys.stderr)


def plain_table(**kwargs) -> dict:
    """Table options for 80 columns: no outer frame, one rule under the header."""
    from rich import box

    return dict(title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                show_edge=False, **kwargs)


def is_number(value) -> bool:
    """A real number that is not NaN (numpy scalars included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def as_int(value):
    """A number as an int (an epoch read back as 3.0); anything else unchanged."""
    return int(value) if is_number(value) else value


def duration(seconds) -> str:
    """`12.3s`, `4m05s`, `2h07m`; a dash when unknown."""
    if not is_number(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def count(value) -> str:
    """`1.23k`, `4.5M`; a dash when unknown."""
    if not is_number(value):
        return "—"
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(int(value))


def cell(value, digits: int = 4) -> str:
    """A table cell: a missing value (None, NaN) as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt(value, digits)


def main_metric(columns, monitor: str | None) -> str:
    """The metric that a curve shows beside the loss: the monitor's, else the first non-loss."""
    base = (monitor or "val_loss").removeprefix("val_")
    if base != "loss" and f"val_{base}" in columns:
        return base
    for c in columns:
        if c.startswith("val_") and c != "val_loss" and not c.endswith("top5"):
            return c.removeprefix("val_")
    return "loss"
