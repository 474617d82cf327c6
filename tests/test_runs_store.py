import json
import os
from datetime import datetime

import pytest
import torch

from dlx.errors import ConfigError, RunError
from dlx.store.files import atomic_write_text, new_run_id
from dlx.store.rundir import RunDir
from dlx.store.runs import find_run, read_summary


def test_run_id_is_readable():
    rid = new_run_id("mlp-adam-digits", datetime(2026, 11, 21, 22, 40, 12))
    assert rid == "2026-11-21_22-40-12_mlp-adam-digits"
    assert new_run_id("a b/c", datetime(2026, 1, 1)).endswith("_a-b-c")


def test_two_runs_in_the_same_second_get_distinct_folders(tmp_path):
    a = RunDir.create(tmp_path, "same")
    b = RunDir.create(tmp_path, "same")
    assert a.path != b.path
    assert b.id == a.id + "-2"
    assert (a.path / "checkpoints").is_dir()


def test_atomic_write_leaves_no_temp_files_and_replaces_whole(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    run = RunDir.create(tmp_path, "x")
    run.write_json("summary.json", {"a": 1})

    def explode(f):
        f.write("{half")
        raise OSError(28, "No space left on device")

    from dlx.store.files import atomic_write

    with pytest.raises(RunError, match="No space left"):
        atomic_write(run.path / "summary.json", explode)
    assert json.loads((run.path / "summary.json").read_text()) == {"a": 1}
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]


def test_metrics_csv_has_union_of_columns(tmp_path):
    import pandas as pd

    run = RunDir.create(tmp_path, "m")
    run.write_metrics([{"epoch": 1, "lr": 0.1}, {"epoch": 2, "lr": 0.05, "train_penalty": 0.3}])
    frame = pd.read_csv(run.path / "metrics.csv")
    assert list(frame.columns) == ["epoch", "lr", "train_penalty"]
    assert frame["lr"].tolist() == [0.1, 0.05]


def test_checkpoint_loads_with_weights_only(tmp_path):
    run = RunDir.create(tmp_path, "c")
    path = run.save_checkpoint("last", {"model": {"w": torch.ones(2)}, "epoch": 3})
    run.flush()  # written on a background thread
    state = torch.load(path, weights_only=True)
    assert state["epoch"] == 3 and torch.equal(state["model"]["w"], torch.ones(2))


def test_find_run_by_prefix_suffix_and_last(tmp_path):
    root = tmp_path
    a = RunDir.create(root / "runs", "alpha")
    b = RunDir.create(root / "runs", "beta")
    assert find_run(root, a.id) == a.path
    assert find_run(root, "beta") == b.path  # suffix
    assert find_run(root, "last") in (a.path, b.path)
    with pytest.raises(ConfigError, match="matches 2 runs"):
        find_run(root, a.id[:10])
    with pytest.raises(ConfigError, match="no run matches"):
        find_run(root, "gamma")


def test_find_run_in_empty_store(tmp_path):
    with pytest.raises(ConfigError, match="no runs"):
        find_run(tmp_path, "last")


def test_read_summary_of_unfinished_run_is_none(tmp_path):
    run = RunDir.create(tmp_path, "u")
    assert read_summary(run.path) is None


def test_unwritable_root_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        root = blocker / "runs"
    else:
        root = tmp_path / "ro"
        root.mkdir(mode=0o500)
    with pytest.raises(RunError, match="cannot create"):
        RunDir.create(root, "x")
