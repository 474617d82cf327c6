"""Sweeps on a shared database: a real PostgreSQL server (tests/pg.py), and SQLite, the default.

Two "machines" are two output folders on this host that share nothing but the database URL.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.pg import PASSWORD

TINY = ["trainer.epochs=2", "data.limit=200", "trainer.num_threads=1", "trainer.checkpoint=false"]
GRID = ["optim.lr=0.3,0.1,0.03,0.01"]


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url")


def only_sweep(output_dir: Path) -> Path:
    (found,) = sorted((output_dir / "sweeps").iterdir())
    return found


def study_of(url: str, sweep_id: str):
    import optuna

    return optuna.load_study(study_name=sweep_id, storage=url)


def csv_rows(folder: Path) -> dict[int, dict]:
    with open(folder / "trials.csv", newline="") as f:
        return {int(r["number"]): r for r in csv.DictReader(f)}


def assert_files_agree_with_database(folder: Path, study) -> None:
    """trials.csv has the database's trials, states, values and run ids; best.yaml its best trial."""
    rows = csv_rows(folder)
    trials = study.get_trials(deepcopy=False)
    assert sorted(rows) == [t.number for t in trials]
    for t in trials:
        row = rows[t.number]
        # optuna has no INTERRUPTED state: dlx keeps such a trial as FAIL with `interrupted` set
        state = "INTERRUPTED" if t.state.name == "FAIL" and t.user_attrs.get("interrupted") else t.state.name
        assert row["state"] == state and row["run_id"] == (t.user_attrs.get("run_id") or "")
        if t.value is not None:
            assert float(row["value"]) == pytest.approx(t.value)
    best = yaml.safe_load((folder / "best.yaml").read_text())
    assert best["trial"] == study.best_trial.number and best["value"] == pytest.approx(study.best_value)


