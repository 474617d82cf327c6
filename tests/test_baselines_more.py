"""More baselines (issue 28): SVM, perceptron, naive Bayes, CART, forests, boosting as dlx runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlx import config, data
from dlx.engine import estimator
from dlx.registry import MODELS
from dlx.use.baselines import ALL, CLASSIFIERS, REGRESSORS

ONE_THREAD = ["trainer.num_threads=1"]
SMALL = {"forest": ["model.n_estimators=10"], "boosting": ["model.n_estimators=10"]}
VARIANTS = [("svm", ["model.probability=true"]), ("svm", ["model.kernel=poly"]), ("svm", ["model.kernel=linear"]),
            ("forest", ["model.variant=extra"]), ("boosting", ["model.variant=adaboost"]),
            ("tree", ["model.max_depth=3", "model.min_samples_leaf=2"])]


def runs_of(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "outputs" / "runs").iterdir())


def summary_of(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def fitted_by_hand(args: list[str], data_name: str):
    """scikit-learn fitted directly on the rows (and preprocessing) a network gets: (est, x_test, y_test, kind)."""
    exp = config.load(args)
    bundle = data.build(exp.data)
    x, y = estimator.rows_of(bundle.train, data_name)
    est = MODELS.get(exp.model.name).meta["estimator"](exp.model, bundle.kind, len(x)).fit(x, y)
    x_test, y_test = estimator.rows_of(bundle.test, data_name)
    return est, x_test, y_test, bundle.kind


def test_the_registry_declares_every_baseline_the_command_fits():
    for name in ALL:
        assert MODELS.get(name).meta.get("estimator") is not None, name


def hand_scores(est, x, y, kind: str) -> dict:
    """The test metrics scikit-learn gives the estimator fitted by hand, in float64."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    from dlx.metrics import regression_report

    if kind == "regression":
        return {f"test_{k}": v for k, v in regression_report(y, est.predict(x)).items()}
    scores = {"test_acc": accuracy_score(y, est.predict(x))}
    if kind == "binary":  # the positive class's probability, or the decision function without one
        score = est.predict_proba(x)[:, 1] if hasattr(est, "predict_proba") else est.decision_function(x)
        scores["test_auc"] = roc_auc_score(y, score)
    return scores


@pytest.mark.parametrize("name, extra, data_name", [(n, [], "wine") for n in CLASSIFIERS] +
                         [(n, [], "breast_cancer") for n in CLASSIFIERS] + [(n, [], "diabetes") for n in REGRESSORS] +
                         [(n, e, d) for n, e in VARIANTS for d in ("breast_cancer", "diabetes")
                          if not (n == "svm" and "model.probability=true" in e and d == "diabetes")])
