"""Shared fixtures: run the CLI in-process or as a subprocess, in a fresh folder."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# a few epochs on a slice of digits: seconds, yet enough to check real numbers
FAST = ["trainer.epochs=2", "data.limit=300", "trainer.num_threads=1"]


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def dlx(tmp_path, monkeypatch, capsys):
    """`dlx("train", "trainer.epochs=1")` runs the CLI in-process inside tmp_path."""
    from dlx.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        with isolated_plugins():
            try:
                main(list(args))
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@contextmanager
def isolated_plugins():
    """What a command's plugins register is forgotten after it (the next test sees dlx's own)."""
    import dlx.config.presets  # noqa: F401  (declares every built-in component: they stay declared)
    from dlx import plugins, registry

    plugins.load_builtins()  # dlx's own stay registered; only what the command adds goes
    tables = {t: dict(t._entries) for t in registry.TABLES.values()}
    loaded = dict(plugins._loaded)
    try:
        yield
    finally:
        for table, entries in tables.items():
            table._entries = entries
        plugins._loaded.clear()
        plugins._loaded.update(loaded)


def run_process(args, cwd, env=None, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """`python -m dlx ARGS` in a fresh interpreter, importing this checkout's dlx."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "dlx", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


@pytest.fixture
def dlx_process(tmp_path):
    """`dlx_process("train", ...)` runs the CLI as a subprocess inside tmp_path."""

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_process(list(args), cwd=tmp_path, **kwargs)

    return run


from tests.pg import own_postgres, postgres_server, postgres_url  # noqa: E402,F401  (a real PostgreSQL server)
