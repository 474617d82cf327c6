import json
import os
from datetime import datetime
from pathlib import Path

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


# ---------------------------------------------------------------- checkpoints written off the training thread


def test_checkpoint_holds_the_state_of_the_call_not_of_the_write(tmp_path):
    run = RunDir.create(tmp_path, "snap")
    weights = torch.zeros(3)
    run.save_checkpoint("last", {"model": {"w": weights}, "epoch": 1})
    weights += 5  # training goes on while the file is written
    run.save_checkpoint("best", {"model": {"w": weights}, "epoch": 2})
    run.flush()
    assert torch.equal(torch.load(run.checkpoint_path("last"), weights_only=True)["model"]["w"], torch.zeros(3))
    assert torch.equal(torch.load(run.checkpoint_path("best"), weights_only=True)["model"]["w"], torch.full((3,), 5.0))


def test_checkpoints_replace_each_other_in_order_keeping_the_previous(tmp_path):
    run = RunDir.create(tmp_path, "order")
    for epoch in range(1, 6):
        run.save_checkpoint("last", {"epoch": epoch})
    run.write_status("finished")  # a status waits for the write in flight
    assert torch.load(run.checkpoint_path("last"), weights_only=True)["epoch"] == 5
    assert torch.load(run.checkpoint_path("last.prev"), weights_only=True)["epoch"] == 4
    assert not list(run.path.rglob(".*.tmp"))


def test_a_failed_background_write_is_raised_by_flush_and_leaves_the_old_file(tmp_path, monkeypatch):
    import builtins

    from dlx.store import files

    run = RunDir.create(tmp_path, "full")
    run.save_checkpoint("last", {"epoch": 1})
    run.flush()

    def full_disk(path, mode="r", *args, **kwargs):
        if Path(path).name.startswith(".last.pt."):
            return builtins.open("/dev/full", mode)
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", full_disk, raising=False)
    run.save_checkpoint("last", {"epoch": 2, "pad": torch.zeros(100_000)})
    with pytest.raises(RunError, match="last.pt"):
        run.flush()
    run.flush()  # raised once; nothing pending
    assert torch.load(run.checkpoint_path("last"), weights_only=True)["epoch"] == 1
    assert not list(run.path.rglob(".*.tmp"))


def test_last_is_the_run_started_last_when_two_share_a_second(tmp_path):
    """Ids name the second only; `last` must not fall back to the label's alphabetical order."""
    import os

    from dlx.store.runs import find_run

    runs = tmp_path / "outputs" / "runs"
    older, newer = runs / "2026-01-01_00-00-00_mlp-adam-digits", runs / "2026-01-01_00-00-00_cnn-adam-digits"
    for i, path in enumerate((older, newer)):
        (path / "checkpoints").mkdir(parents=True)
        (path / "config.yaml").write_text("model: {}\n")
        os.utime(path / "config.yaml", (1_000_000 + i, 1_000_000 + i))
    assert find_run(tmp_path / "outputs", "last") == newer
