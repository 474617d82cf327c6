"""`dlx cv --group-col COL`: GroupKFold over a CSV column — no group on both sides of a fold."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TINY = ["trainer.epochs=1", "trainer.num_threads=1"]


def write_table(folder: Path, groups: int = 14, seed: int = 0) -> Path:
    """A CSV whose `patient` column groups rows unevenly (2 to 15 rows each), rows not sorted by group."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 16, size=groups)
    patient = rng.permutation(np.repeat([f"p{g:02d}" for g in range(groups)], sizes))
    label = np.array(["sick" if int(p[1:]) % 2 else "well" for p in patient])
    label[rng.random(len(label)) < 0.2] = "well"  # labels vary within some groups, as in real data
    n = len(patient)
    frame = pd.DataFrame({"age": rng.normal(50, 10, n).round(1), "dose": rng.uniform(0, 1, n).round(3),
                          "patient": patient, "outcome": label})
    path = folder / "patients.csv"
    frame.to_csv(path, index=False)
    return path


def csv_overrides(path: Path, *extra: str) -> list[str]:
    return ["data=csv", f"data.path={path}", "data.target=outcome", *extra]


def raw_and_cfg(*overrides: str):
    from dlx import config
    from dlx.registry import DATASETS

    cfg = config.load(list(overrides)).data
    return DATASETS.build(cfg.name, cfg), cfg


