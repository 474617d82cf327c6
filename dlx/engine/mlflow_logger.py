"""`trainer.loggers=[mlflow]`: the run in MLflow (its UI, its model registry), beside the run store.

A trainer callback like dlx.engine.tensorboard's: params = the flattened resolved config (the
plugins and their sha256 are in it) + the dlx version + the data's sizes; per-epoch metrics with
`step=epoch`; the test metrics at the end; tags (dlx run id, status, command line); artifacts
config.yaml, summary.json, metrics.csv, learning-curve.png (`trainer.mlflow.log_model=true`:
dlx.use.mlflow_model adds the best model once the run is written). Every call to MLflow happens
in a background thread, so a slow or unreachable server neither fails nor slows the training: one
warning, the rows wait in memory and the next epoch sends them all.

The MLflow run id is kept in the run folder (`mlflow.json`): a resumed run continues the same MLflow
run and sends only the epochs MLflow lacks (metrics.csv is the truth), so no step is logged twice.
`sync_folder` does the same for a finished folder (`dlx runs --to-mlflow`). A sweep or a CV
needs no setting: a run inside a sweep or CV folder (one holding sweep.json or cv.json) is nested
under that folder's parent run, created by whichever trial or fold comes first (a file lock), and
closed by the driver (`close_group`: a CV's mean and std go on the parent).
mlflow is an optional extra (`pip install 'dlx[mlflow]'`), imported only when asked for.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import queue
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path

from dlx.engine.callbacks import Callback
from dlx.errors import ConfigError, first_line

log = logging.getLogger(__name__)


def dlx_version() -> str:
    """The installed dlx's version (importing the `dlx` package here would reach up to its API)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dlx")
    except PackageNotFoundError:
        return "unknown"

RECORD = "mlflow.json"  # in the run folder: which MLflow run is this run's
GROUPS = {"sweep.json": "sweep", "cv.json": "cv"}  # the files that make a folder a sweep's or a CV's
ARTIFACTS = ("config.yaml", "summary.json", "metrics.csv")
STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED", "stopped": "KILLED"}
PARAM_LIMIT = 6000  # MLflow's longest param value


def default_uri(output_dir) -> str:
    """The offline store: a SQLite database in output_dir (`mlflow ui --backend-store-uri` reads it)."""
    return f"sqlite:///{Path(output_dir).resolve() / 'mlflow.db'}"


def settings(exp) -> tuple[str, str]:
    """(tracking URI, experiment name) of `exp` (trainer.mlflow.*, with their defaults)."""
    cfg = exp.trainer.mlflow
    return cfg.tracking_uri or default_uri(exp.output_dir), cfg.experiment or exp.data.name


def attach_mlflow(exp) -> "MlflowLogger | None":
    """The callback for `exp`'s run, or None unless trainer.loggers lists mlflow.

    Called before the run folder exists, so a missing extra fails before any work."""
    if "mlflow" not in exp.trainer.trackers:
        return None
    client_class()
    uri, experiment = settings(exp)
    return MlflowLogger(uri, experiment)  # log_model: dlx.use.mlflow_model, once the run is written


def client_class():
    try:
        # the HTTP client's own retries would hold the thread for minutes: dlx retries per epoch
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow.tracking import MlflowClient

        for name in ("mlflow.store", "alembic"):  # "Creating initial MLflow database tables..." is not news
            logging.getLogger(name).setLevel(logging.WARNING)
    except ImportError:
        raise ConfigError("trainer.loggers=[mlflow] needs mlflow: pip install 'dlx[mlflow]'") from None
    return MlflowClient


def params_of(config: dict) -> dict[str, str]:
    """The flattened resolved config as MLflow params (strings), with dlx's version."""
    from dlx.store.runs import flatten

    out = {key: str(value)[:PARAM_LIMIT] for key, value in flatten(config).items()}
    out["dlx.version"] = dlx_version()
    return out


