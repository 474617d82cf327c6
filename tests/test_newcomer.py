"""A newcomer's first hour: threads that suit the machine, progress inside epochs, one way to
name the run store."""

import os
import pty
import re
import subprocess
import sys

import pytest

from dlx.engine.runtime import SMALL_MODEL, choose_threads
from tests.conftest import ROOT

TINY = ["trainer.epochs=2", "data.limit=300", "model.hidden=[16]"]


def test_auto_threads_take_one_thread_for_a_small_model_or_a_busy_machine():
    assert choose_threads(1_000, cores=8, load=0.0, cap=8)[0] == 1
    assert choose_threads(SMALL_MODEL * 10, cores=2, load=2.5, cap=2)[0] == 1  # two busy neighbours
    assert choose_threads(SMALL_MODEL * 10, cores=8, load=3.2, cap=8)[0] == 5
    assert choose_threads(SMALL_MODEL * 10, cores=2, load=0.1, cap=2)[0] == 2  # idle: today's default
    assert choose_threads(SMALL_MODEL * 10, cores=8, load=0.0, cap=2)[0] == 2  # a sweep worker's share
    assert "trainer.num_threads" in choose_threads(10, 2, 0.0, 2)[1]


def test_auto_threads_are_the_default_and_said_in_log(dlx, tmp_path):
    result = dlx("train", *TINY, "-q")
    assert result.code == 0, result.err
    log = next((tmp_path / "outputs" / "runs").iterdir()) / "log.txt"
    assert re.search(r"threads: \d+ \(trainer.num_threads=auto", log.read_text())


@pytest.mark.parametrize("bad", ["many", "-1", "1.5"])
def test_num_threads_takes_auto_or_a_count(dlx, bad):
    result = dlx("train", f"trainer.num_threads={bad}")
    assert result.code != 0 and "num_threads" in result.err


@pytest.mark.slow
def test_train_under_a_terminal_shows_batches_and_the_epoch(tmp_path):
    """An 80-column pseudo-terminal: the live line keeps the epoch counter, batches and ETA."""
    main, child = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80", "LINES": "24", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "dlx", "train", *TINY, "trainer.num_threads=1"],
                            cwd=tmp_path, env=env, stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait() == 0
    os.close(main)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", b"".join(chunks).decode("utf-8", "replace"))
    lines = [line for line in re.split(r"[\r\n]", text) if line.startswith("epoch ")]
    assert lines, text
    assert any(re.match(r"epoch 2/2 +\d+/\d+ .*ETA \d:\d\d:\d\d", line) for line in lines), lines
    assert all(len(line) <= 80 for line in lines)


def test_the_store_is_named_the_same_way_for_every_command(dlx, tmp_path, monkeypatch):
    trained = dlx("train", *TINY, "trainer.num_threads=1", "--output-dir", "store", "-q")
    assert trained.code == 0, trained.err
    assert len(list((tmp_path / "store" / "runs").iterdir())) == 1
    listed = dlx("runs", "output_dir=store")
    assert listed.code == 0 and "mlp" in listed.out, listed.err
    assert dlx("runs", "--output-dir=store").code == 0
    monkeypatch.setenv("DLX_OUTPUT_DIR", str(tmp_path / "shell"))
    assert dlx("train", *TINY, "trainer.num_threads=1", "-q").code == 0
    assert len(list((tmp_path / "shell" / "runs").iterdir())) == 1
    shown = dlx("show", "last")
    assert shown.code == 0 and "shell" in shown.out.replace("\n", ""), shown.err
    assert dlx("runs", "output_dir=store").code == 0  # the command line wins over the shell's


def test_what_happened_is_said(dlx, tmp_path):
    """The profile in a line, a table and a chart; the confusion matrix as a picture; the
    final table names its epochs; a logistic run's landscape says why there is no slice."""
    trained = dlx("train", *TINY, "trainer.num_threads=1", "trainer.profile=true")
    assert trained.code == 0, trained.err
    assert "profile: " in trained.out and "backward" in trained.out
    assert "val (epoch 2)" in trained.out and "threads: 1" not in trained.out  # explicit: no auto note
    shown = dlx("show", "last", "--profile")
    assert shown.code == 0 and "slowest step" in shown.out and "backward" in shown.out, shown.err
    assert dlx("plot", "last", "--profile", "-o", "profile.png").code == 0
    assert (tmp_path / "profile.png").stat().st_size > 1000
    evaluated = dlx("eval", "last", "--plot", "cm.png")
    assert evaluated.code == 0 and (tmp_path / "cm.png").stat().st_size > 1000, evaluated.err
    missing = dlx("show", "last", "--profile", "output_dir=nowhere")
    assert missing.code != 0
    logistic = dlx("train", "model=logistic", "data.limit=200", "-q", "name=fitted")
    assert logistic.code == 0, logistic.err
    fitted = next((tmp_path / "outputs" / "runs").glob("*fitted*")).name  # not `last`: ids may share a second
    sliced = dlx("landscape", fitted, "--slice", "1d")
    assert sliced.code != 0 and "scikit-learn estimator" in sliced.err and "model=mlp" in sliced.err


def test_runs_shows_only_the_metrics_of_the_runs_listed(dlx, tmp_path):
    assert dlx("train", *TINY, "trainer.num_threads=1", "-q").code == 0
    assert dlx("train", "data=diabetes", "trainer.epochs=1", "trainer.num_threads=1", "-q").code == 0
    listed = dlx("runs", "--where", "data=digits")
    assert listed.code == 0, listed.err
    assert "acc" in listed.out and "r2" not in listed.out and "mae" not in listed.out
    both = dlx("runs")
    assert "r2" in both.out or "mae" in both.out


def test_ids_are_not_folded_and_missing_values_are_dashes():
    from rich.console import Console
    import pandas as pd

    from dlx.report.runs import runs_table
    from dlx.report.text import fmt

    assert fmt(float("nan")) == "—"
    long_id = "2026-01-01_00-00-00_mlp-adam-digits-fold-5-of-a-long-name"
    df = pd.DataFrame([{"id": long_id, "status": "finished", "model": "mlp", "test_acc": 0.9}])
    for width in (40, 60, 200):
        out = Console(width=width, record=True)
        out.print(runs_table(df, "runs", split_ids=width < 100))
        text = out.export_text()
        assert "2026-01-01_00-00-00" in text  # the time stamp whole
        assert not any(line.strip().startswith(("fold", "ong", "-5")) for line in text.splitlines())


def test_output_dir_becomes_what_each_command_takes(monkeypatch):
    from dlx.cli import output_dir_args

    monkeypatch.delenv("DLX_OUTPUT_DIR", raising=False)
    assert output_dir_args(["runs", "output_dir=s"]) == ["runs", "--output-dir", "s"]
    assert output_dir_args(["eval", "last", "output_dir=s"]) == ["eval", "last", "--output-dir", "s"]
    assert output_dir_args(["--plugin", "p.py", "train", "--output-dir", "s"]) == ["--plugin", "p.py", "train",
                                                                                  "output_dir=s"]
    assert output_dir_args(["models", "show", "--output-dir=s"]) == ["models", "show", "output_dir=s"]
    monkeypatch.setenv("DLX_OUTPUT_DIR", "shell")
    assert output_dir_args(["sweep", "optim.lr=0.1,0.01"]) == ["sweep", "optim.lr=0.1,0.01", "output_dir=shell"]
    assert output_dir_args(["train", "output_dir=mine"]) == ["train", "output_dir=mine"]
    assert output_dir_args(["runs"]) == ["runs"]  # the option's envvar reads it
