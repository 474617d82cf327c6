"""Line charts in the terminal, drawn with Braille dots (2 x 4 per character) into rich Text.

Small on purpose: learning curves are a few lines of at most a few hundred points, and
an 80-column terminal fits two 38-column charts side by side. No dependency beyond rich.

Colour alone does not tell the lines apart (a pipe, a log file or a colour-blind reader
loses it): with two or more lines, each carries its own marker character (`o`, `x`, `+`,
...) at a few points along it, and the legend pairs each marker with its label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.text import Text

# Braille dot bits by (x, y) inside one character cell
_DOTS = {(0, 0): 0x01, (0, 1): 0x02, (0, 2): 0x04, (1, 0): 0x08,
         (1, 1): 0x10, (1, 2): 0x20, (0, 3): 0x40, (1, 3): 0x80}
COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")
MARKERS = ("o", "x", "+", "*", "#", "@", "%", "&")  # one per line, plain ASCII: survives any pipe
MARKER_SPACING = 12  # columns between two markers of one line


@dataclass
class Series:
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


def _line(x0: int, y0: int, x1: int, y1: int):
    """Bresenham: every pixel from (x0, y0) to (x1, y1), in order."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        yield x0, y0
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def line_chart(series: list[Series], width: int = 38, height: int = 8, title: str = "",
               xlabel: str = "epoch") -> Text:
    """A chart `width` characters wide with `height` rows of plot, axes, and a legend."""
    points = [p for s in series for p in s.points]
    out = Text(f"{title}\n" if title else "", style="bold")
    if not points:
        return out.append("(no data yet)\n", style="dim")
    xmin, xmax = min(p[0] for p in points), max(p[0] for p in points)
    ymin, ymax = min(p[1] for p in points), max(p[1] for p in points)
    if ymax == ymin:
        ymin, ymax = ymin - 0.5, ymax + 0.5
    labels = [_label(ymax), _label((ymin + ymax) / 2), _label(ymin)]
    margin = max(len(v) for v in labels) + 1
    cols = max(4, width - margin - 1)
    wide, tall = cols * 2, height * 4  # pixels

    cells: dict[tuple[int, int], int] = {}
    colors: dict[tuple[int, int], str] = {}

    def to_pixel(x, y):
        px = 0 if xmax == xmin else round((x - xmin) / (xmax - xmin) * (wide - 1))
        return px, round((ymax - y) / (ymax - ymin) * (tall - 1))

    paths = []
    for s in series:
        pixels = [to_pixel(*p) for p in s.points]
        path = [] if not pixels else [pixels[0]] if len(pixels) == 1 else \
            [q for a, b in zip(pixels, pixels[1:]) for q in list(_line(*a, *b))[:-1]] + pixels[-1:]
        paths.append(path)
        for i, (px, py) in enumerate(path):
            if s.dashed and (i // 3) % 2:
                continue  # dashes of three dots
            cell = (py // 4, px // 2)
            cells[cell] = cells.get(cell, 0) | _DOTS[(px % 2, py % 4)]
            colors[cell] = s.color
    marks = _markers(paths, cols) if len(series) > 1 else {}

    middle = height // 2
    for row in range(height):
        tag = labels[0] if row == 0 else labels[2] if row == height - 1 else labels[1] if row == middle else ""
        out.append(f"{tag:>{margin - 1}} " + ("┤" if tag else "│"), style="dim")
        for col in range(cols):
            if (row, col) in marks:
                k = marks[row, col]
                out.append(MARKERS[k % len(MARKERS)], style=f"bold {series[k].color}")
                continue
            bits = cells.get((row, col))
            out.append(chr(0x2800 + bits) if bits else " ", style=colors.get((row, col)))
        out.append("\n")
    out.append(" " * margin + "└" + "─" * cols + "\n", style="dim")
    left, right = _label(xmin), _label(xmax)
    gap = max(1, cols - len(left) - len(right) - len(xlabel) - 2)
    out.append(" " * (margin + 1) + left + " " * (gap // 2) + xlabel + " " * (gap - gap // 2 + 2)
               + right + "\n", style="dim")
    for k, s in enumerate(series):
        marker = f"{MARKERS[k % len(MARKERS)]} " if marks else ""
        out.append(f"  {marker}" + ("╍╍ " if s.dashed else "── "), style=s.color).append(s.label + "\n")
    out.rstrip()
    return out


def _markers(paths: list[list[tuple[int, int]]], cols: int) -> dict[tuple[int, int], int]:
    """(row, col) -> index of the line whose marker goes there.

    Each line is marked every MARKER_SPACING columns and at its last point, the lines'
    marks shifted against each other so that lines running together still show each one's.
    """
    marks: dict[tuple[int, int], int] = {}
    n = len(paths)
    for k, path in enumerate(paths):
        at_col: dict[int, int] = {}  # column -> the line's pixel row there (its first)
        for px, py in path:
            at_col.setdefault(px // 2, py)
        if not at_col:
            continue
        offset = round((k + 0.5) * MARKER_SPACING / n)
        wanted = [c for c in range(offset, cols, MARKER_SPACING) if c in at_col]
        last_px, last_py = path[-1]
        for col, row in [(c, at_col[c] // 4) for c in wanted] + [(last_px // 2, last_py // 4)]:
            if (row, col) not in marks:
                marks[row, col] = k
    return marks