def test_the_test_metric_equals_scikit_learn_fitted_by_hand(dlx, tmp_path, name, extra, data_name):
    """To 1e-9: the estimator's float64 outputs are kept for the run's metrics (accuracy, AUC, R², MAE,
    RMSE); forests and boosting are fitted with the same random_state."""
    args = [f"model={name}", f"data={data_name}", *SMALL.get(name, []), *extra]
    result = dlx("train", *args, *ONE_THREAD, "-q")
    assert result.code == 0, result.err
    summary = summary_of(runs_of(tmp_path)[0])
    est, x_test, y_test, kind = fitted_by_hand(args, data_name)
    expected = hand_scores(est, x_test, y_test, kind)
    assert set(expected) == ({"test_r2", "test_mae", "test_rmse"} if kind == "regression" else
                             {"test_acc", "test_auc"} if kind == "binary" else {"test_acc"})
    for key, value in expected.items():
        assert summary[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("name, extra", [("logistic", []), ("naive_bayes", []), ("forest", []), ("boosting", []),
                                         ("svm", ["model.probability=true"]), ("knn", [])])
@pytest.mark.parametrize("data_name", ["wine", "breast_cancer"])
def test_a_restored_baselines_probabilities_are_scikit_learns(dlx, tmp_path, name, extra, data_name):
    import torch

    from dlx.use.restore import restore
    from dlx.use.scores import to_scores

    args = [f"model={name}", f"data={data_name}", *SMALL.get(name, []), *extra]
    assert dlx("train", *args, *ONE_THREAD, "-q").code == 0
    restored = restore(runs_of(tmp_path)[0])
    bundle = data.build(config.load(args).data)
    probabilities = to_scores(restored.outputs(bundle.test.x), restored.kind, restored.preprocess)
    assert probabilities.dtype == torch.float64  # as scikit-learn computed them
    est, x_test, _, _ = fitted_by_hand(args, data_name)
    np.testing.assert_allclose(probabilities.numpy(), est.predict_proba(x_test), rtol=0, atol=1e-9)


def round_trip(est, name: str, exp, kind: str):
    """Saved as the checkpoint saves it (tensors, read back with weights_only) and rebuilt."""
    import io

    import torch

    entry = MODELS.get(name).meta
    buffer = io.BytesIO()
    torch.save(estimator.to_tensors(entry["to_arrays"](est)), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # refuses anything pickled but tensors and plain values
    assert all(isinstance(v, (torch.Tensor, int, float, str)) for v in state.values())
    saved = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in state.items()}
    return entry["from_arrays"](exp.model, kind, saved)


@pytest.mark.parametrize("name, extra", [(n, []) for n in ALL] + VARIANTS)
@pytest.mark.parametrize("data_name", ["wine", "breast_cancer", "diabetes"])
def test_predictions_after_restore_equal_before(name, extra, data_name):
    args = [f"model={name}", f"data={data_name}", *SMALL.get(name, []), *extra]
    exp = config.load(args)
    kind = data.build(exp.data).kind
    if name not in (REGRESSORS if kind == "regression" else CLASSIFIERS):
        pytest.skip(f"{name} does not fit {kind} data")
    est, x_test, _, kind = fitted_by_hand(args, data_name)
    again = round_trip(est, name, exp, kind)
    np.testing.assert_array_equal(again.predict(x_test), est.predict(x_test))
    if kind != "regression" and hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(again.predict_proba(x_test), est.predict_proba(x_test))


def test_eval_predict_and_ensemble_of_baseline_runs_and_export_refused(dlx, tmp_path):
    for name in ("tree", "boosting"):
        assert dlx("train", f"model={name}", "data=iris", *SMALL.get(name, []), *ONE_THREAD, "-q").code == 0
    tree, boosting = (r.name for r in sorted(runs_of(tmp_path), key=lambda p: "boosting" in p.name))
    evaluated = dlx("eval", tree, "--format", "json")
    assert evaluated.code == 0, evaluated.err
    assert json.loads(evaluated.out)["metrics"]["acc"] == pytest.approx(summary_of(tmp_path / "outputs" / "runs" / tree)["test_acc"])
    assert dlx("predict", boosting, "--split", "test", "-o", "pred.csv").code == 0
    assert (tmp_path / "pred.csv").is_file()
    assert dlx("ensemble", tree, boosting).code == 0
    refused = dlx("export", tree, "-o", "m.pt")
    assert refused.code != 0 and len(refused.err.strip().splitlines()) == 1


def test_sweep_over_forest_depth_and_cv_of_a_forest(dlx, tmp_path):
    result = dlx("sweep", "model=forest", "model.max_depth=range(2,12,2)", "model.n_estimators=10", "data=iris",
                 *ONE_THREAD)
    assert result.code == 0, result.err
    (sweep,) = (tmp_path / "outputs" / "sweeps").iterdir()
    assert len(list((sweep / "runs").iterdir())) == 5
    result = dlx("cv", "-k", "3", "model=forest", "model.n_estimators=10", "data=iris", *ONE_THREAD, "-q")
    assert result.code == 0, result.err
    (cv,) = (tmp_path / "outputs" / "cv").iterdir()
    assert json.loads((cv / "summary.json").read_text())["averaged"] == 3


@pytest.mark.parametrize("args, words", [
    (["model=svm", "model.kernel=sigmoidal"], "kernel"), (["model=forest", "model.variant=bagged"], "variant"),
    (["model=tree", "model.max_depth=-1"], "max_depth"), (["model=boosting", "model.learning_rate=0"], "learning_rate"),
    (["model=tree", "model.depth=3"], "depth")])
def test_bad_keys_and_values_are_one_line(dlx, args, words):
    result = dlx("train", *args)
    assert result.code == 2 and words in result.err and len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, words", [(["model=naive_bayes"], "classifies"),
                                         (["model=tree", "model.criterion=entropy"], "criterion")])
def test_a_baseline_that_does_not_fit_values_is_one_line(dlx, args, words):
    result = dlx("train", *args, "data=diabetes", *ONE_THREAD)
    assert result.code != 0 and words in result.err and len(result.err.strip().splitlines()) == 1


