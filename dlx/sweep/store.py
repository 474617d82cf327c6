"""A sweep's folder and its optuna study: the one module that knows their layout.

    outputs/sweeps/<sweep-id>/  sweep.json     the command, space, sampler, metric, direction
                                study.db       the optuna study (SQLite) unless --storage
                                trials.csv     one row per trial
                                best.yaml      the best trial: overrides, value, run id
                                best.overrides the same overrides on one line, for `dlx train`
                                runs/<run-id>/ each trial's run
                                workers/       one log per worker process
"""

from __future__ import annotations

import json
import math
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from dlx.errors import ConfigError, first_line
from dlx.store.files import atomic_write_csv, atomic_write_text, make_dir, new_run_id
from dlx.store.runs import SWEEPS
from dlx.sweep import retry
from dlx.sweep.records import SweepSpec, TrialRow

SPEC, STUDY_DB, TRIALS_CSV, BEST_YAML, BEST_OVERRIDES = (
    "sweep.json", "study.db", "trials.csv", "best.yaml", "best.overrides")
ENDED = ("COMPLETE", "PRUNED", "FAIL", "INTERRUPTED")  # a trial's states once it stopped running
SPEC_ATTR = "dlx_sweep"  # the spec is also kept in the study, for workers on other machines
TIE_RULE = "best objective; on a tie, the lower val_loss, then the earlier trial"  # see rank_key


# ---------------------------------------------------------------- folders


def create_sweep_dir(output_dir: str, label: str) -> Path:
    path = make_dir(Path(output_dir) / SWEEPS, new_run_id(label))
    (path / "runs").mkdir()
    return path


