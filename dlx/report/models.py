"""Model tables: the zoo, and one model layer by layer (`dlx models`)."""

from __future__ import annotations

from rich.table import Table

from dlx.report.text import console

def models_table(entries) -> Table:
    """`dlx models`: one row per registered model (registry entries); plugins name their origin."""
    table = Table(title="models (dlx train model=NAME; dlx models show NAME)", title_justify="left")
    plugins = any(e.origin != "built-in" for e in entries)
    for column in ("model", "input", "what it is"):
        table.add_column(column, no_wrap=column == "model")
    if plugins:
        table.add_column("from", no_wrap=True)
    for e in entries:
        origin = [e.origin] if plugins else []
        table.add_row(e.name, ", ".join(e.meta.get("accepts", ())), e.meta.get("summary", ""), *origin)
    return table


def model_summary_table(summary, title: str, depth: int | None = None) -> Table:
    """`dlx models show`: layer, output shape, parameters, with the exact total."""
    from dlx.models.summary import visible_rows

    table = Table(title=title, title_justify="left", show_footer=True)
    table.add_column("layer", footer="total")
    table.add_column("output shape", footer="")
    table.add_column("params", justify="right", footer=f"{summary.total:,}")
    fields = any(row.receptive_field for row in summary.rows)  # convolutional models only
    if fields:
        table.add_column("receptive field", justify="right", footer="")
    for row, params in visible_rows(summary, depth):
        label = "  " * row.depth + (f"{row.name.rsplit('.', 1)[-1]} ({row.kind})" if row.name else row.kind)
        shape = "(" + ", ".join(map(str, row.output_shape)) + ")" if row.output_shape else "—"
        cells = [label, shape, f"{params:,}" if params else "—"]
        if fields:
            cells.append(f"{row.receptive_field}x{row.receptive_field}" if row.receptive_field else "")
        table.add_row(*cells)
    return table


def print_model_summary(summary, title: str, depth: int | None = None) -> None:
    console.print(model_summary_table(summary, title, depth))
    frozen = summary.total - summary.trainable
    line = f"{summary.total:,} parameters ({summary.trainable:,} trainable"
    line += f", {frozen:,} frozen)" if frozen else ")"
    out = summary.rows[0].output_shape or ()
    console.print(f"{line} · input (B, {', '.join(map(str, summary.input_shape))}) -> output "
                  f"({', '.join(map(str, out))})", highlight=False, soft_wrap=True)
