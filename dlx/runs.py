"""The run store: the one module that knows the layout of `outputs/`.

    outputs/runs/<run-id>/  config.yaml overrides.yaml metrics.csv summary.json
                            status.json log.txt checkpoints/{last,last.prev,best}.pt
                            .lock (held while a process writes the run)

Every file is written atomically (temporary name in the same folder, then
`os.replace`), so a killed run never leaves a half-written file (at most a
`.NAME.PID.tmp`, removed on resume). `summary.json` is written last: its presence
means the run finished.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from dlx.errors import ConfigError, RunError

RUNS = "runs"
SWEEPS = "sweeps"
CV = "cv"


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False, sync: bool = False,
                 before_replace: Callable[[], None] | None = None) -> None:
    """Write through `write(file)` to a temporary file, then rename it over `path`.

    `sync` forces the bytes to disk before the rename (checkpoints: a power cut then
    finds the old file or the new one, never a torn one); `before_replace` runs between
    the complete temporary file and the rename.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
        if sync:
            _sync_dir(path.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunError(f"cannot write {path}: {e.strerror or e} — check free space and permissions") from None
    except BaseException:  # Ctrl-C or a bug half-way: leave no temporary file behind
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", str(text)).strip("-") or "run"


def new_run_id(label: str, now: datetime | None = None) -> str:
    """`2026-11-21_22-40-12_mlp-adam-digits`: sortable by time, readable by content."""
    now = now or datetime.now()
    return f"{now:%Y-%m-%d_%H-%M-%S}_{slug(label)}"


def make_dir(root: Path, name: str) -> Path:
    """Create `root/name` exclusively; a clash (same second, same label) gets `-2`, `-3`, ..."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create {root}: {e.strerror or e} — choose another output_dir") from None
    for n in range(1, 10_000):
        path = root / (name if n == 1 else f"{name}-{n}")
        try:
            path.mkdir()  # atomic: fails if another run took this name first
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise RunError(f"cannot create {path}: {e.strerror or e} — choose another output_dir") from None
    raise RunError(f"too many runs named {name} in {root}")


class RunDir:
    """One run's folder; every write is atomic."""

    def __init__(self, path: Path):
        self.path = Path(path)

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

        text = OmegaConf.to_yaml(data) if not isinstance(data, (list, dict)) else _yaml_dump(data)
        atomic_write_text(self.path / name, text)

    def write_json(self, name: str, data: dict) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, default=_json_default) + "\n")

    def write_metrics(self, rows: list[dict]) -> None:
        """Rewrite metrics.csv whole each epoch (it is small), so it is never half a row."""
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path / "metrics.csv", buf.getvalue())

    def write_status(self, status: str, **extra) -> None:
        self.write_json("status.json", {"status": status, "pid": os.getpid(), "time": time.time(), **extra})

    def write_summary(self, summary: dict) -> None:
        self.write_json("summary.json", summary)

    def checkpoint_path(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.pt"

    def save_checkpoint(self, name: str, state: dict) -> Path:
        """Write checkpoints/<name>.pt atomically; `last` keeps its predecessor as last.prev.pt.

        The previous file is hard-linked to `<name>.prev.pt` only once the new one is complete
        on disk, so at every moment one whole checkpoint exists under `last.pt`.
        """
        import torch

        from dlx import testhooks

        path = self.checkpoint_path(name)

        def write(f):
            torch.save(state, testhooks.PausingWriter(f, f"write-{name}") if testhooks.ACTIVE else f)

        def before_replace():
            if name == "last" and path.exists():
                _keep_previous(path, self.checkpoint_path(f"{name}.prev"))
            testhooks.pause(f"replace-{name}")

        atomic_write(path, write, binary=True, sync=True, before_replace=before_replace)
        return path

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


def _sync_dir(folder: Path) -> None:
    """fsync a folder so a rename in it survives a power cut (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _keep_previous(path: Path, prev: Path) -> None:
    """`path` -> `prev` without a moment when `path` is missing: link (or copy), then rename."""
    import shutil

    tmp = prev.with_name(f".{prev.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:  # a file system without hard links
        shutil.copyfile(path, tmp)
    os.replace(tmp, prev)


def _yaml_dump(data) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(data))


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---------------------------------------------------------------- reading back


def run_dirs(root: Path, kind: str = RUNS) -> list[Path]:
    folder = Path(root) / kind
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)


def read_summary(path: Path) -> dict | None:
    try:
        return json.loads((Path(path) / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def read_metrics(path: Path):
    import pandas as pd

    return pd.read_csv(Path(path) / "metrics.csv")


def find_run(root: Path, ref: str, kinds: Iterable[str] = (RUNS,)) -> Path:
    """A run by id, unique prefix or suffix, or `last`; clear errors otherwise."""
    candidates = [p for kind in kinds for p in run_dirs(root, kind)]
    if not candidates:
        raise ConfigError(f"no runs in {Path(root) / RUNS}; start one with `dlx train`")
    if ref == "last":
        return max(candidates, key=lambda p: p.name)
    exact = [p for p in candidates if p.name == ref]
    if exact:
        return exact[0]
    matches = [p for p in candidates if p.name.startswith(ref) or p.name.endswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no run matches '{ref}'; see `dlx runs` for the ids")
    names = ", ".join(p.name for p in matches[:5])
    raise ConfigError(f"'{ref}' matches {len(matches)} runs ({names}); give more of the id")
