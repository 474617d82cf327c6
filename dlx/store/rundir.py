"""`RunDir`: one run's folder (config, metrics, status, log, checkpoints, lock)."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from dlx.errors import ConfigError, RunError
from dlx.store.files import (append_csv_row, atomic_write, atomic_write_csv, atomic_write_text, json_default,
                             keep_previous, make_dir, missing_as_null, new_run_id, yaml_dump)


class RunDir:
    """One run's folder; every write is atomic."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._pending: list = []  # the checkpoint writes queued or in flight (futures), oldest first
        self._metrics: tuple[list[str], int] | None = None  # metrics.csv's columns and rows, as written here

    @classmethod
    def create(cls, root: Path, label: str) -> "RunDir":
        path = make_dir(Path(root), new_run_id(label))
        (path / "checkpoints").mkdir()
        return cls(path)

    @classmethod
    def at(cls, path: Path) -> "RunDir":
        """A run folder at an exact path (e.g. a CV fold's `fold-<k>/`), created if needed."""
        try:
            (Path(path) / "checkpoints").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create {path}: {e.strerror or e} — choose another output_dir") from None
        return cls(path)

    @property
    def id(self) -> str:
        return self.path.name

    def write_yaml(self, name: str, data) -> None:
        from omegaconf import OmegaConf

        text = OmegaConf.to_yaml(data) if not isinstance(data, (list, dict)) else yaml_dump(data)
        atomic_write_text(self.path / name, text)

    def write_json(self, name: str, data: dict) -> None:
        text = json.dumps(missing_as_null(data), indent=2, default=json_default)
        atomic_write_text(self.path / name, text + "\n")

    def write_attention(self, examples: list[dict]) -> Path:
        """attention/examples.json: a few validation examples' attention weights (issue 16)."""
        folder = self.path / "attention"
        folder.mkdir(exist_ok=True)
        atomic_write_text(folder / "examples.json", json.dumps({"examples": examples}) + "\n")
        return folder / "examples.json"

    def write_metrics(self, rows: list[dict]) -> None:
        """metrics.csv for `rows`, never half a row: the one new row appended (one write) when this
        folder wrote all the others under the same columns, else rewritten whole and renamed (the
        first epoch of a session, a resumed run's file, a new column)."""
        columns = list(self._metrics[0]) if self._metrics else []
        for row in rows[-1:] if self._metrics else rows:
            columns += [k for k in row if k not in columns]
        path = self.path / "metrics.csv"
        if self._metrics == (columns, len(rows) - 1) and rows:
            append_csv_row(path, rows[-1], columns)
        else:
            atomic_write_csv(path, rows, columns)
        self._metrics = (columns, len(rows))

    def write_layers(self, rows: list[dict]) -> None:
        """layers.csv (trainer.watch): long format, one row per epoch, layer and statistic."""
        atomic_write_csv(self.path / "layers.csv", rows, ["epoch", "layer", "stat", "value"])

    def write_profile(self, rows: list[dict]) -> None:
        """profile.csv (trainer.profile): seconds per phase, one row per epoch."""
        atomic_write_csv(self.path / "profile.csv", rows, list(rows[0]) if rows else ["epoch"])

    def write_status(self, status: str, **extra) -> None:
        self._settle()  # a status (finished, interrupted, failed) speaks of the checkpoints too
        self.write_json("status.json", {"status": status, "pid": os.getpid(), "time": time.time(), **extra})

    def write_summary(self, summary: dict) -> None:
        self.write_json("summary.json", summary)

    def save_sample(self, name: str, write) -> Path:
        """samples/<name> (a generative run's pictures over training), written through
        `write(file)` (binary) to a temporary file, then renamed."""
        folder = self.path / "samples"
        folder.mkdir(exist_ok=True)
        atomic_write(folder / name, write, binary=True)
        return folder / name

    def checkpoint_path(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.pt"

    def save_checkpoint(self, name: str, state: dict) -> Path:
        """Write checkpoints/<name>.pt atomically; `last` keeps its predecessor as last.prev.pt.

        The file holds the state of this moment: here, on the training thread, `state` is only
        copied (`snapshot`: tensors cloned, containers copied, no serialisation); the one writer
        thread serialises the copy and puts the bytes on disk (temporary file, fsync, rename,
        folder fsync) while training goes on, writes in the order they were asked for. Training
        waits only when two writes are already queued (a slow disk: snapshots do not pile up).
        `flush()` waits for them all and raises a write's error; the next save raises the error
        of a write already done; `write_status` and `unlock` wait too. The previous file is
        hard-linked to `<name>.prev.pt` only once the new one is complete on disk, so at every
        moment one whole checkpoint exists under `last.pt`.
        """
        from dlx import testhooks

        copy = snapshot(state)
        if testhooks.ACTIVE:  # kill points: hit them in step with training, as before
            self.flush()
            _write_checkpoint(self, name, copy)
            return self.checkpoint_path(name)
        self._reap(keep=1)
        self._pending.append(_writer().submit(_write_checkpoint, self, name, copy))
        return self.checkpoint_path(name)

    def flush(self) -> None:
        """Wait for the checkpoints being written; raise the first error (a full disk) if one failed."""
        self._reap(keep=0)

    def _reap(self, keep: int) -> None:
        """Forget finished writes, raising the first failure; wait until at most `keep` remain."""
        while self._pending and (len(self._pending) > keep or self._pending[0].done()):
            error = self._pending[0].exception()  # waits for it
            self._pending.pop(0)  # only now: a Ctrl-C during the wait leaves it for unlock() to wait on
            if error is not None:
                raise error

    def _settle(self) -> None:
        """Wait for the checkpoints being written, keeping their errors for `flush()` to raise."""
        if self._pending:
            from concurrent.futures import wait

            wait(self._pending)

    def remove_temp_files(self) -> None:
        """Drop `.NAME.PID.tmp` files a killed process left (call only while holding the lock)."""
        for tmp in self.path.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def lock(self) -> None:
        """Hold an exclusive lock on `.lock` while this process writes the run (released at exit).

        A second process — `dlx train --resume` of a run still going — is refused, not let in
        to interleave its checkpoints with the first one's.
        """
        key = str(self.path.resolve())
        if key in _LOCKS:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks
            return
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(f"run {self.id} is being written by another dlx process right now; "
                              "wait for it to end or stop it first") from None
        _LOCKS[key] = fd

    def is_being_written(self) -> bool:
        """True while some process holds the run's lock: a `running` status without it means killed."""
        if str(self.path.resolve()) in _LOCKS:
            return True
        try:
            import fcntl

            fd = os.open(self.path / ".lock", os.O_RDWR)
        except (ImportError, OSError):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except OSError:
            return True
        finally:
            os.close(fd)  # also drops the probe's own lock

    def unlock(self) -> None:
        self._settle()  # no write may outlive the lock: a resume could start under it
        fd = _LOCKS.pop(str(self.path.resolve()), None)
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def log(self, line: str) -> None:
        try:
            with open(self.path / "log.txt", "a", encoding="utf-8") as f:
                f.write(line.rstrip("\n") + "\n")
        except OSError as e:
            raise RunError(f"cannot write {self.path / 'log.txt'}: {e.strerror or e}") from None


_LOCKS: dict[str, int] = {}


_ATOMS = (int, float, str, bool, bytes, type(None))


def snapshot(state):
    """A copy of a checkpoint's `state` that later training cannot change: tensors cloned (detached),
    dicts and lists copied (a state_dict's `_metadata` kept), tuples copied when they hold something
    mutable; numbers and strings are immutable and shared. Cheap: memory copies, no serialisation,
    one Python call per container (the RNG states' 625-number tuples and the history's rows are
    most of the values, and nearly all of them numbers)."""
    import torch

    kind = type(state)
    if kind in _ATOMS:
        return state
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        copy = {k: v if type(v) in _ATOMS else snapshot(v) for k, v in state.items()}
        if kind is not dict:
            try:
                copy = kind(copy)  # an OrderedDict (a module's state_dict) stays one
            except TypeError:
                pass
        if hasattr(state, "_metadata"):  # load_state_dict reads each module's version from it
            copy._metadata = state._metadata
        return copy
    if isinstance(state, list):
        return [v if type(v) in _ATOMS else snapshot(v) for v in state]
    if isinstance(state, tuple):
        if all(type(v) in _ATOMS for v in state):
            return state
        items = [snapshot(v) for v in state]
        return kind(*items) if hasattr(state, "_fields") else tuple(items)
    return state


_WRITER = None


def _writer():
    """The one checkpoint-writing thread, started with the first write. An exiting interpreter
    (a second Ctrl-C) runs the writes already queued, so a file being replaced stays whole and
    the new one lands whole or not at all."""
    global _WRITER
    if _WRITER is None:
        from concurrent.futures import ThreadPoolExecutor

        _WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlx-checkpoint")
    return _WRITER


def _forget_writer() -> None:
    """A forked child (a sweep or CV worker) has no writer thread: it starts its own."""
    global _WRITER
    _WRITER = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writer)


def _write_checkpoint(run: RunDir, name: str, state: dict) -> None:
    """One checkpoint's bytes to disk: serialised, temporary file, fsync, keep the previous, rename."""
    import torch

    from dlx import testhooks

    path = run.checkpoint_path(name)
    buffer = io.BytesIO()  # serialised whole first: the kill point below falls mid-file
    torch.save(state, buffer)
    del state

    def write(f):
        view = buffer.getbuffer()
        if not testhooks.ACTIVE:
            f.write(view)  # one call: one release of the GIL, not one per piece
            return
        out = testhooks.PausingWriter(f, f"write-{name}")
        for start in range(0, len(view), _CHUNK):
            out.write(view[start:start + _CHUNK])

    def before_replace():
        if name == "last" and path.exists():
            keep_previous(path, run.checkpoint_path(f"{name}.prev"))
        testhooks.pause(f"replace-{name}")

    atomic_write(path, write, binary=True, sync=True, before_replace=before_replace)


_CHUNK = 64 * 1024  # under test pause points, written in pieces so that the `write-<name>` kill point falls mid-file
