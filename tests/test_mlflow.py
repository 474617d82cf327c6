"""trainer.loggers=[mlflow]: the run in MLflow, read back with MlflowClient (the REST API is the contract).

A SQLite store for the single-run checks; a real `mlflow server` on a free local port for the
sweep over HTTP and for the server that dies mid-run. Kill points go through dlx.testhooks (no sleeps).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, run_process
from tests.test_resume import start, wait_for

pytest.importorskip("mlflow")

TINY = ["data=iris", "trainer.epochs=4", "trainer.num_threads=1", "trainer.loggers=[mlflow]"]


def client_for(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def the_runs(cwd: Path) -> list[Path]:
    return sorted((cwd / "outputs" / "runs").iterdir())


def mlflow_id(run: Path) -> str:
    return json.loads((run / "mlflow.json").read_text())["run_id"]


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def assert_history_is_metrics_csv(client, run_id: str, run: Path) -> None:
    metrics = pd.read_csv(run / "metrics.csv")
    for column in metrics.columns.drop("epoch"):
        logged = history(client, run_id, column)
        assert [s for s, _ in logged] == list(metrics["epoch"]), column  # every epoch once, no duplicate
        assert [v for _, v in logged] == pytest.approx(list(metrics[column]), rel=1e-9), column


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `mlflow server` on a free local port, its store in `folder` (survives a restart)."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.proc = folder, free_port(), None
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", str(self.folder / "artifacts")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # readiness: /health answers
            assert self.proc.poll() is None, "mlflow server exited"
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)  # polling interval, not a timing assumption
        raise AssertionError("mlflow server did not answer in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its gunicorn/uvicorn workers too
            self.proc.wait()


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "server")
    s.folder.mkdir()
    yield s.start()
    s.stop()


# ------------------------------------------------------------------ config


def test_loggers_are_checked_before_torch(dlx):
    result = dlx("train", "-q", "trainer.loggers=[mlfow]")
    assert result.code == 2  # a config error
    assert "unknown logger 'mlfow'" in result.err and "choices: tensorboard, mlflow" in result.err


def test_cfg_shows_the_mlflow_keys(dlx):
    result = dlx("train", "--cfg", "trainer.loggers=[mlflow]")
    assert result.code == 0, result.err
    trainer = yaml.safe_load(result.out)["trainer"]
    assert trainer["loggers"] == ["mlflow"]
    assert trainer["mlflow"] == {"tracking_uri": None, "experiment": None, "log_model": False}


def test_tensorboard_true_means_the_tensorboard_logger():
    from dlx.config.trainer import TrainerConfig

    assert TrainerConfig(tensorboard=True).trackers == {"tensorboard"}
    assert TrainerConfig(loggers=["mlflow"]).trackers == {"mlflow"}


def test_a_relative_sqlite_uri_is_made_absolute_for_the_worker(tmp_path, monkeypatch):
    from dlx import config
    from dlx.engine.mlflow_logger import settings

    monkeypatch.chdir(tmp_path)
    exp = config.load(["trainer.loggers=[mlflow]", "trainer.mlflow.tracking_uri=sqlite:///stores/m.db"])
    assert settings(exp)[0] == f"sqlite:///{tmp_path.resolve() / 'stores' / 'm.db'}"
    for kept in ("sqlite:////abs/m.db", "http://127.0.0.1:5000"):
        exp = config.load(["trainer.loggers=[mlflow]", f"trainer.mlflow.tracking_uri={kept}"])
        assert settings(exp)[0] == kept


# ------------------------------------------------------------------ SQLite store


@pytest.mark.slow
def test_sqlite_run_has_config_params_and_metrics_csv_history(tmp_path):
    result = run_process(["train", "-q", *TINY], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MLflow" not in result.stderr
    (run,) = the_runs(tmp_path)
    client = client_for(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("iris")  # the default experiment: the data's name
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_id == mlflow_id(run) and found.info.status == "FINISHED"
    assert found.data.tags["dlx.run_id"] == run.name and found.data.tags["dlx.status"] == "finished"
    assert found.data.tags["dlx.command"].startswith("dlx train")

    from dlx.store.runs import flatten

    config = {k: str(v) for k, v in flatten(yaml.safe_load((run / "config.yaml").read_text())).items()}
    params = dict(found.data.params)
    assert params.pop("dlx.version")
    summary = json.loads((run / "summary.json").read_text())
    assert {k: params.pop(f"sizes.{k}") for k in ("train", "val", "test")} == \
        {k: str(summary[f"{k}_size"]) for k in ("train", "val", "test")}
    assert params == config
    assert_history_is_metrics_csv(client, found.info.run_id, run)
    assert found.data.metrics["test_acc"] == pytest.approx(summary["test_acc"])
    assert {a.path for a in client.list_artifacts(found.info.run_id)} >= {"config.yaml", "summary.json",
                                                                          "metrics.csv", "learning-curve.png"}


@pytest.mark.slow
def test_resume_after_kill_continues_the_same_mlflow_run_without_duplicate_steps(tmp_path):
    args = ["train", "-q", *TINY, "trainer.deterministic=true"]
    started = time.monotonic()
    proc, marker = start(tmp_path, args, "epoch-end@3")  # metrics.csv has epoch 3, last.pt has epoch 2
    wait_for(marker, proc)
    (run,) = the_runs(tmp_path)
    while not (run / "mlflow.json").exists():  # the logger's thread has opened its MLflow run
        assert time.monotonic() - started < 120, "no mlflow.json"
        time.sleep(0.02)  # polling interval, not a timing assumption
    proc.kill()
    proc.communicate()
    first = mlflow_id(run)
    resumed = run_process(["train", "-q", "--resume", run.name], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    client = client_for(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("iris").experiment_id])
    assert found.info.run_id == first == mlflow_id(run) and found.info.status == "FINISHED"
    assert_history_is_metrics_csv(client, first, run)


@pytest.mark.slow
def test_to_mlflow_imports_runs_once(tmp_path):
    result = run_process(["train", "-q", "data=iris", "trainer.epochs=3", "trainer.num_threads=1"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = the_runs(tmp_path)
    assert not (run / "mlflow.json").exists()
    for _ in range(2):  # the second import finds every row there already
        imported = run_process(["runs", "--to-mlflow", run.name], cwd=tmp_path)
        assert imported.returncode == 0, imported.stderr
        assert f"{run.name} -> MLflow run {mlflow_id(run)}" in imported.stdout
    client = client_for(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("iris").experiment_id])
    assert_history_is_metrics_csv(client, found.info.run_id, run)
    assert len(history(client, found.info.run_id, "test_acc")) == 1


# ------------------------------------------------------------------ answers lost on the way


class LostAnswers:
    """A real SQLite MlflowClient whose log_batch calls go wrong as over a dropping connection: the
    calls numbered in `stored_then_lost` store their batch, then fail (the answer never came back);
    those in `lost_before` fail before the server sees them."""

    def __init__(self, uri: str, stored_then_lost=(), lost_before=()):
        self.client, self.stored_then_lost, self.lost_before = client_for(uri), set(stored_then_lost), set(lost_before)
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def log_batch(self, run_id, **batch):
        self.calls += 1
        if self.calls in self.lost_before:
            raise ConnectionError("connection dropped before the request arrived")
        self.client.log_batch(run_id, **batch)
        if self.calls in self.stored_then_lost:
            raise ConnectionError("connection dropped before the answer")


def test_what_is_sent_again_after_a_lost_answer_is_logged_once(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from dlx.engine import mlflow_link

    clock = iter(range(1_000_000, 2_000_000))  # seconds: each call later than the one before, as a retry is
    monkeypatch.setattr(mlflow_link, "time", SimpleNamespace(time=lambda: next(clock)))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "run").mkdir()
    link = mlflow_link.Link(LostAnswers(uri, stored_then_lost={1, 3}), tmp_path / "run", "lost", uri)
    link.open({})
    rows = [{"epoch": 1.0, "train_loss": 0.5}, {"epoch": 2.0, "train_loss": 0.25}]
    with pytest.raises(ConnectionError):
        link.send_rows(rows)
    link.send_rows(rows)  # the next try sends the same rows again
    summary = {"test_acc": 0.75, "epochs_run": 2}
    with pytest.raises(ConnectionError):
        link.finish(summary, "finished")
    link.finish(summary, "finished")  # the next try: the test metrics again, then the rest
    client = client_for(uri)
    assert history(client, link.run_id, "train_loss") == [(1, 0.5), (2, 0.25)]
    assert history(client, link.run_id, "test_acc") == [(2, 0.75)]
    assert client.get_run(link.run_id).info.status == "FINISHED"


def test_params_lost_halfway_are_completed_by_the_next_connection(tmp_path, monkeypatch):
    from dlx.engine import mlflow_worker
    from dlx.engine.mlflow_link import params_of

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = {"model": {f"key{i}": i for i in range(150)}}  # two batches of params (MLflow takes 100 a batch)
    monkeypatch.setitem(mlflow_worker.clients, uri, LostAnswers(uri, lost_before={2}))
    answers = []
    (tmp_path / "run").mkdir()
    session = mlflow_worker.Session({"id": 0, "path": str(tmp_path / "run"), "uri": uri, "experiment": "halfway",
                                     "config": config, "command": "dlx train", "resumed_at": 0}, answers.append)
    session.flush()  # the run is created, its first batch of params sent, then the connection drops
    assert session.link is None and "unreachable" in answers[0]["warn"]
    session.flush()  # the next try reopens the same run
    assert session.link is not None and session.link.run_id == mlflow_id(tmp_path / "run")
    assert client_for(uri).get_run(session.link.run_id).data.params == params_of(config)


# ------------------------------------------------------------------ a real server over HTTP


@pytest.mark.slow
def test_sweep_with_two_jobs_is_one_parent_with_nested_trials(tmp_path, server):
    result = run_process(["sweep", "optim.lr=0.01,0.003,0.001", "--jobs", "2", *TINY,
                          f"trainer.mlflow.tracking_uri={server.uri}", "trainer.mlflow.experiment=sweep"],
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MLflow" not in result.stderr
    (sweep,) = (tmp_path / "outputs" / "sweeps").iterdir()
    trials = pd.read_csv(sweep / "trials.csv")
    client = client_for(server.uri)
    runs = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.run_id == mlflow_id(sweep) and parent.info.status == "FINISHED"
    assert len(children) == len(trials) == len(runs) - 1 == 3
    rows = trials.set_index("run_id")
    assert {r.data.tags["dlx.run_id"] for r in children} == set(rows.index)
    for child in children:
        row = rows.loc[child.data.tags["dlx.run_id"]]
        assert float(child.data.params["optim.lr"]) == row["optim.lr"]  # the trial's override
        assert "optim.lr=" in child.data.tags["dlx.overrides"]
        for column in ("val_acc", "val_loss", "train_loss", "test_acc"):
            assert child.data.metrics[column] == pytest.approx(row[column], rel=1e-9), column


@pytest.mark.slow
@pytest.mark.parametrize("down_from", ["fit-start", "epoch-2"])  # before the worker's first call, or mid-run
def test_server_killed_mid_run_warns_once_and_gets_every_epoch_after_restart(tmp_path, server, monkeypatch, caplog,
                                                                              down_from):
    from dlx import config
    from dlx.engine.callbacks import Callback
    from dlx.engine.experiment import run
    from dlx.engine.mlflow_logger import MlflowLogger

    class Outage(Callback):
        """Kills the server at `down_from`; restarts it after epoch 4, once the logger has warned."""

        def on_fit_start(self, trainer, ctx):
            if down_from == "fit-start":
                server.stop()

        def on_epoch_end(self, trainer, row):
            if row["epoch"] == 2 and down_from == "epoch-2":
                server.stop()
            if row["epoch"] == 4:
                logger = trainer.callbacks.find(MlflowLogger)
                deadline = time.monotonic() + 600  # a bound for a broken worker, not a timing assumption
                while not logger.warned and time.monotonic() < deadline:  # the worker met the dead server
                    time.sleep(0.02)  # polling interval, not a timing assumption
                assert logger.warned
                server.start()

    monkeypatch.chdir(tmp_path)
    exp = config.load(["data=iris", "trainer.epochs=6", "trainer.num_threads=1", "trainer.loggers=[mlflow]",
                       f"trainer.mlflow.tracking_uri={server.uri}"])
    with caplog.at_level(logging.WARNING, logger="dlx.engine.mlflow_logger"):
        summary = run(exp, callbacks=[Outage()])
    assert summary.status == "finished"
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 1 and "unreachable" in told[0], told
    (run_folder,) = the_runs(tmp_path)
    client = client_for(server.uri)
    assert client.get_run(mlflow_id(run_folder)).info.status == "FINISHED"
    assert_history_is_metrics_csv(client, mlflow_id(run_folder), run_folder)


# ------------------------------------------------------------------ the model


@pytest.mark.slow
def test_logged_model_loads_with_pyfunc_and_predicts_what_dlx_predict_writes(tmp_path):
    import mlflow
    import numpy as np
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.rename(columns={"target": "label"})
    frame.to_csv(tmp_path / "iris.csv", index=False)
    features = frame.drop(columns="label").sample(20, random_state=0)
    features.to_csv(tmp_path / "new.csv", index=False)
    result = run_process(["train", "-q", "data=csv", f"data.path={tmp_path / 'iris.csv'}", "data.target=label",
                          "trainer.epochs=3", "trainer.num_threads=1", "trainer.loggers=[mlflow]",
                          "trainer.mlflow.log_model=true"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    (run,) = the_runs(tmp_path)
    predicted = run_process(["predict", run.name, str(tmp_path / "new.csv"), "--proba", "-o",
                             str(tmp_path / "p.csv")], cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    proba = pd.read_csv(tmp_path / "p.csv").filter(like="proba_").to_numpy()

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model(f"runs:/{mlflow_id(run)}/model")
    assert model.metadata.signature is not None
    served = np.asarray(model.predict(features.astype("float32")))
    assert served.shape == proba.shape
    assert np.allclose(served, proba, atol=1e-6, rtol=0)

    # the input example: rows of the data, raw (the model standardises them itself), not made-up numbers
    from mlflow.models import Model

    folder = mlflow.artifacts.download_artifacts(f"runs:/{mlflow_id(run)}/model", dst_path=str(tmp_path / "m"))
    example = np.asarray(Model.load(folder).load_input_example(folder))
    raw = frame.drop(columns="label").to_numpy()
    assert example.shape[0] >= 3 and example.shape[1] == raw.shape[1]
    assert all(np.isclose(raw, row, atol=1e-6).all(axis=1).any() for row in example)


@pytest.mark.slow
def test_cv_is_one_parent_with_a_nested_run_per_fold_and_mean_std(tmp_path):
    result = run_process(["cv", "--folds", "2", "data=iris", "trainer.epochs=2", "trainer.num_threads=1",
                          "trainer.loggers=[mlflow]"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (cv,) = (tmp_path / "outputs" / "cv").iterdir()
    summary = json.loads((cv / "summary.json").read_text())
    client = client_for(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("iris").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.run_id == mlflow_id(cv) and parent.info.status == "FINISHED"
    folds = sorted(r.data.tags["dlx.run_id"] for r in runs
                   if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id)
    assert folds == ["fold-0", "fold-1"] or folds == ["fold-1", "fold-2"]
    assert parent.data.metrics["val_acc_mean"] == pytest.approx(summary["metrics"]["val_acc"]["mean"])
    assert parent.data.metrics["val_acc_std"] == pytest.approx(summary["metrics"]["val_acc"]["std"])