def read_rows(path: Path) -> list[dict]:
    """metrics.csv's rows as numbers (empty cells left out)."""
    if not (path / "metrics.csv").exists():
        return []
    with open(path / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def numbers(row: dict) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(v)}


def learning_curve(rows: list[dict], file: Path) -> Path | None:
    """learning-curve.png: one panel per metric, train and val per epoch (None without matplotlib).

    A matplotlib Figure, not pyplot: no global state, safe in the logger's thread."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    names = sorted({k.partition("_")[2] for r in rows for k in r if k.startswith(("train_", "val_"))})
    if not names:
        return None
    figure = Figure(figsize=(4 * min(len(names), 3), 3 * math.ceil(len(names) / 3)))
    for i, name in enumerate(names):
        axes = figure.add_subplot(math.ceil(len(names) / 3), min(len(names), 3), i + 1)
        for split in ("train", "val"):
            points = [(r["epoch"], r[f"{split}_{name}"]) for r in rows if f"{split}_{name}" in r]
            if points:
                axes.plot(*zip(*points), marker="o" if split == "val" else "", label=split)
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.legend()
    figure.tight_layout()
    figure.savefig(file, dpi=80)
    return file


def artifact_root(uri: str) -> str | None:
    """A SQLite store's artifacts beside its database (`<output_dir>/mlartifacts`), not in the current
    folder's ./mlruns (MLflow's default); a server chooses its own (None)."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()


def write_record(folder: Path, run_id: str, experiment_id: str, uri: str) -> None:
    tmp = folder / (RECORD + ".tmp")
    tmp.write_text(json.dumps({"run_id": run_id, "experiment_id": experiment_id, "tracking_uri": uri}) + "\n")
    tmp.replace(folder / RECORD)


def close_group(folder: Path, metrics: dict | None = None, status: str = "FINISHED") -> None:
    """End a sweep's or CV's parent MLflow run (if one was made), with its summary metrics."""
    record = Path(folder) / RECORD
    if not record.exists():
        return
    saved = json.loads(record.read_text())
    try:
        from mlflow.entities import Metric

        client = client_class()(saved["tracking_uri"])
        now = int(time.time() * 1000)
        values = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()
                  if isinstance(v, (int, float)) and math.isfinite(v)]
        if values:
            client.log_batch(saved["run_id"], metrics=values)
        client.set_terminated(saved["run_id"], status)
    except Exception as e:  # the results are on disk; MLflow only mirrors them
        log.warning(f"MLflow at {saved['tracking_uri']} did not take {Path(folder).name}'s summary "
                    f"({first_line(e)}); the folder keeps it")


