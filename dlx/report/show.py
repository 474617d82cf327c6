"""`dlx show`: one run's config, metrics per epoch, learning curves and summary."""

from __future__ import annotations

import logging

from rich.table import Table

from dlx.errors import DlxError
from dlx.report.embed import EMBED, purity_line
from dlx.report.progress import print_summary
from dlx.report.runs import unreadable
from dlx.report.text import STATUS_STYLE, as_int, cell, console, is_number, main_metric, plain_table
from dlx.report.termplot import Series, line_chart
from dlx.store import runs
from dlx.store.ensembles import read_eval

__all__ = ["learning_curves", "changed_keys", "differs_from_defaults", "config_lines", "epochs_table", "show_run"]

log = logging.getLogger(__name__)


def learning_curves(metrics, monitor: str | None, width: int = 80):
    """Loss and the main metric, train dashed vs validation solid, side by side."""

    charts = []
    for name in dict.fromkeys(["loss", main_metric(metrics.columns, monitor)]):
        series = [Series(split, metrics["epoch"], metrics[f"{split}_{name}"], color, split == "train")
                  for split, color in (("train", "cyan"), ("val", "magenta")) if f"{split}_{name}" in metrics]
        charts.append(line_chart(series, width=width // 2 - 2, title=name))
    grid = Table.grid(padding=(0, 2))
    grid.add_row(*charts)
    return grid


def changed_keys(overrides, keys) -> set[str]:
    """The config keys a run's overrides set: `optim.lr=0.1` -> optim.lr; `model=cnn` -> model.name."""
    changed = set()
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0].strip()
        if key in runs.GROUPS:  # a group swapped: its other keys are that choice's defaults
            changed.add(f"{key}.name")
            continue
        changed.update(k for k in keys if k == key or k.startswith(key + "."))
    return changed


def differs_from_defaults(flat: dict) -> set[str]:
    """The keys whose value differs from dlx's default config (`dlx train` with no overrides)."""
    from omegaconf import OmegaConf

    from dlx.config import compose  # Hydra: only when a run is shown

    try:
        defaults = runs.flatten(OmegaConf.to_container(compose([]), resolve=True))
    except DlxError:  # the config tree changed under an old run: fall back to its overrides
        return set()
    return {k for k, v in flat.items() if k not in defaults or defaults[k] != v}


def config_lines(flat: dict, changed: set[str]) -> Table:
    """One row per group of `key=value` pairs; keys the overrides set in bold yellow with a `*`."""
    from rich.text import Text

    groups: dict[str, list[str]] = {}
    for key in flat:
        head, _, tail = key.partition(".")
        groups.setdefault(head if tail else "", []).append(key)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for group, keys in groups.items():
        line = Text()
        for key in keys:
            name, value = key.partition(".")[2] or key, flat[key]
            text = f"{name}={'null' if value is None else value}" + ("*" if key in changed else "")
            line.append(text, style="bold yellow" if key in changed else "").append("  ")
        grid.add_row(group or "(top)", line)
    return grid


def epochs_table(metrics, best_epoch=None, monitor: str | None = None, max_rows: int = 20) -> Table:
    """Per-epoch metrics (loss and main metric; long runs sampled evenly, best and last kept)."""
    main = main_metric(metrics.columns, monitor)
    names = ["epoch", "lr"] + [f"{s}_{m}" for m in dict.fromkeys(["loss", main]) for s in ("train", "val")]
    names += [c for c in ("val_top5", "epoch_time_s") if c in metrics and len(names) < 8]
    names = [c for c in names if c in metrics]
    n = len(metrics)
    keep = set(range(n)) if n <= max_rows else \
        {round(i * (n - 1) / (max_rows - 1)) for i in range(max_rows)}
    if best_epoch is not None:
        keep |= set(metrics.index[metrics["epoch"] == best_epoch])
    table = Table(title="per epoch" + (f" ({len(keep)} of {n} shown)" if len(keep) < n else ""), **plain_table())
    for name in names:
        table.add_column(name.replace("epoch_time_s", "time"), justify="right")
    for i in sorted(keep):
        row = metrics.iloc[i]
        style = "bold green" if best_epoch is not None and row["epoch"] == best_epoch else None
        table.add_row(*(str(int(row[c])) if c == "epoch" else
                        f"{row[c]:.3g}" if c in ("lr", "epoch_time_s") and is_number(row[c]) else cell(row[c])
                        for c in names),
                      style=style)
    return table


def show_run(root, ref: str) -> None:
    """`dlx show`: config (what differs from the defaults highlighted), per-epoch table, curves, summary."""
    from rich.text import Text

    record = runs.find_record(root, ref)
    foreign = runs.foreign_summary(record.path)
    if foreign:  # valid JSON of another shape: not a run's, so no guessing at what is readable
        return unreadable(record.path, foreign)
    problems: list[str] = []
    frame = runs.load_runs([record], on_skip=lambda path, reason: problems.append(reason))
    if len(frame):
        row = frame.iloc[0]
    elif any((record.path / name).is_file() for name in ("config.yaml", "metrics.csv")):
        log.warning(f"{record.path}: {problems[0]}; showing what is readable")  # an empty summary.json, ...
        row = {"status": "unreadable"}
    else:
        return unreadable(record.path, problems[0])
    status = row["status"]
    where = f" · {record.kind} {record.group}" if record.group else ""
    console.print(f"[bold]{record.id}[/]  [{STATUS_STYLE.get(status, 'default')}]{status}[/]{where}  {record.path}",
                  highlight=False, soft_wrap=True)
    flat = runs.flatten(runs.read_config(record.path))
    overrides = runs.read_overrides(record.path)
    console.print(Text("config", style="bold underline"))
    console.print(f"overrides: {' '.join(overrides) or '(none)'}  (* differs from the defaults)",
                  highlight=False, soft_wrap=True)
    changed = changed_keys(overrides, flat) | differs_from_defaults(flat)
    console.print(config_lines(flat, changed), end="")
    try:
        metrics = runs.read_metrics(record.path, warn=log.warning)
    except Exception:  # no epoch finished yet
        metrics = None
    if metrics is not None and len(metrics):
        best_epoch = as_int(row.get("best_epoch"))
        console.print(epochs_table(metrics, best_epoch, row.get("monitor")))
        console.print(learning_curves(metrics, row.get("monitor")))
    summary = runs.read_summary(record.path)
    if summary is not None:  # a fitted scikit-learn estimator keeps checkpoints/estimator.pt: no epochs to name
        print_summary(summary, fitted=(record.path / "checkpoints" / "estimator.pt").is_file())
    embedded = read_eval(record.path, EMBED)  # dlx plot RUN --embed
    if embedded and {"kmeans_purity", "gmm_purity"} <= set(embedded):
        console.print(purity_line(embedded), highlight=False, soft_wrap=True)
    else:
        info = runs.read_status(record.path)
        reason = f" — {info['reason']}" if info.get("reason") else ""
        console.print(f"no summary: {status}{reason}", highlight=False, soft_wrap=True)