def test_baselines_ranks_every_fitting_baseline_beside_the_networks(dlx, tmp_path):
    assert dlx("train", "data=wine", "trainer.epochs=2", *ONE_THREAD, "-q").code == 0
    result = dlx("baselines", "data=wine", *ONE_THREAD)
    assert result.code == 0, result.err
    for name in CLASSIFIERS + ("mlp",):
        assert name in result.out
    assert result.out.count("★") == 1 and "linear" not in result.out
    assert len(runs_of(tmp_path)) == len(CLASSIFIERS) + 1  # ordinary runs, beside the network's


def test_baselines_refuses_model_keys_in_one_line(dlx):
    result = dlx("baselines", "model.k=3")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1


def test_purity_is_the_share_of_rows_in_their_clusters_majority():
    from dlx.report.embed import purity

    assert purity(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])) == 1.0
    assert purity(np.array([0, 0, 0, 0]), np.array([0, 1, 1, 1])) == 0.75


@pytest.mark.parametrize("model, method", [("mlp", "pca"), ("tree", "tsne")])
def test_plot_embed_draws_the_hidden_layer_or_inputs_with_cluster_purity(dlx, tmp_path, model, method):
    assert dlx("train", f"model={model}", "data=iris", "trainer.epochs=1", *ONE_THREAD, "-q").code == 0
    result = dlx("plot", "last", "--embed", method, "-o", "embed.png")
    assert result.code == 0, result.err
    assert (tmp_path / "embed.png").stat().st_size > 0
    assert "kmeans_purity" in result.out and "gmm_purity" in result.out
    (run,) = runs_of(tmp_path)
    stored = json.loads((run / "eval" / "embed.json").read_text())  # kept with the run, beside dlx eval's reports
    printed = dict(zip(result.out.split()[2::2], map(float, result.out.split()[3::2])))
    assert {k: round(stored[k], 3) for k in printed} == printed and 0 < stored["kmeans_purity"] <= 1
    shown = dlx("show", run.name)
    assert shown.code == 0, shown.err
    assert f"k-means {stored['kmeans_purity']:.3f} · GMM {stored['gmm_purity']:.3f}" in shown.out
    refused = dlx("plot", "last", "--embed", "umap", "-o", "embed.png")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1


def test_a_baseline_run_keeps_only_its_fitted_estimator_and_says_what_it_fits(dlx, tmp_path):
    result = dlx("train", "model=forest", "data=moons", "model.n_estimators=10", *ONE_THREAD)
    assert result.code == 0, result.err
    (run,) = runs_of(tmp_path)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["estimator.pt"]  # no empty best.pt / last.pt
    rows = summary_of(run)["train_size"]
    assert f"fitting RandomForestClassifier on {rows} rows of 2 features" in result.out
    assert "fitted in " in result.out and "fitted once: val_acc" in result.out and "numbers kept" in result.out
    assert "parameters" not in result.out and "epoch" not in result.out  # no epochs, no parameters
    for command in (["eval", run.name], ["predict", run.name, "--split", "test", "-o", "p.csv"], ["show", run.name],
                    ["runs"], ["plot", run.name, "--boundary", "-o", "regions.png"]):
        used = dlx(*command)
        assert used.code == 0, (command, used.err)
        assert command[0] != "show" or "fitted once: val_acc" in used.out
    assert (tmp_path / "regions.png").stat().st_size > 0
    for command, words in ((["export", run.name, "-o", "m.pt"], "fitted scikit-learn estimator"),
                           (["train", "model=mlp", f"model.init_from={run.name}", "data=moons"], "no network weights"),
                           (["landscape", run.name, "--slice", "1d"], "no weights for --slice")):
        refused = dlx(*command)
        assert refused.code == 2 and words in refused.err and len(refused.err.strip().splitlines()) == 1, refused.err


@pytest.mark.slow
def test_a_baseline_stopped_during_its_fit_is_fitted_again_on_resume(tmp_path):
    import signal

    from tests.conftest import run_process
    from tests.test_interrupts import signal_at

    args = ["train", "model=tree", "data=iris", "trainer.num_threads=1"]
    stopped = signal_at(tmp_path, args, "step@1", signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    assert "last.pt saved" not in stopped.stderr  # a fit keeps no training state
    (run,) = runs_of(tmp_path)
    resumed = run_process(["train", "--resume", run.name, "-q"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["estimator.pt"]
    fresh = run_process([*args, "-q", "name=again"], cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    again = next(p for p in runs_of(tmp_path) if "again" in p.name)
    assert summary_of(run)["test_acc"] == summary_of(again)["test_acc"]