def find_sweep(output_dir: str, ref: str) -> Path:
    """A sweep by folder path, id, unique prefix or suffix, or `last`."""
    if os.sep in ref and (Path(ref) / SPEC).is_file():
        return Path(ref)
    root = Path(output_dir) / SWEEPS
    found = sorted(p for p in root.glob("*") if (p / SPEC).is_file()) if root.is_dir() else []
    if not found:
        raise ConfigError(f"no sweeps in {root}; start one with `dlx sweep key=a,b`")
    if ref == "last":
        return found[-1]
    matches = [p for p in found if p.name == ref] or \
              [p for p in found if p.name.startswith(ref) or p.name.endswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no sweep matches '{ref}' in {root}; the ids are its folder names")
    raise ConfigError(f"'{ref}' matches {len(matches)} sweeps ({', '.join(p.name for p in matches[:4])}); "
                      "give more of the id")


def write_spec(sweep_dir: Path, spec: SweepSpec) -> None:
    atomic_write_text(Path(sweep_dir) / SPEC, json.dumps(spec.to_json(), indent=2) + "\n")


def read_spec(sweep_dir: Path) -> SweepSpec:
    try:
        return SweepSpec.from_json(json.loads((Path(sweep_dir) / SPEC).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"cannot read {Path(sweep_dir) / SPEC}: {first_line(e, limit=None)}") from None


# ---------------------------------------------------------------- the study


def storage_url(sweep_dir: Path, url: str | None) -> str:
    return url or f"sqlite:///{(Path(sweep_dir) / STUDY_DB).resolve()}"


def study_url(sweep_dir: Path, spec: SweepSpec, storage: str | None) -> str:
    """The storage to reopen a sweep with: `--storage` if given, else the one it was created with."""
    saved = spec.storage
    if storage is None and saved and "***" in saved:
        raise ConfigError("this sweep's storage URL has a password; give it again with --storage URL")
    return storage_url(sweep_dir, storage or saved)


def redact(url: str | None) -> str | None:
    """The URL as it may be written to disk: any password hidden."""
    if url is None or "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: hide everything between :// and the last @
        scheme, sep, rest = url.partition("://")
        if not sep:  # no scheme at all: the whole text may be a secret
            return "***@" + url.rsplit("@", 1)[1]
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}" if "@" in rest else f"{scheme}://***"


def scrub(text: str, url: str | None) -> str:
    """`text` (an error from the driver) with the URL's password, if any, hidden."""
    if not url or "@" not in url:
        return text
    secret = url.split("://", 1)[-1].rsplit("@", 1)[0].partition(":")[2]
    if not secret:
        return text
    shown = redact(url)  # the password hidden elsewhere in the text, never inside the shown URL itself
    return shown.join(part.replace(secret, "***") for part in text.replace(url, shown).split(shown))


def resume_command(spec: SweepSpec, url: str, sweep_dir) -> str:
    """`dlx sweep --resume <id>` with the output_dir and storage this sweep needs (no password)."""
    command = f"dlx sweep --resume {spec.id}"
    output_dir = Path(sweep_dir).resolve().parents[1]
    if output_dir != Path("outputs").resolve():
        command += f" output_dir={output_dir}"
    if url != storage_url(sweep_dir, None):
        command += f" --storage '{redact(url)}'"
    return command


def open_storage(url: str):
    """optuna's RDB storage; SQLite waits up to a minute for a lock instead of failing, and keeps
    a write-ahead log: a commit costs ~4 ms instead of ~30 (a trial makes about ten), readers
    (the live table) never block the workers, and a killed process loses nothing committed.
    Every call rides out a lost connection for the retry window (`dlx.sweep.retry`)."""
    import optuna

    if url.startswith("postgresql://"):  # SQLAlchemy's default is psycopg2; the extra ships psycopg 3
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    check_sqlite_path(url)
    try:
        storage = retry.call(optuna.storages.RDBStorage, url, engine_kwargs=kwargs, shown_url=redact(url))
    except ImportError as e:  # SQLAlchemy found no driver for the URL's dialect
        raise ConfigError(no_driver(url, e)) from None
    except retry.StorageLost:
        raise
    except Exception as e:  # a bad URL, an unknown database
        raise ConfigError(f"cannot open the study storage {redact(url)}: {scrub(first_line(e, limit=None), url)}; give a "
                          "database URL such as sqlite:///study.db, or leave --storage out") from None
    if url.startswith("sqlite"):
        from sqlalchemy import event

        event.listen(storage.engine, "connect", _write_ahead_log)
        storage.engine.dispose()  # the connection made while creating the tables had no log yet
    return retry.wrap(storage, redact(url))


# the driver to install for each database, and the URL scheme that selects it
DRIVERS = {"postgresql": ("pip install 'dlx[postgres]' (psycopg)", "postgresql+psycopg://... or postgresql://..."),
           "mysql": ("pip install pymysql", "mysql+pymysql://..."),
           "mariadb": ("pip install pymysql", "mariadb+pymysql://..."),
           "mssql": ("pip install pyodbc", "mssql+pyodbc://..."),
           "oracle": ("pip install oracledb", "oracle+oracledb://...")}


def no_driver(url: str, error: ImportError) -> str:
    """The one line for a database whose Python driver is missing: which one to install."""
    dialect = url.split(":", 1)[0].split("+", 1)[0].lower()
    missing = f" ({first_line(error)})"
    if dialect not in DRIVERS:
        return f"no database driver installed for {url.split(':')[0]}{missing}; install the driver SQLAlchemy names for it"
    install, scheme = DRIVERS[dialect]
    return f"no database driver installed for {url.split(':')[0]}{missing}: {install} and give the URL as {scheme}"


def check_sqlite_path(url: str) -> None:
    """A SQLite file that cannot be created fails now, in one line: retrying would never help."""
    if not url.startswith("sqlite:///"):
        return  # sqlite:// alone is in memory
    path = Path(url[len("sqlite:///"):].split("?", 1)[0])
    if not str(path) or str(path) == ":memory:" or path.is_file():
        return
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"cannot create the study storage {path}: folder {folder} does not exist; "
                          "create it, or give another sqlite:///PATH")
    if path.exists():
        raise ConfigError(f"cannot use {path} as the study storage: it is not a file; give another sqlite:///PATH")
    import sqlite3

    try:  # what optuna would do first: create the file (SQLite answers at once, no server to wait for)
        sqlite3.connect(path).close()
    except sqlite3.Error as e:
        raise ConfigError(f"cannot create the study storage {path}: {first_line(e)}; "
                          "give another sqlite:///PATH") from None


