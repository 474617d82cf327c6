"""Worker processes, run status and sweep ranking (issue 13 items 4, 5, 14; issue 12 section 2)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

TINY = ["trainer.epochs=2", "data.limit=150", "trainer.num_threads=1"]


# ---------------------------------------------------------------- dlx.parallel


def test_threads_per_worker_share_the_cores(monkeypatch):
    from dlx import parallel

    monkeypatch.setattr(parallel, "cores", lambda: 8)
    assert [parallel.threads_per_worker(j) for j in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


def test_pid_alive_says_dead_for_a_gone_or_zombie_process():
    from dlx.parallel import pid_alive

    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/stat").exists() and " Z " not in Path(f"/proc/{child.pid}/stat").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)  # polling until it has exited (a zombie until reaped)
    assert not pid_alive(child.pid)  # exited, not yet reaped
    child.wait()
    assert not pid_alive(child.pid) and not pid_alive(0) and not pid_alive(None) and not pid_alive(True)


def test_no_private_apis_of_optuna_hydra_or_multiprocessing():
    source = "\n".join(p.read_text() for p in (ROOT / "dlx").rglob("*.py"))
    for private in ("._storage", "_get_value_element_as_str", "._processes"):
        assert private not in source, private
    assert len(re.findall(r"^def pid_alive", source, re.M)) == 1  # one liveness helper


# ---------------------------------------------------------------- item 4: the lock, not the pid


def _running_run(path: Path, pid: int) -> Path:
    (path / "checkpoints").mkdir(parents=True)
    (path / "status.json").write_text(json.dumps({"status": "running", "pid": pid, "time": 0}))
    (path / ".lock").touch()
    return path


def test_a_running_status_with_a_live_unrelated_pid_is_interrupted_unless_locked(tmp_path):
    from dlx.store.rundir import RunDir
    from dlx.store.runs import run_status

    run = _running_run(tmp_path / "run", pid=os.getppid())  # alive, but not writing this run
    assert run_status(run) == "interrupted"
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
                               str(run / ".lock")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run_status(run) == "running"  # a process holds the lock: whatever pid status.json names
        assert RunDir(run).is_being_written()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert run_status(run) == "interrupted"


def test_resume_without_checkpoints_names_the_true_reason(dlx, tmp_path):
    assert dlx("train", *TINY).code == 0
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    (run / "summary.json").unlink()
    for checkpoint in (run / "checkpoints").iterdir():
        checkpoint.unlink()
    result = dlx("train", "--resume", run.name)
    assert result.code == 0, result.err
    assert "metrics.csv records 2 epochs" in result.err and "first epoch" not in result.err


# ---------------------------------------------------------------- item 5: hints paste into a shell


@pytest.mark.parametrize("output_dir", ["outputs", "my outputs", "/tmp/a,b's (1)"])
def test_resume_hints_split_back_into_the_arguments_hydra_reads(output_dir):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from dlx.engine.resume import resume_hint

    for command in ("train", "sweep", "cv"):
        args = shlex.split(resume_hint(command, "2026-11-30_07-00-00_mlp adam", output_dir))
        assert args[:4] == ["dlx", command, "--resume", "2026-11-30_07-00-00_mlp adam"]
        if output_dir == "outputs":
            assert len(args) == 4
        else:
            assert OverridesParser.create().parse_override(args[4]).value() == output_dir


# ---------------------------------------------------------------- item 14: ties and tiny splits


def _row(number, value, val_loss=None, state="COMPLETE"):
    return {"number": number, "state": state, "value": value, "val_loss": val_loss}


def test_ties_go_to_the_lower_val_loss_then_the_earlier_trial():
    from dlx.sweep.store import best_row, sort_rows

    rows = [_row(0, 0.9, 0.5), _row(1, 0.9, 0.3), _row(2, 0.9, 0.3), _row(3, 0.8, 0.1), _row(4, None, state="FAIL")]
    assert best_row(rows, "maximize")["number"] == 1
    assert [r["number"] for r in sort_rows(rows, "maximize")] == [1, 2, 0, 3, 4]
    assert [r["number"] for r in sort_rows(rows, "minimize")] == [3, 1, 2, 0, 4]


def test_trials_within_one_validation_sample_are_flagged():
    from dlx.sweep.store import indistinct

    rows = [_row(0, 0.90), _row(1, 0.91), _row(2, 0.70)]
    assert indistinct(rows, "val_acc", 100, "maximize") == [1, 0]  # 0.01 apart: one sample in 100
    assert indistinct(rows, "val_acc", 1000, "maximize") == []
    assert indistinct(rows, "val_loss", 100, "minimize") == []  # a loss is not counted in samples


def test_a_tied_sweep_warns_and_best_yaml_follows_the_tie_rule(dlx, tmp_path):
    import yaml

    from tests.test_sweep import read_trials, sweep_dir

    result = dlx("sweep", "optim.lr=0.001,0.0010000001", "trainer.epochs=1", "data.limit=100",
                 "trainer.num_threads=1", "-q")
    assert result.code == 0, result.err
    rows = read_trials(sweep_dir(tmp_path))
    assert rows[0]["value"] == rows[1]["value"]  # one validation split cannot tell them apart
    assert "cannot tell them apart" in result.err and "1/" in result.err
    expected = min(rows, key=lambda r: (float(r["val_loss"]), int(r["number"])))
    best = yaml.safe_load((sweep_dir(tmp_path) / "best.yaml").read_text())
    assert best["trial"] == int(expected["number"]) and "val_loss" in best["ranking"]


# ---------------------------------------------------------------- typed records


def test_sweep_spec_trial_row_and_fold_outcome_round_trip():
    from dlx.cv.worker import FoldOutcome
    from dlx.sweep.records import SweepSpec, TrialRow
    from dlx.sweep.space import parse_space

    space = parse_space(["optim.lr=0.1,0.01", "trainer.epochs=2"])
    spec = SweepSpec(id="s", space=space, sampler="grid", trials=2, metric="val_acc", direction="maximize",
                     command=("dlx", "sweep"), val_size=90)
    data = json.loads(json.dumps(spec.to_json()))
    assert SweepSpec.from_json(data) == spec and data["space"]["dims"][0]["key"] == "optim.lr"
    with pytest.raises(ValueError):
        SweepSpec.from_json({**data, "direction": "up"})

    row = TrialRow(3, "COMPLETE", 0.9, {"optim.lr": "0.1"}, "run-3", 1.5, "host:1", None, {"val_loss": 0.2})
    flat = row.to_json()
    assert list(flat)[:4] == ["number", "state", "value", "optim.lr"] and flat["val_loss"] == 0.2
    assert TrialRow.from_json(flat, ["optim.lr"]) == row

    outcome = FoldOutcome("interrupted", error="SIGINT at epoch 1, step 3")
    assert FoldOutcome.from_json(json.loads(json.dumps(outcome.to_json()))) == outcome
    with pytest.raises(ValueError):
        FoldOutcome("gone")
