"""`dlx landscape`: optimizer paths over contours, loss slices of a network, and their table.

The figures are matplotlib `Figure`s (no pyplot state, so no display is needed); tests count
their lines. The table is rich, printed to the shared console.
"""

from __future__ import annotations

from pathlib import Path

from dlx.errors import ConfigError, DlxError


def _figure(size):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DlxError("dlx landscape needs matplotlib: pip install 'dlx[plot]'") from None
    return Figure(figsize=size, layout="constrained")


def _view(result, box) -> tuple[float, float, float, float]:
    """The function's box, widened to take in every finite path point (up to 3 box widths)."""
    x0, x1, y0, y1 = box
    xs = [x for p in result.paths for x, _, _ in p.points]
    ys = [y for p in result.paths for _, y, _ in p.points]
    wx, wy = x1 - x0, y1 - y0
    x0, x1 = max(min(x0, *xs), x0 - wx), min(max(x1, *xs), x1 + wx)
    y0, y1 = max(min(y0, *ys), y0 - wy), min(max(y1, *ys), y1 + wy)
    return x0, x1, y0, y1


def paths_figure(result, fn, box):
    """Log-spaced contours of f − f* and one line per optimizer, start and end marked."""
    import numpy as np
    import torch
    from matplotlib.colors import LogNorm

    fig = _figure((7, 5.5))
    ax = fig.subplots()
    x0, x1, y0, y1 = _view(result, box)
    gx, gy = torch.meshgrid(torch.linspace(x0, x1, 300, dtype=torch.float64),
                            torch.linspace(y0, y1, 300, dtype=torch.float64), indexing="xy")
    gap = (fn(gx, gy) - result.minimum).clamp_min(1e-12).numpy()  # >= 0: every minimum value is known
    levels = np.logspace(np.log10(max(gap.min(), 1e-6)), np.log10(gap.max()), 30)
    ax.contour(gx.numpy(), gy.numpy(), gap, levels=levels, norm=LogNorm(), cmap="viridis", linewidths=0.6,
               alpha=0.7)
    for i, p in enumerate(result.paths):
        pts = np.array(p.points)
        label = f"{p.optimizer} (lr {p.lr:g})" + (", diverged" if p.diverged else "")
        ax.plot(pts[:, 0], pts[:, 1], "-", color=f"C{i % 10}", lw=1.4, label=label)
        ax.plot(pts[-1, 0], pts[-1, 1], "o", color=f"C{i % 10}", ms=5)
    ax.plot(*result.start, "k*", ms=11, label="start")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"{result.function}: {result.steps} steps from ({result.start[0]:g}, {result.start[1]:g})")
    ax.legend(fontsize="small", loc="best")
    return fig


def slice_figure(result):
    """A 1-D loss curve, or contours of a 2-D slice, centred on the best weights."""
    import numpy as np

    fig = _figure((6.5, 5) if result.dims == 2 else (6.5, 4))
    ax = fig.subplots()
    if result.dims == 1:
        ax.plot(result.alphas, result.losses[0], "-o", ms=3)
        ax.axvline(0.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("α (filter-normalised direction)")
        ax.set_ylabel(f"training {result.loss_name} loss")
    else:
        losses = np.array(result.losses)
        cs = ax.contour(result.alphas, result.betas, losses, levels=25, cmap="viridis")
        ax.clabel(cs, fontsize="x-small")
        ax.plot(0.0, 0.0, "k*", ms=10)
        ax.set_xlabel("α")
        ax.set_ylabel("β")
    ax.set_title(f"{result.run_id}: loss around the best weights")
    return fig


def check_output(output) -> Path:
    """The image path, checked before any work: its folder exists, matplotlib writes its format."""
    path = Path(output)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise DlxError("dlx landscape needs matplotlib: pip install 'dlx[plot]'") from None
    formats = FigureCanvasBase.get_supported_filetypes()
    if path.suffix.lstrip(".").lower() not in formats:
        raise ConfigError(f"cannot write {path}: give an image name ending in .png, .pdf or .svg")
    return path


def save_figure(fig, output) -> Path:
    """The shared writer (dlx.report.figures), after this command's own check of the image name."""
    from dlx.report import figures

    check_output(output)
    return figures.save_figure(fig, output)


def print_paths_table(result) -> None:
    """Per optimizer: its learning rate, the final point and value, and steps to the tolerance."""
    from rich.table import Table

    from dlx.report.text import console, fmt

    table = Table(title=f"{result.function} · {result.steps} steps · tolerance f − f* ≤ {result.tol:g}",
                  title_justify="left")
    for column in ("optimizer", "lr", "final x", "final y", "final f", "f − f*", "steps to tol"):
        table.add_column(column, justify="left" if column == "optimizer" else "right")
    for row in result.rows():
        steps = "diverged" if row["diverged"] and row["steps_to_tol"] is None else \
            ("—" if row["steps_to_tol"] is None else str(row["steps_to_tol"]))
        table.add_row(row["optimizer"], f"{row['lr']:g}", fmt(row["final_x"]), fmt(row["final_y"]),
                      f"{row['final_value']:.4g}", f"{row['gap']:.3g}", steps)
    console.print(table)
