"""The MLflow logger's worker process: every MLflow call of a live run happens here.

`python -m dlx.engine.mlflow_worker [URI]`, started by dlx.engine.mlflow_logger once per dlx
process: as `dlx train` starts when its overrides ask for MLflow, else when the first run with
trainer.loggers=[mlflow] starts to build its data and model. Importing mlflow and opening its
store take ~2 s of CPU (mostly imports); here they overlap dlx's own start on another core
instead of adding to it, and a separate process never takes the GIL from the training loop, as a
thread would. It reads one JSON message a line on stdin and answers on stdout:

    {"id": n, "op": "open", "path", "uri", "experiment", "config", "command", "resumed_at"}
                                               a run starts (resumed_at: the epoch it goes on from)
    {"id": n, "op": "row", "row": {...}}       an epoch ended
    {"id": n, "op": "end", "summary": {...} or null}   the run ended
 -> {"id": n, "warn": "..."}                   once per run: MLflow did not answer (training goes on)
 -> {"id": n, "done": true, "complete": bool, "why": "..."}   after "end": all sent, or the last failure

Rows are sent at most every SEND_EVERY seconds, all waiting ones in one batch: a short epoch
costs no store transaction of its own. A server that does not answer: the rows wait here and go
with the next send. The dlx process gone (killed): the worker ends at once and sends nothing
more; a resume sends what MLflow lacks.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from dlx import heap
from dlx.engine.mlflow_curve import LearningCurve
from dlx.engine.mlflow_link import Link, client_class, params_of, read_rows
from dlx.errors import first_line

clients: dict = {}  # tracking URI -> MlflowClient (a SQLite store is opened once per process)
SEND_EVERY = 0.25  # seconds: rows go at most this often (each send is a store transaction), and at the end
NICE = 10  # the worker's niceness: a tenth of a busy core's share, all of an idle one
END_PATIENCE, END_RETRY_EVERY = 30.0, 0.5  # seconds: how long the end of a run waits for an answer from a server
# that failed during it (a restarted server opens its store on its first request: slow on a loaded machine)


def client_for(uri: str):
    if uri not in clients:
        clients[uri] = client_class()(uri)
    return clients[uri]


def warm_up(uri: str | None) -> None:
    """What the first run needs, loaded before it asks: mlflow and the store (its code, when started
    before dlx knows the URI). matplotlib, for the curve, loads with the first row: during the
    training, not beside dlx's own imports, which it slowed."""
    try:
        if uri is None:
            client_class()
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (most of opening a SQLite store)
        else:
            client_for(uri)
    except Exception:  # told, and retried, by the run's first call
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
        self.curve: LearningCurve | None = LearningCurve(self.last_epoch)  # None once it failed to draw
        self.folder = tempfile.TemporaryDirectory()
        self.drawn: Path | None = None  # learning-curve.png, saved with the last epoch's row
        self.drawn_rows = 0  # how many epochs it shows
        self.warned = False
        self.error = ""  # the last failure, told with an incomplete run's end
        self.sent_at = time.monotonic()

    def due(self) -> float:
        """When the waiting rows are to be sent (time.monotonic)."""
        return self.sent_at + SEND_EVERY

    def handle(self, op: str, message: dict) -> bool:
        """One message; True once the run has ended."""
        last = False
        if op == "row":
            epoch = int(message["row"]["epoch"])
            self.pending.append(message["row"])
            self.history[epoch] = message["row"]
            last = epoch == self.last_epoch
        if op in ("open", "end") or last or time.monotonic() >= self.due():
            self.flush(save=last)  # the last epoch's: the picture saved, the rows sent while dlx tests the model
        if op != "end":
            return False
        ended = self.finish(message["summary"])
        self.answer({"id": self.id, "done": True, "complete": ended, **({} if ended else {"why": self.error})})
        self.folder.cleanup()
        return True

    def finish(self, summary: dict | None) -> bool:
        """The run's end: the rows still waiting, the test metrics, the artifacts, the status. A server
        that failed during the run (restarting, say) is waited for while it makes progress: the end
        gives up only after END_PATIENCE seconds without an answer (a restarted server opening its
        store on a loaded machine is slow, not gone); dlx is then told the run is incomplete
        (`dlx runs --to-mlflow` sends the rest later)."""
        patience = END_PATIENCE if self.warned else 0.0
        deadline, progress = time.monotonic() + patience, self.progress()
        while True:
            if self.link is None or self.pending:
                self.flush()
            if self.link is not None and not self.pending and self.attempt(lambda: self.end(summary)):
                return True
            if self.progress() != progress:
                deadline, progress = time.monotonic() + patience, self.progress()
            if time.monotonic() >= deadline:
                return False
            time.sleep(END_RETRY_EVERY)

    def progress(self) -> tuple:
        """What MLflow has taken of this run so far."""
        return (None, 0, 0) if self.link is None else (self.link.run_id, self.link.sent, len(self.link.done))

    def flush(self, save: bool = False) -> None:
        """Bring the curve up to date (and save it when `save`), open the MLflow run if not yet, send
        the waiting rows; a failure keeps them for the next try."""
        self.sent_at = time.monotonic()
        if self.pending or save:
            self.draw(save)
        if self.link is None:
            self.attempt(self.connect)
        if self.link is not None and self.attempt(lambda: self.link.send_rows(self.pending)):
            self.pending = []

    def draw(self, save: bool) -> None:
        """The curve from the rows so far: its frame drawn again if its limits changed (with each send,
        during the training: the end then only draws the lines), the picture saved when `save`."""
        if self.curve is None:
            return
        try:
            if self.curve.update([self.history[epoch] for epoch in sorted(self.history)]):
                self.curve.draw_frame()
                if save:
                    self.drawn = self.curve.save(Path(self.folder.name) / "learning-curve.png")
                    self.drawn_rows = len(self.history)
        except Exception:  # the picture is an extra: values it cannot draw (1.7e308) must not cost the metrics;
            self.curve, self.drawn = None, None  # the end tries once more from metrics.csv, and says why it can't

    def connect(self) -> None:
        from dlx.store.runs import read_overrides

        link = Link(client_for(self.uri), self.path, self.experiment, self.uri)
        link.open({"dlx.command": self.command, "dlx.status": "running",
                   "dlx.overrides": " ".join(read_overrides(self.path))})
        link.send_params(params_of(self.config))  # those MLflow lacks: none on a resume
        # a resumed run: the epochs it keeps that MLflow lacks (killed before they were sent); later
        # rows of metrics.csv are trained again
        written = [r for r in read_rows(self.path) if int(r["epoch"]) <= self.resumed_at]
        self.history = {**{int(r["epoch"]): r for r in written}, **self.history}
        self.pending = [r for r in written if int(r["epoch"]) > link.sent] + self.pending
        self.link = link

    def end(self, summary: dict | None) -> None:
        status = json.loads((self.path / "status.json").read_text()).get("status", "failed") \
            if (self.path / "status.json").exists() else "failed"
        if self.curve is not None and (self.drawn is None or self.drawn_rows != len(self.history)):
            # stopped early, or more rows since
            self.curve.epochs = 0  # the x axis as far as the run went, not as far as it was planned to
            self.draw(save=True)
        self.link.finish(summary, status if summary is None else "finished", self.drawn)

    def attempt(self, call) -> bool:
        """One MLflow call; a failure is told once (training goes on) and retried with the next message."""
        try:
            call()
            return True
        except Exception as e:  # any transport or server error: MLflow must never stop training
            self.error = first_line(e)
            if not self.warned:
                self.warned = True
                self.answer({"id": self.id, "warn": f"MLflow at {self.uri} is unreachable ({first_line(e)}); "
                                                    "training goes on, metrics are kept and sent once it answers"})
            return False


