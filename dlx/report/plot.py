"""`dlx plot`: learning curves of one or more runs as an image, with matplotlib.

`curves_figure` returns the Figure (tests count its lines); `plot_runs` reads the runs
and saves it. matplotlib is an optional extra (`pip install 'dlx[plot]'`), imported here only.
"""

from __future__ import annotations

from pathlib import Path

from dlx.errors import ConfigError, DlxError, first_line
from dlx.report.text import main_metric
from dlx.store import runs

SPLITS = ("train", "val", "test")
STYLES = {"train": "--", "val": "-", "test": ":"}


def select_columns(metrics_columns, wanted, monitor: str | None) -> dict[str, list[str]]:
    """{metric: [columns]}: `acc` means train_acc and val_acc, `val_acc` just that column.

    With nothing asked: the loss and the monitored metric (or the first other validation metric).
    """
    columns = list(metrics_columns)
    wanted = list(wanted) or list(dict.fromkeys(["loss", main_metric(columns, monitor)]))
    chosen: dict[str, list[str]] = {}
    for name in wanted:
        split, _, base = name.partition("_")
        if split in SPLITS and base:
            picked = [name] if name in columns else []
        else:
            base = name
            picked = [f"{s}_{name}" for s in SPLITS if f"{s}_{name}" in columns]
        if not picked:
            available = sorted({c.partition("_")[2] for c in columns if c.partition("_")[0] in SPLITS})
            raise ConfigError(f"no metric '{name}' in these runs; choose from: {', '.join(available)} "
                              "(or a column such as val_acc)")
        chosen.setdefault(base, [])
        chosen[base] += [c for c in picked if c not in chosen[base]]
    return chosen


def curves_figure(curves: dict, chosen: dict[str, list[str]]):
    """One panel per metric; per run one colour, train dashed and validation solid."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DlxError("dlx plot needs matplotlib: pip install 'dlx[plot]'") from None

    fig = Figure(figsize=(5.5 * len(chosen), 4), layout="constrained")
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    colors = [f"C{i % 10}" for i in range(len(curves))]
    for ax, (metric, columns) in zip(axes, chosen.items()):
        for color, (label, frame) in zip(colors, curves.items()):
            for column in columns:
                if column in frame:
                    split = column.partition("_")[0]
                    ax.plot(frame["epoch"], frame[column], STYLES[split], color=color,
                            label=f"{label} {split}" if len(curves) > 1 else split)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def plot_runs(root, refs, output, metrics=()) -> Path:
    """Read the runs named by `refs`, draw their curves, save to `output`; return its path."""
    curves, monitor = {}, None
    for ref in refs:
        record = runs.find_record(root, ref)
        try:
            curves[record.id] = runs.read_metrics(record.path)
        except (OSError, ValueError):
            raise ConfigError(f"run {record.id} has no metrics.csv yet (no epoch finished)") from None
        monitor = monitor or runs.flatten(runs.read_config(record.path)).get("trainer.monitor")
    columns = list(dict.fromkeys(c for frame in curves.values() for c in frame.columns))
    fig = curves_figure(curves, select_columns(columns, metrics, monitor))
    path = Path(output)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        fig.savefig(path, dpi=120)
    except ValueError as e:  # unknown image format
        raise ConfigError(f"cannot write {path}: {first_line(e, limit=None)}") from None
    return path
