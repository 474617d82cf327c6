"""`dlx list [GROUP]`: every choice of a group, its description, the default marked; no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dlx.config import describe_choices
from dlx.registry import TABLES

ROOT = Path(__file__).resolve().parents[1]


def first_comment(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()


@pytest.mark.parametrize("group", ["optim", "scheduler", "regularizer", "loss"])
def test_list_shows_every_choice_with_its_description(group, dlx):
    res = dlx("list", group)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].startswith(group)
    described = describe_choices(group)  # a preset's first comment line, else the registration's summary
    assert len(lines) == 1 + len(described) and described
    for (name, text), line in zip(described, lines[1:]):
        assert name in line.split()[:2]
        assert text and text in line
    for path in sorted((ROOT / "conf" / group).glob("*.yaml")):  # a preset of its own name: its comment
        assert path.stem in TABLES.get(group, ()) or first_comment(path) in res.out


def test_list_marks_the_defaults(dlx):
    res = dlx("list")
    assert res.code == 0
    marked = {line.split()[1] for line in res.out.splitlines() if line.lstrip().startswith("* ")}
    assert {"adam", "none", "auto", "mlp", "digits"} <= marked
    for group in ("model", "optim", "scheduler", "regularizer", "loss", "data", "trainer"):
        assert any(line.startswith(f"{group}  (") for line in res.out.splitlines())


def test_list_unknown_group_is_one_line_exit_2(dlx):
    res = dlx("list", "optm")
    assert res.code == 2 and "did you mean 'optim'" in res.err and len(res.err.strip().splitlines()) == 1


def test_train_help_shows_the_choices(dlx):
    res = dlx("train", "--help")
    assert res.code == 0
    for name in ("nesterov", "warmup_cosine", "elastic_net", "huber"):
        assert name in res.out


@pytest.mark.slow
def test_list_imports_neither_torch_nor_hydra_nor_pandas():
    code = ("import sys\nfrom dlx.cli import main\ntry:\n    main(['list'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'hydra', 'pandas') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "nesterov" in done.stdout
