"""Stopping a training run cleanly on SIGINT / SIGTERM, at its next step boundary.

The process-wide request (`requested`, `received`) and the handlers a sweep or CV loop uses between
runs live in `dlx.signals` (base layer, shared with `dlx.parallel`); this module adds the trainer's
handler and re-exports the rest, so `from dlx.engine import signals; signals.requested` keeps
reading the one live request.
"""

from __future__ import annotations

from contextlib import contextmanager

from dlx import signals as _process
from dlx.signals import SIGNAL_EXIT, exit_code, record_stop_signals, reset  # noqa: F401  (re-exported)


def __getattr__(name: str):
    # `requested` / `received` change while the process runs: read them from dlx.signals each
    # time rather than keep a copy made at import
    if name in ("requested", "received"):
        return getattr(_process, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextmanager
def stop_on_signals(trainer):
    """While training: the first SIGINT/SIGTERM asks the trainer to stop at the next step
    boundary (where its state is whole and can be saved); a second one stops at once."""
    def handler(signum, _frame):
        _process.record(signum)
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = signum

    if _process.requested:  # asked before this run began (a sweep or CV between runs): stop at its first step
        trainer.stop_requested = _process.requested
    with _process.handling(handler):
        yield
