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


def confusion_figure(classes, confusion, title: str = "confusion matrix"):
    """The confusion matrix as an image: rows true, columns predicted, counts written in the cells."""
    fig = new_figure((1.5 + 0.45 * len(classes), 1.2 + 0.45 * len(classes)))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax, label="count", shrink=0.8)
    labels = [str(c) for c in classes]
    ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=90 if max(map(len, labels)) > 3 else 0)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    high = max((max(row) for row in confusion), default=0)
    for i, row in enumerate(confusion):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=6,
                        color="white" if value > high / 2 else "black")
    return fig


def plot_confusion(result: dict, output) -> Path:
    """`dlx eval --plot FILE`: the confusion matrix of an evaluation (classification only)."""
    path = check_output(output)
    if "confusion" not in result:
        raise ConfigError("--plot draws a confusion matrix: this run is not a classifier")
    title = f"confusion matrix · {result.get('name', '')} ({result.get('size', '')} samples)"
    return save_figure(confusion_figure(result["classes"], result["confusion"], title), path)
