"""Config choices and datasets (`dlx list`, `dlx data`)."""

from __future__ import annotations

from rich.table import Table

from dlx.report.text import console

def choices_lines(catalog: dict[str, list[tuple[str, str]]], defaults: dict[str, str]) -> list[str]:
    """`optim  (optim=NAME)` then one `* adam   description` line per choice, for each group."""
    lines = []
    for group, choices in catalog.items():
        if lines:
            lines.append("")
        lines.append(f"{group}  ({group}=NAME)")
        width = max((len(name) for name, _ in choices), default=0)
        for name, text in choices:
            mark = "*" if defaults.get(group) == name else " "
            lines.append(f"  {mark} {name:<{width}}  {text}".rstrip())
    return lines


def print_choices(catalog: dict[str, list[tuple[str, str]]], defaults: dict[str, str]) -> None:
    for line in choices_lines(catalog, defaults):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


# ---------------------------------------------------------------- data (issue 5)


def _shape(shape) -> str:
    return "×".join(map(str, shape)) if isinstance(shape, (tuple, list)) else str(shape)


def print_datasets(rows: list[dict]) -> None:
    """`dlx data`: one row per dataset; the description where the terminal is wide enough."""
    headers = ("name", "task", "shape", "size", "download")
    body = [[r["name"], r["task"], _shape(r["shape"]), f"{r['size']:,}" if isinstance(r["size"], int)
             else str(r["size"]), "yes" if r["download"] else "no"] for r in rows]
    used = sum(max(len(h), *(len(b[i]) for b in body)) + 3 for i, h in enumerate(headers)) + 4
    room = console.width - used  # what is left for the description column
    table = Table(title="datasets (dlx train data=NAME)", title_justify="left")
    for header in headers:
        table.add_column(header, justify="right" if header in ("shape", "size") else "left", no_wrap=True)
    if room >= 20:
        table.add_column("", no_wrap=True, max_width=room, overflow="ellipsis")
    for r, cells in zip(rows, body):
        table.add_row(*cells, *([r["summary"]] if room >= 20 else []))
    console.print(table)


def print_bundle(name: str, bundle) -> None:
    """`dlx data NAME`: what the trainer will see — splits, shape, task, classes, preprocessing."""
    console.print(f"{name}: {bundle.kind}, input {_shape(bundle.input_shape)}", highlight=False)
    table = Table()
    table.add_column("split")
    table.add_column("samples", justify="right")
    for split in ("train", "val", "test"):
        table.add_row(split, f"{len(getattr(bundle, split)):,}")
    console.print(table)
    classes = ", ".join(bundle.classes[:12]) + (" ..." if len(bundle.classes) > 12 else "")
    augment = bundle.augment is not None and bundle.augment.active
    console.print(f"classes ({bundle.num_classes}): {classes}" if bundle.classes else
                  f"regression targets: {bundle.num_targets}", highlight=False)
    console.print(f"preprocess: {bundle.preprocess.get('mode')} (fitted on train)"
                  f"{' · augment: on (train only)' if augment else ''}", highlight=False)
