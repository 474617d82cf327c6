"""trainer.loggers=[mlflow] beyond one run: a `--cv` sweep nests sweep -> trial -> fold, a stopped
sweep's parent is KILLED and its resume goes on in the same parent, and with trainer.devices=2 only
rank 0 logs. Read back with MlflowClient from the default SQLite store (the REST API is the contract)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT, run_process
from tests.test_mlflow import assert_history_is_metrics_csv, client_for, mlflow_id, the_runs
from tests.test_resume import wait_for

pytest.importorskip("mlflow")

TINY = ["data=iris", "trainer.epochs=3", "trainer.num_threads=1", "trainer.loggers=[mlflow]"]


def runs_of(tmp_path, experiment: str = "iris") -> list:
    client = client_for(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    return client, client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def children(runs: list, parent) -> list:
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


def the_sweep(tmp_path):
    (sweep,) = (tmp_path / "outputs" / "sweeps").iterdir()
    return sweep


@pytest.mark.slow
def test_cv_sweep_nests_trials_under_the_sweep_and_folds_under_their_trial(tmp_path):
    result = run_process(["sweep", "optim.lr=0.01,0.001", "--cv", "2", *TINY], cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "MLflow" not in result.stderr
    sweep = the_sweep(tmp_path)
    trials = pd.read_csv(sweep / "trials.csv").set_index("number")
    client, runs = runs_of(tmp_path)
    (top,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert top.info.run_id == mlflow_id(sweep) and top.data.tags["dlx.kind"] == "sweep"
    assert top.info.status == "FINISHED"
    cvs = children(runs, top)
    assert len(cvs) == len(trials) == 2 and {r.data.tags["dlx.kind"] for r in cvs} == {"cv"}
    for cv in cvs:
        number = int(cv.data.tags["dlx.cv_id"].rpartition("-")[2])  # <sweep>/cv/trial-<n>
        row = trials.loc[number]
        assert cv.info.run_id == mlflow_id(sweep / "cv" / cv.data.tags["dlx.cv_id"])
        assert cv.info.status == "FINISHED"
        assert float(cv.data.params["optim.lr"]) == row["optim.lr"]  # the trial's override
        assert cv.data.metrics["best_val_acc_mean"] == pytest.approx(row["value"], rel=1e-9)  # the trial's value
        assert cv.data.metrics["val_acc_std"] == pytest.approx(row["val_acc_std"], rel=1e-9)
        folds = children(runs, cv)
        assert sorted(r.data.tags["dlx.run_id"] for r in folds) == ["fold-0", "fold-1"]
        for fold in folds:
            folder = sweep / "cv" / cv.data.tags["dlx.cv_id"] / fold.data.tags["dlx.run_id"]
            assert fold.info.status == "FINISHED" and fold.data.params["optim.lr"] == cv.data.params["optim.lr"]
            assert_history_is_metrics_csv(client, fold.info.run_id, folder)
    assert len(runs) == 1 + 2 + 2 * 2  # nothing else: no duplicate parent


@pytest.mark.slow
def test_stopped_sweep_leaves_its_parent_killed_and_resume_goes_on_in_it(tmp_path):
    marker = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DLX_TEST_PAUSE": "epoch-end@2", "DLX_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "dlx", "sweep", "optim.lr=0.01,0.001", *TINY], cwd=tmp_path,
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(marker, proc)  # the first trial holds at its second epoch's end
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    sweep = the_sweep(tmp_path)
    parent_id = mlflow_id(sweep)
    client, runs = runs_of(tmp_path)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.run_id == parent_id and parent.info.status == "KILLED"
    (stopped,) = children(runs, parent)
    assert stopped.info.status == "KILLED" and stopped.data.tags["dlx.status"] == "interrupted"

    resumed = run_process(["sweep", "--resume", sweep.name], cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert mlflow_id(sweep) == parent_id
    client, runs = runs_of(tmp_path)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]  # the same, not a second one
    assert parent.info.run_id == parent_id and parent.info.status == "FINISHED"
    trials = pd.read_csv(sweep / "trials.csv")
    complete = set(trials.loc[trials["state"] == "COMPLETE", "run_id"])
    nested = {r.data.tags["dlx.run_id"]: r for r in children(runs, parent)}
    assert len(complete) == 2 and complete <= set(nested)
    for run_id in complete:
        assert nested[run_id].info.status == "FINISHED"
        assert_history_is_metrics_csv(client, nested[run_id].info.run_id, sweep / "runs" / run_id)


@pytest.mark.slow
def test_two_processes_log_one_mlflow_run_from_rank_0(tmp_path):
    result = run_process(["train", "-q", *TINY, "data.limit=120", "trainer.devices=2"], cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "MLflow" not in result.stderr
    (run,) = the_runs(tmp_path)
    client, runs = runs_of(tmp_path)
    (found,) = runs  # one MLflow run, not one per rank
    assert found.info.run_id == mlflow_id(run) and found.info.status == "FINISHED"
    assert found.data.params["trainer.devices"] == "2"
    assert_history_is_metrics_csv(client, found.info.run_id, run)
    summary = json.loads((run / "summary.json").read_text())
    assert found.data.metrics["test_acc"] == pytest.approx(summary["test_acc"])
