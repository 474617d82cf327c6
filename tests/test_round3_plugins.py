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


@pytest.fixture(autouse=True)
def no_inherited_trust(monkeypatch):
    """What one command trusts (an environment variable for its child processes) ends with the test."""
    monkeypatch.setenv("DLX_TRUSTED_PLUGINS", "")


def only_run(root: Path) -> Path:
    (run,) = (root / "outputs" / "runs").iterdir()
    return run


def recorded_sha(run: Path) -> str:
    (item,) = yaml.safe_load((run / "config.yaml").read_text())["plugins"]
    return item["sha256"]


# ---------------------------------------------------------------- 9: a changed plugin is not run


def test_resume_refuses_a_changed_plugin_and_runs_none_of_it(dlx, tmp_path):
    plugin = tmp_path / "tiny.py"
    plugin.write_text(TINY_MODEL)
    assert dlx("--plugin", str(plugin), "train", "model=tiny", *QUICK).code == 0
    run = only_run(tmp_path)
    (run / "summary.json").unlink()  # reopened, as if it had stopped after its epoch
    config_before = (run / "config.yaml").read_bytes()
    assert recorded_sha(run) == hashlib.sha256(plugin.read_bytes()).hexdigest()

    marker = tmp_path / "plugin-ran"
    plugin.write_text(TINY_MODEL + f"\nfrom pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    refused = dlx("train", "--resume", run.name, "trainer.epochs=2", "-q")
    assert refused.code == 2, refused.err
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1 and str(plugin) in lines[0] and "sha256" in lines[0]
    assert f"--plugin {plugin}" in lines[0] and "Traceback" not in refused.err
    assert not marker.exists()  # nothing of the changed file ran
    assert (run / "config.yaml").read_bytes() == config_before  # the recorded sha256 is kept

    trusted = dlx("--plugin", str(plugin), "train", "--resume", run.name, "trainer.epochs=2", "-q")
    assert trusted.code == 0, trusted.err
    assert marker.exists() and (run / "summary.json").is_file()


def test_a_recorded_file_that_matches_loads_and_a_child_inherits_a_trusted_one(tmp_path, monkeypatch):
    from dlx.errors import ConfigError

    from tests.conftest import isolated_plugins

    plugin = tmp_path / "tiny.py"
    plugin.write_text(TINY_MODEL)
    record = {"path": str(plugin), "sha256": hashlib.sha256(plugin.read_bytes()).hexdigest()}
    monkeypatch.setattr(plugins, "_requested", [])
    with isolated_plugins():
        plugins.load_recorded([record])  # unchanged: loads with no flag
        assert str(plugin) in {p.spec for p in plugins.loaded()}
    plugin.write_text(TINY_MODEL + "\n# edited\n")
    with isolated_plugins(), pytest.raises(ConfigError, match="has changed since it was recorded"):
        plugins.load_recorded([record])
    with isolated_plugins(), pytest.raises(ConfigError, match="has no recorded sha256 .* not run"):
        plugins.load_recorded([{"path": str(plugin)}])  # no sha256 recorded: nothing vouches for it
    monkeypatch.setattr(plugins, "_requested", [str(plugin)])
    with isolated_plugins():
        plugins.load_recorded([record])  # named with --plugin: trusted
    # a worker this process starts (no --plugin of its own) trusts the file too
    monkeypatch.setattr(plugins, "_requested", [])
    assert plugin.resolve() in plugins.named_files()
    with isolated_plugins():
        plugins.load_recorded([record])


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


@pytest.mark.parametrize("command", [
    ["sweep", "model=tiny", "optim.lr=0.1,0.01", "--jobs", "0", "trainer.epochs=1", "data.limit=120",
     "trainer.num_threads=1", "trainer.checkpoint=false", "-q"],
    ["cv", "model=tiny", "--folds", "2", "trainer.epochs=1", "data.limit=120", "trainer.num_threads=1", "-q"],
])
def test_sweep_and_cv_resume_refuse_a_changed_plugin(dlx, tmp_path, command):
    plugin = tmp_path / "tiny.py"
    plugin.write_text(TINY_MODEL)
    first = dlx("--plugin", str(plugin), *command)
    assert first.code == 0, first.err
    marker = tmp_path / "plugin-ran"
    plugin.write_text(TINY_MODEL + f"\nfrom pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    refused = dlx(command[0], "--resume", "last")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert "has changed" in refused.err and f"--plugin {plugin}" in refused.err and not marker.exists()
    trusted = dlx("--plugin", str(plugin), command[0], "--resume", "last")
    assert trusted.code == 0 and marker.exists(), trusted.err
