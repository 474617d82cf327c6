"""learning-curve.png of the MLflow logger (dlx.engine.mlflow_curve.LearningCurve): the worker keeps
it up to date row by row, so that the end of a run draws only the lines over a kept frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dlx.engine.mlflow_curve import LearningCurve, learning_curve  # noqa: E402

C0 = np.array([0x1F, 0x77, 0xB4]) / 255  # matplotlib's first colour: the train lines


def rows(last: int, first: int = 1) -> list[dict]:
    """A run's rows: the losses fall, the accuracies rise (floats, as the worker gets them)."""
    return [{"epoch": float(e), "lr": 0.01, "train_loss": 2.0 / e, "val_loss": 2.2 / e + 0.01 * e,
             "train_acc": 1 - 0.5 / e, "val_acc": 0.9 - 0.4 / e} for e in range(first, last + 1)]


def counted(curve: LearningCurve) -> list:
    """Count the curve's full draws (the frame) from now on."""
    draws, draw = [], curve.canvas.draw
    curve.canvas.draw = lambda: (draws.append(1), draw())
    return draws


def train_pixels(file) -> int:
    from matplotlib.image import imread

    return int((np.abs(imread(file)[..., :3] - C0).max(axis=-1) < 0.05).sum())


def follow(curve: LearningCurve, history: list[dict]) -> None:
    """What the worker does with each send: bring the curve up to date, draw its frame if it moved."""
    for i in range(1, len(history) + 1):
        assert curve.update(history[:i])
        curve.draw_frame()


def test_the_frame_is_drawn_when_its_limits_move_and_the_end_draws_only_the_lines(tmp_path):
    history = rows(30)
    curve = LearningCurve(epochs=30)
    curve.update(history[:1])
    draws = counted(curve)
    follow(curve, history)
    assert 1 <= len(draws) <= 6, "the limits snap to ticks: a few frames per run, not one per epoch"
    before = len(draws)
    curve.save(tmp_path / "curve.png")
    assert len(draws) == before, "the last epoch inside the limits: the picture is the kept frame + the lines"
    from matplotlib.image import imread

    assert imread(tmp_path / "curve.png").shape == (240, 640, 4)  # two panels (acc, loss), 8 x 3 in at 80 dpi


def test_the_picture_shows_every_row_drawn_over_the_frame(tmp_path):
    history = rows(30)
    curve = LearningCurve(epochs=30)
    follow(curve, history[:5])
    curve.save(tmp_path / "five.png")
    follow(curve, history)
    curve.save(tmp_path / "thirty.png")
    # the frame alone (legend handles only) has few of the train lines' pixels
    frame = LearningCurve(epochs=30)
    frame.update(history[:5])
    for line in frame.lines.values():
        line.set_data([], [])
    frame.save(tmp_path / "frame.png")
    assert train_pixels(tmp_path / "frame.png") < train_pixels(tmp_path / "five.png") \
        < train_pixels(tmp_path / "thirty.png")


def test_a_value_past_the_limits_moves_them_and_draws_a_new_frame(tmp_path):
    history = rows(30)
    curve = LearningCurve(epochs=30)
    follow(curve, history)
    assert curve.frame is not None
    history.append({**rows(31, 31)[0], "train_loss": 5.0})  # past the planned epochs and the loss axis
    curve.update(history)
    assert curve.frame is None
    (x_low, x_high), (y_low, y_high) = curve.limits[1]  # the loss panel
    assert x_high > 31 and y_low < 2.0 / 31 and y_high > 5.0
    draws = counted(curve)
    curve.save(tmp_path / "curve.png")
    assert len(draws) == 1 and curve.frame is not None


def test_the_x_axis_spans_the_planned_epochs_from_the_first_row():
    planned, unknown = LearningCurve(epochs=50), LearningCurve()
    planned.update(rows(1))
    unknown.update(rows(3))
    assert planned.limits[0][0][1] > 50
    assert 3 < unknown.limits[0][0][1] < 4  # without a plan: as far as the rows go


def test_non_finite_values_leave_the_limits_finite(tmp_path):
    history = rows(4)
    history[2] = {**history[2], "train_loss": math.nan, "val_loss": math.inf}
    curve = LearningCurve(epochs=4)
    curve.update(history)
    assert all(math.isfinite(v) for x, y in curve.limits for v in (*x, *y))
    assert train_pixels(curve.save(tmp_path / "curve.png")) > 0


def test_an_imported_run_gets_a_curve_and_a_run_without_metrics_none(tmp_path):
    assert learning_curve(rows(3), tmp_path / "curve.png") == tmp_path / "curve.png"
    assert train_pixels(tmp_path / "curve.png") > 0
    assert learning_curve([{"epoch": 1.0, "lr": 0.1}], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def worker_session(tmp_path, name: str, epochs: int, answers: list):
    from dlx.engine import mlflow_worker

    (tmp_path / name).mkdir()
    session = mlflow_worker.Session({"id": 0, "path": str(tmp_path / name), "uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                                     "experiment": "curve", "config": {"trainer": {"epochs": epochs}},
                                     "command": "dlx train", "resumed_at": 0}, answers.append)
    session.handle("open", {})
    return session


def test_the_worker_saves_the_curve_with_the_last_epoch_and_an_early_stop_spans_the_epochs_run(tmp_path):
    pytest.importorskip("mlflow")
    from dlx.engine.mlflow_link import client_class

    answers = []
    full = worker_session(tmp_path, "full", 3, answers)
    for row in rows(3):
        full.handle("row", {"row": row})
    assert full.drawn is not None and full.drawn.exists()  # saved as the last epoch's row came in
    draws = counted(full.curve)
    assert full.handle("end", {"summary": None}) and answers[-1]["complete"]
    assert draws == [], "the end only sends: the picture was saved with the last epoch"
    early = worker_session(tmp_path, "early", 30, answers)
    for row in rows(12):  # an early stop at 12 of 30 epochs
        early.handle("row", {"row": row})
    assert early.drawn is None
    assert early.handle("end", {"summary": None}) and answers[-1]["complete"]
    assert 12 < early.curve.limits[0][0][1] < 13, "the x axis spans the epochs run, not the 30 planned"
    client = client_class()(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for session in (full, early):
        assert "learning-curve.png" in {a.path for a in client.list_artifacts(session.link.run_id)}


def test_values_the_curve_cannot_draw_cost_the_picture_not_the_run(tmp_path, caplog):
    pytest.importorskip("mlflow")
    from dlx.engine.mlflow_link import client_class

    answers = []
    session = worker_session(tmp_path, "huge", 3, answers)
    huge = [{**row, "train_loss": 1.7e308 * (-1) ** i} for i, row in enumerate(rows(3))]
    (tmp_path / "huge" / "metrics.csv").write_text(
        "epoch,train_loss\n" + "".join(f"{int(r['epoch'])},{r['train_loss']!r}\n" for r in huge))
    for row in huge:
        session.handle("row", {"row": row})
    assert session.curve is None and session.drawn is None
    assert session.handle("end", {"summary": None}) and answers[-1]["complete"]
    client = client_class()(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert [m.value for m in client.get_metric_history(session.link.run_id, "train_loss")] == \
        [r["train_loss"] for r in huge]
    assert "learning-curve.png" not in {a.path for a in client.list_artifacts(session.link.run_id)}
    assert "learning-curve.png not drawn" in caplog.text