def fold_of_each_group(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("group")["fold"].nunique()


# ---------------------------------------------------------------- the data and the splits


def test_the_group_column_is_read_as_groups_not_as_a_feature(tmp_path):
    path = write_table(tmp_path)
    raw, _ = raw_and_cfg(*csv_overrides(path, "data.group_col=patient"))
    plain, _ = raw_and_cfg(*csv_overrides(path, "data.features=[age,dose]"))
    assert raw.x.shape == plain.x.shape == (len(raw.y), 2)  # not 2 + one-hot patients
    assert list(raw.groups) == list(pd.read_csv(path)["patient"])
    assert plain.groups is None


def test_a_row_dropped_for_a_missing_value_takes_its_group_along(tmp_path):
    path = write_table(tmp_path)
    frame = pd.read_csv(path)
    frame.loc[[3, 7], "age"] = np.nan
    frame.loc[5, "patient"] = np.nan
    frame.to_csv(path, index=False)
    raw, _ = raw_and_cfg(*csv_overrides(path, "data.group_col=patient", "data.dropna=true"))
    kept = frame.drop(index=[3, 5, 7])
    assert len(raw.groups) == len(raw.y) == len(kept) and list(raw.groups) == list(kept["patient"])


@pytest.mark.parametrize("repeats", [1, 2])
def test_each_group_is_validated_in_one_fold_and_every_sample_once(tmp_path, repeats):
    from dlx.cv.folds import plan_folds
    from dlx.data import split_indices

    path = write_table(tmp_path)
    raw, cfg = raw_and_cfg(*csv_overrides(path, "data.group_col=patient"))
    train, val, test = split_indices(raw, cfg)
    dev = np.sort(np.concatenate([train, val]))
    rows = pd.DataFrame(plan_folds(cfg, folds=4, repeats=repeats))
    assert (rows["group"].to_numpy() == raw.groups[rows["index"]]).all()  # assignment.csv's group is the sample's
    for r, part in rows.groupby("repeat"):
        assert sorted(part["index"]) == list(dev)  # every train/val sample validated exactly once
        assert not set(part["index"]) & set(test)  # the test split is in no fold
        assert (fold_of_each_group(part) == 1).all()  # a group's samples land in one validation fold only
        for k in range(4):
            fold_train, fold_val, fold_test = split_indices(raw, replace(cfg, folds=4, fold=k, repeat=r))
            assert sorted(fold_val) == sorted(part.loc[part["fold"] == k, "index"])  # the run uses these folds
            assert not set(raw.groups[fold_train]) & set(raw.groups[fold_val])  # no group straddles train/val
            assert sorted(np.concatenate([fold_train, fold_val])) == list(dev)
            assert sorted(fold_test) == sorted(test)  # untouched
    if repeats == 2:
        first, second = (p.sort_values("index")["fold"].to_numpy() for _, p in rows.groupby("repeat"))
        assert (first != second).any()  # a repeat is another shuffle of the groups
    # the fixture can tell: ordinary stratified folds of the same rows do split some group
    plain = pd.DataFrame(plan_folds(replace(cfg, group_col=None), folds=4, repeats=1))
    plain["group"] = raw.groups[plain["index"]]
    assert (fold_of_each_group(plain) > 1).any()


def test_group_folds_are_seeded_groupkfold_over_train_val(tmp_path):
    from sklearn.model_selection import GroupKFold

    from dlx.data import split_indices

    path = write_table(tmp_path)
    raw, cfg = raw_and_cfg(*csv_overrides(path, "data.group_col=patient", "data.seed=3"))
    train, val, _ = split_indices(raw, cfg)
    dev = np.sort(np.concatenate([train, val]))
    expected = list(GroupKFold(n_splits=3, shuffle=True, random_state=3).split(dev, groups=raw.groups[dev]))
    for k, (_, held_out) in enumerate(expected):
        _, fold_val, _ = split_indices(raw, replace(cfg, folds=3, fold=k))
        assert sorted(fold_val) == sorted(dev[held_out])
        fold_train, _, _ = split_indices(raw, replace(cfg, folds=3, fold=k))
        assert (split_indices(raw, replace(cfg, folds=3, fold=k))[0] == fold_train).all()  # a pure function
    other = [sorted(split_indices(raw, replace(cfg, folds=3, fold=k, seed=4))[1]) for k in range(3)]
    assert other != [sorted(dev[v]) for _, v in expected]  # another data.seed, another partition


# ---------------------------------------------------------------- the command


def test_cv_group_col_end_to_end(dlx, tmp_path):
    path = write_table(tmp_path)
    result = dlx("cv", "--folds", "3", "--group-col", "patient", *csv_overrides(path, *TINY))
    assert result.code == 0, result.err
    (folder,) = (tmp_path / "outputs" / "cv").iterdir()
    assignment = pd.read_csv(folder / "assignment.csv", dtype={"group": str})
    assert list(assignment.columns) == ["index", "repeat", "fold", "group"]
    assert (fold_of_each_group(assignment) == 1).all() and not assignment["index"].duplicated().any()
    for k in range(3):
        run = folder / f"fold-{k}"
        assert json.loads((run / "summary.json").read_text())["val_size"] == (assignment["fold"] == k).sum()
        assert "data.group_col=patient" in (run / "overrides.yaml").read_text()  # `dlx train` can reproduce it
    saved = json.loads((folder / "cv.json").read_text())
    assert saved["group_col"] == "patient" and "--group-col patient" in saved["command"]

    again = dlx("cv", "--resume", folder.name, "--group-col", "dose")
    lines = again.err.strip().splitlines()
    assert again.code == 2 and len(lines) == 1 and lines[0].startswith("error:")
    assert lines[0].endswith(f"{folder.name} was started with --group-col patient, not dose")


@pytest.mark.parametrize("args, message", [
    (["--group-col", "patient"], "--group-col needs CSV data"),  # digits: not csv
    (["--folds", "15", "--group-col", "patient", "CSV"], "column 'patient' has only"),  # 14 groups or fewer
    (["--group-col", "patiant", "CSV"], "no group column 'patiant' (data.group_col) — did you mean 'patient'?"),
    (["--group-col", "outcome", "CSV"], "data.group_col 'outcome' is also the target"),
    (["--group-col", "patient", "CSV", "data.group_col=patient"], "give the group column once"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_fold(dlx, tmp_path, args, message):
    path = write_table(tmp_path)
    args = [a for arg in args for a in (csv_overrides(path) if arg == "CSV" else [arg])]
    result = dlx("cv", *args, *TINY)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.err
    assert not list((tmp_path / "outputs").glob("cv/*/fold-*"))


def test_a_plain_fold_run_with_too_few_groups_is_one_line(dlx, tmp_path):
    path = write_table(tmp_path, groups=3)
    result = dlx("train", *csv_overrides(path, "data.group_col=patient", "data.folds=4", *TINY))
    assert result.code == 2 and result.err.strip().splitlines() == [
        # the test split holds out whole groups too (one of the three)
        "error: 4 folds need at least 4 groups, but train+val has 2; lower data.folds "
        "(GroupKFold puts each group in one fold)"]
