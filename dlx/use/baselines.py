"""`dlx baselines`: every scikit-learn baseline that fits the data, fitted with its defaults on
the same split (issue 28), beside the network runs already trained on that data.

Each baseline is an ordinary run (outputs/runs/<id>/), so `dlx runs`, `compare`, `show`, `eval`
and `predict` read it as any other. The leaderboard ranks by the validation score (accuracy for
classes, R² for values) — the test column is shown, never used to choose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dlx import config
from dlx.errors import ConfigError, DlxError
from dlx.store.runs import RUN, SWEEP, iter_runs, read_summary

log = logging.getLogger(__name__)

CLASSIFIERS = ("logistic", "knn", "svm", "perceptron", "naive_bayes", "tree", "forest", "boosting")
REGRESSORS = ("linear", "knn", "svm", "tree", "forest", "boosting")
ALL = tuple(dict.fromkeys(CLASSIFIERS + REGRESSORS))
KINDS = ("binary", "multiclass", "regression")  # one row of features per sample, one target


@dataclass
class Board:
    """The leaderboard: one row per baseline run and per network run of the same data."""

    data: str
    kind: str
    score: str  # acc | r2
    rows: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def best(self) -> dict | None:
        scored = [r for r in self.rows if r.get("rank_value") is not None]
        return max(scored, key=lambda r: r["rank_value"]) if scored else None


def fitting(kind: str) -> tuple[str, ...]:
    """The baselines that fit `kind` data."""
    if kind not in KINDS:
        raise ConfigError(f"dlx baselines fits binary, multiclass or regression data; this data is {kind}")
    return REGRESSORS if kind == "regression" else CLASSIFIERS


def row_of(summary: dict, score: str, source: str) -> dict:
    metrics = summary.get("metrics", summary)
    pick = (lambda k: metrics.get(k, summary.get(k)))
    val, test = pick(f"val_{score}"), pick(f"test_{score}")
    return {"model": summary.get("model"), "run_id": summary.get("run_id"), "source": source,
            f"val_{score}": val, f"test_{score}": test, "test_auc": pick("test_auc"),
            "time_s": summary.get("duration_s"), "rank_value": val if val is not None else test}


def run_baselines(overrides: list[str], progress: Callable[[str, dict | None], None] | None = None) -> Board:
    """Fit every baseline that fits the data of `overrides` (no model.* keys) and gather the
    network runs of that data from the run store."""
    from dlx import data
    from dlx.engine import experiment

    if any(o.lstrip("+~").split("=")[0].split(".")[0] == "model" for o in overrides):
        raise ConfigError("dlx baselines fits every baseline with its defaults; give data / trainer keys only "
                          "(tune one baseline with `dlx sweep model=NAME ...`)")
    base = config.load([*overrides, "model=knn"])
    kind = data.build(base.data).kind
    board = Board(base.data.name, kind, "r2" if kind == "regression" else "acc")
    for name in fitting(kind):
        args = [*overrides, f"model={name}"]
        try:
            summary = experiment.run(config.load(args), args).to_json()
        except DlxError as e:  # one baseline that cannot fit (k > rows, ...) does not stop the others
            log.warning(f"model={name} was not fitted: {e}")
            board.failed.append(name)
            if progress:
                progress(name, None)
            continue
        row = row_of(summary, board.score, "baseline")
        board.rows.append(row)
        if progress:
            progress(name, row)
    board.rows += network_rows(Path(base.output_dir), board.data, board.score)
    return board


def network_rows(root: Path, data_name: str, score: str) -> list[dict]:
    """The finished network runs (and sweep trials) of `data_name`: the best of each model."""
    best: dict[str, dict] = {}
    for record in iter_runs(root, (RUN, SWEEP)):
        summary = read_summary(record.path)
        if not summary or summary.get("data") != data_name or summary.get("model") in ALL:
            continue
        row = row_of(summary, score, "network")
        if row["rank_value"] is None:
            continue
        if summary["model"] not in best or row["rank_value"] > best[summary["model"]]["rank_value"]:
            best[summary["model"]] = row
    return list(best.values())
