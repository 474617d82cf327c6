"""One dlx folder's MLflow run: what the MLflow logger's worker (dlx.engine.mlflow_worker) and
`dlx runs --to-mlflow` send, and how a sweep's or CV's parent run is found.

Params = the flattened resolved config (the plugins and their sha256 are in it) + the dlx version
+ the data's sizes; per-epoch metrics with `step=epoch`; the test metrics at the end; tags (dlx run
id, status, command line); artifacts config.yaml, summary.json, metrics.csv, learning-curve.png.

The MLflow run id is kept in the folder (`mlflow.json`): a resumed run continues the same MLflow run
and sends only the epochs MLflow lacks (metrics.csv is the truth), so no step is logged twice. A
folder inside a sweep or CV folder (one holding sweep.json or cv.json) is nested under that
folder's parent run, created by whichever trial or fold comes first (a file lock); a CV that is a
sweep's trial is itself nested under the sweep's run, so a `--cv` sweep reads sweep -> trial -> fold.
The drivers end a parent with `close_group` (a CV's mean and std go on it; a stopped sweep's is
KILLED), and a resumed sweep or CV reopens the same parent.
mlflow is an optional extra (`pip install 'dlx[mlflow]'`), imported only when asked for.
"""

from __future__ import annotations

import csv
import fcntl
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path

from dlx.engine.mlflow_curve import learning_curve
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


def absolute_uri(uri: str) -> str:
    """`uri` with a relative SQLite path made absolute: the logger's worker, which serves every run of a
    process, keeps the working directory it started in."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        return prefix + str(Path(uri[len(prefix):]).resolve())
    return uri


def client_class():
    try:
        # the HTTP client's own retries would hold the worker for minutes: dlx retries per epoch
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


def artifact_root(uri: str) -> str | None:
    """A SQLite store's artifacts beside its database (`<output_dir>/mlartifacts`), not in the current
    folder's ./mlruns (MLflow's default); a server chooses its own (None)."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()


def group_of(folder: Path) -> Path | None:
    """The sweep or CV folder `folder` is part of (its parent or grandparent holding sweep.json or
    cv.json: <sweep>/runs/<trial>, <sweep>/cv/<trial>, <cv>/<fold>), or None."""
    folder = Path(folder)
    return next((p for p in (folder.parent, folder.parent.parent) if any((p / name).exists() for name in GROUPS)),
                None)


def write_record(folder: Path, run_id: str, experiment_id: str, uri: str) -> None:
    tmp = folder / (RECORD + ".tmp")
    tmp.write_text(json.dumps({"run_id": run_id, "experiment_id": experiment_id, "tracking_uri": uri}) + "\n")
    tmp.replace(folder / RECORD)


def close_group(folder: Path, metrics: dict | None = None, status: str = "FINISHED") -> None:
    """End a sweep's or CV's parent MLflow run (if one was made), with its summary metrics; `status`
    KILLED for a stopped sweep (its resume reopens the same run)."""
    record = Path(folder) / RECORD
    if not record.exists():
        return
    saved = json.loads(record.read_text())
    try:
        from mlflow.entities import Metric

        client = client_class()(saved["tracking_uri"])
        now = int(time.time() * 1000)
        logged = client.get_run(saved["run_id"]).data.metrics  # a CV closed again after its refit: not twice
        values = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()
                  if isinstance(v, (int, float)) and math.isfinite(v) and logged.get(k) != float(v)]
        if values:
            client.log_batch(saved["run_id"], metrics=values)
        client.set_terminated(saved["run_id"], status)
    except Exception as e:  # the results are on disk; MLflow only mirrors them
        log.warning(f"MLflow at {saved['tracking_uri']} did not take {Path(folder).name}'s summary "
                    f"({first_line(e)}); the folder keeps it")


