"""Crash-safe files: written to a temporary name in the same folder, then `os.replace`d.

A killed process never leaves a half-written file, at most a `.NAME.PID.tmp`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from dlx.errors import RunError


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
    """`text` to `path`, all or nothing (UTF-8, newlines as given)."""
    atomic_write(path, lambda f: f.write(text))


def atomic_write_csv(path: Path, rows: Iterable[dict], columns: list[str]) -> None:
    """A CSV of `rows` under the header `columns`, all or nothing: `\\n` line ends, a key
    missing from a row is an empty cell, a key not in `columns` is an error; floats go
    through str() (the shortest text that reads back as the same float)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", str(text)).strip("-") or "run"


def new_run_id(label: str, now: datetime | None = None) -> str:
    """`2026-11-21_22-40-12_mlp-adam-digits`: sortable by time, readable by content."""
    now = now or datetime.now()
    return f"{now:%Y-%m-%d_%H-%M-%S}_{slug(label)}"


def newest_first(record) -> tuple:
    """The order of `last` among run records (`.id`, `.path`): the id's time, then when config.yaml was written (the run's start), then
    the id (a fold's `<cv-id>/fold-10` after `fold-9`)."""
    head, _, tail = record.id.rpartition("/fold-")
    if head and tail.isdigit():
        return head, float(tail), record.id
    try:
        started = (Path(record.path) / "config.yaml").stat().st_mtime
    except OSError:
        started = 0.0
    return record.id[:19], started, record.id

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


def keep_previous(path: Path, prev: Path) -> None:
    """`path` -> `prev` without a moment when `path` is missing: link (or copy), then rename."""
    import shutil

    tmp = prev.with_name(f".{prev.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:  # a file system without hard links
        shutil.copyfile(path, tmp)
    os.replace(tmp, prev)


def yaml_dump(data) -> str:
    """`data` (dicts, lists, scalars) as YAML text, written the way OmegaConf writes a config."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(data))


def missing_as_null(value):
    """NaN and ±inf (a metric of an empty split, no validation split) as None: JSON's null, not `NaN`."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: missing_as_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [missing_as_null(v) for v in value]
    return value


def json_default(value):
    """`json.dumps(default=...)`: numpy/torch scalars as Python numbers, paths as text."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def append_csv_row(path: Path, row: dict, columns: list[str]) -> None:
    """One row appended to the CSV at `path` (written by `atomic_write_csv` under the same
    `columns`), in one write call of a few hundred bytes: a kill leaves the file with or without
    the row (and a resumed run rewrites the file whole from its checkpoint anyway)."""
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=columns, lineterminator="\n").writerow(row)
    try:
        with open(path, "a", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
    except OSError as e:
        raise RunError(f"cannot write {path}: {e.strerror or e} — check free space and permissions") from None
