"""Reading checkpoints back safely.

Checkpoints load with `torch.load(weights_only=True)` only: tensors, numbers, strings,
lists, tuples and dicts. A file that holds other pickled objects is refused — unpickling
one can run any code — and nothing in it is executed.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

from dlx.errors import RunError, first_line


class UnsafeCheckpoint(RunError):
    """A checkpoint holding pickled Python objects: never loaded."""


class UnreadableCheckpoint(RunError):
    """A checkpoint that is truncated, corrupt or missing."""


def load_checkpoint(path: Path) -> dict:
    """The dict saved at `path`, on the CPU; UnsafeCheckpoint / UnreadableCheckpoint otherwise."""
    import torch

    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns about unusual pickle protocols: noise here
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "unsupported global" in str(e).lower():  # a class or function to import: refused
            raise UnsafeCheckpoint(
                f"refusing to load {path}: it holds pickled Python objects, not only tensors and "
                "plain values, and loading them could run code; use only checkpoints written by dlx"
            ) from None
        raise UnreadableCheckpoint(f"{path} is corrupt ({first_line(e)})") from None
    except FileNotFoundError:
        raise UnreadableCheckpoint(f"{path} does not exist") from None
    except Exception as e:  # a truncated zip, random bytes, an empty file, ...
        raise UnreadableCheckpoint(f"{path} is unreadable ({first_line(e)})") from None
    if not isinstance(state, dict):
        raise UnreadableCheckpoint(f"{path} does not hold a dlx checkpoint (found {type(state).__name__})")
    return state


RESUME_KEYS = ("model", "optimizer", "schedule", "epoch", "step", "history", "rng")


def load_resume_state(candidates: list[Path], warn) -> tuple[dict | None, Path | None]:
    """The first readable checkpoint of `candidates` (last.pt, then last.prev.pt).

    An unreadable file is skipped with `warn(message)` naming it; an unsafe one stops
    everything. None when no candidate exists at all (killed before its first checkpoint);
    an error when files exist but none is readable — never a silent fresh start.
    """
    problems = []
    for path in candidates:
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
            missing = [k for k in RESUME_KEYS if k not in state]
            if missing:
                raise UnreadableCheckpoint(f"{path} is not a resumable dlx checkpoint (no {', '.join(missing)})")
        except UnreadableCheckpoint as e:
            problems.append(str(e))
            continue
        for problem in problems:
            warn(f"{problem}; resuming from {path.name} instead")
        return state, path
    if problems:
        raise RunError(f"no readable checkpoint to resume from: {'; '.join(problems)} — "
                       "start a new run with `dlx train`")
    return None, None
