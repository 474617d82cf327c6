"""Third-round fixes in sweeps and the run store: resume keeps its workers, the summary counts the
space's points, storage URLs and paths fail in one line, `dlx show` of a foreign summary.json,
tie and TPE advice, a prompt Ctrl-C, and a driver that never imports torch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from test_sweep import TINY, _leave_running, read_trials, sweep_dir


# ---------------------------------------------------------------- 16: --resume keeps --jobs, counts points


def test_resume_keeps_the_recorded_jobs_unless_given(dlx, tmp_path, monkeypatch):
    from dlx.sweep import driver, store

    assert dlx("sweep", "optim.lr=0.1,0.01", "--jobs", "0", *TINY).code == 0
    folder = sweep_dir(tmp_path)
    spec = store.read_spec(folder)
    assert spec.jobs == 0 and spec.resume_jobs == 1  # created for --join workers: resume runs one
    store.write_spec(folder, type(spec)(**{**spec.__dict__, "jobs": 2}))
    seen = []
    monkeypatch.setattr(driver, "drive", lambda sweep_dir, spec, url, jobs, *a, **k: seen.append(jobs) or {})
    driver.resume(folder.name, output_dir=str(tmp_path / "outputs"))
    driver.resume(folder.name, output_dir=str(tmp_path / "outputs"), jobs=1)
    assert seen == [2, 1]
    assert store.read_spec(folder).jobs == 1  # what was given last is recorded


def test_an_older_sweep_json_takes_the_jobs_of_its_command_line():
    from dlx.sweep.records import SweepSpec
    from dlx.sweep.space import parse_space

    base = dict(id="s", space=parse_space(["optim.lr=0.1,0.01"]), sampler="grid", trials=2, metric="val_acc",
                direction="maximize")
    assert SweepSpec(**base, command=("dlx", "sweep", "optim.lr=0.1,0.01", "--jobs", "2")).resume_jobs == 2
    assert SweepSpec(**base, command=("dlx", "sweep", "--jobs=3")).resume_jobs == 3
    assert SweepSpec(**base, command=("dlx", "sweep")).resume_jobs == 1
    assert "jobs" in SweepSpec(**base, jobs=2).to_json()
    assert SweepSpec.from_json(SweepSpec(**base, jobs=2).to_json()).resume_jobs == 2


def test_the_summary_counts_the_grid_points_not_the_attempts(dlx, tmp_path):
    assert dlx("sweep", "optim.lr=0.1,0.01,0.001", "optim=sgd,adam", "--jobs", "0", *TINY).code == 0
    folder = sweep_dir(tmp_path)
    _leave_running(folder, complete=2)
    r = dlx("sweep", "--resume", "last")
    assert r.code == 0, r.err
    assert len(read_trials(folder)) == 7  # trials.csv keeps every attempt
    assert "6 trials: 6 complete (1 interrupted attempt run again" in r.out
    assert "7 trials" not in r.out


# ---------------------------------------------------------------- 29.7: tie advice, TPE's random start


def test_the_tie_warning_of_a_cv_sweep_does_not_suggest_cv(dlx, tmp_path, monkeypatch):
    from dlx.sweep import store

    monkeypatch.setattr(store, "indistinct", lambda rows, *a: [r["number"] for r in rows])
    r = dlx("sweep", "optim.lr=0.1,0.01", "--cv", "2", *TINY)
    assert r.code == 0, r.err
    (line,) = [w for w in r.err.splitlines() if "cannot tell them apart" in w]
    assert "--cv K" not in line and "validated once" in line
    plain = dlx("sweep", "optim.lr=0.1,0.01", *TINY)
    assert "--cv K" in plain.err


def test_tpe_says_its_first_trials_are_random(dlx):
    r = dlx("sweep", "optim.lr=interval(0.001,0.1)", "--trials", "2", *TINY)
    assert r.code == 0, r.err
    assert "tpe: the first 2 trials are random (optuna's n_startup_trials)" in r.out
    grid = dlx("sweep", "optim.lr=0.1,0.01", *TINY)
    assert "n_startup_trials" not in grid.out


def test_tpe_uses_the_startup_count_it_announces():
    from dlx.sweep.records import TPE_STARTUP_TRIALS, SweepSpec
    from dlx.sweep.space import parse_space
    from dlx.sweep.worker import sampler_for

    spec = SweepSpec(id="s", space=parse_space(["optim.lr=interval(0.001,0.1)"]), sampler="tpe", trials=20,
                     metric="val_acc", direction="maximize")
    assert sampler_for(spec, 0)._n_startup_trials == TPE_STARTUP_TRIALS


# ---------------------------------------------------------------- 24, 27: storage URLs and paths


@pytest.mark.parametrize("url", ["a@b", "sqlite@:///x", "x:/@", "@"])
def test_redact_of_a_malformed_url_never_raises_and_hides_the_secret(url):
    from dlx.sweep import store

    shown = store.redact(url)
    assert isinstance(shown, str) and "***" in shown or "@" not in url


def test_scrub_hides_a_short_password_without_mangling_the_url():
    from dlx.sweep import store

    url = "postgresql://u:gres@host/db"  # the password is part of the scheme's name
    text = store.scrub(f"cannot reach {url}: login gres refused", url)
    assert "postgresql://u:***@host/db" in text and "login *** refused" in text


def test_a_malformed_storage_url_is_one_line(dlx):
    r = dlx("sweep", "optim.lr=0.1,0.01", "--storage", "user@host", *TINY)
    assert r.code == 2 and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1 and "cannot open the study storage" in r.err


def test_a_sqlite_path_that_cannot_exist_fails_at_once(dlx, tmp_path):
    start = time.monotonic()
    r = dlx("sweep", "optim.lr=0.1,0.01", "--storage", f"sqlite:///{tmp_path}/no/such/dir/study.db", *TINY)
    assert r.code == 2 and "does not exist" in r.err and "lost the connection" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    folder = dlx("sweep", "optim.lr=0.1,0.01", "--storage", f"sqlite:///{tmp_path}", *TINY)
    assert folder.code == 2 and "not a file" in folder.err
    assert time.monotonic() - start < 60  # no 120 s retry window


def test_a_mysql_url_suggests_a_mysql_driver():
    from dlx.errors import ConfigError
    from dlx.sweep import store

    with pytest.raises(ConfigError) as e:
        store.open_storage("mysql://u:secret@localhost/db")
    message = str(e.value)
    assert "pymysql" in message and "mysql+pymysql://" in message and "postgres" not in message
    assert "secret" not in message


# ---------------------------------------------------------------- 19: dlx show of a foreign summary.json


@pytest.mark.parametrize("content", ["[1, 2, 3]", "{}", '"text"'])
def test_show_of_a_summary_that_is_not_a_runs_is_one_line(dlx, tmp_path, content):
    run = tmp_path / "outputs" / "runs" / "2026-01-01_00-00-00_mlp"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model: {name: mlp}\n")
    (run / "summary.json").write_text(content)
    r = dlx("show", run.name, "--output-dir", str(tmp_path / "outputs"))
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1 and "summary.json" in r.err


def test_read_summary_returns_only_a_mapping(tmp_path):
    from dlx.store.runs import foreign_summary, read_summary

    (tmp_path / "summary.json").write_text("[1, 2, 3]")
    assert read_summary(tmp_path) is None and "list" in foreign_summary(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"run_id": "r", "status": "finished"}))
    assert read_summary(tmp_path)["run_id"] == "r" and foreign_summary(tmp_path) is None
    (tmp_path / "summary.json").write_text("")  # half-written: an unfinished run, not a foreign file
    assert foreign_summary(tmp_path) is None


# ---------------------------------------------------------------- 16: a prompt Ctrl-C; 35: a torch-free driver


def _spawn(args, cwd: Path, **env) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, "-m", "dlx", *args], cwd=cwd, env=environ, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"ended ({proc.returncode}) before {path.name}: {proc.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.05)


@pytest.mark.slow
def test_ctrl_c_on_a_jobs_2_sweep_is_prompt_and_resume_keeps_two_workers(tmp_path):
    marker = tmp_path / "paused"
    grid = ["optim.lr=0.1,0.01,0.001", "optim=sgd,adam", "trainer.epochs=4", "data.limit=300",
            "trainer.num_threads=1", "trainer.checkpoint=false"]
    # each worker holds at its second epoch's end: both trials are mid-run when Ctrl-C lands
    proc = _spawn(["sweep", *grid, "--jobs", "2"], tmp_path, DLX_TEST_PAUSE="epoch-end@2",
                  DLX_TEST_MARKER=str(marker))
    try:
        _wait_for(marker, proc)
        signalled = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert took < 15, f"Ctrl-C took {took:.1f} s to take effect"
    assert "dlx sweep --resume" in err and "--jobs" not in err.split("finish it with:")[-1]
    assert "sweep" in out and "6 trials" in out.splitlines()[0]
    folder = sweep_dir(tmp_path)
    resumed = subprocess.run([sys.executable, "-m", "dlx", "sweep", "--resume", folder.name], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "6 trials: 6 complete" in resumed.stdout
    rows = [r for r in read_trials(folder) if r["state"] == "COMPLETE"]
    assert len(rows) == 6 and len({r["worker"] for r in rows}) == 2  # resumed on both workers again


@pytest.mark.slow
def test_the_driver_of_a_jobs_2_sweep_never_imports_torch(tmp_path):
    # the CLI run in this interpreter; what it imported is read from sys.modules once it exits
    code = ("import sys, runpy\n"
            "sys.argv = ['dlx', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('dlx', run_name='__main__')\n"
            "finally:\n    print('loaded:', *sorted(m for m in ('torch', 'sklearn') if m in sys.modules),"
            " file=sys.stderr)\n")
    args = ["sweep", "optim.lr=0.1,0.01", *TINY, "--jobs", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "2 trials: 2 complete" in done.stdout
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("loaded:")]
    assert line == "loaded:", line  # neither torch nor scikit-learn in the driver
    refused = subprocess.run([sys.executable, "-c", code, "sweep", "optim.lr=0.1,0.2", "--metric", "val_mse",
                              *TINY, "--jobs", "2"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=600)
    assert refused.returncode == 2 and "is not measured on multiclass data" in refused.stderr  # worker 0's check
    assert "loaded:\n" in refused.stderr + "\n"
    assert len(list((tmp_path / "outputs" / "sweeps").iterdir())) == 1  # the refused one left nothing


def test_a_worker_that_has_begun_nothing_stops_at_once():
    from dlx import signals
    from dlx.sweep.worker import stop_at_once

    signals.reset()
    with pytest.raises(KeyboardInterrupt):
        with stop_at_once():
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs, and raises, as soon as this returns
            raise AssertionError("the signal did not stop it")
    assert signals.requested == signal.SIGTERM
    signals.reset()
