"""`trainer.loggers=[mlflow]`: the run in MLflow (its UI, its model registry), beside the run store.

A trainer callback like dlx.engine.tensorboard's, whose MLflow calls all happen in a worker process
(dlx.engine.mlflow_worker; what is sent: dlx.engine.mlflow_link). The worker is started when the
run starts to build its data and model, so that importing mlflow and opening its store overlap
dlx's own start; it serves every later run of this process. The callback only writes a line to a
pipe per epoch, so neither a slow nor an unreachable server slows the training: one warning,
the rows wait in the worker and go with the next epoch's. At the run's end the callback waits
for the worker to have sent everything (the MLflow run is complete once `dlx train` returns).
With `trainer.devices=N` only rank 0 logs. `trainer.mlflow.log_model=true`: dlx.use.mlflow_model
adds the best model once the run is written.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

from dlx.engine import distributed
from dlx.engine.callbacks import Callback
from dlx.engine.mlflow_link import (  # noqa: F401  (close_group, import_runs, sync_folder: re-exported)
    absolute_uri, close_group, default_uri, import_runs, sync_folder)
from dlx.errors import ConfigError

log = logging.getLogger(__name__)
GONE = {"done": True, "complete": False, "why": "the MLflow worker process ended"}  # a run's end without the worker


def settings(exp) -> tuple[str, str]:
    """(tracking URI, experiment name) of `exp` (trainer.mlflow.*, with their defaults)."""
    cfg = exp.trainer.mlflow
    return absolute_uri(cfg.tracking_uri) if cfg.tracking_uri else default_uri(exp.output_dir), \
        cfg.experiment or exp.data.name


def attach_mlflow(exp) -> "MlflowLogger | None":
    """The callback for `exp`'s run, or None unless trainer.loggers lists mlflow (or on ranks other
    than 0). Called before the data and model are built: the worker starts loading now."""
    if "mlflow" not in exp.trainer.trackers or not distributed.is_main_process():
        return None
    if importlib.util.find_spec("mlflow") is None:  # a missing extra fails before any work
        raise ConfigError("trainer.loggers=[mlflow] needs mlflow: pip install 'dlx[mlflow]'")
    uri, experiment = settings(exp)
    return MlflowLogger(Worker.get(uri), uri, experiment)


def prestart(overrides) -> None:
    """Start the worker before `dlx train` composes its config (which loads torch) when the overrides
    ask for MLflow: read as text, a guess that the run confirms (attach_mlflow) or that costs an
    idle process. Not on ranks other than 0, nor in the process that launches trainer.devices=N."""
    values = {key.lstrip("+"): value for key, _, value in (str(o).partition("=") for o in overrides)}
    launcher = values.get("trainer.devices", "1") != "1" and "RANK" not in os.environ
    if "mlflow" in values.get("trainer.loggers", "") and distributed.is_main_process() and not launcher \
            and importlib.util.find_spec("mlflow") is not None:
        Worker.get(None)


class Worker:
    """This process's MLflow worker (dlx.engine.mlflow_worker): one pipe in, one reader thread out."""

    current: "Worker | None" = None

    @classmethod
    def get(cls, uri: str | None) -> "Worker":
        """The running worker, or a new one that starts by opening `uri` (None: loading mlflow only)."""
        if cls.current is None or cls.current.proc.poll() is not None:
            cls.current = cls(uri)
        return cls.current

    def __init__(self, uri: str | None):
        root = str(Path(__file__).resolve().parents[2])  # this dlx, also from a source tree
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        # its own session: Ctrl-C reaches dlx alone, which then ends the run in MLflow through it
        self.proc = subprocess.Popen([sys.executable, "-m", "dlx.engine.mlflow_worker", *filter(None, [uri])],
                                     env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     start_new_session=True)
        self.ids = itertools.count()
        self.loggers: dict[int, MlflowLogger] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self.listen, name="dlx-mlflow", daemon=True).start()

    def send(self, message: dict) -> bool:
        try:
            with self.lock:
                self.proc.stdin.write(json.dumps(message) + "\n")
                self.proc.stdin.flush()
            return True
        except (OSError, ValueError):  # the worker is gone
            return False

    def listen(self) -> None:
        """The worker's answers, to the run they are for; its end ends every run still waiting."""
        for line in self.proc.stdout:
            message = json.loads(line)
            logger = self.loggers.get(message["id"])
            if logger is not None:
                logger.receive(message)
        for logger in list(self.loggers.values()):
            logger.receive(GONE)


class MlflowLogger(Callback):
    """Trainer callback: hands each event to the worker; waits for it at the end of the run."""

    def __init__(self, worker: Worker, uri: str, experiment: str):
        self.worker, self.uri, self.experiment = worker, uri, experiment
        self.id: int | None = None
        self.warned = False
        self.complete = False
        self.why = ""  # the worker's last failure, when the run is incomplete
        self.done = threading.Event()

    def on_fit_start(self, trainer, ctx) -> None:
        from omegaconf import OmegaConf

        self.path = Path(ctx.run_dir.path).resolve()  # the worker serves every run of this process, from its own cwd
        self.id = next(self.worker.ids)
        self.worker.loggers[self.id] = self
        self.post("open", path=str(self.path), uri=self.uri, experiment=self.experiment, resumed_at=trainer.epoch,
                  config=OmegaConf.to_container(ctx.exp.raw, resolve=True), command="dlx " + shlex.join(sys.argv[1:]))

    def on_epoch_end(self, trainer, row: dict) -> None:
        if self.id is not None:
            self.post("row", row={k: float(v) for k, v in row.items() if isinstance(v, (int, float))})

    def on_fit_end(self, trainer, summary) -> None:
        if self.id is None:
            return
        self.post("end", summary=summary.to_json() if summary is not None else None)
        self.done.wait()
        del self.worker.loggers[self.id]
        self.id = None
        if not self.complete:
            log.warning(f"MLflow ({self.uri}) did not get all of run {self.path.name}"
                        f"{f' ({self.why})' if self.why else ''}: send it later with "
                        f"`dlx runs --to-mlflow {self.path.name}`")

    def post(self, op: str, **fields) -> None:
        if not self.worker.send({"id": self.id, "op": op, **fields}):
            self.receive(GONE)

    def receive(self, message: dict) -> None:
        """An answer of the worker (its reader thread): the one warning, or the run's end."""
        if "warn" in message and not self.warned:
            self.warned = True
            log.warning(message["warn"])
        if message.get("done"):
            self.complete, self.why = message["complete"], message.get("why", "")
            self.done.set()
