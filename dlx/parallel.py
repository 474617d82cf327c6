"""Worker processes for `dlx sweep --jobs N` and `dlx cv --jobs N`: one helper for both.

    threads_per_worker(jobs)   how the cores are split between workers (decided here only)
    Workers(...)               start N `python -m <module> ...` processes, exchange JSON lines
                               with them, forward SIGINT/SIGTERM, stop them
    die_with_parent(pid)       in a worker: go when the parent goes (also after its kill -9)
    Channel                    in a worker: JSON lines to and from the parent
    pid_alive(pid)             a live, non-zombie process on this machine

A worker runs in its own session, so a terminal's Ctrl-C reaches the parent alone, which
forwards it to each worker exactly once (twice would abandon the step in progress). Workers
talk to the parent over stdin/stdout, one JSON object a line; their stderr goes to a log file.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dlx import signals

STOP_GRACE_S = 60.0  # a stopped worker finishes its step and saves last.pt; then it is killed


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_worker(jobs: int) -> int:
    """Intra-op threads for each of `jobs` workers: the cores are shared, not multiplied.

    Small models (most sweeps) gain little from a second intra-op thread, so one process per
    core is the fastest split; `trainer.num_threads`, when set, overrides this in the run.
    """
    return max(1, cores() // max(1, jobs))


def pid_alive(pid) -> bool:
    """Whether `pid` is a live process on this machine; a zombie (killed, not yet reaped) is dead."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# ---------------------------------------------------------------- the parent's side


class Workers:
    """`jobs` worker processes `python -m <module> <args(i)> --parent <this pid>`."""

    def __init__(self, module: str, args, jobs: int, log_dir: Path, env: dict | None = None):
        root = str(Path(__file__).resolve().parents[1])  # the workers import this same dlx
        environ = {**os.environ, **(env or {})}
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, environ.get("PYTHONPATH")]))
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self.logs = [Path(log_dir) / f"worker-{i}.log" for i in range(jobs)]
        self.inbox: queue.Queue = queue.Queue()
        self.procs = []
        for i in range(jobs):
            with open(self.logs[i], "a") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", module, *args(i), "--parent", str(os.getpid())],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=environ, text=True,
                    start_new_session=True)
            self.procs.append(proc)
            threading.Thread(target=self._read, args=(i, proc), daemon=True).start()
        self.forwarded = 0

    def _read(self, i: int, proc) -> None:
        for line in proc.stdout:
            try:
                self.inbox.put((i, json.loads(line)))
            except ValueError:
                continue  # not a message: nothing else is written there
        self.inbox.put((i, None))  # this worker's output ended: it exited

    def send(self, i: int, message: dict | None) -> None:
        """One message to worker i; None closes its input (no more work)."""
        proc = self.procs[i]
        try:
            if message is None:
                proc.stdin.close()
            else:
                proc.stdin.write(json.dumps(message) + "\n")
                proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # it has exited; its outcome arrives as its exit

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def messages(self, timeout: float):
        """(worker, message) pairs that arrived within `timeout` s; message None: that worker ended.
        Also forwards each SIGINT/SIGTERM this process received since the last call, once."""
        self._forward()
        out = []
        try:
            out.append(self.inbox.get(timeout=timeout))
            while True:
                out.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        self._forward()
        return out

    def _forward(self) -> None:
        while self.forwarded < signals.received:
            self.forwarded += 1
            self.send_signal(signals.requested)

    def send_signal(self, signum: int) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signum)
                except ProcessLookupError:
                    pass

    def stop(self, signum: int = signal.SIGTERM, grace: float = STOP_GRACE_S) -> None:
        """Ask every worker to stop at its next step boundary; kill those still there after `grace` s."""
        if signum:
            self.send_signal(signum)
        deadline = time.monotonic() + grace
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def wait(self) -> list[int]:
        return [p.wait() for p in self.procs]

    def kill(self) -> None:
        """Workers that have not begun any work: no need to let them finish a step."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


# ---------------------------------------------------------------- the worker's side


def die_with_parent(parent: int | None) -> None:
    """Get SIGTERM when `parent` dies (kill -9 included): Linux's PR_SET_PDEATHSIG, else a watchdog.

    SIGTERM, not SIGKILL: the worker stops at its next step boundary and marks its run interrupted.
    """
    if not parent:
        return
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            _watch(parent)
    else:
        _watch(parent)
    if os.getppid() != parent:  # it died before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _watch(parent: int) -> None:
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


class Channel:
    """A worker's JSON-line link to its parent: stdout carries only messages (prints go to stderr)."""

    def __init__(self):
        self.out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed lands in the log

    def send(self, **message) -> None:
        try:
            self.out.write(json.dumps(message, default=str) + "\n")
        except (BrokenPipeError, OSError):
            pass  # the parent is gone; die_with_parent stops this worker

    def log_to(self, path: str) -> None:
        """From now on stderr (and stray prints) go to `path`, e.g. once the run's folder exists."""
        with open(path, "a") as log:
            os.dup2(log.fileno(), sys.stderr.fileno())
            os.dup2(log.fileno(), sys.stdout.fileno())

    def receive(self) -> dict | None:
        """The next message, or None once the parent closed the input (no more work)."""
        while True:
            try:
                line = sys.stdin.readline()
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                continue
            if not line:
                return None
            if line.strip():
                return json.loads(line)


def start_worker(parent: int | None, threads: int) -> None:
    """What every worker does first: follow its parent, take its share of the cores."""
    die_with_parent(parent)
    if threads:
        import torch

        torch.set_num_threads(threads)