class Link:
    """One dlx run folder's MLflow run: creates or reopens it, sends rows MLflow lacks.

    Used from the logger's thread (live) and from `sync_folder` (import)."""

    def __init__(self, client, path: Path, experiment: str, uri: str):
        self.client, self.path, self.experiment, self.uri = client, Path(path), experiment, uri
        self.run_id: str | None = None
        self.sent = 0  # the last epoch MLflow holds

    def open(self, tags: dict) -> bool:
        """Reopen the run named in mlflow.json, or create one; True when it was created."""
        record = self.path / RECORD
        if record.exists():
            self.run_id = json.loads(record.read_text())["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            self.sent = self.logged_until()
            return False
        experiment_id = self.experiment_id()
        parent = self.parent_id(experiment_id)
        tags = {"mlflow.runName": self.path.name, "dlx.run_id": self.path.name, **tags,
                **({"mlflow.parentRunId": parent} if parent else {})}
        self.run_id = self.client.create_run(experiment_id, run_name=self.path.name, tags=tags).info.run_id
        write_record(self.path, self.run_id, experiment_id, self.uri)
        return True

    def parent_id(self, experiment_id: str) -> str | None:
        """The parent MLflow run of the sweep or CV this folder belongs to (created once), or None."""
        import fcntl

        group = next((p for p in (self.path.parent, self.path.parent.parent)
                      if any((p / name).exists() for name in GROUPS)), None)
        if group is None:
            return None
        with open(group / "mlflow.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a sweep's workers: one parent, whoever comes first
            if (group / RECORD).exists():
                return json.loads((group / RECORD).read_text())["run_id"]
            kind = next(GROUPS[name] for name in GROUPS if (group / name).exists())
            run_id = self.client.create_run(experiment_id, run_name=group.name, tags={
                "mlflow.runName": group.name, "dlx.kind": kind, f"dlx.{kind}_id": group.name}).info.run_id
            write_record(group, run_id, experiment_id, self.uri)
            return run_id

    def experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(self.experiment, artifact_location=artifact_root(self.uri))
        except Exception:  # another process (a sweep's worker) created it meanwhile
            return self.client.get_experiment_by_name(self.experiment).experiment_id

    def logged_until(self) -> int:
        """The last step MLflow holds for this run (0: none): a resume sends only later epochs."""
        metrics = self.client.get_run(self.run_id).data.metrics
        keys = [k for k in metrics if not k.startswith("test_")]
        return max((int(m.step) for k in keys[:1] for m in self.client.get_metric_history(self.run_id, k)),
                   default=0)

    def send_rows(self, rows: list[dict]) -> None:
        from mlflow.entities import Metric

        # a resumed run's re-trained epoch comes from metrics.csv and from the trainer: keep the last
        rows = sorted({int(r["epoch"]): r for r in rows if int(r["epoch"]) > self.sent}.values(),
                      key=lambda r: int(r["epoch"]))
        if not rows:
            return
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, int(r["epoch"])) for r in rows for k, v in numbers(r).items()]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])
        self.sent = int(rows[-1]["epoch"])

    def send_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def finish(self, summary: dict | None, status: str) -> None:
        """The test metrics, the sizes, the artifacts, the status."""
        from mlflow.entities import Metric

        if summary:
            step = int(summary.get("epochs_run") or self.sent)
            now = int(time.time() * 1000)
            tests = [Metric(k, float(v), now, step) for k, v in summary.items()
                     if k.startswith("test_") and isinstance(v, (int, float)) and math.isfinite(v)]
            if tests:
                self.client.log_batch(self.run_id, metrics=tests)
            self.send_params({f"sizes.{k[:-5]}": str(summary[k]) for k in ("train_size", "val_size", "test_size")
                              if k in summary})
        for name in ARTIFACTS:
            if (self.path / name).exists():
                self.client.log_artifact(self.run_id, str(self.path / name))
        with tempfile.TemporaryDirectory() as folder:
            curve = learning_curve(read_rows(self.path), Path(folder) / "learning-curve.png")
            if curve is not None:
                self.client.log_artifact(self.run_id, str(curve))
        self.client.set_tag(self.run_id, "dlx.status", status)
        self.client.set_terminated(self.run_id, STATUS.get(status, "FAILED"))


