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
