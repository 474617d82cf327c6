"""`dlx runs`, `dlx show`, `dlx compare`, `--group-by` and `dlx plot` on a store of real tiny runs.

Expected values come from the run folders' own files (summary.json, config.yaml), read
here with json/yaml and folded with pandas, never from the code under test.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlx import config

from dlx.engine import experiment

from dlx.store import runs

TINY = ["trainer.epochs=2", "data.limit=120", "trainer.num_threads=1", "trainer.checkpoint=false"]
PLAIN = {  # name -> overrides: two seeds of adam, two of sgd
    "alpha": ["optim=adam", "trainer.seed=0"],
    "beta": ["optim=adam", "trainer.seed=1"],
    "gamma": ["optim=sgd", "optim.lr=0.05", "trainer.seed=0"],
    "delta": ["optim=sgd", "optim.lr=0.05", "trainer.seed=1"],
}
SWEEP_ID, CV_ID = "2026-01-02_03-04-05_sweep-lr", "2026-01-02_03-04-06_cv-mlp"
KILLED, RUNNING, BROKEN = "2099-01-01_00-00-00_killed", "2098-01-01_00-00-00_alive", "2097-01-01_00-00-00_broken"
FAILED = "2096-01-01_00-00-00_diverged"


def train(root: Path, overrides, **where) -> dict:
    exp = config.load([*TINY, f"output_dir={root}", *overrides])
    return experiment.run(exp, [*TINY, *overrides], **where)


def dead_pid() -> int:
    """The pid of a process that has certainly exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """outputs/ with 4 plain runs, a 2-member sweep, a 2-fold CV, a killed, a live and a broken run."""
    root = tmp_path_factory.mktemp("store") / "outputs"
    summaries = {name: train(root, [f"name={name}", *o]) for name, o in PLAIN.items()}
    for seed in (0, 1):
        train(root, [f"name=trial{seed}", "optim.lr=0.01", f"trainer.seed={seed}"],
              runs_root=root / "sweeps" / SWEEP_ID / "runs")
    for fold in (0, 1):
        train(root, [f"trainer.seed={fold}"], run_path=root / "cv" / CV_ID / f"fold-{fold}")
    # killed: died after its first epoch, without writing its own status
    alpha = Path(summaries["alpha"]["path"])
    for name, status in ((KILLED, {"status": "running", "pid": dead_pid()}),
                         (RUNNING, {"status": "running", "pid": os.getpid()}),
                         (FAILED, {"status": "failed", "pid": dead_pid(), "reason": "loss became nan"})):
        fake = root / "runs" / name
        fake.mkdir()
        shutil.copy(alpha / "config.yaml", fake)
        pd.read_csv(alpha / "metrics.csv").head(1).to_csv(fake / "metrics.csv", index=False)
        (fake / "status.json").write_text(json.dumps({**status, "time": 0}))
    broken = root / "runs" / BROKEN
    broken.mkdir()
    (broken / "status.json").write_text('{"status": "runn')  # cut mid-write
    return root, summaries


def as_json(result) -> list[dict]:
    assert result.code == 0, result.err
    return json.loads(result.out)


def ids(rows) -> list[str]:
    return [r["id"] for r in rows]