def drain(stream, lines: queue.Queue) -> None:
    """Read dlx's pipe as fast as dlx writes, so that dlx never waits on a full pipe while the
    worker is still loading or MLflow is slow; "" at the end (dlx has exited)."""
    for line in stream:
        lines.put(line)
    lines.put("")


def serve(uri: str | None) -> None:
    if hasattr(os, "nice"):  # background work: the training gets the cores first (mlflow's ~2 s of imports, on a
        os.nice(NICE)        # 2-core machine, otherwise slowed the default run by ~25 % under load, ~12 % idle)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is dlx's to handle: it sends "end" then
    parent = os.getppid()
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the answers

    def answer(message: dict) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    lines: queue.Queue = queue.Queue()
    threading.Thread(target=drain, args=(sys.stdin, lines), daemon=True).start()
    with heap.setting_up():  # mlflow's ~0.4 M objects load without collections (~15 % of the import's CPU,
        warm_up(uri)         # beside dlx's own start), then are frozen out of the collector's sight
    sessions: dict[int, Session] = {}
    while True:
        due = min((s.due() for s in sessions.values() if s.pending), default=None)
        try:
            line = lines.get(timeout=None if due is None else max(0.0, due - time.monotonic()))
        except queue.Empty:  # rows waited long enough
            for session in sessions.values():
                session.flush()
            continue
        if line == "" or os.getppid() != parent:  # dlx exited, or was killed: a resume sends what is missing
            for session in sessions.values():
                session.folder.cleanup()
            return
        message = json.loads(line)
        if message["op"] == "open":
            sessions[message["id"]] = Session(message, answer)
        session = sessions.get(message["id"])
        if session is not None and session.handle(message["op"], message):
            del sessions[message["id"]]


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else None)
    sys.stderr.flush()
    # everything is sent or left to a resume: skip tearing down mlflow's modules and their exit hooks
    # (~0.5 s of CPU, which the next dlx process, a sweep's next trial say, would start beside)
    os._exit(0)
