"""`dlx cv`: the partition, the summary's arithmetic, the one test evaluation, resume, bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import FAST

# a small dataset: 3 folds of ~100 validation samples each, 2 epochs of ~200 training samples
SMALL = [*FAST, "data.test_fraction=0.5", "data.limit=200"]


def cv_dirs(root: Path) -> list[Path]:
    folder = root / "outputs" / "cv"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def only_cv(root: Path) -> Path:
    dirs = cv_dirs(root)
    assert len(dirs) == 1, dirs
    return dirs[0]


def digits_and_cfg(*overrides: str):
    from dlx import config
    from dlx.registry import DATASETS

    exp = config.load(list(overrides))
    return DATASETS.build(exp.data.name, exp.data), exp.data


def test_folds_partition_train_val_are_stratified_and_avoid_test():
    from dlx.cv.folds import plan_folds
    from dlx.data import split_indices

    raw, cfg = digits_and_cfg()
    train, val, test = split_indices(raw, cfg)
    dev = np.sort(np.concatenate([train, val]))
    rows = pd.DataFrame(plan_folds(cfg, folds=5, repeats=2))
    for r, part in rows.groupby("repeat"):
        assert sorted(part["index"]) == list(dev)  # each train/val sample in exactly one validation fold
        assert not set(part["index"]) & set(test)  # no test sample in any fold
        for k, fold in part.groupby("fold"):
            # stratified: each class's count in a fold is floor or ceil of its count / 5
            counts = pd.Series(raw.y[fold["index"]]).value_counts()
            totals = pd.Series(raw.y[dev]).value_counts()
            assert ((counts - totals[counts.index] / 5).abs() < 1).all()
            # the run of fold k validates on exactly these samples, and trains on the rest of train+val
            fold_train, fold_val, fold_test = split_indices(raw, replace(cfg, folds=5, fold=k, repeat=r))
            assert sorted(fold_val) == sorted(fold["index"])
            assert sorted(np.concatenate([fold_train, fold_val])) == list(dev)
            assert sorted(fold_test) == sorted(test)
    first, second = (part.sort_values("index")["fold"].to_numpy() for _, part in rows.groupby("repeat"))
    assert (first != second).any()  # a repeat is another shuffle


def test_regression_folds_use_plain_kfold():
    from dlx.data.splits import kfold

    y = np.linspace(0, 1, 23)
    vals = [kfold(y, "regression", 4, k, seed=3)[1] for k in range(4)]
    assert sorted(np.concatenate(vals)) == list(range(23))
    assert sorted(len(v) for v in vals) == [5, 6, 6, 6]


def test_fold_training_positions_are_shuffled_so_data_limit_sees_every_class():
    from dlx.data.splits import kfold

    y = np.repeat(np.arange(5), 40)  # a file sorted by class
    train, val = kfold(y, "multiclass", 4, 1, seed=0)
    assert len(set(y[train[:30]])) == 5  # the first 30 (data.limit=30) are not all class 0
    again, _ = kfold(y, "multiclass", 4, 1, seed=0)
    assert (train == again).all()  # yet seeded


@pytest.mark.parametrize("args, message", [
    (["--folds", "1"], "--folds must be at least 2"),
    (["--folds", "2000"], "train+val has only 1437 samples"),
    (["--folds", "3", "data.val_fraction=0.005", "data.test_fraction=0.99"],  # 18 train+val samples
     "stratified folds need at least 3 per class"),
    (["--folds", "3", "data.fold=1"], "dlx cv sets data.folds"),
    (["--folds", "3", "--jobs", "0"], "--jobs must be at least 1"),
    (["--resume", "nothing-here"], "no cross-validations in"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_fold(dlx, tmp_path, args, message):
    result = dlx("cv", *args, *FAST)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.err
    assert not list((tmp_path / "outputs").glob("cv/*/fold-*"))


def test_summary_json_agrees_with_folds_csv(dlx, tmp_path):
    result = dlx("cv", "--folds", "3", *SMALL)
    assert result.code == 0, result.err
    folder = only_cv(tmp_path)
    folds = pd.read_csv(folder / "folds.csv")
    summary = json.loads((folder / "summary.json").read_text())
    assert list(folds["fold"]) == ["fold-0", "fold-1", "fold-2"] and (folds["status"] == "finished").all()
    assert summary["averaged"] == 3 and summary["failed"] == []
    assert {"val_loss", "val_acc", "best_val_acc", "best_epoch"} <= set(summary["metrics"])
    for name, stats in summary["metrics"].items():
        assert stats["mean"] == pytest.approx(folds[name].mean(), rel=1e-12)
        assert stats["std"] == pytest.approx(folds[name].std(ddof=1), rel=1e-12)
        assert list(stats["values"].values()) == pytest.approx(list(folds[name]), rel=1e-15)
    # each fold is an ordinary run that validated on its fold of assignment.csv and never saw the test split
    assignment = pd.read_csv(folder / "assignment.csv")
    for k in range(3):
        run = json.loads((folder / f"fold-{k}" / "summary.json").read_text())
        assert run["val_size"] == (assignment["fold"] == k).sum()
        assert not [key for key in run if key.startswith("test_") and key != "test_size"]
    assert "mean ± std" in result.out and "TEST SPLIT" not in result.out
    acc = summary["metrics"]["val_acc"]
    assert f"{acc['mean']:.4f} ± {acc['std']:.4f}" in result.out


def test_repeats_give_a_run_per_repeat_and_fold(dlx, tmp_path):
    result = dlx("cv", "--folds", "2", "--repeats", "2", *SMALL)
    assert result.code == 0, result.err
    folder = only_cv(tmp_path)
    names = ["fold-0-0", "fold-0-1", "fold-1-0", "fold-1-1"]
    assert list(pd.read_csv(folder / "folds.csv")["fold"]) == names
    assert all((folder / name / "summary.json").is_file() for name in names)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["runs"] == summary["averaged"] == 4 and list(summary["metrics"]["val_acc"]["values"]) == names
    assignment = pd.read_csv(folder / "assignment.csv")
    assert sorted(assignment["repeat"].unique()) == [0, 1]
    assert not assignment.duplicated(["repeat", "index"]).any()


def test_test_refits_on_train_val_and_evaluates_the_test_split_once(dlx, tmp_path, monkeypatch):
    import torch

    from dlx.data import split_indices
    from dlx.engine.trainer import Trainer

    overrides = ["trainer.epochs=3", "trainer.num_threads=1", "data.test_fraction=0.5",
                 "regularizer.early_stopping.patience=1", "optim.lr=0.05"]
    raw, cfg = digits_and_cfg(*overrides)
    train, val, test = split_indices(raw, cfg)
    y_test = torch.as_tensor(raw.y[test])
    seen = []
    evaluate = Trainer.evaluate

    def spy(self, batches, *args, **kwargs):
        seen.append(batches.y.shape == y_test.shape and bool(torch.equal(batches.y.cpu(), y_test)))
        return evaluate(self, batches, *args, **kwargs)

    monkeypatch.setattr(Trainer, "evaluate", spy)
    result = dlx("cv", "--folds", "2", "--test", *overrides)
    assert result.code == 0, result.err
    assert sum(seen) == 1  # the test split, once: by the refit, after every fold
    folder = only_cv(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    refit = json.loads((folder / "refit" / "summary.json").read_text())
    assert refit["train_size"] == len(train) + len(val) and refit["val_size"] == 0
    assert refit["best_epoch"] == refit["epochs_run"]  # no validation split: the last epoch is kept
    best = pd.read_csv(folder / "folds.csv")["best_epoch"]
    assert refit["epochs_run"] == int(np.floor(best.median() + 0.5))  # early stopping chose the epochs
    assert summary["test"]["test_acc"] == refit["test_acc"] and "test_acc" not in summary["metrics"]
    out = result.out
    assert out.index("mean ± std") < out.index("TEST SPLIT — evaluated once")
    assert f"{refit['test_acc']:.4f}" in out[out.index("TEST SPLIT"):]


def test_refit_epochs_follow_early_stopping_only():
    from dlx import config
    from dlx.cv.driver import refit_epochs

    rows = [{"status": "finished", "best_epoch": e} for e in (2, 3, 7, 4)] + [{"status": "failed"}]
    assert refit_epochs(config.load(["regularizer.early_stopping.patience=2"]), rows) == 4  # median 3.5
    assert refit_epochs(config.load(["trainer.epochs=9"]), rows) == 9  # no early stopping: the config's epochs


def test_a_failed_fold_is_reported_and_resume_runs_only_it(dlx, tmp_path, monkeypatch):
    from dlx.engine import experiment
    from dlx.errors import RunError

    run = experiment.run
    ran, failing = [], {"fold-1"}

    def flaky(exp, overrides=(), *args, run_path=None, **kwargs):
        ran.append(Path(run_path).name)
        if Path(run_path).name in failing:
            raise RunError("loss became nan at epoch 1, step 3: training diverged")
        return run(exp, overrides, *args, run_path=run_path, **kwargs)

    monkeypatch.setattr(experiment, "run", flaky)
    first = dlx("cv", "--folds", "3", *SMALL)
    assert first.code == 1
    assert "1 of 3 folds failed (fold-1); the mean averages 2" in first.err
    folder = only_cv(tmp_path)
    folds = pd.read_csv(folder / "folds.csv")
    assert list(folds["status"]) == ["finished", "failed", "finished"] and "diverged" in folds["error"][1]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["averaged"] == 2 and summary["failed"] == ["fold-1"]
    assert summary["metrics"]["val_acc"]["mean"] == pytest.approx(folds["val_acc"].mean(), rel=1e-12)
    assert json.loads((folder / "fold-1" / "status.json").read_text())["status"] == "failed"
    kept = (folder / "fold-0" / "summary.json").read_bytes()

    ran.clear()
    failing.clear()
    second = dlx("cv", "--resume", folder.name)
    assert second.code == 0, second.err
    assert ran == ["fold-1"]  # only the missing fold
    assert (folder / "fold-0" / "summary.json").read_bytes() == kept
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["averaged"] == 3 and summary["failed"] == []


def test_cross_validate_is_callable_by_a_sweep(tmp_path):
    from dlx.cv.driver import cross_validate
    from dlx.errors import ConfigError

    result = cross_validate([*SMALL, f"output_dir={tmp_path}"], 2, cv_dir=tmp_path / "trial-0" / "cv")
    assert result.path == tmp_path / "trial-0" / "cv" and result.averaged == 2
    values = list(result.metrics["val_acc"]["values"].values())
    assert result.mean("val_acc") == pytest.approx(np.mean(values)) and len(values) == 2
    assert result.std("val_acc") == pytest.approx(np.std(values, ddof=1))
    assert (result.path / "fold-1" / "summary.json").is_file()
    # the same folder again (a resumed trial, or the sweep's --test on its best trial) reuses the folds
    again = cross_validate([*SMALL, f"output_dir={tmp_path}"], 2, cv_dir=result.path, test=True)
    assert again.ran == [] and again.mean("val_acc") == result.mean("val_acc")
    assert again.refit["test_size"] > 0 and (result.path / "refit" / "summary.json").is_file()
    with pytest.raises(ConfigError, match="not these overrides"):
        cross_validate([*SMALL, "optim.lr=0.5"], 2, cv_dir=result.path)


@pytest.mark.slow
def test_parallel_folds_and_resume_from_the_command_line(dlx_process, tmp_path):
    first = dlx_process("cv", "--folds", "2", "--jobs", "2", *SMALL)  # 2 spawned workers
    assert first.returncode == 0, first.stderr
    assert "2 to run, 2 jobs" in first.stdout
    folder = only_cv(tmp_path)
    before = pd.read_csv(folder / "folds.csv")
    (folder / "fold-1" / "summary.json").unlink()  # as if killed before fold-1 finished
    kept = (folder / "fold-0" / "summary.json").stat().st_mtime_ns

    second = dlx_process("cv", "--resume", folder.name)
    assert second.returncode == 0, second.stderr
    assert "1 to run, 1 already done" in second.stdout
    assert (folder / "fold-0" / "summary.json").stat().st_mtime_ns == kept
    after = pd.read_csv(folder / "folds.csv")
    assert (after["status"] == "finished").all() and (folder / "fold-1" / "summary.json").is_file()
    # the same seeds give the same fold in a fresh process: resume reproduces the lost result
    assert after["val_acc"][1] == pytest.approx(before["val_acc"][1])
