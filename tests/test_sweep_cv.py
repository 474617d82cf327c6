"""`dlx sweep --cv K`: each trial's value is the mean over K folds; --test refits the best once."""

import json

import pandas as pd
import pytest

from tests.conftest import FAST


def test_sweep_cv_trials_are_fold_means(dlx, tmp_path, monkeypatch):
    from dlx.engine import experiment

    calls = []
    real_run = experiment.run

    def spy(exp, *args, **kwargs):
        summary = real_run(exp, *args, **kwargs)
        calls.append((exp.data.folds, exp.data.fold, kwargs.get("evaluate_test", True)))
        return summary

    monkeypatch.setattr(experiment, "run", spy)
    result = dlx("sweep", "optim.lr=0.01,0.001", "--cv", "3", "--test", *FAST, "-q")
    assert result.code == 0, result.err
    sweep_dir = next((tmp_path / "outputs" / "sweeps").iterdir())
    trials = pd.read_csv(sweep_dir / "trials.csv")
    assert len(trials) == 2 and set(trials["state"]) == {"COMPLETE"}
    for _, trial in trials.iterrows():
        cv_dir = sweep_dir / "cv" / f"trial-{int(trial['number']):04d}"
        folds = pd.read_csv(cv_dir / "folds.csv")
        assert len(folds) == 3
        assert trial["value"] == pytest.approx(folds["best_val_acc"].mean(), rel=1e-12)
        assert trial["best_val_acc_std"] == pytest.approx(folds["best_val_acc"].std(ddof=1), rel=1e-12)
    # 2 trials × 3 folds, none touching the test split, then exactly one refit that does
    folds_runs = [c for c in calls if c[0] == 3]
    refits = [c for c in calls if c[0] == 0]
    assert len(folds_runs) == 6 and not any(c[2] for c in folds_runs)
    assert len(refits) == 1 and refits[0][2]
    best = trials.loc[trials["value"].idxmax()]
    refit = json.loads((sweep_dir / "cv" / f"trial-{int(best['number']):04d}" / "refit" / "summary.json").read_text())
    assert "test_acc" in refit
    assert "TEST SPLIT" in result.out


@pytest.mark.parametrize("args, message", [
    (["--cv", "1"], "at least 2 folds"),
    (["--test"], "--test refits the best trial of a --cv sweep"),
    (["--cv", "3", "--prune"], "--prune"),
])
def test_sweep_cv_bad_options(dlx, args, message):
    result = dlx("sweep", "optim.lr=0.01,0.001", *args, *FAST)
    assert result.code == 2
    assert message in result.err and len(result.err.strip().splitlines()) == 1


def test_sweep_on_regression_minimises_val_loss_by_default(dlx, tmp_path):
    result = dlx("sweep", "optim.lr=0.01,0.001", "data=diabetes", "trainer.epochs=2", "trainer.num_threads=1", "-q")
    assert result.code == 0, result.err
    sweep_dir = next((tmp_path / "outputs" / "sweeps").iterdir())
    spec = json.loads((sweep_dir / "sweep.json").read_text())
    assert spec["metric"] == "val_loss" and spec["direction"] == "minimize"
    trials = pd.read_csv(sweep_dir / "trials.csv")
    assert set(trials["state"]) == {"COMPLETE"}
    best = trials.loc[trials["value"].idxmin()]
    assert "trainer.monitor=val_loss" in (sweep_dir / "best.overrides").read_text()
    assert str(best["optim.lr"]) in (sweep_dir / "best.overrides").read_text()
