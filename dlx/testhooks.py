"""Test-only pause points, so a test can kill dlx at an exact moment without sleeping.

`DLX_TEST_PAUSE=<point>@<n>` makes the n-th pass through `pause(<point>)` create the file
named by `DLX_TEST_MARKER` and wait there; the test polls for that file, then sends
SIGKILL (the process dies there) or SIGINT/SIGTERM (it resumes once the signal is handled).
Unset — always, outside tests — each point costs one global lookup.

Points: `step` (after each optimizer step), `epoch-end` (metrics.csv written, last.pt not
yet), `write-<name>` (64 KiB into the bytes of checkpoints/<name>.pt),
`replace-<name>` (the new checkpoint complete under its temporary name, not yet renamed),
`summary` (training and testing done, summary.json not yet written), `play-episode` (dlx play:
an episode rendered, the GIF not yet complete).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SPEC = os.environ.get("DLX_TEST_PAUSE", "")
ACTIVE = bool(SPEC)
_counts: dict[str, int] = {}
signals_seen = 0  # bumped by dlx's signal handler: a paused process goes on after one


def pause(point: str) -> None:
    if not ACTIVE:
        return
    name, _, nth = SPEC.partition("@")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] != int(nth or 1):
        return
    seen = signals_seen
    Path(os.environ["DLX_TEST_MARKER"]).write_text(str(os.getpid()))
    while signals_seen == seen:  # SIGKILL ends it here; a handled signal lets it go on
        time.sleep(0.01)


class PausingWriter:
    """A file wrapper that pauses at `point` once `after` bytes are written (mid-file)."""

    def __init__(self, f, point: str, after: int = 64 * 1024):
        self.f, self.point, self.after, self.written, self.paused = f, point, after, 0, False

    def write(self, data) -> int:
        n = self.f.write(data)
        self.written += len(data)
        if not self.paused and self.written >= self.after:
            self.paused = True
            self.f.flush()  # what a kill finds on disk: a partial file
            pause(self.point)
        return n

    def flush(self) -> None:
        self.f.flush()


def wants(point: str) -> bool:
    return ACTIVE and SPEC.partition("@")[0] == point
