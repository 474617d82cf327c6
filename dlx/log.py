"""Warnings and notes a user sees: the standard `logging` module, one handler installed by the CLI.

Every module logs with `log = logging.getLogger(__name__)` and `log.warning("...")`: one line,
what happened and what to do. The library itself prints nothing; `dlx.cli.main` calls
`install()`, which writes each record of the `dlx` logger to stderr as `warning: <message>`
(the level's name, lower-case), exactly as the CLI's own `warn` did, through rich's console so
that it interleaves with a live progress display.
"""

from __future__ import annotations

import logging

ROOT = "dlx"


class LineHandler(logging.Handler):
    """`<level>: <message>` on stderr, one line, no markup interpretation."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from rich.console import Console

            # a new Console each time: it resolves sys.stderr now (pytest's capsys swaps it)
            Console(stderr=True, soft_wrap=True, highlight=False, markup=False, emoji=False).print(
                f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # pragma: no cover - logging must never raise into the caller
            self.handleError(record)


def install(level: int = logging.INFO) -> None:
    """Send the `dlx` logger's records to stderr (idempotent)."""
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h, LineHandler) for h in logger.handlers):
        logger.addHandler(LineHandler())
    logger.setLevel(level)
    logger.propagate = False


# a library used from Python prints nothing unless its caller configures logging
logging.getLogger(ROOT).addHandler(logging.NullHandler())