def no_password_under(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def spawn(args, cwd: Path, **env) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, "-m", "dlx", *args], cwd=cwd, env=environ, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until `path` exists (a test pause point reached); fail early if `proc` ended instead."""
    try:
        proc.wait(timeout=0)
    except subprocess.TimeoutExpired:
        pass
    import time

    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended ({proc.returncode}) before its pause: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.05)


def test_sweep_creates_its_study_in_the_database_and_files_agree(dlx, tmp_path, storage):
    # on the server, two worker processes: they get the URL through the environment, and log to workers/
    jobs = "2" if storage.startswith("postgresql") else "1"
    r = dlx("sweep", "optim.lr=0.1,0.01", "--storage", storage, "--jobs", jobs, *TINY)
    assert r.code == 0, r.err
    folder = only_sweep(tmp_path / "outputs")
    assert not (folder / "study.db").exists()  # the study lives in the database given
    study = study_of(storage, folder.name)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    for t in study.trials:  # what optuna-dashboard shows per trial: the run and its metrics
        assert (folder / "runs" / t.user_attrs["run_id"] / "summary.json").is_file()
        assert {"val_acc", "test_acc", "train_loss"} <= set(t.user_attrs["record"])
    assert_files_agree_with_database(folder, study)
    assert PASSWORD not in r.out + r.err
    no_password_under(tmp_path / "outputs")


@pytest.mark.slow
def test_two_machines_split_the_trials_and_a_killed_one_is_requeued(dlx, tmp_path, storage):
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    made = dlx("sweep", *GRID, "--jobs", "0", "--storage", storage, *TINY, f"output_dir={machine_a}")
    assert made.code == 0, made.err
    sweep_id = only_sweep(machine_a).name
    # machine A takes the first trial and stops inside it (a test pause point); B runs the rest
    marker = tmp_path / "a-paused"
    a = spawn(["sweep", "--join", sweep_id, "--storage", storage, f"output_dir={machine_a}", "-q"], tmp_path,
              DLX_TEST_PAUSE="epoch-end@1", DLX_TEST_MARKER=str(marker))
    try:
        wait_for_file(marker, a)
        b = subprocess.run([sys.executable, "-m", "dlx", "sweep", "--join", sweep_id, "--storage", storage,
                            f"output_dir={machine_b}", "-q"], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
        assert b.returncode == 0, b.stderr
    finally:
        os.killpg(a.pid, signal.SIGKILL)  # kill -9, mid-trial
        a.communicate(timeout=30)
    states = Counter(t.state.name for t in study_of(storage, sweep_id).trials)
    assert states == {"COMPLETE": 3, "RUNNING": 1}

    # A's machine finishes the sweep: the dead trial fails as interrupted and runs again, once
    r = dlx("sweep", "--resume", sweep_id, "--storage", storage, f"output_dir={machine_a}", "-q")
    assert r.code == 0, r.err
    study = study_of(storage, sweep_id)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(float(t.params["optim.lr"]) for t in done) == [0.01, 0.03, 0.1, 0.3]  # each once
    (killed,) = [t for t in study.trials if t.state.name == "FAIL"]
    assert killed.user_attrs["interrupted"] and killed.user_attrs["worker"].endswith(f":{a.pid}")
    runs = {m: {p.name for p in (only_sweep(m) / "runs").iterdir() if (p / "summary.json").is_file()}
            for m in (machine_a, machine_b)}
    assert len(runs[machine_a]) == 1 and len(runs[machine_b]) == 3  # split, no overlap, nothing twice
    assert runs[machine_a] | runs[machine_b] == {t.user_attrs["run_id"] for t in done}

    # B's files were written before the last trial finished; --join on a finished sweep updates them
    assert dlx("sweep", "--join", sweep_id, "--storage", storage, f"output_dir={machine_b}", "-q").code == 0
    for machine in (machine_a, machine_b):
        assert_files_agree_with_database(only_sweep(machine), study)
        no_password_under(machine)


@pytest.mark.slow
def test_losing_the_server_mid_sweep_stops_after_the_retry_window_and_resume_loses_nothing(dlx, tmp_path,
                                                                                           own_postgres):
    url = own_postgres.url(own_postgres.create_database())
    marker = tmp_path / "paused"
    # the first epoch of the second trial: then the server goes away, and the run is stopped
    proc = spawn(["sweep", "optim.lr=0.1,0.03,0.01", "--storage", url, "--storage-retry", "1.5", *TINY, "-q"],
                 tmp_path, DLX_TEST_PAUSE="epoch-end@3", DLX_TEST_MARKER=str(marker))
    try:
        wait_for_file(marker, proc)
        own_postgres.stop()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lost the connection to the study storage"), err
    assert "for 1.5 s" in lines[0] and PASSWORD not in out + err
    folder = only_sweep(tmp_path / "outputs")
    command = lines[0].split("once it answers: ")[1]
    assert command == f"dlx sweep --resume {folder.name} --storage '{url.replace(PASSWORD, '***')}'"
    first_run = [p.name for p in (folder / "runs").iterdir() if (p / "summary.json").is_file()]
    assert len(first_run) == 1

    own_postgres.start()
    r = dlx("sweep", "--resume", folder.name, "--storage", url, "-q")
    assert r.code == 0, r.err
    study = study_of(url, folder.name)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(float(t.params["optim.lr"]) for t in done) == [0.01, 0.03, 0.1]
    assert first_run[0] in {t.user_attrs["run_id"] for t in done}  # the finished trial kept, not re-run
    finished = [p for p in (folder / "runs").iterdir() if (p / "summary.json").is_file()]
    assert len(finished) == 3
    assert_files_agree_with_database(folder, study)


def test_retry_rides_out_a_short_outage_and_gives_up_after_the_window():
    from sqlalchemy.exc import OperationalError

    from dlx.sweep import retry

    calls, slept = [], []

    def flaky(fail: int):
        calls.append(1)
        if len(calls) <= fail:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return "ok"

    assert retry.call(flaky, 3, shown_url="db", window=10, sleep=slept.append) == "ok"
    assert slept == [0.1, 0.2, 0.4]  # exponential back-off
    calls.clear()
    with pytest.raises(retry.StorageLost, match="server closed the connection"):
        retry.call(flaky, 100, shown_url="db", window=0.0, sleep=slept.append)
    with pytest.raises(ValueError):  # not a connection error: no retry
        retry.call(lambda: int("x"), shown_url="db", window=10, sleep=slept.append)


def test_redact_and_scrub_hide_the_password_in_urls_and_driver_messages():
    from dlx.sweep.store import redact, scrub

    url = f"postgresql+psycopg://dlx:{PASSWORD}@127.0.0.1:5/db"
    assert redact(url) == "postgresql+psycopg://dlx:***@127.0.0.1:5/db"
    assert PASSWORD not in redact("postgresql://dlx:p@ss@host/db")  # not parseable: all of it hidden
    assert scrub(f"could not parse '{url}' (password {PASSWORD})", url).count("***") == 2
    assert PASSWORD not in scrub(f"could not parse '{url}' (password {PASSWORD})", url)


def test_a_postgresql_url_without_its_driver_names_the_extra(monkeypatch):
    from dlx.errors import ConfigError
    from dlx.sweep.store import open_storage

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    with pytest.raises(ConfigError) as e:
        open_storage(f"postgresql://dlx:{PASSWORD}@127.0.0.1:1/db")
    assert "pip install 'dlx[postgres]'" in str(e.value) and PASSWORD not in str(e.value)
