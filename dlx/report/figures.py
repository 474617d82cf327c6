"""matplotlib figures for the diagnostic plots (layers, boundaries, LR range test, sweeps).

matplotlib is an optional extra (`pip install 'dlx[plot]'`), imported here only.
"""

from __future__ import annotations

from pathlib import Path

from dlx.errors import ConfigError, DlxError, first_line


def new_figure(size=(6, 4)):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DlxError("plotting needs matplotlib: pip install 'dlx[plot]'") from None
    return Figure(figsize=size, layout="constrained")


def check_output(output) -> Path:
    """The image path to write, refused in one line before any work when its folder is missing."""
    path = Path(output)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def save_figure(fig, output) -> Path:
    path = check_output(output)
    try:
        fig.savefig(path, dpi=120)
    except ValueError as e:  # unknown image format
        raise ConfigError(f"cannot write {path}: {first_line(e, limit=None)}") from None
    return path
