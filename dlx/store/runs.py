"""The run store: the one module that knows the layout of `outputs/`.

    outputs/runs/<run-id>/  config.yaml overrides.yaml metrics.csv summary.json
                            status.json log.txt checkpoints/{last,last.prev,best}.pt
                            .lock (held while a process writes the run)
    outputs/sweeps/<sweep-id>/runs/<run-id>/    a sweep's member runs (same files)
    outputs/cv/<cv-id>/fold-<k>/                a cross-validation's folds (same files)
    outputs/sweeps/<sweep-id>/cv/trial-<n>/fold-<k>/   the folds of a `sweep --cv` trial (same files)

Every file is written atomically (temporary name in the same folder, then
`os.replace`), so a killed run never leaves a half-written file (at most a
`.NAME.PID.tmp`, removed on resume). `summary.json` is written last: its presence
means the run finished.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from dlx.config.compose import TOP_LEVEL_KEYS
from dlx.errors import ConfigError
from dlx.objective import mode_for
from dlx.parallel import pid_alive
from dlx.store.files import newest_first
from dlx.store.rundir import RunDir

log = logging.getLogger(__name__)

RUNS = "runs"
SWEEPS = "sweeps"
CV = "cv"
RUN, SWEEP = "run", "sweep"  # the kinds of run folders; CV ("cv") doubles as one


# ---------------------------------------------------------------- reading back


def run_dirs(root: Path, kind: str = RUNS) -> list[Path]:
    folder = Path(root) / kind
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)


def read_summary(path: Path) -> dict | None:
    """summary.json as a dict; None when missing, unreadable or not a JSON object."""
    try:
        data = json.loads((Path(path) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def foreign_summary(path: Path) -> str | None:
    """Why summary.json, though valid JSON, is not a run's summary (`[1,2,3]`, `{}`); None when it
    is one, or is missing or half-written (those read as an unfinished run)."""
    try:
        data = json.loads((Path(path) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return f"summary.json holds a JSON {type(data).__name__}, not a run's summary (an object)"
    return None if "run_id" in data else "summary.json has no run_id (not a run's summary)"


def read_metrics(path: Path, warn: bool = False):
    """metrics.csv as numbers. A cell that is not a number (a damaged or hand-edited file) reads as
    missing and a row without an epoch number is dropped; with `warn`, a warning says how many."""
    import pandas as pd

    frame = pd.read_csv(Path(path) / "metrics.csv")
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & frame.notna()
    if not bad.to_numpy().any():
        return frame
    if warn:
        columns = ", ".join(str(c) for c in bad.columns[bad.any()])
        log.warning(f"{Path(path) / 'metrics.csv'}: {int(bad.to_numpy().sum())} value(s) are not numbers "
             f"(column {columns}); showing them as missing")
    if "epoch" in numeric:
        numeric = numeric[numeric["epoch"].notna()]
    return numeric.reset_index(drop=True)


def find_run(root: Path, ref: str, kinds: Iterable[str] = (RUN, SWEEP, CV)) -> Path:
    """A run by id, unique prefix or suffix, or `last`; clear errors otherwise.

    Sweep members and CV folds count too (a fold's id is `<cv-id>/fold-<k>`).
    """
    return find_record(root, ref, kinds).path


# ---------------------------------------------------------------- discovery and frames (issue 8)

GROUPS = ("model", "optim", "scheduler", "regularizer", "loss", "data", "trainer")
_ID_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})")


class BadRun(Exception):
    """A run folder that cannot be read (half-written, corrupt JSON); listings skip it."""


@dataclass(frozen=True)
class RunRecord:
    """Where one run folder lives: a plain run, a sweep member, or a CV fold."""

    path: Path
    kind: str  # run | sweep | cv
    group: Optional[str] = None  # the sweep or CV id of a member run

    @property
    def id(self) -> str:
        # fold folders are `fold-<k>` in every CV: only the CV id makes them unique
        return f"{self.group}/{self.path.name}" if self.kind == CV else self.path.name


def _subdirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _fold_number(path: Path) -> int:
    tail = path.name.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0


def iter_runs(root: Path, kinds: Iterable[str] = (RUN, SWEEP, CV)) -> Iterator[RunRecord]:
    """Every run folder under `root` (outputs/): runs/*, sweeps/*/runs/*, cv/*/fold-*, sweeps/*/cv/*/fold-*."""
    # the folder names (RUNS, SWEEPS) that find_run's `kinds` took before are accepted too
    root, kinds = Path(root), {{RUNS: RUN, SWEEPS: SWEEP}.get(k, k) for k in kinds}
    if RUN in kinds:
        for path in _subdirs(root / RUNS):
            yield RunRecord(path, RUN)
    if SWEEP in kinds:
        for sweep in _subdirs(root / SWEEPS):
            for path in _subdirs(sweep / RUNS):
                yield RunRecord(path, SWEEP, sweep.name)
    if CV in kinds:
        for cv in _subdirs(root / CV):
            yield from _folds(cv, cv.name)
        for sweep in _subdirs(root / SWEEPS):  # `sweep --cv`: a CV per trial, sweeps/<id>/cv/trial-<n>/fold-<k>
            for trial in _subdirs(sweep / CV):
                yield from _folds(trial, f"{sweep.name}/{CV}/{trial.name}")


def _folds(cv: Path, group: str) -> Iterator[RunRecord]:
    folds = [p for p in _subdirs(cv) if p.name.startswith("fold-")]
    for path in sorted(folds, key=_fold_number):
        yield RunRecord(path, CV, group)


def _match(refs: list[str], ref: str, what: str, hint: str) -> str:
    """Exact, then unique prefix or suffix (else substring), or `last` (the newest by id)."""
    if ref == "last":
        return max(refs, key=_sort_key)
    if ref in refs:
        return ref
    matches = [r for r in refs if r.startswith(ref) or r.endswith(ref)]
    if not matches:  # e.g. the time in the middle of an id; still must be unique
        matches = [r for r in refs if ref in r]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no {what} matches '{ref}'; {hint}")
    names = ", ".join(sorted(matches)[:8]) + (", ..." if len(matches) > 8 else "")
    raise ConfigError(f"'{ref}' matches {len(matches)} {what}s ({names}); give more of the id")


def _sort_key(run_id: str) -> tuple:
    # date-prefixed ids sort by time; a fold's `<cv-id>/fold-10` after `fold-9`
    head, _, tail = run_id.rpartition("/fold-")
    return (head, int(tail)) if head and tail.isdigit() else (run_id, -1)


def find_record(root: Path, ref: str, kinds: Iterable[str] = (RUN, SWEEP, CV)) -> RunRecord:
    records = {r.id: r for r in iter_runs(root, kinds)}
    if not records:
        raise ConfigError(f"no runs in {root}/; start one with `dlx train`")
    if ref == "last":  # ids name the second only: two runs of one second are told apart by their start
        return max(records.values(), key=newest_first)
    return records[_match(list(records), ref, "run", "see `dlx runs --all` for the ids")]


def read_attention(root: Path, ref: str) -> tuple[str, list[dict]]:
    """(run id, examples) of the attention weights a seq2seq run saved (RunDir.write_attention)."""
    record = find_record(root, ref)
    path = Path(record.path) / "attention" / "examples.json"
    if not path.is_file():
        raise ConfigError(f"run {record.id} saved no attention weights (attention/examples.json); --attention "
                          "needs a finished run of model=seq2seq with model.attention other than none")
    return record.id, json.loads(path.read_text(encoding="utf-8"))["examples"]


def find_group(root: Path, kind: str, ref: str) -> str:
    """A sweep or CV id (`kind` sweep | cv) by id, unique prefix or suffix, or `last`."""
    folder = Path(root) / (SWEEPS if kind == SWEEP else CV)
    ids = [p.name for p in _subdirs(folder)]
    if not ids:
        raise ConfigError(f"no {kind}s in {folder}/; start one with `dlx {kind}`")
    return _match(ids, ref, kind, f"the {kind}s are in {folder}/")


def select_runs(root: Path, *, sweep: str | None = None, cv: str | None = None,
                members: bool = False) -> list[RunRecord]:
    """The runs of one sweep or CV, else plain runs (and, with `members`, every member run)."""
    root = Path(root)
    if not root.is_dir() or not any(True for _ in iter_runs(root)):
        raise ConfigError(f"no runs in {root}/; start one with `dlx train`")
    if sweep is not None:
        sweep = find_group(root, SWEEP, sweep)  # its trial runs, or with --cv its trials' fold runs
        return [r for r in iter_runs(root, (SWEEP, CV)) if r.group == sweep or (r.group or "").startswith(sweep + "/")]
    if cv is not None:
        cv = find_group(root, CV, cv)
        return [r for r in iter_runs(root, (CV,)) if r.group == cv]
    return list(iter_runs(root, (RUN, SWEEP, CV) if members else (RUN,)))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise BadRun(f"cannot read {path.name}: {e.strerror or e}") from None
    except ValueError:
        raise BadRun(f"{path.name} is not valid JSON (half-written or corrupt)") from None
    if not isinstance(data, dict):
        raise BadRun(f"{path.name} is not a JSON object")
    return data


def run_status(path: Path) -> str:
    """running | finished | failed | interrupted; raises BadRun for an unreadable folder.

    summary.json (written last) decides when present. Otherwise status.json: a run still
    marked running (or finished, killed before its summary) is running only while a process
    holds its lock; otherwise it was interrupted, killed too hard to write its own status.
    The lock, not the pid in status.json: after a reboot or a kill that pid may be another
    process's.
    """
    path = Path(path)
    if (path / "summary.json").exists():
        return str(_read_json(path / "summary.json").get("status", "finished"))
    if not (path / "status.json").exists():
        raise BadRun("no status.json or summary.json (half-written?)")
    info = _read_json(path / "status.json")
    status = info.get("status")
    if status in ("running", "finished"):
        return "running" if _held(path, info.get("pid")) else "interrupted"
    if not isinstance(status, str) or not status:
        raise BadRun("status.json has no status")
    return status  # failed, interrupted, or a state another command writes (e.g. a pruned trial)


def _held(path: Path, pid) -> bool:
    """Whether a live process writes the run: it holds `.lock` (see `RunDir.lock`). A folder without
    `.lock` (written before runs were locked) falls back to the pid."""
    if (path / ".lock").exists():
        return RunDir(path).is_being_written()
    return pid_alive(pid)


def flatten(data, prefix: str = "", *, lists_as_text: bool = True) -> dict:
    """{'optim': {'lr': 0.1}} -> {'optim.lr': 0.1}; lists become their YAML-ish text (a table
    cell) unless `lists_as_text=False` (comparing configs value by value)."""
    flat = {}
    for key, value in (data or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + ".", lists_as_text=lists_as_text))
        elif isinstance(value, (list, tuple)) and lists_as_text:
            flat[name] = "[" + ", ".join(str(v) for v in value) + "]"
        else:
            flat[name] = value
    return flat


def read_config(path: Path) -> dict:
    """The run's composed config.yaml as nested dicts ({} when missing or unreadable)."""
    import yaml

    try:
        data = yaml.safe_load((Path(path) / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def read_overrides(path: Path) -> list[str]:
    import yaml

    try:
        data = yaml.safe_load((Path(path) / "overrides.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []
    return [str(o) for o in data] if isinstance(data, list) else []


def started_at(record: RunRecord) -> str:
    """When the run started, `2026-11-21T22:40:12`: the time in its (or its CV's) id, else
    config.yaml's modification time (written once, at the start)."""
    for text in (record.path.name, record.group or ""):
        match = _ID_TIME.match(text)
        if match:
            return datetime.strptime(match.group(1), "%Y-%m-%d_%H-%M-%S").isoformat()
    for name in ("config.yaml", ""):
        try:
            return datetime.fromtimestamp(int((record.path / name).stat().st_mtime)).isoformat()
        except OSError:
            continue
    return ""


def _partial_summary(path: Path, config: dict) -> dict:
    """What an unfinished run can tell: its groups from config.yaml, its epochs from metrics.csv."""
    flat = flatten(config)
    # the same fields as a finished run's summary.json
    out = {g: flat.get(f"{g}.name") for g in ("model", "optim", "scheduler", "regularizer", "data")}
    monitor = out["monitor"] = flat.get("trainer.monitor")
    try:
        metrics = read_metrics(path)
    except Exception:  # no epoch finished yet, or a file being replaced
        return out
    if len(metrics):
        last = metrics.iloc[-1].to_dict()
        out.update({k: v for k, v in last.items() if str(k).startswith(("train_", "val_"))})
        out["epochs_run"] = int(last.get("epoch", len(metrics)))
        if monitor in metrics:
            mode = flat.get("trainer.monitor_mode")
            if mode not in ("min", "max"):
                mode = metric_mode(monitor)
            values = metrics[monitor].dropna()
            if len(values):
                out["best_value"] = values.min() if mode == "min" else values.max()
                out["best_epoch"] = int(metrics.loc[values.idxmin() if mode == "min" else values.idxmax(), "epoch"])
    return out


def metric_mode(name: str) -> str:
    """'min' or 'max': the direction in which metric `name` improves (dlx.metrics decides)."""
    return mode_for(name)


def load_run(record: RunRecord) -> dict:
    """One row: id, kind, group, status, started, path, summary fields, flattened config."""
    status = run_status(record.path)
    config = read_config(record.path)
    summary = read_summary(record.path) if (record.path / "summary.json").exists() else None
    summary = summary if summary is not None else _partial_summary(record.path, config)
    row = {"id": record.id, "kind": record.kind, "group": record.group, "status": status,
           "started": started_at(record), "path": str(record.path)}
    row.update({k: v for k, v in summary.items() if k not in ("run_id", "status", "path")})
    row.update({k: v for k, v in flatten(config).items() if k not in row})
    return row


def config_columns(df) -> list[str]:
    """The columns of a `load_runs` frame that are config keys (`optim.lr`, `name`, ...)."""
    return [c for c in df.columns if "." in c or c in TOP_LEVEL_KEYS]


def load_runs(records: Iterable[RunRecord], on_skip: Callable[[Path, str], None] | None = None):
    """A DataFrame, one row per readable run, newest first; unreadable folders go to `on_skip`.

    Columns: id, kind, group, status, started (ISO time), path, the summary's fields
    (model, optim, ..., best_value, train_/val_/test_ metrics, params, duration_s) and every
    config key flattened (`model.name`, `optim.lr`, ...; see `config_columns`).
    """
    import pandas as pd

    rows = []
    for record in records:
        try:
            row = load_run(record)
        except BadRun as e:
            if on_skip is None:
                log.warning(f"skipping {record.path}: {e}")
            else:
                on_skip(record.path, str(e))
            continue
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        # same second (a CV's folds): the id decides, fold-10 after fold-9
        order = sorted(range(len(df)), key=lambda i: (df["started"][i], _sort_key(df["id"][i])), reverse=True)
        df = df.iloc[order].reset_index(drop=True)
    return df


def read_status(path: Path) -> dict:
    """status.json as written ({} when missing or unreadable): status, pid, time, reason, ..."""
    try:
        return _read_json(Path(path) / "status.json")
    except BadRun:
        return {}
