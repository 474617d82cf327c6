"""What a sweep says about its hyper-parameters: `dlx show SWEEP --importance` (a table) and
`dlx plot --sweep SWEEP -o s.png` (parallel coordinates and one slice per key, matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path


def print_importances(sweep_id: str, scores: dict[str, float], trials: int) -> None:
    from rich.table import Table

    from dlx.report.text import console

    table = Table(title=f"{sweep_id} · hyper-parameter importance (fANOVA over {trials} trials)",
                  title_justify="left")
    table.add_column("key")
    table.add_column("importance", justify="right")
    table.add_column("")
    for key, value in sorted(scores.items(), key=lambda kv: -kv[1]):
        table.add_row(key, f"{value:.3f}", "█" * max(int(round(value * 30)), 0))
    console.print(table)
    console.print("importance: the share of the metric's variance each key explains (sums to 1); "
                  "refine the important ones with `dlx sweep --refine " + sweep_id + "`", highlight=False,
                  soft_wrap=True)


def _axis(dim, values: list):
    """(positions, tick labels or None, log scale) of one key's values."""
    if dim.kind == "choice":
        order = list(dim.choices)
        return [order.index(str(v)) if str(v) in order else -1 for v in values], order, False
    return [float(v) for v in values], None, dim.log


def sweep_figure(spec: dict, space, trials: list):
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    from dlx.report.figures import new_figure

    dims = space.dims
    values = [v for _, v in trials]
    fig = new_figure((max(6.0, 2.2 * len(dims) + 2), 7.5))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1])
    norm = Normalize(min(values), max(values) if max(values) > min(values) else min(values) + 1)
    cmap = colormaps["viridis" if spec.direction == "maximize" else "viridis_r"]
    ax = top.subplots()
    columns = []
    for d in dims:
        pos, labels, log = _axis(d, [p.get(d.key) for p, _ in trials])
        pos = [math.log10(x) if log and x > 0 else x for x in pos]
        lo, hi = min(pos), max(pos)
        columns.append([(x - lo) / (hi - lo) if hi > lo else 0.5 for x in pos])
    columns.append([norm(v) for v in values])
    order = sorted(range(len(trials)), key=lambda i: norm(values[i]) if spec.direction == "maximize"
                   else -norm(values[i]))  # the best drawn last, on top
    for i in order:
        ax.plot(range(len(columns)), [c[i] for c in columns], color=cmap(norm(values[i])), alpha=0.8)
    ax.set_xticks(range(len(columns)), [d.key for d in dims] + [spec.metric])
    ax.set_yticks([])
    ax.set_title(f"{spec.id}: parallel coordinates (colour: {spec.metric})", fontsize="small")
    slices = bottom.subplots(1, len(dims), squeeze=False)[0]
    for a, d in zip(slices, dims):
        pos, labels, log = _axis(d, [p.get(d.key) for p, _ in trials])
        a.scatter(pos, values, c=[cmap(norm(v)) for v in values], edgecolors="k", linewidths=0.3)
        if labels is not None:
            a.set_xticks(range(len(labels)), labels, rotation=30, fontsize="x-small")
        elif log:
            a.set_xscale("log")
        a.set_xlabel(d.key)
        a.grid(alpha=0.3)
    slices[0].set_ylabel(spec.metric)
    return fig


def plot_sweep(output_dir: str, ref: str, output) -> Path:
    from dlx.report.figures import check_output, save_figure
    from dlx.sweep.refine import trial_table

    check_output(output)
    spec, space, trials = trial_table(output_dir, ref)
    return save_figure(sweep_figure(spec, space, trials), output)