class Link:
    """One dlx run folder's MLflow run: creates or reopens it, sends rows MLflow lacks.

    Used by the logger's worker process (live) and by `sync_folder` (import)."""

    def __init__(self, client, path: Path, experiment: str, uri: str):
        self.client, self.path, self.experiment, self.uri = client, Path(path), experiment, uri
        self.run_id: str | None = None
        self.sent = 0  # the last epoch MLflow holds
        self.params: set[str] = set()  # the params MLflow holds (a reopened run's, or sent since)
        self.stamps: dict[int, int] = {}  # epoch -> its metrics' timestamp (ms), fixed at the first try (-1: test)
        self.done: set[str] = set()  # the steps of `finish` MLflow has taken

    def open(self, tags: dict) -> bool:
        """Reopen the run named in mlflow.json, or create one; True when it was created."""
        record = self.path / RECORD
        if record.exists():
            self.run_id = json.loads(record.read_text())["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            self.sent = self.logged_until()
            self.params = set(self.client.get_run(self.run_id).data.params)
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
        group = group_of(self.path)
        return None if group is None else self.group_run(group, experiment_id)

    def group_run(self, group: Path, experiment_id: str) -> str:
        """`group`'s MLflow run: created by whoever comes first (a sweep's workers share it), nested in
        the sweep that holds it; reopened when a stopped sweep or CV goes on."""
        with open(group / "mlflow.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (group / RECORD).exists():
                run_id = json.loads((group / RECORD).read_text())["run_id"]
                if self.client.get_run(run_id).info.status != "RUNNING":
                    self.client.update_run(run_id, status="RUNNING")
                return run_id
            kind = next(GROUPS[name] for name in GROUPS if (group / name).exists())
            settings = json.loads((group / f"{kind}.json").read_text())
            overrides = settings.get("overrides") if isinstance(settings.get("overrides"), list) else []
            outer = group_of(group)
            tags = {"mlflow.runName": group.name, "dlx.kind": kind, f"dlx.{kind}_id": group.name,
                    "dlx.overrides": " ".join(overrides),
                    **({"mlflow.parentRunId": self.group_run(outer, experiment_id)} if outer else {})}
            run_id = self.client.create_run(experiment_id, run_name=group.name, tags=tags).info.run_id
            if outer is not None:  # a sweep's trial (a --cv sweep's CV): params = the trial's overrides
                self.send_params({k: v for k, _, v in (o.partition("=") for o in overrides) if k}, run_id)
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
        """Log `rows` (the epochs MLflow lacks). A batch the server stored but whose answer was lost
        goes again with the same timestamps, which MLflow keeps once: no step twice."""
        from mlflow.entities import Metric

        # a resumed run's re-trained epoch comes from metrics.csv and from the trainer: keep the last
        rows = sorted({int(r["epoch"]): r for r in rows if int(r["epoch"]) > self.sent}.values(),
                      key=lambda r: int(r["epoch"]))
        if not rows:
            return
        now = int(time.time() * 1000)
        stamps = {int(r["epoch"]): self.stamps.setdefault(int(r["epoch"]), now) for r in rows}
        metrics = [Metric(k, v, stamps[int(r["epoch"])], int(r["epoch"])) for r in rows for k, v in numbers(r).items()]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])
        self.sent = int(rows[-1]["epoch"])

    def send_params(self, params: dict[str, str], run_id: str | None = None) -> None:
        """Log `params`; for this link's run only those it lacks (a connection lost halfway through
        a run's params leaves the rest to the next try)."""
        from mlflow.entities import Param

        mine = run_id is None
        items = [Param(k, str(v)[:PARAM_LIMIT]) for k, v in params.items() if not (mine and k in self.params)]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(run_id or self.run_id, params=items[i:i + 100])
            if mine:
                self.params.update(p.key for p in items[i:i + 100])

    def finish(self, summary: dict | None, status: str, curve: Path | None = None) -> None:
        """The test metrics, the sizes and the status tag (one batch), the artifacts, the end. Each
        step is done once: a try after a failure goes on from the step that failed (`self.done`).

        `curve`: learning-curve.png when drawn already (the worker draws it at the last epoch)."""
        from mlflow.entities import Metric, Param, RunTag

        tests, sizes = [], []
        if summary:
            step, now = int(summary.get("epochs_run") or self.sent), self.stamps.setdefault(-1, int(time.time() * 1000))
            tests = [Metric(k, float(v), now, step) for k, v in summary.items()
                     if k.startswith("test_") and isinstance(v, (int, float)) and math.isfinite(v)]
            sizes = [Param(f"sizes.{k[:-5]}", str(summary[k])) for k in ("train_size", "val_size", "test_size")
                     if k in summary]
        self.once("summary", lambda: self.client.log_batch(self.run_id, metrics=tests, params=sizes,
                                                           tags=[RunTag("dlx.status", status)]))
        for name in ARTIFACTS:
            if (self.path / name).exists():
                self.once(name, lambda name=name: self.client.log_artifact(self.run_id, str(self.path / name)))
        with tempfile.TemporaryDirectory() as folder:
            curve = curve or learning_curve(read_rows(self.path), Path(folder) / "learning-curve.png")
            if curve is not None:
                self.once("curve", lambda: self.client.log_artifact(self.run_id, str(curve)))
        self.once("status", lambda: self.client.set_terminated(self.run_id, STATUS.get(status, "FAILED")))

    def once(self, step: str, call) -> None:
        if step not in self.done:
            call()
            self.done.add(step)


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
    link.send_params(params_of(config))  # those MLflow lacks
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
