"""A study storage that rides out a lost database connection, for a set time.

A sweep's workers talk to the study's database between trials (pop, tell, user attributes)
and the driver polls it. When the server goes away (a restart, a network cut), every call
to the storage is retried with exponential back-off — 0.1 s, 0.2 s, ... capped at 5 s — for
the retry window, `--storage-retry SECONDS` or `DLX_STORAGE_RETRY_S` (default 120 s). Past
it, the worker stops with one line (`StorageLost`) that says how to resume. A trial whose
run finished while the database was away is not lost: its run folder holds summary.json,
and `--resume` counts it as complete instead of training it again.

The back-off is tenacity's (`wait_exponential`, `stop_before_delay`). Only connection errors are retried (SQLAlchemy's OperationalError, InterfaceError,
DisconnectionError, or an invalidated connection; a locked SQLite file is one too); a
wrong query or a duplicate study fails at once. A write that reached the server just before
the connection broke may be repeated; optuna's writes are state changes that a second
attempt refuses (a trial already RUNNING is not popped twice), so nothing runs twice.
"""

from __future__ import annotations

import functools
import os
import time

from dlx.errors import ConfigError, RunError, first_line

RETRY_ENV = "DLX_STORAGE_RETRY_S"
DEFAULT_RETRY_S = 120.0
FIRST_DELAY_S, MAX_DELAY_S = 0.1, 5.0


class StorageLost(RunError):
    """The study's database stayed out of reach for the whole retry window."""

    def __init__(self, shown_url: str, window: float, reason: str):
        super().__init__(f"lost the connection to the study storage {shown_url} for {window:g} s ({reason})")
        self.shown_url = shown_url

    def hint(self, what_to_do: str) -> RunError:
        """The same failure, with what to do once the database answers again."""
        return RunError(f"{self}; {what_to_do}")


def retry_window() -> float:
    """Seconds to keep retrying, from `DLX_STORAGE_RETRY_S` (set by `--storage-retry`)."""
    raw = os.environ.get(RETRY_ENV, "")
    if not raw:
        return DEFAULT_RETRY_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"--storage-retry ({RETRY_ENV}) must be a number of seconds >= 0, got '{raw}'")
    return value


def set_retry_window(seconds: float | None):
    """`--storage-retry`: for this process and the worker processes it starts; returns a
    function that puts the previous setting back."""
    previous = os.environ.get(RETRY_ENV)

    def restore() -> None:
        if previous is None:
            os.environ.pop(RETRY_ENV, None)
        else:
            os.environ[RETRY_ENV] = previous

    if seconds is not None:
        if not seconds >= 0:
            raise ConfigError(f"--storage-retry must be a number of seconds >= 0, got {seconds}")
        os.environ[RETRY_ENV] = repr(float(seconds))
    return restore


def is_connection_error(error: BaseException) -> bool:
    """True for a lost or refused connection, also when optuna wrapped it in StorageInternalError."""
    from sqlalchemy import exc

    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError)):
            return True
        if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def cause_line(error: BaseException) -> str:
    """The first line of the driver's own message (SQLAlchemy wraps it in `.orig`)."""
    cause = getattr(error, "orig", None) or error.__cause__ or error
    return first_line(getattr(cause, "orig", None) or cause, limit=160)


def call(fn, *args, shown_url: str, window: float | None = None, sleep=time.sleep, **kwargs):
    """`fn(*args, **kwargs)`, retried through connection errors for `window` seconds.

    Waits 0.1 s, 0.2 s, 0.4 s, ... (at most 5 s) between attempts, and gives up before a wait
    that would end past the window (tenacity's `stop_before_delay`).
    """
    from tenacity import Retrying, retry_if_exception, stop_before_delay, wait_exponential

    window = retry_window() if window is None else window
    retrying = Retrying(retry=retry_if_exception(is_connection_error), sleep=sleep, reraise=True,
                        wait=wait_exponential(multiplier=FIRST_DELAY_S, max=MAX_DELAY_S),
                        stop=stop_before_delay(window))
    try:
        return retrying(fn, *args, **kwargs)
    except Exception as e:
        if is_connection_error(e):
            raise StorageLost(shown_url, window, cause_line(e)) from None
        raise


def wrap(storage, shown_url: str):
    """Make every public method of an optuna storage retry through connection errors.

    The methods are replaced on the instance, so the object stays an `RDBStorage` and
    optuna keeps its own cache in front of it.
    """
    for name in dir(type(storage)):
        attr = getattr(type(storage), name, None)
        if name.startswith("_") or not callable(attr) or isinstance(attr, type):
            continue
        method = getattr(storage, name)
        setattr(storage, name, functools.wraps(method)(functools.partial(call, method, shown_url=shown_url)))
    return storage
