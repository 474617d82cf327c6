"""`dlx sweep` in-process: search spaces, samplers, files, failures and resuming."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import pytest

# one epoch on a slice of digits, no checkpoints: a trial takes well under a second
TINY = ["trainer.epochs=1", "data.limit=200", "trainer.num_threads=1", "trainer.checkpoint=false"]


def sweep_dir(root: Path) -> Path:
    (found,) = sorted((root / "outputs" / "sweeps").iterdir())
    return found


def read_trials(folder: Path) -> list[dict]:
    with open(folder / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def load_study(folder: Path):
    import optuna

    return optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")


def finished_runs(folder: Path) -> list[Path]:
    return [p for p in (folder / "runs").iterdir() if (p / "summary.json").is_file()]


def test_grid_runs_each_combination_once(dlx, tmp_path):
    r = dlx("sweep", "optim.lr=0.1,0.01,0.001", "optim=sgd,adam", *TINY)
    assert r.code == 0, r.err
    folder = sweep_dir(tmp_path)
    rows = read_trials(folder)
    assert len(rows) == 6 and {row["state"] for row in rows} == {"COMPLETE"}
    combos = {(row["optim.lr"], row["optim"]) for row in rows}
    assert combos == {(lr, o) for lr in ("0.1", "0.01", "0.001") for o in ("sgd", "adam")}
    assert len({row["run_id"] for row in rows}) == 6 and len(finished_runs(folder)) == 6
    for row in rows:  # each run trained what its trial says
        config = (folder / "runs" / row["run_id"] / "config.yaml").read_text()
        assert f"lr: {row['optim.lr']}" in config and f"name: {row['optim']}" in config
    spec = json.loads((folder / "sweep.json").read_text())
    assert spec["sampler"] == "grid" and spec["metric"] == "val_acc" and spec["direction"] == "maximize"


def test_random_draws_inside_bounds_on_the_tagged_scale(dlx, tmp_path):
    r = dlx("sweep", "optim.lr=tag(log,interval(1e-4,1e-1))", "regularizer.dropout=interval(0,0.5)",
            "model.hidden=choice([64],[128,128])", "--sampler", "random", "--trials", "5", *TINY)
    assert r.code == 0, r.err
    folder = sweep_dir(tmp_path)
    rows = read_trials(folder)
    assert len(rows) == 5 and all(row["state"] == "COMPLETE" for row in rows)
    for row in rows:
        assert 1e-4 <= float(row["optim.lr"]) <= 1e-1
        assert 0 <= float(row["regularizer.dropout"]) <= 0.5
        assert row["model.hidden"] in ("[64]", "[128,128]")
    assert len({row["optim.lr"] for row in rows}) == 5
    trial = load_study(folder).trials[0]
    assert trial.distributions["optim.lr"].log and not trial.distributions["regularizer.dropout"].log


def test_tpe_runs_and_optimises_the_metric_asked_for(dlx, tmp_path):
    r = dlx("sweep", "optim.lr=tag(log,interval(1e-3,1e-1))", "trainer.batch_size=range(16,65,16)",
            "--sampler", "tpe", "--trials", "3", "--metric", "val_loss", *TINY)
    assert r.code == 0, r.err
    folder = sweep_dir(tmp_path)
    rows = read_trials(folder)
    assert [row["state"] for row in rows] == ["COMPLETE"] * 3
    assert all(int(row["trainer.batch_size"]) in (16, 32, 48, 64) for row in rows)
    for row in rows:  # the value is val_loss at the run's best epoch, minimised
        assert float(row["value"]) == pytest.approx(float(row["best_value"]))
    spec = json.loads((folder / "sweep.json").read_text())
    assert (spec["sampler"], spec["metric"], spec["direction"]) == ("tpe", "val_loss", "minimize")


def test_trials_csv_leaderboard_and_best_agree_and_best_reproduces(dlx, tmp_path):
    r = dlx("sweep", "optim.lr=0.05,0.01,0.002", *TINY)
    assert r.code == 0, r.err
    folder = sweep_dir(tmp_path)
    rows = read_trials(folder)
    best = max(rows, key=lambda row: float(row["value"]))
    import yaml

    doc = yaml.safe_load((folder / "best.yaml").read_text())
    assert doc["trial"] == int(best["number"]) and doc["value"] == pytest.approx(float(best["value"]))
    assert doc["run_id"] == best["run_id"] and doc["params"]["optim.lr"] == best["optim.lr"]
    overrides = (folder / "best.overrides").read_text().split()
    assert overrides == doc["overrides"] and f"optim.lr={best['optim.lr']}" in overrides
    board = [line for line in r.out.splitlines() if line.startswith("│")]
    assert board[0].split("│")[1].strip() == "1" and board[0].split("│")[2].strip() == best["number"]
    assert f"best: trial {best['number']}" in r.out
    # `dlx train $(cat best.overrides)` trains the same model to the same score
    t = dlx("train", *overrides)
    assert t.code == 0, t.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_value"] == pytest.approx(float(best["value"]))


@pytest.mark.parametrize("space, message", [
    ("optim.lr=interval(1,)", "malformed override"),
    ("optim.lrr=0.1,0.2", "unknown key 'optim.lrr'"),
    ("optim.lr=tag(log,interval(0,1))", "above 0"),
    ("optim.lr=interval(0.1,0.01)", "low < high"),
    ("optim.lr=0.1,abc", "invalid value 'abc' for optim.lr"),
    ("trainer.epochs=interval(1,3)", "use range"),
    ("optim.lr=0.1", "nothing to sweep"),
])
def test_malformed_space_is_one_line_and_exit_2_before_any_trial(dlx, tmp_path, space, message):
    r = dlx("sweep", space, *TINY)
    assert r.code == 2
    assert r.err.startswith("error: ") and message in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "outputs" / "sweeps").exists()


def test_diverging_trial_fails_with_its_reason_and_the_sweep_goes_on(dlx, tmp_path):
    r = dlx("sweep", "optim=sgd", "optim.lr=0.05,1e6,0.01", *TINY)
    assert r.code == 0, r.err
    rows = {row["optim.lr"]: row for row in read_trials(sweep_dir(tmp_path))}
    assert rows["1000000.0"]["state"] == "FAIL" and "diverged" in rows["1000000.0"]["reason"]
    assert rows["0.05"]["state"] == rows["0.01"]["state"] == "COMPLETE"
    assert "diverged" in r.out and "2 complete, 1 fail" in r.out


def _leave_running(folder: Path, complete: int) -> int:
    """Play a sweep that died: run `complete` trials, then pop one and leave it RUNNING."""
    from dlx.sweep import store
    from dlx.sweep.objectives import make_objective
    from dlx.sweep.worker import open_study, pop_trial, run_trial, suggest

    spec = store.read_spec(folder)
    url = store.storage_url(folder, None)
    study, storage = open_study(spec, url)
    for _ in range(complete):
        run_trial(study, pop_trial(study, storage, spec, url), spec, make_objective(spec), folder / "runs")
    trial = pop_trial(study, storage, spec, url)
    trial.set_user_attr("params", suggest(trial, spec.space))
    trial.set_user_attr("worker", f"{socket.gethostname()}:999999999")  # no such process
    return trial.number


def test_resume_fails_the_dead_trial_requeues_it_and_runs_only_what_is_left(dlx, tmp_path):
    assert dlx("sweep", "optim.lr=0.1,0.01,0.001", "optim=sgd,adam", "--jobs", "0", *TINY).code == 0
    folder = sweep_dir(tmp_path)
    dead = _leave_running(folder, complete=2)
    r = dlx("sweep", "--resume", "last")
    assert r.code == 0, r.err
    rows = read_trials(folder)
    complete = [(row["optim.lr"], row["optim"]) for row in rows if row["state"] == "COMPLETE"]
    assert len(complete) == len(set(complete)) == 6
    (failed,) = [row for row in rows if row["state"] == "INTERRUPTED"]  # not failed: it was stopped
    assert int(failed["number"]) == dead and failed["reason"].startswith("interrupted")
    assert len(rows) == 7 and len(finished_runs(folder)) == 6
    again = dlx("sweep", "--resume", folder.name)  # nothing left: runs nothing
    assert again.code == 0 and len(read_trials(folder)) == 7


def test_random_resume_tops_up_to_the_trials_asked_for(dlx, tmp_path):
    assert dlx("sweep", "optim.lr=interval(0.001,0.1)", "--sampler", "random", "--trials", "3",
               "--jobs", "0", *TINY).code == 0
    folder = sweep_dir(tmp_path)
    _leave_running(folder, complete=1)
    r = dlx("sweep", "--resume", folder.name, "--trials", "4")
    assert r.code == 0, r.err
    rows = read_trials(folder)
    assert sum(row["state"] == "COMPLETE" for row in rows) == 4 and len(rows) == 5
    values = [row["optim.lr"] for row in rows if row["state"] == "COMPLETE"]
    assert len(set(values)) == 4


def test_resume_of_an_unknown_sweep_is_one_line(dlx):
    r = dlx("sweep", "--resume", "nope")
    assert r.code == 2 and r.err.startswith("error: no sweeps")


def test_prune_stops_a_hopeless_trial_and_marks_it_pruned(dlx, tmp_path):
    # five good learning rates set the median; 1e-5 barely moves and is cut after epoch 1
    r = dlx("sweep", "optim=sgd", "optim.lr=0.5,0.4,0.3,0.2,0.1,1e-5", "--prune", *TINY[1:], "trainer.epochs=2")
    assert r.code == 0, r.err
    folder = sweep_dir(tmp_path)
    rows = {row["optim.lr"]: row for row in read_trials(folder)}
    assert rows["1e-05"]["state"] == "PRUNED" and "pruned at epoch 1" in rows["1e-05"]["reason"]
    assert all(row["state"] == "COMPLETE" for lr, row in rows.items() if lr != "1e-05")
    status = json.loads((folder / "runs" / rows["1e-05"]["run_id"] / "status.json").read_text())
    assert status["status"] == "pruned"


@pytest.mark.parametrize("args, message", [
    (["--resume", "last", "--sampler", "tpe"], "drop --sampler"),
    (["--resume", "last", "optim.lr=0.1,0.2"], "drop 'optim.lr=0.1,0.2'"),
    (["--resume", "a", "--join", "b"], "drop --join"),
    (["optim.lr=0.1,0.2", "--sampler", "bayes"], "unknown sampler 'bayes'"),
    (["optim.lr=0.1,0.2", "--direction", "up"], "choose min or max"),
    (["optim.lr=0.1,0.2", "--metric", "test_acc"], "never used to choose"),
])
def test_contradictory_options_are_one_line_and_exit_2(dlx, args, message):
    r = dlx("sweep", *args, *([] if "--resume" in args else TINY))
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1


def test_join_through_storage_url_from_another_output_dir(dlx, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    made = dlx("sweep", "optim.lr=0.1,0.01", "--jobs", "0", "--storage", url, *TINY)
    assert made.code == 0 and f"--storage {url}" in made.out
    sweep_id = sweep_dir(tmp_path).name
    assert not (sweep_dir(tmp_path) / "study.db").exists()
    # a second machine: nothing of the sweep on its disk but the database it reaches
    r = dlx("sweep", "--join", sweep_id, "--storage", url, "output_dir=machine2")
    assert r.code == 0, r.err
    folder = tmp_path / "machine2" / "sweeps" / sweep_id
    assert [row["state"] for row in read_trials(folder)] == ["COMPLETE", "COMPLETE"]
    assert len(finished_runs(folder)) == 2 and (folder / "best.yaml").is_file()


def test_redact_hides_a_storage_password():
    from dlx.sweep.store import redact

    assert redact("postgresql://me:s3cret@db.example/dlx") == "postgresql://me:***@db.example/dlx"
    assert redact("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
