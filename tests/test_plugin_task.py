"""A task kind from outside dlx (issue 23): examples/plugins/setsum.py registers a data kind, its
dataset, a permutation-invariant model and a Task with its own training batches — with no edit
to dlx — and the whole run path works for it: train, kill -9 and resume bit for bit (mid-epoch,
through the task's own batch source), eval, predict, and a sweep with two workers."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT, run_process
from tests.test_resume import assert_same, check_files_parse, finish, outcome, stop_at, the_run

PLUGIN = ["--plugin", str(ROOT / "examples" / "plugins" / "setsum.py")]
# 360 training sets / batch 32 = 12 steps per epoch; last.pt every 5 steps, so a kill lands mid-epoch
RUN = ["model=deepsets", "data=setsum", "trainer.epochs=3", "trainer.num_threads=1", "trainer.deterministic=true",
       "trainer.checkpoint_every_steps=5", "-q"]


def dlx(cwd, *args):
    result = run_process([*PLUGIN, *args], cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_a_plugin_task_trains_resumes_exactly_evaluates_predicts_and_sweeps(tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    reference.mkdir(), interrupted.mkdir()
    finish(reference, [*PLUGIN, "train", *RUN])
    expected = outcome(the_run(reference))

    # killed at step 16 (epoch 2, last.pt of step 15), resumed, killed again at its 10th step (epoch 3)
    args = [*PLUGIN, "train", *RUN]
    for point in ("step@16", "step@10"):
        result = stop_at(interrupted, args, point)
        assert result.returncode == -9, result.stderr
        check_files_parse(the_run(interrupted))
        args = [*PLUGIN, "train", "--resume", "last", "-q"]
    finish(interrupted, args)
    assert_same(outcome(the_run(interrupted)), expected)
    assert (the_run(interrupted) / "log.txt").read_text().count("resumed from") == 2

    summary = json.loads((the_run(reference) / "summary.json").read_text())
    evaluated = json.loads(dlx(reference, "eval", "last", "--format", "json").stdout)
    assert evaluated["task"] == "set-sum" and evaluated["size"] == summary["test_size"]
    assert evaluated["metrics"]["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)

    dlx(reference, "predict", "last", "--split", "test", "-o", "sums.csv")
    rows = pd.read_csv(reference / "sums.csv")
    assert list(rows.columns) == ["set", "target", "prediction"] and len(rows) == summary["test_size"]
    assert ((rows.prediction - rows.target) ** 2).mean() == pytest.approx(summary["test_loss"], rel=1e-3)

    swept = run_process([*PLUGIN, "sweep", "model=deepsets", "data=setsum", "trainer.epochs=1", "trainer.num_threads=1",
                         "optim.lr=0.01,0.001", "--jobs", "2"], cwd=reference)
    assert swept.returncode == 0, swept.stderr
    assert "2 trials: 2 complete" in swept.stdout, swept.stdout


def test_the_plugin_needs_no_edit_to_dlx():
    """The plugin registers through dlx's public registries only (nothing under dlx/ names it)."""
    names = [p for p in (ROOT / "dlx").rglob("*.py") if "setsum" in p.read_text() or "set-sum" in p.read_text()]
    assert names == [], names
    assert sys.modules.get("setsum") is None
