"""Reading checkpoints back safely.

Checkpoints load with `torch.load(weights_only=True)` only: tensors, numbers, strings,
lists, tuples and dicts. A file that holds other pickled objects is refused — unpickling
one can run any code — and nothing in it is executed.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from pathlib import Path

from dlx.errors import RunError, first_line

log = logging.getLogger(__name__)


class UnsafeCheckpoint(RunError):
    """A checkpoint holding pickled Python objects: never loaded."""


class UnreadableCheckpoint(RunError):
    """A checkpoint that is truncated, corrupt or missing."""


def load_checkpoint(path: Path) -> dict:
    """The dict saved at `path`, on the CPU; UnsafeCheckpoint / UnreadableCheckpoint otherwise."""
    import torch

    path = Path(path)
    if _is_raw_pickle(path):
        raise UnsafeCheckpoint(
            f"refusing to load {path}: it is a raw Python pickle, not a checkpoint written by torch.save, "
            "and unpickling it could run code; use only checkpoints written by dlx")
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
        raise UnreadableCheckpoint(f"{path} is corrupt ({why(e)})") from None
    except FileNotFoundError:
        raise UnreadableCheckpoint(f"{path} does not exist") from None
    except Exception as e:  # a truncated zip, random bytes, an empty file, ...
        raise UnreadableCheckpoint(f"{path} is unreadable ({why(e)})") from None
    if not isinstance(state, dict):
        raise UnreadableCheckpoint(f"{path} does not hold a dlx checkpoint (found {type(state).__name__})")
    return state


def why(e: BaseException) -> str:
    """What torch said about a file it could not read, less its advice to load with
    `weights_only=False`: that would unpickle (run) whatever the file holds, so dlx never passes it on."""
    line = first_line(e)
    if "weights_only" in line or "weights only" in line.lower():
        return "not a checkpoint written by torch.save"
    if line.isdigit() or line in ("EOFError", "UnpicklingError"):  # a bare opcode or class: say what it means
        return f"not a checkpoint written by torch.save: {line}"
    return line


def _is_raw_pickle(path: Path) -> bool:
    """A file that `pickle.dump` wrote: dlx (torch.save) writes a zip archive; a pickle starts with
    PROTO (0x80, protocols 2-5) or is a protocol 0/1 stream that ends with STOP ('.')."""
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            return False
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 1))
            tail = f.read(1)
    except OSError:
        return False
    return (len(head) == 2 and head[0] == 0x80 and head[1] <= 5) or (size > 1 and tail == b"." and head[:1] in b"(}]")


RESUME_KEYS = ("model", "optimizer", "schedule", "epoch", "step", "history", "rng")
# what each field must be for Trainer.load_state_dict; anything else is a damaged or foreign file
RESUME_TYPES = {"model": dict, "optimizer": dict, "schedule": dict, "epoch": int, "step": int, "history": list,
                "rng": dict}


def _check_types(state: dict, path: Path) -> None:
    """Missing keys or fields of the wrong type make a checkpoint unreadable (fall back to the previous)."""
    missing = [k for k in RESUME_KEYS if k not in state]
    if missing:
        raise UnreadableCheckpoint(f"{path} is not a resumable dlx checkpoint (no {', '.join(missing)})")
    wrong = [k for k, kind in RESUME_TYPES.items()
             if not isinstance(state[k], kind) or (kind is int and isinstance(state[k], bool))]
    if not wrong and (state["epoch"] < 0 or state["step"] < 0):
        wrong = ["epoch" if state["epoch"] < 0 else "step"]
    if not wrong:
        wrong = [k for k in ("python", "numpy", "torch") if k not in state["rng"]]
        wrong += [] if all(isinstance(row, dict) for row in state["history"]) else ["history"]
    if wrong:
        raise UnreadableCheckpoint(f"{path} is damaged: field {', '.join(wrong)} is not what dlx wrote")


def load_resume_state(candidates: list[Path], warn=None) -> tuple[dict | None, Path | None]:
    """The first readable checkpoint of `candidates` (last.pt, then last.prev.pt).

    An unreadable file is skipped with a warning naming it (logged; `warn(message)` instead when
    given: a caller that wants it silent passes a no-op); an unsafe one stops
    everything. None when no candidate exists at all (killed before its first checkpoint);
    an error when files exist but none is readable — never a silent fresh start.
    """
    problems = []
    for path in candidates:
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
            _check_types(state, path)
        except UnreadableCheckpoint as e:
            problems.append(str(e))
            continue
        for problem in problems:
            (warn or log.warning)(f"{problem}; resuming from {path.name} instead")
        return state, path
    if problems:
        raise RunError(f"no readable checkpoint to resume from: {'; '.join(problems)} — "
                       "start a new run with `dlx train`")
    return None, None