def _write_ahead_log(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def queue_lock(url: str):
    """Serialise popping trials from a SQLite queue across processes on this machine.

    optuna reads a trial's state and then writes RUNNING; pysqlite starts the transaction
    only at the write, so two processes can both pop one WAITING trial. A server database
    locks the row (SELECT ... FOR UPDATE) and needs nothing here.
    """
    if not url.startswith("sqlite:///"):
        yield
        return
    import fcntl

    with open(url[len("sqlite:///"):] + ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_alive(name: str | None) -> bool:
    """True if `host:pid` is a live process on this machine (other machines: unknown, False)."""
    from dlx.parallel import pid_alive

    if not name or ":" not in name:
        return False
    host, pid = name.rsplit(":", 1)
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return pid_alive(int(pid))


# ---------------------------------------------------------------- results


def trial_rows(study, spec: SweepSpec) -> list[dict]:
    """One flat row per trial (`TrialRow.to_json`): number, state, value, params, run, metrics."""
    return [trial_row(t, spec.keys).to_json() for t in study.get_trials(deepcopy=False)]


def trial_row(t, keys: list[str]) -> TrialRow:
    """An optuna trial as dlx sees it: FAIL with `interrupted` set is INTERRUPTED (optuna has no such state)."""
    attrs = t.user_attrs
    duration = t.duration.total_seconds() if t.duration is not None else None
    state = "INTERRUPTED" if t.state.name == "FAIL" and attrs.get("interrupted") else t.state.name
    params = t.params or attrs.get("params") or {}
    return TrialRow(t.number, state, t.value, {k: params.get(k) for k in keys}, attrs.get("run_id"),
                    round(duration, 2) if duration else None, attrs.get("worker"), attrs.get("reason"),
                    dict(attrs.get("record") or {}))


def retried(study) -> set[int]:
    """Trials that were interrupted and queued again (`--resume`): attempts, not points of the space."""
    return {t.user_attrs["retry_of"] for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("retry_of") is not None}


def rank_key(row: dict, direction: str) -> tuple:
    """How completed trials are ranked, best first: by the objective; on a tie, by the lower
    validation loss (`val_loss`, or its mean over folds), then by the earlier trial."""
    value = row["value"] if direction == "minimize" else -row["value"]
    loss = next((row[k] for k in ("val_loss", "val_loss_mean") if isinstance(row.get(k), (int, float))), None)
    loss = loss if loss is not None and math.isfinite(loss) else math.inf
    return (value, loss, row["number"])


def completed(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None and math.isfinite(r["value"])]


def best_row(rows: list[dict], direction: str) -> dict | None:
    done = completed(rows)
    return min(done, key=lambda r: rank_key(r, direction)) if done else None


def sort_rows(rows: list[dict], direction: str) -> list[dict]:
    """Completed trials best first (`rank_key`), then pruned, failed, interrupted, running, waiting."""
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "INTERRUPTED": 3, "RUNNING": 4, "WAITING": 5}
    done = sorted(completed(rows), key=lambda r: rank_key(r, direction))
    ranked = {id(r) for r in done}
    rest = sorted((r for r in rows if id(r) not in ranked), key=lambda r: (order.get(r["state"], 6), r["number"]))
    return done + rest


def indistinct(rows: list[dict], metric: str, val_size: int | None, direction: str) -> list[int]:
    """Trials whose objective is within one validation sample (1/val_size) of the best's: an
    accuracy measured on `val_size` samples cannot tell them apart. [] when it can."""
    if not val_size or not metric.endswith("acc"):
        return []
    done = sorted(completed(rows), key=lambda r: rank_key(r, direction))
    if len(done) < 2:
        return []
    best = done[0]["value"]
    close = [r["number"] for r in done if abs(r["value"] - best) <= 1.0 / val_size + 1e-12]
    return close if len(close) > 1 else []


def write_trials_csv(sweep_dir: Path, rows: list[dict], spec: SweepSpec) -> None:
    keys = spec.keys
    head = ["number", "state", "value", *keys, "run_id", "duration_s", "worker", "reason"]
    metrics = sorted({k for r in rows for k in r} - set(head))
    atomic_write_csv(Path(sweep_dir) / TRIALS_CSV, sorted(rows, key=lambda r: r["number"]), head + metrics)


def write_best(sweep_dir: Path, best: dict, spec: SweepSpec) -> None:
    """best.yaml, and best.overrides: `dlx train $(cat .../best.overrides)` reproduces the trial."""
    from omegaconf import OmegaConf

    space = spec.space
    overrides = space.overrides({k: best[k] for k in space.keys})
    doc = {"sweep": spec.id, "trial": best["number"], "metric": spec.metric,
           "direction": spec.direction, "value": best["value"],
           "params": {k: best[k] for k in space.keys}, "overrides": overrides,
           "run_id": best.get("run_id"), "reproduce": "dlx train " + " ".join(overrides),
           "ranking": TIE_RULE}
    tests = {k: v for k, v in best.items() if k.startswith("test_")}
    if tests:
        doc["test"] = tests
    atomic_write_text(Path(sweep_dir) / BEST_YAML, OmegaConf.to_yaml(OmegaConf.create(doc)))
    atomic_write_text(Path(sweep_dir) / BEST_OVERRIDES, " ".join(overrides) + "\n")
