"""The process-wide stop request: the first SIGINT / SIGTERM this process received.

`requested` is the first stop signal seen by dlx's handlers (0: none), `received` how many were
seen (a driver forwards each one to its workers once). A run started after a request stops at its
first step (`dlx.engine.signals.stop_on_signals`), and the loops of `dlx sweep` and `dlx cv` start
no further trial or fold, so one Ctrl-C stops the whole command wherever it lands.

Base layer: it imports nothing of dlx but the test hooks, so `dlx.parallel` (below the engine) and
the engine share the one request.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from dlx import testhooks

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
requested = 0  # the first SIGINT/SIGTERM seen by this process's handlers
received = 0  # how many were seen: a driver forwards each one to its workers once


def record(signum: int) -> None:
    """Note a stop signal (called from a signal handler)."""
    global requested, received
    testhooks.signals_seen += 1  # a process paused at a test point goes on
    received += 1
    requested = requested or signum


@contextmanager
def handling(handler):
    """While inside: `handler(signum, frame)` answers SIGINT and SIGTERM; the handlers that were
    there before come back on the way out. Only the main thread may set handlers: elsewhere (a
    sweep's worker threads) nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in SIGNAL_EXIT}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def record_stop_signals():
    """Around a loop of runs (a sweep's trials, a CV's folds, a driver waiting on its workers):
    SIGINT/SIGTERM are recorded in `requested`, never raised; the loop checks it between runs."""
    with handling(lambda signum, _frame: record(signum)):
        yield


def reset() -> None:
    """Forget earlier requests: a command starts with none (in tests, many run in one process)."""
    global requested, received
    requested = received = 0


def exit_code(signum: int) -> int:
    """The exit status for a process stopped by `signum`: 130 for SIGINT, 143 for SIGTERM."""
    return SIGNAL_EXIT.get(signum, 128 + int(signum))
