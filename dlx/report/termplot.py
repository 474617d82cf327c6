"""Line charts in the terminal: plotext draws the curves (Braille dots) and axes; rich prints them.

Learning curves are a few lines of at most a few hundred points, and an 80-column terminal
fits two 38-column charts side by side. plotext is imported when a chart is drawn, never by
`dlx --help`.

Colour alone does not tell the lines apart (a pipe, a log file or a colour-blind reader
loses it): with two or more lines, each carries its own marker character (`o`, `x`, `+`,
...) at a few points along it, and the legend below the chart pairs each marker with its
label. A dashed line (training curves beside validation ones) is drawn in dashes of a few
dots. plotext writes ANSI colours; rich turns them into styles and drops them where the
output is not a terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.text import Text

COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")
MARKERS = ("o", "x", "+", "*", "#", "@", "%", "&")  # one per line, plain ASCII: survives any pipe
MARKER_SPACING = 12  # columns between two markers of one line
DASH = 3  # a dashed line: this many steps drawn, then as many left out
# rich's colour names as plotext's 256-colour numbers (the terminal's own 16 colours)
PLOTEXT_COLOR = {"cyan": 6, "magenta": 5, "green": 2, "yellow": 3, "blue": 4, "red": 1,
                 "bright_cyan": 14, "bright_magenta": 13}


@dataclass
class Series:
    """One line: its label, points (non-finite ones are left out), colour, and whether it is dashed."""

    label: str
    x: list
    y: list
    color: str = "cyan"
    dashed: bool = False
    points: list = field(init=False)

    def __post_init__(self):
        self.points = [(float(a), float(b)) for a, b in zip(self.x, self.y)
                       if _finite(a) and _finite(b)]


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _label(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.2e}"


def line_chart(series: list[Series], width: int = 38, height: int = 8, title: str = "",
               xlabel: str = "epoch") -> Text:
    """A chart `width` characters wide with `height` rows of plot, axes, and a legend."""
    out = Text(f"{title}\n" if title else "", style="bold")
    points = [p for s in series for p in s.points]
    if not points:
        return out.append("(no data yet)\n", style="dim")
    out.append_text(Text.from_ansi(_draw(series, points, width, height, xlabel)))
    marked = len(series) > 1
    for k, s in enumerate(series):
        marker = f"{MARKERS[k % len(MARKERS)]} " if marked else ""
        out.append(f"  {marker}" + ("╍╍ " if s.dashed else "── "), style=s.color).append(s.label + "\n")
    out.rstrip()
    return out


def _draw(series: list[Series], points: list, width: int, height: int, xlabel: str) -> str:
    """plotext's rendering (with ANSI colours): `height` rows of curves, the axes, ticks and label."""
    import plotext

    xmin, xmax = min(p[0] for p in points), max(p[0] for p in points)
    ymin, ymax = min(p[1] for p in points), max(p[1] for p in points)
    if ymax == ymin:
        ymin, ymax = ymin - 0.5, ymax + 0.5
    xs = [xmin, xmax] if xmax > xmin else [xmin]
    ys = [ymax, (ymin + ymax) / 2, ymin]
    cols = max(4, width - max(len(_label(v)) for v in ys) - 1)  # the plotting area, about

    fig = plotext.figure
    fig.clear()
    fig.theme("colorless")
    fig.plot_size(width, height + 3)  # + the x axis, its tick labels, and xlabel
    fig.axes(False, axis="x", side="upper")  # a frame on two sides only: an L, as in a textbook
    fig.axes(False, axis="y", side="right")
    fig.ruler("x", "lower").ticks(xs, [_label(v) for v in xs])
    fig.ruler("y", "left").ticks(ys, [_label(v) for v in ys])
    fig.ruler("y", "left").lim(ymin, ymax)
    if xmax > xmin:
        fig.ruler("x", "lower").lim(xmin, xmax)
    fig.label(xlabel, axis="x")
    for s in series:
        pen = plotext.pixel(foreground=PLOTEXT_COLOR.get(s.color, 6))
        fig.draw(_line(fig, plotext.marker("braille", pen), s, cols))
    if len(series) > 1:
        for k, s in enumerate(series):
            pen = plotext.pixel(foreground=PLOTEXT_COLOR.get(s.color, 6), style="bold")
            at = _marker_points(s.points, k, len(series), (xmax - xmin) * MARKER_SPACING / cols)
            if at:
                fig.draw(fig.signal([p[0] for p in at], [p[1] for p in at],
                                    marker=plotext.marker(MARKERS[k % len(MARKERS)], pen)))
    return fig.build().string()


def _line(fig, marker, s: Series, cols: int):
    """The series as a plotext signal: its points joined by lines; when `s.dashed`, sampled once
    a dot column (2 a character) and drawn DASH samples on, DASH off."""
    points, gaps = s.points, []
    if s.dashed and len(points) > 1:
        dense = _resample(points, 2 * cols)
        kept = [i for i in range(len(dense)) if (i // DASH) % 2 == 0]
        points = [dense[i] for i in kept]
        gaps = [j for j in range(1, len(kept)) if kept[j] - kept[j - 1] > 1]
    signal = fig.signal([p[0] for p in points], [p[1] for p in points], marker=marker)
    signal.lines()
    for j in gaps:
        signal.line(j, False)  # no line from point j - 1 across the gap to point j
    return signal


def _resample(points: list, n: int) -> list:
    """`n` points evenly spaced along the x range of `points`, linearly interpolated."""
    if len(points) < 2:
        return points
    x0, x1 = points[0][0], points[-1][0]
    return [(x, _y_at(points, x)) for x in (x0 + (x1 - x0) * i / (n - 1) for i in range(n))]


def _y_at(points: list, x: float) -> float:
    """The line through `points` (sorted by x) at `x`."""
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        if xa <= x <= xb:
            return ya if xb == xa else ya + (yb - ya) * (x - xa) / (xb - xa)
    return points[-1][1]


def _marker_points(points: list, k: int, n: int, spacing: float) -> list:
    """Where line `k` of `n` shows its marker: every `spacing` (x units) and at its last point,
    the lines' marks shifted against each other so that lines running together show each one's."""
    if not points:
        return []
    x0, x1 = points[0][0], points[-1][0]
    at = []
    if spacing > 0:
        x = x0 + (k + 0.5) * spacing / n
        while x < x1:
            at.append((x, _y_at(points, x)))
            x += spacing
    return at + [points[-1]]
