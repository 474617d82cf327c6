"""Classical baselines (issue 19): k-NN, least squares, logistic regression as dlx runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dlx import config, data
from dlx.engine import estimator

ONE_THREAD = ["trainer.num_threads=1"]


def the_run(tmp_path: Path, kind: str = "runs") -> Path:
    (run,) = (tmp_path / "outputs" / kind).iterdir()
    return run


def summary_of(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_knn_on_digits_reaches_97_percent_at_a_good_k(dlx, tmp_path):
    # raw pixel scales (minmax keeps them): standardising inflates the near-blank border pixels
    result = dlx("train", "model=knn", "model.k=1", "model.metric=l2", "data=digits", "data.preprocess=minmax",
                 *ONE_THREAD, "-q")
    assert result.code == 0, result.err
    run = the_run(tmp_path)
    summary = summary_of(run)
    assert summary["model"] == "knn" and summary["status"] == "finished"
    assert summary["test_acc"] >= 0.97
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 1 and float(rows[0]["val_acc"]) == summary["best_value"]


def test_an_estimator_run_has_the_files_and_summary_keys_of_a_network_run(dlx, tmp_path):
    assert dlx("train", "model=knn", "data.limit=200", *ONE_THREAD, "-q").code == 0
    assert dlx("train", "model=mlp", "data.limit=200", "trainer.epochs=1", *ONE_THREAD, "-q").code == 0
    knn, mlp = sorted((tmp_path / "outputs" / "runs").iterdir(), key=lambda p: "mlp" in p.name)
    for name in ("config.yaml", "overrides.yaml", "metrics.csv", "summary.json", "status.json", "log.txt"):
        assert (knn / name).is_file(), name
    assert set(summary_of(knn)) == set(summary_of(mlp))
    assert set(csv.DictReader((knn / "metrics.csv").open()).fieldnames) <= \
        set(csv.DictReader((mlp / "metrics.csv").open()).fieldnames)
    assert json.loads((knn / "status.json").read_text())["status"] == "finished"


def test_closed_form_equals_numpy_lstsq_on_the_same_rows(dlx, tmp_path):
    result = dlx("train", "model=linear", "data=diabetes", *ONE_THREAD, "-q")
    assert result.code == 0, result.err
    run = the_run(tmp_path)
    exp = config.load(["model=linear", "data=diabetes"])
    bundle = data.build(exp.data)  # the same seed: the same rows, standardised by the training rows
    x, y = estimator.rows_of(bundle.train, "diabetes")
    design = np.hstack([x, np.ones((len(x), 1))])  # a column of ones: the intercept
    w, *_ = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)
    fitted = estimator.load_estimator(run, exp.model)
    np.testing.assert_allclose(fitted.coef_, w[:-1], rtol=1e-6, atol=1e-6)
    assert fitted.intercept_ == pytest.approx(w[-1], rel=1e-8)
    x_test, y_test = estimator.rows_of(bundle.test, "diabetes")
    rmse = float(np.sqrt(np.mean((np.hstack([x_test, np.ones((len(x_test), 1))]) @ w - y_test) ** 2)))
    assert summary_of(run)["test_rmse"] == pytest.approx(rmse, rel=1e-5)


def test_linear_gd_is_trained_by_the_loop_and_nears_the_closed_form(dlx, tmp_path):
    assert dlx("train", "model=linear", "data=diabetes", "data.val_fraction=0", *ONE_THREAD, "-q").code == 0
    exact = summary_of(the_run(tmp_path))
    result = dlx("train", "model=linear", "model.solver=gd", "data=diabetes", "data.val_fraction=0", "optim=gd",
                 "optim.lr=0.1", "trainer.epochs=300", "trainer.checkpoint=false", *ONE_THREAD, "-q")
    assert result.code == 0, result.err
    gd = next(p for p in (tmp_path / "outputs" / "runs").iterdir() if p.name != exact["run_id"])
    assert len(list(csv.DictReader((gd / "metrics.csv").open()))) == 300
    assert summary_of(gd)["test_rmse"] == pytest.approx(exact["test_rmse"], rel=0.02)
    assert summary_of(gd)["params"] == exact["params"] == 11  # ten weights and a bias


def test_logistic_metrics_agree_with_scikit_learn(dlx, tmp_path):
    from sklearn.metrics import accuracy_score, roc_auc_score

    assert dlx("train", "model=logistic", "model.C=0.5", "data=breast_cancer", *ONE_THREAD, "-q").code == 0
    run = the_run(tmp_path)
    exp = config.load(["model=logistic", "model.C=0.5", "data=breast_cancer"])
    fitted = estimator.load_estimator(run, exp.model)
    assert fitted.C == 0.5
    x_test, y_test = estimator.rows_of(data.build(exp.data).test, "breast_cancer")
    summary = summary_of(run)
    assert summary["test_acc"] == pytest.approx(accuracy_score(y_test, fitted.predict(x_test)))
    assert summary["test_auc"] == pytest.approx(roc_auc_score(y_test, fitted.predict_proba(x_test)[:, 1]))


@pytest.mark.parametrize("model, data_name", [("knn", "iris"), ("knn", "diabetes"), ("logistic", "wine")])
def test_a_checkpoint_holds_only_arrays_and_gives_the_same_predictions(dlx, tmp_path, model, data_name):
    import torch

    assert dlx("train", f"model={model}", f"data={data_name}", *ONE_THREAD, "-q").code == 0
    run = the_run(tmp_path)
    path = run / "checkpoints" / "estimator.pt"
    state = torch.load(path, weights_only=True)  # refuses anything pickled but tensors and plain values
    assert all(isinstance(v, (torch.Tensor, int, float, str)) for v in state["arrays"].values())
    exp = config.load([f"model={model}", f"data={data_name}"])
    bundle = data.build(exp.data)
    x_test, _ = estimator.rows_of(bundle.test, data_name)
    again = estimator.load_estimator(run, exp.model)
    fresh = exp.model  # refit from scratch on the same rows: the same answers
    from dlx.registry import MODELS

    x, y = estimator.rows_of(bundle.train, data_name)
    reference = MODELS.get(model).meta["estimator"](fresh, bundle.kind, len(x)).fit(x, y)
    np.testing.assert_allclose(again.predict(x_test), reference.predict(x_test))


def test_cv_folds_and_refit_of_a_baseline(dlx, tmp_path):
    result = dlx("cv", "--folds", "3", "--test", "model=knn", "data=iris", *ONE_THREAD)
    assert result.code == 0, result.err
    (cv,) = (tmp_path / "outputs" / "cv").iterdir()
    summary = json.loads((cv / "summary.json").read_text())
    assert summary["averaged"] == 3 and 0.8 < summary["metrics"]["val_acc"]["mean"] <= 1
    assert summary["test"]["test_acc"] > 0.8
    assert summary_of(cv / "refit")["val_size"] == 0


def test_sweep_over_k_and_compare_with_a_network(dlx, tmp_path):
    result = dlx("sweep", "model=knn", "model.k=1,7", "data=wine", *ONE_THREAD)
    assert result.code == 0, result.err
    assert dlx("train", "data=wine", "trainer.epochs=2", *ONE_THREAD, "-q").code == 0
    grouped = dlx("runs", "--all", "--group-by", "model", "--format", "csv")
    assert grouped.code == 0, grouped.err
    assert "knn" in grouped.out and "mlp" in grouped.out
    listing = dlx("runs", "--all", "--format", "json")
    runs = {r["model"]: r["id"] for r in json.loads(listing.out)}  # one knn trial, the mlp
    compared = dlx("compare", runs["knn"], runs["mlp"], "--format", "csv")
    assert compared.code == 0, compared.err
    assert "test_acc" in compared.out and "model" in compared.out


def test_models_show_of_an_estimator_says_it_has_no_layers(dlx):
    result = dlx("models", "show", "knn")
    assert result.code == 2
    assert "scikit-learn estimator" in result.err and len(result.err.strip().splitlines()) == 1
