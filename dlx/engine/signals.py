"""Stopping cleanly on SIGINT / SIGTERM: a run at its next step boundary, a sweep or a CV between runs.

One process-wide request: `requested` is the first stop signal this process received (0: none).
A run started after it stops at its first step, and the loops of `dlx sweep` and `dlx cv` start
no further trial or fold, so one Ctrl-C stops the whole command wherever it lands.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
requested = 0  # the first SIGINT/SIGTERM seen by this process's handlers
received = 0  # how many were seen: a driver forwards each one to its workers once


def _record(signum: int) -> None:
    global requested, received
    from dlx import testhooks

    testhooks.signals_seen += 1  # a process paused at a test point goes on
    received += 1
    requested = requested or signum


@contextmanager
def stop_on_signals(trainer):
    """While training: the first SIGINT/SIGTERM asks the trainer to stop at the next step
    boundary (where its state is whole and can be saved); a second one stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (e.g. a sweep's worker threads)
        return

    def handler(signum, _frame):
        _record(signum)
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = signum

    if requested:  # asked before this run began (a sweep or CV between runs): stop at its first step
        trainer.stop_requested = requested
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
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda signum, _frame: _record(signum)) for s in SIGNAL_EXIT}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def reset() -> None:
    """Forget earlier requests: a command starts with none (in tests, many run in one process)."""
    global requested, received
    requested = received = 0


def exit_code(signum: int) -> int:
    return SIGNAL_EXIT.get(signum, 128 + int(signum))
