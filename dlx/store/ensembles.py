"""Files of the models dlx uses after training.

    outputs/ensembles/<id>/  members.json   who voted: run ids, folders, checkpoint, bootstrap seeds
                             summary.json   each member's test metric, their mean ± std, the ensemble's
                             predictions.csv one row per test sample: target, ensemble prediction
                             member-<k>/    dlx bag: the member runs themselves
    outputs/runs/<id>/eval/<split-or-name>.json   dlx eval's report
    outputs/runs/<id>/eval/embed.json             dlx plot --embed's cluster purity (dlx show reads it)

Every file is written atomically (dlx.store.files).
"""

from __future__ import annotations

import json
from pathlib import Path

from dlx.store.files import atomic_write_text, json_default, make_dir, new_run_id

ENSEMBLES = "ensembles"


def create_ensemble_dir(output_dir: str, label: str) -> Path:
    """A new, empty `outputs/ensembles/<time>_<label>/`."""
    return make_dir(Path(output_dir) / ENSEMBLES, new_run_id(label))


def write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=json_default) + "\n")


def write_eval(run_path: Path, name: str, report: dict) -> Path:
    """RUN/eval/<name>.json."""
    folder = Path(run_path) / "eval"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    write_json(path, report)
    return path


def read_eval(run_path: Path, name: str) -> dict | None:
    """RUN/eval/<name>.json, or None when there is none (or it is not a JSON object)."""
    try:
        data = json.loads((Path(run_path) / "eval" / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_predictions(path: Path, frame) -> None:
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def write_ensemble(folder: Path, members: list[dict], summary: dict, predictions) -> None:
    """members.json, predictions.csv, then summary.json (last: its presence means complete)."""
    write_json(folder / "members.json", members)
    write_predictions(folder / "predictions.csv", predictions)
    write_json(folder / "summary.json", summary)