class MlflowLogger(Callback):
    """Trainer callback: hands each event to a background thread that talks to MLflow."""

    def __init__(self, uri: str, experiment: str):
        self.uri, self.experiment = uri, experiment
        self.events: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.pending: list[dict] = []
        self.warned = False
        self.link: Link | None = None

    def on_fit_start(self, trainer, ctx) -> None:
        from dlx.engine import distributed
        from omegaconf import OmegaConf

        if not distributed.is_main_process():  # trainer.devices=N: rank 0 logs
            return
        config = OmegaConf.to_container(ctx.exp.raw, resolve=True)
        self.path = Path(ctx.run_dir.path)
        self.thread = threading.Thread(target=self.work, args=(config,), name="dlx-mlflow", daemon=True)
        self.thread.start()

    def on_epoch_end(self, trainer, row: dict) -> None:
        if self.thread is not None:
            self.events.put(("row", dict(row)))

    def on_fit_end(self, trainer, summary) -> None:
        if self.thread is None:
            return
        self.events.put(("end", summary.to_json() if summary is not None else None))
        self.thread.join()
        self.thread = None

    # the thread: every MLflow call below
    def work(self, config: dict) -> None:
        self.link = Link(client_class()(self.uri), self.path, self.experiment, self.uri)
        opened = self.attempt(lambda: self.connect(config))
        while True:
            kind, payload = self.events.get()
            if kind == "row":
                self.pending.append(payload)
            if not opened:
                opened = self.attempt(lambda: self.connect(config))
            if opened and self.attempt(lambda: self.link.send_rows(self.pending)):
                self.pending = []
            if kind == "end":
                if opened:
                    self.attempt(lambda: self.end(payload))
                if self.pending or not opened:
                    log.warning(f"MLflow ({self.uri}) did not get all of run {self.path.name}: "
                                f"send it later with `dlx runs --to-mlflow {self.path.name}`")
                return

    def connect(self, config: dict) -> None:
        from dlx.store.runs import read_overrides

        created = self.link.open({"dlx.command": "dlx " + shlex.join(sys.argv[1:]), "dlx.status": "running",
                                  "dlx.overrides": " ".join(read_overrides(self.path))})
        if created:
            self.link.send_params(params_of(config))
        try:  # loaded while the model trains, not at the end (learning_curve)
            import matplotlib.figure  # noqa: F401
        except ImportError:
            pass

        # a resumed run: the epochs this folder has and MLflow lacks (killed before they were sent)
        self.pending = [r for r in read_rows(self.path) if int(r["epoch"]) > self.link.sent] + self.pending

    def end(self, summary: dict | None) -> None:
        status = json.loads((self.path / "status.json").read_text()).get("status", "failed") \
            if (self.path / "status.json").exists() else "failed"
        self.link.finish(summary, status if summary is None else "finished")

    def attempt(self, call) -> bool:
        """Run one MLflow call; a failure warns once (training goes on) and is retried next epoch."""
        try:
            call()
            return True
        except Exception as e:  # any transport or server error: MLflow must never stop training
            if not self.warned:
                self.warned = True
                log.warning(f"MLflow at {self.uri} is unreachable ({first_line(e)}); training goes on, "
                            "metrics are kept and sent once it answers")
            return False


def sync_folder(path: Path, uri: str | None = None) -> str:
    """Import one dlx run folder into MLflow, or send what its MLflow run lacks (idempotent).

    `uri` None: the run's own trainer.mlflow.tracking_uri, else the SQLite store in output_dir."""
    from dlx.store.runs import read_config

    config = read_config(path)
    mlflow_cfg = (config.get("trainer") or {}).get("mlflow") or {}
    uri = uri or mlflow_cfg.get("tracking_uri") or default_uri(config.get("output_dir", "outputs"))
    experiment = mlflow_cfg.get("experiment") or (config.get("data") or {}).get("name") or "dlx"
    link = Link(client_class()(uri), Path(path), experiment, uri)
    created = link.open({"dlx.command": "dlx runs --to-mlflow", "dlx.status": "imported"})
    if created:
        link.send_params(params_of(config))
    link.send_rows(read_rows(link.path))
    summary_file = link.path / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    if created or link.client.get_run(link.run_id).data.tags.get("dlx.status") != "finished":
        link.finish(summary, "finished" if summary else "failed")
    return link.run_id


def import_runs(output_dir, refs=(), uri: str | None = None) -> list[tuple[str, str]]:
    """`dlx runs --to-mlflow [RUN ...]`: (dlx run id, MLflow run id) of each run imported (default: all)."""
    from dlx.store.runs import RUN, find_run, run_dirs

    folders = [find_run(Path(output_dir), ref, kinds=(RUN,)) for ref in refs] or run_dirs(Path(output_dir))
    return [(folder.name, sync_folder(folder, uri)) for folder in folders if (folder / "config.yaml").exists()]
