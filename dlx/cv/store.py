"""The CV part of the run store: `outputs/cv/<cv-id>/` and its files (see `dlx.cv.driver`).

Kept beside `runs.py`, on its helpers: every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from dlx.errors import ConfigError, RunError
from dlx.store.files import atomic_write_csv, make_dir, new_run_id
from dlx.store.rundir import RunDir
from dlx.store.runs import CV, read_summary

CV_JSON, ASSIGNMENT, FOLDS_CSV, SUMMARY = "cv.json", "assignment.csv", "folds.csv", "summary.json"


def new_cv_dir(exp, folds: int, repeats: int) -> Path:
    """`outputs/cv/2026-11-22_00-30-00_mlp-adam-digits-5fold` (`-5x3fold` with repeats)."""
    from dlx.engine.experiment import label_for

    kind = f"{folds}fold" if repeats == 1 else f"{folds}x{repeats}fold"
    return make_dir(Path(exp.output_dir) / CV, new_run_id(f"{label_for(exp)}-{kind}"))


def find_cv(output_dir: Path, ref: str) -> Path:
    """A CV folder by id, unique prefix or suffix, or `last`."""
    root = Path(output_dir) / CV
    found = sorted(p for p in root.iterdir() if (p / CV_JSON).is_file()) if root.is_dir() else []
    if not found:
        raise ConfigError(f"no cross-validations in {root}; start one with `dlx cv`")
    if ref == "last":
        return found[-1]
    matches = [p for p in found if p.name == ref] or [p for p in found if p.name.startswith(ref)
                                                       or p.name.endswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no cross-validation matches '{ref}' in {root}; the ids are its folder names")
    raise ConfigError(f"'{ref}' matches {len(matches)} cross-validations in {root}; give more of the id")


def ensure_dir(path: Path) -> Path:
    """An exact CV folder (a sweep trial's), created if needed."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create {path}: {e.strerror or e} — choose another output_dir") from None
    return path


def has_cv_json(cv_dir: Path) -> bool:
    return (Path(cv_dir) / CV_JSON).is_file()


def write_cv_json(cv_dir: Path, settings: dict) -> None:
    RunDir(cv_dir).write_json(CV_JSON, settings)


def read_cv_json(cv_dir: Path) -> dict:
    try:
        return json.loads((Path(cv_dir) / CV_JSON).read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{Path(cv_dir) / CV_JSON} is missing or unreadable: cannot resume it") from None


def write_assignment(cv_dir: Path, rows: list[dict]) -> None:
    group = ["group"] if rows and "group" in rows[0] else []  # with --group-col: each sample's group
    atomic_write_csv(Path(cv_dir) / ASSIGNMENT, rows, ["index", "repeat", "fold", *group])


def write_folds_csv(cv_dir: Path, rows: list[dict]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    columns.remove("error")
    atomic_write_csv(Path(cv_dir) / FOLDS_CSV, rows, columns + ["error"])


def write_summary(cv_dir: Path, summary: dict) -> None:
    RunDir(cv_dir).write_json(SUMMARY, summary)


def read_run_summary(path: Path) -> dict | None:
    """A finished run's summary.json, or None (not run, failed, or killed)."""
    return read_summary(path) if Path(path).is_dir() else None


