"""Stopping a run cleanly on SIGINT / SIGTERM: at the next step boundary, where the state is whole."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@contextmanager
def stop_on_signals(trainer):
    """While training: the first SIGINT/SIGTERM asks the trainer to stop at the next step
    boundary (where its state is whole and can be saved); a second one stops at once."""
    from dlx import testhooks

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (e.g. a sweep's worker threads)
        return

    def handler(signum, _frame):
        testhooks.signals_seen += 1
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = signum

    previous = {s: signal.signal(s, handler) for s in SIGNAL_EXIT}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
