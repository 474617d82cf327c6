"""Plugins a user did not mean to run, and plugin mistakes as one line: a changed file named only
in a run's records is refused, a builder that raises names its plugin, a file that is no .py
file says so."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from dlx import plugins

TINY_MODEL = '''
from dataclasses import dataclass

import torch

from dlx import register_model


@dataclass
class TinyConfig:
    hidden: int = 8


@register_model("tiny", schema=TinyConfig)
def build_tiny(cfg, input_shape, num_outputs):
    width = 1
    for side in input_shape:
        width *= side
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(width, num_outputs))
'''
QUICK = ["trainer.epochs=1", "data.limit=120", "trainer.num_threads=1", "-q"]


# ---------------------------------------------------------------- 25: a builder that raises


BOOM = '''
from dataclasses import dataclass

from dlx import register_model


@dataclass
class BoomConfig:
    width: int = 4


@register_model("boom", schema=BoomConfig)
def build_boom(cfg, input_shape, num_outputs):
    raise ValueError("width must be even")
'''


def test_a_plugin_builder_that_raises_is_one_line_naming_the_file_and_builder(dlx, tmp_path):
    (tmp_path / "boom.py").write_text(BOOM)
    result = dlx("--plugin", "boom.py", "train", "model=boom", *QUICK)
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip() == ("error: plugin boom.py: model 'boom' failed in build_boom() (line 14): "
                                  "ValueError: width must be even (--debug shows the traceback)")


@pytest.mark.slow
def test_debug_shows_the_builder_traceback(tmp_path):
    from tests.conftest import run_process

    (tmp_path / "boom.py").write_text(BOOM)
    debug = run_process(["--debug", "--plugin", "boom.py", "train", "model=boom", *QUICK], cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    assert 'boom.py", line 14' in debug.stderr and "width must be even" in debug.stderr


def test_a_builders_own_one_line_error_passes_through(dlx, tmp_path):
    (tmp_path / "strict.py").write_text(BOOM.replace('raise ValueError("width must be even")',
                                                     'from dlx.errors import ConfigError\n'
                                                     '    raise ConfigError("model.width: must be even")'))
    result = dlx("--plugin", "strict.py", "train", "model=boom", *QUICK)
    assert result.code == 2 and result.err.strip() == "error: model.width: must be even"


# ---------------------------------------------------------------- 26: what is not a .py file


@pytest.mark.parametrize("make, said", [
    (lambda d: (d / "notes.txt").write_text("x = 1\n") and "notes.txt", "is not a Python file"),
    (lambda d: (d / "sub").mkdir() or "sub/", "is a folder"),
    (lambda d: "/dev/null", "is not a regular file"),
    (lambda d: (d / "sub").mkdir() or (d / "sub" / "notes.txt").write_text("x\n") and "sub/notes.txt",
     "is not a Python file"),
])
def test_a_plugin_that_is_no_python_file_says_what_it_is(dlx, tmp_path, make, said):
    spec = make(tmp_path)
    result = dlx("--plugin", spec, "models")
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1, result.err
    assert lines[0].startswith(f"error: plugin '{spec}' {said}")
