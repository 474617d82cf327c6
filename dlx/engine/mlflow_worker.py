"""The MLflow logger's worker process: every MLflow call of a live run happens here.

`python -m dlx.engine.mlflow_worker [URI]`, started by dlx.engine.mlflow_logger once per dlx process:
as `dlx train` starts when its overrides ask for MLflow, else when the first run with
trainer.loggers=[mlflow] starts to build its data and model. Importing
mlflow and opening its store take ~2 s of CPU (mostly imports); here they overlap dlx's own start
on another core instead of adding to it, and a separate process never takes the GIL from the
training loop, as a thread would. It reads one JSON message a line on stdin and answers on stdout:

    {"id": n, "op": "open", "path", "uri", "experiment", "config", "command", "resumed_at"}   a run starts
    {"id": n, "op": "row", "row": {...}}                                          an epoch ended
    {"id": n, "op": "end", "summary": {...} or null}                              the run ended
 -> {"id": n, "warn": "..."}                   once per run: MLflow did not answer (training goes on)
 -> {"id": n, "done": true, "complete": bool}  after "end": all sent, or what is missing

A server that does not answer: the rows wait here and go with the next epoch's. The dlx process
gone (killed): the worker ends at once and sends nothing more; a resume sends what MLflow lacks.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from dlx.engine.mlflow_link import LearningCurve, Link, client_class, params_of, read_rows
from dlx.errors import first_line

clients: dict = {}  # tracking URI -> MlflowClient (a SQLite store is opened once per process)


def client_for(uri: str):
    if uri not in clients:
        clients[uri] = client_class()(uri)
    return clients[uri]


def warm_up(uri: str | None) -> None:
    """What the first run needs, loaded before it asks: mlflow, the store (its code, when started
    before dlx knows the URI), matplotlib for the curve."""
    try:
        if uri is None:
            client_class()
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (most of opening a SQLite store)
        else:
            client_for(uri)
    except Exception:  # told, and retried, by the run's first call
        pass
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401  (learning-curve.png)
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        pass


class Session:
    """One run's side of the conversation: opens its MLflow run, sends rows, ends it."""

    def __init__(self, message: dict, answer):
        self.id, self.answer = message["id"], answer
        self.path, self.uri, self.experiment = Path(message["path"]), message["uri"], message["experiment"]
        self.config, self.command, self.resumed_at = message["config"], message["command"], message["resumed_at"]
        self.last_epoch = int((self.config.get("trainer") or {}).get("epochs") or 0)
        self.link: Link | None = None
        self.pending: list[dict] = []
        self.history: dict[int, dict] = {}  # epoch -> row, for the learning curve
        self.curve, self.folder = LearningCurve(), tempfile.TemporaryDirectory()
        self.drawn: Path | None = None  # learning-curve.png, rendered at the last epoch
        self.warned = False

    def handle(self, op: str, message: dict) -> bool:
        """One message; True once the run has ended."""
        if op == "row":
            self.pending.append(message["row"])
            self.history[int(message["row"]["epoch"])] = message["row"]
        if self.link is None:
            self.attempt(self.connect)
        if self.link is not None and self.attempt(lambda: self.link.send_rows(self.pending)):
            self.pending = []
        if op == "row":
            self.draw(int(message["row"]["epoch"]) == self.last_epoch)  # the end then only sends
        if op != "end":
            return False
        ended = self.link is not None and self.attempt(lambda: self.end(message["summary"]))
        self.answer({"id": self.id, "done": True, "complete": ended and not self.pending})
        self.folder.cleanup()
        return True

    def draw(self, render: bool) -> None:
        """The curve up to date (laid out once, from the first rows); rendered when `render`."""
        if self.curve.update([self.history[epoch] for epoch in sorted(self.history)]):
            self.curve.lay_out()
            if render:
                self.drawn = self.curve.save(Path(self.folder.name) / "learning-curve.png")

    def connect(self) -> None:
        from dlx.store.runs import read_overrides

        link = Link(client_for(self.uri), self.path, self.experiment, self.uri)
        created = link.open({"dlx.command": self.command, "dlx.status": "running",
                             "dlx.overrides": " ".join(read_overrides(self.path))})
        if created:
            link.send_params(params_of(self.config))
        # a resumed run: the epochs it keeps that MLflow lacks (killed before they were sent); later
        # rows of metrics.csv are trained again
        written = [r for r in read_rows(self.path) if int(r["epoch"]) <= self.resumed_at]
        self.history = {**{int(r["epoch"]): r for r in written}, **self.history}
        self.pending = [r for r in written if int(r["epoch"]) > link.sent] + self.pending
        self.link = link

    def end(self, summary: dict | None) -> None:
        status = json.loads((self.path / "status.json").read_text()).get("status", "failed") \
            if (self.path / "status.json").exists() else "failed"
        if self.drawn is None or max(self.history, default=0) != self.last_epoch:  # stopped early
            self.draw(render=True)
        self.link.finish(summary, status if summary is None else "finished", self.drawn)

    def attempt(self, call) -> bool:
        """One MLflow call; a failure is told once (training goes on) and retried with the next message."""
        try:
            call()
            return True
        except Exception as e:  # any transport or server error: MLflow must never stop training
            if not self.warned:
                self.warned = True
                self.answer({"id": self.id, "warn": f"MLflow at {self.uri} is unreachable ({first_line(e)}); "
                                                    "training goes on, metrics are kept and sent once it answers"})
            return False


def serve(uri: str | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is dlx's to handle: it sends "end" then
    parent = os.getppid()
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the answers

    def answer(message: dict) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    warm_up(uri)
    sessions: dict[int, Session] = {}
    for line in sys.stdin:
        if os.getppid() != parent:  # dlx was killed: its resume sends what is missing
            return
        message = json.loads(line)
        if message["op"] == "open":
            sessions[message["id"]] = Session(message, answer)
        session = sessions.get(message["id"])
        if session is not None and session.handle(message["op"], message):
            del sessions[message["id"]]


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else None)
