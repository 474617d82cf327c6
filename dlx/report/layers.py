"""Per-layer statistics (trainer.watch): `dlx show RUN --layers`, `dlx plot RUN --layers STAT`,
and the lines the diagnostic callbacks print during training."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from dlx.errors import ConfigError
from dlx.report.figures import new_figure, save_figure
from dlx.report.text import console
from dlx.store import runs


log = logging.getLogger(__name__)


def warn(message: str) -> None:
    """A diagnostic's warning during training: one `warning: ...` line on stderr (`dlx.log`)."""
    log.warning(message)


def say(message: str) -> None:
    """A diagnostic's verdict (the overfit check): one line on stdout."""
    print(message, flush=True)


def read_layers(root, ref: str):
    """(run id, layers.csv as a DataFrame); a run without it is one line saying how to get it."""
    import pandas as pd

    record = runs.find_record(root, ref)
    path = Path(record.path) / "layers.csv"
    if not path.is_file():
        raise ConfigError(f"run {record.id} has no layers.csv: train with trainer.watch=all "
                          "(or grads, weights, activations) to record per-layer statistics")
    return record.id, pd.read_csv(path)


def _in_model_order(wide):
    """Rows in the order the layers sit in the model (net.2 before net.10), not as first recorded."""
    import re

    key = [tuple(int(p) if p.isdigit() else p for p in re.split(r"[.]", str(name))) for name in wide.index]
    order = sorted(range(len(key)), key=lambda i: [(0, p) if isinstance(p, int) else (1, p) for p in key[i]])
    return wide.iloc[order]


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def layers_table(run_id: str, frame, epoch: int | None = None):
    """One row per layer, one column per statistic, at `epoch` (default: the last)."""
    from rich.table import Table

    epoch = int(frame["epoch"].max()) if epoch is None else epoch
    at = frame[frame["epoch"] == epoch]
    wide = _in_model_order(at.pivot_table(index="layer", columns="stat", values="value", sort=False))
    table = Table(title=f"{run_id} · layers at epoch {epoch}", title_justify="left")
    table.add_column("layer")
    for stat in wide.columns:
        table.add_column(stat, justify="right")
    for layer, row in wide.iterrows():
        table.add_row(str(layer), *(_cell(row[s]) for s in wide.columns))
    return table


def heat_table(run_id: str, frame, stat: str = "grad_norm", max_epochs: int = 12):
    """`stat` per layer (rows) and epoch (columns), shaded by order of magnitude."""
    from rich.table import Table

    picked = frame[frame["stat"] == stat]
    if picked.empty:
        return None
    wide = _in_model_order(picked.pivot_table(index="layer", columns="epoch", values="value", sort=False))
    epochs = list(wide.columns)[-max_epochs:]
    logs = [math.log10(v) for v in wide[epochs].to_numpy().ravel() if v > 0]
    lo, hi = (min(logs), max(logs)) if logs else (0.0, 1.0)
    table = Table(title=f"{stat} by epoch (dim = small, bold = large)", title_justify="left")
    table.add_column("layer")
    for e in epochs:
        table.add_column(str(e), justify="right")
    for layer, row in wide.iterrows():
        table.add_row(str(layer), *(_shade(row[e], lo, hi) for e in epochs))
    return table


def _shade(value, lo: float, hi: float) -> str:
    """Small values dim, large ones bold: the magnitudes down the network at a glance."""
    if not value > 0:
        return _cell(value)
    level = (math.log10(value) - lo) / (hi - lo) if hi > lo else 1.0
    style = "dim" if level < 1 / 3 else ("bold" if level > 2 / 3 else "")
    return f"[{style}]{_cell(value)}[/]" if style else _cell(value)


def show_layers(root, ref: str) -> None:
    run_id, frame = read_layers(root, ref)
    console.print(layers_table(run_id, frame))
    heat = heat_table(run_id, frame)
    if heat is not None:
        console.print(heat)


def plot_layers(root, ref: str, stat: str, output) -> Path:
    """One line per layer: `stat` against the epoch, on a log scale; saved to `output`."""
    run_id, frame = read_layers(root, ref)
    stats = sorted(frame["stat"].unique())
    if stat not in stats:
        raise ConfigError(f"--layers {stat}: run {run_id} recorded {', '.join(stats)}")
    picked = frame[frame["stat"] == stat]
    fig = new_figure((6.5, 4))
    ax = fig.subplots()
    layers = list(dict.fromkeys(picked["layer"]))
    for i, layer in enumerate(layers):
        rows = picked[picked["layer"] == layer]
        ax.plot(rows["epoch"], rows["value"], marker="o", markersize=3, label=layer,
                color=_ramp(i, len(layers)))
    if (picked["value"] > 0).all():
        ax.set_yscale("log")
    ax.set_title(f"{run_id}: {stat} per layer")
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", ncol=2)
    return save_figure(fig, output)


def _ramp(i: int, n: int):
    """First layer dark blue, last yellow: depth reads as colour."""
    from matplotlib import colormaps

    return colormaps["viridis"](i / max(n - 1, 1))
