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
