"""learning-curve.png, the picture the MLflow logger logs with each run: one panel per metric, train
and val per epoch. The logger's worker (dlx.engine.mlflow_worker) keeps a `LearningCurve` up to date
as the rows come; `dlx runs --to-mlflow` draws one from metrics.csv (`learning_curve`)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from dlx.errors import first_line

log = logging.getLogger(__name__)


class LearningCurve:
    """learning-curve.png: one panel per metric, train and val per epoch. A matplotlib Figure, not
    pyplot: no global state, no GUI backend.

    The worker keeps it up to date row by row, so that the end of a run draws only the lines
    (~10 ms instead of ~60 ms for a whole figure): the frame (axes, ticks, labels, legends) is drawn
    when its limits change and kept as a bitmap, the lines are drawn over it (matplotlib's
    blitting). The x axis spans the planned epochs from the start and each y axis ends just past
    its outer ticks, so the frame changes a few times per run, during the training."""

    def __init__(self, epochs: int = 0):
        self.epochs = epochs  # the planned epochs (0: as many as the rows show)
        self.figure, self.canvas, self.keys, self.lines = None, None, (), {}
        self.limits: list | None = None  # each panel's (x limits, y limits) in the frame
        self.frame = None  # the frame's bitmap, None until drawn for the current limits

    def update(self, rows: list[dict]) -> bool:
        """Show `rows`; False without matplotlib or without a train_/val_ metric to show."""
        keys = tuple(sorted({k for r in rows for k in r if k.startswith(("train_", "val_"))}))
        if not keys:
            return False
        if keys != self.keys:
            try:
                from matplotlib.figure import Figure
            except ImportError:
                return False
            self.build(Figure, keys)
        for key, line in self.lines.items():
            points = [(r["epoch"], r[key]) for r in rows if key in r]
            line.set_data(*zip(*points))
        last = max(self.epochs, *(int(r["epoch"]) for r in rows))
        pad = 0.05 * max(last - 1, 1)
        limits = [((1 - pad, last + pad), self.y_limits(axes)) for axes in self.figure.axes]
        if limits != self.limits:
            for axes, (x, y) in zip(self.figure.axes, limits):
                axes.set_xlim(*x)
                axes.set_ylim(*y)
            self.limits, self.frame = limits, None
        return True

    @staticmethod
    def y_limits(axes) -> tuple[float, float]:
        """Just past the outer ticks around the panel's values: they move only when a value passes one."""
        values = [v for line in axes.lines for v in line.get_ydata() if math.isfinite(v)]
        if not values:
            return axes.get_ylim()
        locator = axes.yaxis.get_major_locator()
        ticks = locator.tick_values(*locator.nonsingular(min(values), max(values)))  # one value: a range around it
        pad = 0.03 * (ticks[-1] - ticks[0])  # a line on the outer tick shows whole
        return float(ticks[0] - pad), float(ticks[-1] + pad)

    def build(self, Figure, keys: tuple) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.ticker import MaxNLocator

        names = sorted({k.partition("_")[2] for k in keys})
        rows, columns = math.ceil(len(names) / 3), min(len(names), 3)
        self.figure, self.keys, self.lines = Figure(figsize=(4 * columns, 3 * rows), dpi=80), keys, {}
        self.canvas, self.limits, self.frame = FigureCanvasAgg(self.figure), None, None
        for i, name in enumerate(names):
            axes = self.figure.add_subplot(rows, columns, i + 1)
            for split in ("train", "val"):
                if f"{split}_{name}" in keys:
                    (self.lines[f"{split}_{name}"],) = axes.plot([], [], marker="o" if split == "val" else "",
                                                                 label=split)
            axes.set_title(name, loc="left")
            axes.set_xlabel("epoch")
            # few ticks (text is most of a draw), at round steps
            axes.xaxis.set_major_locator(MaxNLocator(5, integer=True, steps=[1, 2, 2.5, 5, 10]))
            axes.yaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
            # above the panel, right of its title: never over the lines, wherever they go
            axes.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, frameon=False, borderaxespad=0.2)
        for line in self.lines.values():  # after the legends, whose handles copy the lines' settings
            line.set_animated(True)  # not part of the frame: drawn over it
        self.figure.set_layout_engine("tight")  # margins fitted to the labels by the first frame, then kept

    def draw_frame(self) -> None:
        """Draw the frame if its limits changed since the last time."""
        if self.frame is None:
            self.canvas.draw()
            self.figure.set_layout_engine(None)  # laid out: later frames draw once (~50 ms), not twice
            self.frame = self.canvas.copy_from_bbox(self.figure.bbox)

    def save(self, file: Path) -> Path:
        from matplotlib.image import imsave

        self.draw_frame()
        self.canvas.restore_region(self.frame)
        for line in self.lines.values():
            line.axes.draw_artist(line)
        imsave(file, self.canvas.buffer_rgba(), format="png", pil_kwargs={"compress_level": 1})  # 8 -> 5 ms, 10 % larger
        return file


def learning_curve(rows: list[dict], file: Path) -> Path | None:
    """learning-curve.png of `rows` (None without matplotlib or metrics, or with values it cannot draw)."""
    curve = LearningCurve()
    try:
        return curve.save(file) if curve.update(rows) else None
    except (ValueError, OverflowError) as e:  # 1.7e308: the run goes to MLflow without its picture
        log.warning(f"learning-curve.png not drawn ({first_line(e)})")
        return None
