"""Issue 16: CSV time series as windows, split in time order, scaled on the training rows."""

from __future__ import annotations

import json

import numpy as np
import torch

from dlx import data
from dlx.data.timeseries import TimeSeriesConfig


def series_csv(tmp_path, n=200, name="series.csv"):
    t = np.arange(n)
    frame = "t,load,temp\n" + "".join(f"{i},{np.sin(i / 5) + i / 50:.5f},{np.cos(i / 7):.5f}\n" for i in t)
    path = tmp_path / name
    path.write_text(frame)
    return path


def build(path, **kw):
    return data.build(TimeSeriesConfig(name="timeseries", path=str(path), target="load", **kw))


def test_no_training_window_sees_a_validation_or_test_value(tmp_path):
    w, h = 10, 3
    bundle = build(series_csv(tmp_path), features=["load", "temp"], window=w, horizon=h,
                   val_fraction=0.2, test_fraction=0.2)
    cut_val, cut_test = bundle.preprocess["split_rows"]
    assert (cut_val, cut_test) == (120, 160)
    assert bundle.train.index.max() < cut_val  # the last training target is a training row
    first_input = lambda split: split.index - (w - 1 + h)  # noqa: E731  (the window's first row)
    assert first_input(bundle.val).min() >= cut_val and bundle.val.index.max() < cut_test
    assert first_input(bundle.test).min() >= cut_test and bundle.test.index.max() == 199


def test_windows_and_targets_line_up_with_the_file(tmp_path):
    path = series_csv(tmp_path)
    raw = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    bundle = build(path, window=5, horizon=2, preprocess="none")
    assert bundle.input_shape == (5, 1) and bundle.kind == "regression"
    assert torch.allclose(bundle.train.y, torch.as_tensor(raw[bundle.train.index, 1]))
    i = 17  # the window's last row is 2 rows before its target
    assert float(bundle.train.x[i, -1, 0]) == raw[bundle.train.index[i] - 2, 1]


def test_scaling_is_fitted_on_the_training_rows_only(tmp_path):
    path = series_csv(tmp_path)
    bundle = build(path, window=4)
    first_rows = bundle.train.x[:, 0, 0]  # each training row once (as a window's first row), but the last 4
    assert abs(float(first_rows.mean())) < 0.1
    text = path.read_text().splitlines()
    changed = text[:-20] + [f"{i},{1000 + i},0" for i in range(180, 200)]  # only test rows change
    other = tmp_path / "other.csv"
    other.write_text("\n".join(changed) + "\n")
    assert torch.equal(build(other, window=4).train.x, bundle.train.x)


def test_an_lstm_forecasts_through_the_cli(dlx, tmp_path):
    path = series_csv(tmp_path)
    result = dlx("train", "model=lstm", "data=timeseries", f"data.path={path}", "data.target=load",
                 "data.features=[load,temp]", "data.window=8", "model.hidden_size=8", "trainer.epochs=2",
                 "trainer.num_threads=1")
    assert result.code == 0, result.err
    summary = json.loads(next((tmp_path / "outputs" / "runs").glob("*/summary.json")).read_text())
    assert summary["task"] == "regression" and "test_rmse" in summary


def test_folds_chain_forward_and_never_validate_before_they_train(tmp_path):
    path = series_csv(tmp_path)
    cut_test = 160  # test_fraction 0.2 of 200 rows: the same in every fold
    ends = []
    for k in range(3):
        bundle = build(path, window=5, folds=3, fold=k)
        assert bundle.test.index.min() >= cut_test
        assert bundle.train.index.max() < bundle.val.index.min() - 5  # a val window starts after train's rows
        assert bundle.val.index.max() < cut_test
        ends.append(int(bundle.val.index.max()))
    assert ends == sorted(ends) and ends[-1] == cut_test - 1  # each fold validates later; the last up to test


def test_cv_on_a_time_series_through_the_cli(dlx, tmp_path):
    import pandas as pd

    path = series_csv(tmp_path)
    result = dlx("cv", "--folds", "2", "model=gru", "data=timeseries", f"data.path={path}", "data.target=load",
                 "data.window=6", "model.hidden_size=8", "trainer.epochs=1", "trainer.num_threads=1")
    assert result.code == 0, result.err
    folder = next((tmp_path / "outputs" / "cv").iterdir())
    assignment = pd.read_csv(folder / "assignment.csv")
    fold0, fold1 = (assignment[assignment["fold"] == k]["index"] for k in (0, 1))
    assert fold0.max() < fold1.min()  # forward chaining: fold 1 validates on later rows than fold 0
    assert len(pd.read_csv(folder / "folds.csv")) == 2
    again = dlx("cv", "--folds", "2", "--repeats", "2", "model=gru", "data=timeseries", f"data.path={path}",
                "data.target=load")
    assert again.code == 2 and "--repeats 2" in again.err and "use --repeats 1" in again.err