def plain_summaries(root: Path) -> pd.DataFrame:
    rows = [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/summary.json"))]
    return pd.DataFrame(rows)


def test_runs_lists_plain_runs_newest_first_and_skips_broken(store, dlx):
    root, summaries = store
    result = dlx("runs", "--output-dir", str(root), "--format", "json")
    rows = as_json(result)
    expected = {s["run_id"] for s in summaries.values()} | {KILLED, RUNNING, FAILED}
    assert set(ids(rows)) == expected  # no sweep/CV members, no broken folder
    assert ids(rows)[:2] == [KILLED, RUNNING]  # the newest ids first
    assert f"skipping {root / 'runs' / BROKEN}" in result.err
    by_id = {r["id"]: r for r in rows}
    for s in summaries.values():
        row = by_id[s["run_id"]]
        assert row["status"] == "finished"
        assert row["test_acc"] == pytest.approx(s["test_acc"])
        assert row["optim"] == s["optim"] and row["optim.name"] == s["optim"]


def test_killed_run_is_interrupted_and_live_one_running(store, dlx):
    root, summaries = store
    rows = {r["id"]: r for r in as_json(dlx("runs", "--output-dir", str(root), "-f", "json"))}
    assert rows[KILLED]["status"] == "interrupted"
    assert rows[RUNNING]["status"] == "running"
    assert rows[FAILED]["status"] == "failed"
    first_epoch = pd.read_csv(Path(summaries["alpha"]["path"]) / "metrics.csv").iloc[0]
    assert rows[KILLED]["epochs_run"] == 1
    assert rows[KILLED]["best_value"] == pytest.approx(first_epoch["val_acc"])
    table = dlx("runs", "--output-dir", str(root))
    assert table.code == 0
    for word in ("interrupted", "running", "finished", "failed", "alpha", "delta", "killed"):
        assert word in table.out


def test_where_filters_on_config_and_metrics(store, dlx):
    root, _ = store
    df = plain_summaries(root)
    sgd = as_json(dlx("runs", "--output-dir", str(root), "-f", "json", "--where", "optim=sgd"))
    assert sorted(ids(sgd)) == sorted(df.loc[df["optim"] == "sgd", "run_id"])
    cut = float(df["test_acc"].median())
    good = as_json(dlx("runs", "--output-dir", str(root), "-f", "json", "-w", f"test_acc>={cut}",
                       "-w", "optim.lr!=0.05"))
    expected = df[(df["test_acc"] >= cut) & (df["optim"] == "adam")]["run_id"]
    assert sorted(ids(good)) == sorted(expected)
    bad = dlx("runs", "--output-dir", str(root), "--where", "optim.lrr=0.1")
    assert bad.code == 2 and "did you mean 'optim.lr'" in bad.err and "Traceback" not in bad.err


def test_sort_best_first_and_limit(store, dlx):
    root, _ = store
    df = plain_summaries(root)
    top = as_json(dlx("runs", "--output-dir", str(root), "-f", "json", "--sort", "test_acc", "--limit", "2"))
    assert ids(top) == list(df.sort_values("test_acc", ascending=False)["run_id"][:2])
    low = as_json(dlx("runs", "--output-dir", str(root), "-f", "json", "--sort", "test_loss", "-n", "3"))
    assert ids(low) == list(df.sort_values("test_loss")["run_id"][:3])


def test_csv_output_has_flat_config_and_metrics(store, dlx):
    root, summaries = store
    result = dlx("runs", "--output-dir", str(root), "-f", "csv", "--where", "status=finished")
    assert result.code == 0
    table = pd.read_csv(io.StringIO(result.out)).set_index("id")
    assert len(table) == len(summaries)
    for name, s in summaries.items():
        cfg = yaml.safe_load((Path(s["path"]) / "config.yaml").read_text())
        assert table.loc[s["run_id"], "optim.lr"] == pytest.approx(cfg["optim"]["lr"])
        assert table.loc[s["run_id"], "trainer.seed"] == cfg["trainer"]["seed"]
        assert table.loc[s["run_id"], "params"] == s["params"]


def test_members_hidden_unless_all_sweep_or_cv(store, dlx):
    root, _ = store
    everything = as_json(dlx("runs", "--output-dir", str(root), "-f", "json", "--all"))
    kinds = pd.Series([r["kind"] for r in everything]).value_counts().to_dict()
    assert kinds == {"run": 7, "sweep": 2, "cv": 2}
    sweep = as_json(dlx("runs", "--output-dir", str(root), "-f", "json", "--sweep", "sweep-lr"))
    assert {r["group"] for r in sweep} == {SWEEP_ID} and len(sweep) == 2
    cv = as_json(dlx("runs", "--output-dir", str(root), "-f", "json", "--cv", "last"))
    assert sorted(ids(cv)) == [f"{CV_ID}/fold-0", f"{CV_ID}/fold-1"]
    unknown = dlx("runs", "--output-dir", str(root), "--sweep", "nope")
    assert unknown.code == 2 and "no sweep matches 'nope'" in unknown.err


def test_run_references(store):
    root, summaries = store
    alpha = summaries["alpha"]["run_id"]
    assert runs.find_run(root, alpha).name == alpha
    assert runs.find_run(root, "_alpha").name == alpha  # a suffix
    assert runs.find_run(root, "last").name == KILLED
    assert runs.find_record(root, f"{CV_ID}/fold-1").path == root / "cv" / CV_ID / "fold-1"
    assert runs.find_record(root, "trial1").kind == "sweep"
    with pytest.raises(runs.ConfigError, match=r"matches \d+ runs \(.*_alpha.*\)"):
        runs.find_run(root, alpha[:4])  # the year prefix: ambiguous, matches listed
    with pytest.raises(runs.ConfigError, match="no run matches 'zeta'"):
        runs.find_run(root, "zeta")


def test_empty_outputs_is_a_user_error(dlx, tmp_path):
    result = dlx("runs", "--output-dir", str(tmp_path / "outputs"))
    assert result.code == 2 and "no runs in" in result.err
    assert dlx("show", "last").code == 2


def test_show_prints_config_epochs_curves_and_summary(store, dlx):
    root, summaries = store
    s = summaries["gamma"]
    result = dlx("show", "gamma", "--output-dir", str(root))
    assert result.code == 0, result.err
    assert s["run_id"] in result.out
    assert "lr=0.05*" in result.out and "name=sgd*" in result.out  # set by overrides: marked
    assert "batch_size=32*" not in result.out and "batch_size=32" in result.out
    assert "per epoch" in result.out and "train_loss" in result.out
    assert any("\u2800" < ch <= "\u28ff" for ch in result.out)  # Braille curves
    assert f"{s['test_acc']:.4f}" in result.out  # the summary table
    killed = dlx("show", "killed", "--output-dir", str(root))
    assert killed.code == 0 and "no summary: interrupted" in killed.out
    failed = dlx("show", "diverged", "--output-dir", str(root))
    assert failed.code == 0 and "no summary: failed — loss became nan" in failed.out


def flat_config(summary: dict) -> dict:
    return runs.flatten(yaml.safe_load((Path(summary["path"]) / "config.yaml").read_text()))


def test_compare_shows_only_differing_keys_and_best(store, dlx):
    root, summaries = store
    a, g = summaries["alpha"], summaries["gamma"]
    fa, fg = flat_config(a), flat_config(g)
    differing = {k for k in fa.keys() | fg.keys() if fa.get(k, "missing") != fg.get(k, "missing")}
    rows = as_json(dlx("compare", "alpha", "gamma", "--output-dir", str(root), "-f", "json"))
    by_key = {r["key"]: r for r in rows}
    config_keys = {k for k in by_key if k in fa or k in fg}
    assert config_keys == differing and "optim.name" in differing and "data.limit" not in by_key
    assert by_key["test_acc"][a["run_id"]] == pytest.approx(a["test_acc"])
    table = dlx("compare", "alpha", "gamma", "--output-dir", str(root))
    assert table.code == 0, table.err
    best = "#1" if a["test_acc"] > g["test_acc"] else "#2"
    line = next(ln for ln in table.out.splitlines() if ln.startswith("test_acc"))
    winner = f"{max(a['test_acc'], g['test_acc']):.4f}*"
    assert winner in line and line.count("*") == 1, (best, line)
    assert "config keys that differ" in table.out and "optim.name" in table.out
    assert f"#1 {a['run_id']}" in table.out and f"#2 {g['run_id']}" in table.out  # in the order named
    assert dlx("compare", "alpha", "--output-dir", str(root)).code == 2  # one run: nothing to compare


def expected_groups(df: pd.DataFrame, key: str, metric: str) -> pd.DataFrame:
    grouped = df.groupby(key)[metric]
    return pd.DataFrame({"count": grouped.size(), "mean": grouped.mean(),
                         "std": grouped.agg(lambda v: np.std(v, ddof=1))})


def test_group_by_mean_and_sample_std(store, dlx):
    root, _ = store
    df = plain_summaries(root)
    rows = as_json(dlx("runs", "--output-dir", str(root), "-f", "json", "--group-by", "optim"))
    for metric, column in (("test_acc", "test_acc"), ("best_value", "best_val_acc"), ("val_loss", "val_loss")):
        expected = expected_groups(df, "optim", metric)
        for row in rows:
            assert row["count"] == expected.loc[row["optim"], "count"] == 2
            assert row[f"{column}_mean"] == pytest.approx(expected.loc[row["optim"], "mean"])
            assert row[f"{column}_std"] == pytest.approx(expected.loc[row["optim"], "std"])
    best = expected_groups(df, "optim", "best_value")["mean"]
    assert [r["optim"] for r in rows] == list(best.sort_values(ascending=False).index)  # val_acc: high first
    md = dlx("runs", "--output-dir", str(root), "-f", "markdown", "-g", "optim")
    acc = expected_groups(df, "optim", "test_acc")
    assert f"{acc.loc['sgd', 'mean']:.4f} ± {acc.loc['sgd', 'std']:.4f}" in md.out
    csv = pd.read_csv(io.StringIO(dlx("runs", "--output-dir", str(root), "-f", "csv", "-g", "optim").out))
    assert set(csv["count"]) == {2}
    assert "unfinished run(s) left out" in md.err  # the killed and the live run


def test_compare_cv_folds_fold_into_one_row(store, dlx):
    root, _ = store
    folds = [json.loads(p.read_text()) for p in sorted((root / "cv" / CV_ID).glob("fold-*/summary.json"))]
    rows = as_json(dlx("compare", "--cv", CV_ID, "--group-by", "model", "--output-dir", str(root), "-f", "json"))
    assert len(rows) == 1 and rows[0]["count"] == 2
    accs = [f["test_acc"] for f in folds]
    assert rows[0]["test_acc_mean"] == pytest.approx(np.mean(accs))
    assert rows[0]["test_acc_std"] == pytest.approx(np.std(accs, ddof=1))
    table = dlx("compare", "--sweep", "last", "--output-dir", str(root))
    assert table.code == 0 and "trainer.seed" in table.out


def test_plot_figure_has_train_dashed_and_val_solid_lines(store, dlx, tmp_path):
    from dlx.report import plot

    root, summaries = store
    curves = {n: pd.read_csv(Path(summaries[n]["path"]) / "metrics.csv") for n in ("alpha", "gamma")}
    columns = list(curves["alpha"].columns)
    fig = plot.curves_figure(curves, plot.select_columns(columns, [], "val_acc"))
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    assert [ax.get_title() for ax in fig.axes] == ["loss", "acc"]
    assert len(lines) == 2 * 2 * 2  # runs x (loss, acc) x (train, val)
    styles = {line.get_label(): line.get_linestyle() for line in lines}
    assert styles["alpha train"] == "--" and styles["alpha val"] == "-"
    only = plot.curves_figure(curves, plot.select_columns(columns, ["val_acc"], "val_acc"))
    assert sum(len(ax.get_lines()) for ax in only.axes) == 2
    out = tmp_path / "curves.png"
    result = dlx("plot", "alpha", "gamma", "--output-dir", str(root), "-o", str(out), "--metric", "loss")
    assert result.code == 0, result.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dlx("plot", "alpha", "--output-dir", str(root), "-m", "nope", "-o", str(out)).code == 2


@pytest.mark.slow
def test_help_imports_nothing_heavy(tmp_path):
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "dlx", "runs", "--help"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True)
    assert result.returncode == 0 and "--group-by" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
    assert not imported & {"torch", "hydra", "pandas", "matplotlib", "tensorboard", "plotext", "sklearn", "tenacity"}


def test_terminal_chart_draws_a_rising_line_bottom_left_to_top_right():
    from dlx.report.termplot import Series, line_chart

    text = line_chart([Series("val", [1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])], width=30, height=5).plain
    rows = [line.split("┤" if "┤" in line else "│", 1)[1] for line in text.splitlines() if "┤" in line or "│" in line]
    assert len(rows) == 5
    assert rows[0][0] == " " and rows[0][-1] != " "  # top row: the right end only
    assert rows[-1][0] != " " and rows[-1][-1] == " "  # bottom row: the left end only
    assert "0.4" in text and "0.1" in text and "val" in text


def test_plot_without_matplotlib_names_the_extra(store, dlx, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    result = dlx("plot", "alpha", "--output-dir", str(store[0]))
    assert result.code == 1 and "pip install 'dlx[plot]'" in result.err and "Traceback" not in result.err
