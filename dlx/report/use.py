"""Tables for the commands that use trained runs: eval, predict, export, ensemble, bag."""

from __future__ import annotations

import json

from rich.table import Table

from dlx.report.text import console, err_console, fmt


def print_eval(result: dict, form: str = "table", written=None) -> None:
    """Metrics, then the confusion matrix and per-class scores (or the residuals); csv/json for scripts."""
    if form == "json":
        print(json.dumps(result, indent=2, default=str))
        return
    if form == "csv":
        print_eval_csv(result)
        return
    table = Table(title=f"{result['run_id']} · {result['name']} ({result['size']} samples, {result['checkpoint']}.pt)",
                  title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result["metrics"].items():
        table.add_row(name, fmt(value))
    console.print(table)
    if "confusion" in result:
        console.print(confusion_table(result))
        console.print(per_class_table(result))
    if "residuals" in result:
        res = Table(title="residuals (prediction - target)", title_justify="left")
        for key in result["residuals"]:
            res.add_column(key, justify="right")
        res.add_row(*(fmt(v) for v in result["residuals"].values()))
        console.print(res)
    if written:
        err_console.print(f"wrote {written}", highlight=False)


def confusion_table(result: dict) -> Table:
    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("")
    for c in result["classes"]:
        table.add_column(str(c), justify="right")
    for c, row in zip(result["classes"], result["confusion"]):
        table.add_row(str(c), *(str(v) for v in row))
    return table


def per_class_table(result: dict) -> Table:
    table = Table(title="per class", title_justify="left")
    for name in ("class", "precision", "recall", "f1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for c, row in {**result["per_class"], **result["averages"]}.items():
        table.add_row(str(c), fmt(row["precision"]), fmt(row["recall"]), fmt(row["f1"]), str(row["support"]))
    return table


def print_eval_csv(result: dict) -> None:
    """Classification: the confusion matrix as CSV; regression: metric,value rows."""
    if "confusion" in result:
        print(",".join(["true\\predicted", *map(str, result["classes"])]))
        for c, row in zip(result["classes"], result["confusion"]):
            print(",".join([str(c), *map(str, row)]))
        return
    print("metric,value")
    for name, value in {**result["metrics"], **{f"residual_{k}": v for k, v in result.get("residuals", {}).items()}}.items():
        print(f"{name},{value}")


def print_ensemble(summary: dict) -> None:
    """Each member's test metrics, their mean ± std, and the ensemble's."""
    metric = summary["metric"]
    table = Table(title=f"{summary['ensemble_id']} · {summary['method']} of {len(summary['members'])} members · "
                        f"test split ({summary['size']} samples)", title_justify="left")
    table.add_column("member", no_wrap=True)  # fold names differ at their end: never cut
    names = list(summary["member_stats"])
    for name in names:
        table.add_column(name, justify="right", style="bold" if name == metric else None)
    for member, values in summary["members"].items():
        table.add_row(member, *(fmt(values[n]) for n in names))
    stats = summary["member_stats"]
    table.add_row("members: mean ± std", *(f"{fmt(stats[n]['mean'])} ± {fmt(stats[n]['std'])}"
                                           if stats[n]["std"] is not None else fmt(stats[n]["mean"]) for n in names),
                  style="dim")
    table.add_row("ensemble", *(fmt(summary["ensemble"].get(n, float("nan"))) for n in names), style="bold")
    console.print(table)
    err_console.print(f"wrote {summary['path']}", highlight=False)


def print_export(info: dict) -> None:
    shape = ", ".join(map(str, info["input_shape"]))
    out = "class probabilities" if info["task"] != "regression" else "values in the target's units"
    console.print(f"wrote {info['path']} ({info['format']}): input (N, {shape}) raw features, output {out}",
                  highlight=False)
    if info.get("columns"):
        cols = info["columns"]
        console.print(f"input columns, in order: {', '.join(cols[:12])}{', ...' if len(cols) > 12 else ''}",
                      highlight=False)
    if info["task"] != "regression":
        console.print(f"classes, in order: {', '.join(map(str, info['classes']))}", highlight=False)


def print_predicted(info: dict) -> None:
    if info["output"] != "-":
        err_console.print(f"wrote {info['rows']:,} predictions of {info['run_id']} to {info['output']}",
                          highlight=False)


def print_member(job, outcome) -> None:
    name = job[1].rsplit("/", 1)[-1]
    if outcome["status"] == "finished":
        s = outcome["summary"]
        shown = {k: v for k, v in s.items() if k in ("test_acc", "test_rmse", "test_loss")}
        err_console.print(f"{name}: " + "  ".join(f"{k} {fmt(v)}" for k, v in shown.items()), highlight=False)
    else:
        err_console.print(f"{name}: failed: {outcome.get('error')}", highlight=False)
