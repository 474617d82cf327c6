"""The cyclic garbage collector around set-up: off while dlx loads torch and builds a run, then
what set-up made is frozen (out of the collector's sight).

Importing torch, torch._dynamo (every optimizer imports it) and scikit-learn makes hundreds of
thousands of objects that live as long as the process. CPython's collector, seeing the heap grow,
walks all of them again and again while they load; during training each full collection walks
them once more (~0.3 s each on a 2-core machine), and so does the interpreter's exit. None of it
frees anything. A plain script with the collector off while it sets up and `gc.freeze()` before
its loop runs the default digits run in 9.0 s instead of 11.2 s (median of 5 interleaved runs).

    with heap.setting_up():      # imports, data, model: no collections
        ...                      # leaving the outermost block: gc.freeze(), collector back on
    heap.run_ended()             # later set-ups are not frozen

Objects freed by reference counting (tensors, arrays, a finished run's model and trainer) are
freed as always; freezing only keeps the collector from scanning them. What is frozen stays
uncollected, so only set-up up to a process's first run is frozen: the imports, which live as
long as the process anyway, and that run's few cycles (its configs, a few MB at most). A process
that runs many (a sweep worker, the tests) sets up later runs without collections but unfrozen,
so what they leave behind is collected as usual, and cheaply, since the imports are out of sight.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

_depth = 0
_was_enabled = True
_run_ended = False


@contextmanager
def setting_up():
    """No collections inside; leaving the outermost block freezes what exists (until the
    process's first run has ended) and turns the collector back on."""
    global _depth, _was_enabled
    if _depth == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            if not _run_ended:
                gc.freeze()
            if _was_enabled:
                gc.enable()


def run_ended() -> None:
    """A run is over: from now on set-up is not frozen, so later runs' leftovers stay collectable."""
    global _run_ended
    _run_ended = True
