"""`dlx runs` / `compare` on runs that monitor different metrics or use different data (issue 13, item 12).

The store is written by hand (config.yaml, summary.json as `dlx train` writes them), so the
mix of monitors and datasets is exact and the expected figures are computed here from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

# (name, data, monitor, optim, best_value, test_loss, test_acc or None)
RUNS = [
    ("acc-a", "digits", "val_acc", "adam", 0.95, 0.20, 0.96),
    ("acc-b", "digits", "val_acc", "adam", 0.97, 0.18, 0.97),
    ("acc-c", "digits", "val_acc", "sgd", 0.91, 0.30, 0.92),
    ("loss-a", "digits", "val_loss", "adam", 0.12, 0.15, 0.95),
    ("loss-b", "digits", "val_loss", "adam", 0.10, 0.14, 0.96),
    ("reg-a", "diabetes", "val_loss", "adam", 3200.0, 3300.0, None),
    ("reg-b", "diabetes", "val_loss", "adam", 2900.0, 3100.0, None),
]


def write_run(root: Path, i: int, name, data, monitor, optim, best, test_loss, test_acc) -> None:
    run = root / "runs" / f"2026-01-01_00-00-{i:02d}_{name}"
    run.mkdir(parents=True)
    config = {"model": {"name": "mlp"}, "optim": {"name": optim, "lr": 0.001}, "data": {"name": data},
              "trainer": {"monitor": monitor, "monitor_mode": "auto", "seed": i}, "name": name}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {"run_id": run.name, "status": "finished", "model": "mlp", "optim": optim, "data": data,
               "monitor": monitor, "best_value": best, "best_epoch": 3, "epochs_run": 5,
               "test_loss": test_loss, "params": 1000, "duration_s": 1.0,
               "device": "cpu", "path": str(run)}
    if test_acc is not None:
        summary["test_acc"] = test_acc
    (run / "summary.json").write_text(json.dumps(summary))
    epochs = np.arange(1, 6)
    curve = {"epoch": epochs, "lr": 0.001, "train_loss": 1 / epochs + i / 10, "train_acc": 1 - 0.5 / epochs,
             "val_loss": 1.2 / epochs + i / 10, "val_acc": 1 - 0.6 / epochs - i / 100}
    lines = [",".join(curve)] + [",".join(str(v if np.isscalar(v) else v[e]) for v in curve.values())
                                 for e in range(len(epochs))]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def store(tmp_path) -> Path:
    root = tmp_path / "outputs"
    for i, row in enumerate(RUNS):
        write_run(root, i, *row)
    return root


def rows_of(result) -> list[dict]:
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_group_by_never_averages_different_monitors_or_datasets(store, dlx):
    result = dlx("runs", "--output-dir", str(store), "--group-by", "optim", "-f", "json")
    rows = rows_of(result)
    assert "grouped by monitor and data too" in result.err
    groups = {(r["optim"], r["monitor"], r["data"]): r for r in rows}
    assert set(groups) == {("adam", "val_acc", "digits"), ("sgd", "val_acc", "digits"),
                           ("adam", "val_loss", "digits"), ("adam", "val_loss", "diabetes")}
    for (optim, monitor, data), row in groups.items():
        members = [r for r in RUNS if (r[3], r[2], r[1]) == (optim, monitor, data)]
        assert row["count"] == len(members)
        best = [r[4] for r in members]
        assert row[f"best_{monitor}_mean"] == pytest.approx(np.mean(best))
        other = "val_loss" if monitor == "val_acc" else "val_acc"
        assert row[f"best_{other}_mean"] is None  # blank, not a mixed average
        assert row["test_loss_mean"] == pytest.approx(np.mean([r[5] for r in members]))
    assert "best_value_mean" not in rows[0]
    # each monitor's groups together, best first in its own direction (acc high, loss low)
    order = [(r["monitor"], r["data"], r["optim"]) for r in rows]
    assert order == [("val_acc", "digits", "adam"), ("val_acc", "digits", "sgd"),
                     ("val_loss", "digits", "adam"), ("val_loss", "diabetes", "adam")]


def test_group_by_table_names_each_best_column(store, dlx):
    result = dlx("runs", "--output-dir", str(store), "--group-by", "optim")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    at = next(i for i, line in enumerate(lines) if "count" in line)
    above, header = lines[at - 1], lines[at]  # two-line headers: `best` over the metric
    assert "monitor" in header and "data" in header
    for metric in ("val_acc", "val_loss"):
        column = header.index(metric)
        assert "best" in above[column - 2:column + len(metric) + 2]


def test_one_monitor_and_one_dataset_group_as_asked(store, dlx):
    result = dlx("runs", "--output-dir", str(store), "-g", "optim", "--where", "monitor=val_acc", "-f", "json")
    rows = rows_of(result)
    assert "grouped by" not in result.err
    assert [r["optim"] for r in rows] == ["adam", "sgd"] and "monitor" not in rows[0]
    assert rows[0]["best_val_acc_mean"] == pytest.approx(0.96)


def test_runs_table_has_a_best_column_per_monitor(store, dlx):
    rows = rows_of(dlx("runs", "--output-dir", str(store), "-f", "json"))
    by_name = {r["id"].rsplit("_", 1)[1]: r for r in rows}
    assert by_name["acc-b"]["best_val_acc"] == 0.97 and by_name["acc-b"]["best_val_loss"] is None
    assert by_name["reg-a"]["best_val_loss"] == 3200.0 and by_name["reg-a"]["best_val_acc"] is None
    table = dlx("runs", "--output-dir", str(store))
    lines = table.out.splitlines()
    assert any("val_acc" in line and "val_loss" in line for line in lines[:4]), table.out  # two headers


def test_sort_by_best_ranks_each_monitor_in_its_own_direction(store, dlx):
    rows = rows_of(dlx("runs", "--output-dir", str(store), "--sort", "best", "-f", "json"))
    names = [r["id"].rsplit("_", 1)[1] for r in rows]
    assert names == ["acc-b", "acc-a", "acc-c", "loss-b", "loss-a", "reg-b", "reg-a"]
    rows = rows_of(dlx("runs", "--output-dir", str(store), "--sort", "best_val_loss", "-f", "json"))
    assert [r["id"].rsplit("_", 1)[1] for r in rows][:4] == ["loss-b", "loss-a", "reg-b", "reg-a"]


def test_compare_stars_the_best_of_each_monitor_separately(store, dlx):
    result = dlx("compare", "acc-a", "acc-b", "loss-a", "loss-b", "--output-dir", str(store))
    assert result.code == 0, result.err
    line = {name: next(x for x in result.out.splitlines() if x.startswith(name))
            for name in ("best val_acc", "best val_loss")}
    assert "0.9700*" in line["best val_acc"] and line["best val_acc"].count("*") == 1
    assert "0.1000*" in line["best val_loss"] and line["best val_loss"].count("*") == 1  # low wins


def test_compare_marks_no_best_across_datasets(store, dlx):
    result = dlx("compare", "loss-a", "reg-a", "--output-dir", str(store))
    assert result.code == 0, result.err
    table = result.out.split("final metrics")[1].split("val_loss\n")[0]
    assert "3200.0000" in table and "*" not in table.replace("(* = best)", "")


# ---------------------------------------------------------------- curves without colour (item 18)


def plot_rows(text: str) -> list[str]:
    """The plotting area of every chart in `text`: what lies right of the y axis."""
    return [line.split("┤" if "┤" in line else "│", 1)[1] for line in text.splitlines()
            if ("┤" in line or "│" in line) and "─" not in line]


def test_compare_curves_tell_runs_apart_without_colour(store, dlx):
    result = dlx("compare", "acc-a", "acc-b", "acc-c", "--output-dir", str(store))  # piped: no terminal
    assert result.code == 0, result.err
    assert "\x1b[" not in result.out  # no colour codes at all
    chart = result.out.split("\nval_", 1)[1]  # the chart of the validation metric
    legend = [line.strip() for line in chart.splitlines() if line.strip().startswith(tuple("ox+"))]
    assert [line.split()[:3] for line in legend] == [["o", "──", "#1"], ["x", "──", "#2"], ["+", "──", "#3"]]
    drawn = "".join(plot_rows(chart))
    for marker in "ox+":  # each run's marker is on its line in the chart
        assert drawn.count(marker) >= 1, chart


def test_show_curves_mark_train_and_validation(store, dlx):
    result = dlx("show", "acc-b", "--output-dir", str(store))
    assert result.code == 0, result.err
    assert "\x1b[" not in result.out
    assert "o ╍╍ train" in result.out and "x ── val" in result.out
    drawn = "".join(plot_rows(result.out.split("per epoch", 1)[1]))
    assert "o" in drawn and "x" in drawn


def test_a_single_line_needs_no_marker():
    from dlx.report.termplot import Series, line_chart

    text = line_chart([Series("val", [1, 2, 3], [0.1, 0.5, 0.9])], width=30, height=5).plain
    assert not set("ox+") & set("".join(plot_rows(text))) and "── val" in text
