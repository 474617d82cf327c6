"""User plugins end to end: the example model and dataset (examples/plugins/) through the CLI —
train, sweep --jobs 2, cv --jobs 2, kill -9 and --resume, models show, --config-dir presets —
and the example package found through its entry point with no flag."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_process
from tests.test_resume import finish, start, stop_at, wait_for

EXAMPLES = ROOT / "examples" / "plugins"
TINY = ["trainer.epochs=2", "trainer.num_threads=1", "data.n_samples=200", "model.dim=8", "model.depth=1"]


@pytest.fixture
def plugin_dir(tmp_path) -> Path:
    """A copy of the example plugins, so a test may change or delete them."""
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("mixer.py", "stripes.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder


def with_plugins(folder: Path, *args: str) -> list[str]:
    return ["--plugin", str(folder / "mixer.py"), "--plugin", str(folder / "stripes.py"), *args]


def only_run(root: Path) -> Path:
    (run,) = (root / "outputs" / "runs").iterdir()
    return run


@pytest.mark.slow
def test_a_plugin_model_trains_on_a_plugin_dataset_and_the_run_records_both(tmp_path, plugin_dir):
    proc = run_process(with_plugins(plugin_dir, "train", "model=mixer", "data=stripes", *TINY, "-q"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = only_run(tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["name"] == "mixer" and config["model"]["dim"] == 8  # from the schema, no yaml file
    assert config["data"]["noise"] == 0.5 and config["data"]["name"] == "stripes"
    recorded = {Path(p["path"]).name: p["sha256"] for p in config["plugins"]}
    assert set(recorded) == {"mixer.py", "stripes.py"}
    import hashlib

    assert recorded["mixer.py"] == hashlib.sha256((plugin_dir / "mixer.py").read_bytes()).hexdigest()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model"] == "mixer" and summary["data"] == "stripes" and summary["test_size"] > 0


@pytest.mark.slow
def test_kill_9_then_resume_loads_the_plugins_from_config_yaml(tmp_path, plugin_dir):
    args = with_plugins(plugin_dir, "train", "model=mixer", "data=stripes", *TINY, "trainer.epochs=3")
    killed = stop_at(tmp_path, args, "epoch-end@2")
    assert killed.returncode == -signal.SIGKILL
    resumed = finish(tmp_path, ["train", "--resume", "last", "-q"])  # no --plugin: config.yaml names them
    assert "warning" not in resumed.stderr
    summary = json.loads((only_run(tmp_path) / "summary.json").read_text())
    assert summary["epochs_run"] == 3 and summary["model"] == "mixer"


@pytest.mark.slow
def test_resume_refuses_a_changed_plugin_and_stops_when_it_is_missing(tmp_path, plugin_dir):
    args = with_plugins(plugin_dir, "train", "model=mixer", "data=stripes", *TINY)
    proc, marker = start(tmp_path, args, "epoch-end@1")
    wait_for(marker, proc)
    proc.kill()
    proc.communicate()
    (plugin_dir / "stripes.py").write_text((plugin_dir / "stripes.py").read_text() + "\n# edited\n")
    (plugin_dir / "mixer.py").rename(plugin_dir / "gone.py")
    missing = run_process(["train", "--resume", "last"], cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "mixer.py (used by this run) is missing" in missing.stderr
    (plugin_dir / "gone.py").rename(plugin_dir / "mixer.py")
    changed = run_process(["train", "--resume", "last", "-q"], cwd=tmp_path)  # not run unless named
    assert changed.returncode == 2 and changed.stderr.strip().count("\n") == 0, changed.stderr
    assert "stripes.py has changed" in changed.stderr and "dlx --plugin" in changed.stderr
    trusted = run_process(["--plugin", str(plugin_dir / "stripes.py"), "train", "--resume", "last", "-q"],
                          cwd=tmp_path)
    assert trusted.returncode == 0, trusted.stderr


@pytest.mark.slow
def test_sweep_workers_load_the_plugins(tmp_path, plugin_dir):
    proc = run_process(with_plugins(plugin_dir, "sweep", "model=mixer", "data=stripes", *TINY,
                                    "model.dim=4,8", "--jobs", "2", "-q"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (sweep,) = (tmp_path / "outputs" / "sweeps").iterdir()
    spec = json.loads((sweep / "sweep.json").read_text()) if (sweep / "sweep.json").is_file() else None
    summaries = [json.loads(p.read_text()) for p in sweep.glob("runs/*/summary.json")]
    assert sorted(s["model"] for s in summaries) == ["mixer", "mixer"]
    assert spec is None or {Path(p["path"]).name for p in spec["plugins"]} == {"mixer.py", "stripes.py"}


@pytest.mark.slow
def test_cv_workers_load_the_plugins(tmp_path, plugin_dir):
    proc = run_process(with_plugins(plugin_dir, "cv", "model=mixer", "data=stripes", *TINY,
                                    "--folds", "3", "--jobs", "2", "-q"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (cv,) = (tmp_path / "outputs" / "cv").iterdir()
    folds = [json.loads(p.read_text()) for p in cv.glob("fold-*/summary.json")]
    assert len(folds) == 3 and {f["data"] for f in folds} == {"stripes"}


def test_models_and_list_show_plugin_components_with_their_origin(dlx, plugin_dir):
    models = dlx(*with_plugins(plugin_dir, "models"))
    (row,) = [line for line in models.out.splitlines() if " mixer " in line]
    assert models.code == 0 and "plugin: mixer.py" in row and "built-in" in models.out
    listed = dlx(*with_plugins(plugin_dir, "list", "data"))
    assert listed.code == 0 and "stripes" in listed.out and "(plugin: stripes.py)" in listed.out
    shown = dlx(*with_plugins(plugin_dir, "models", "show", "mixer", "model.dim=8"))
    assert shown.code == 0, shown.err
    assert "Conv2d" in shown.out and "MixerBlock" in shown.out and "on digits" in shown.out


def test_the_schema_is_the_config_and_overrides_reach_it(dlx, plugin_dir):
    shown = dlx(*with_plugins(plugin_dir, "train", "model=mixer", "model.width=3", "--cfg"))
    assert shown.code == 2 and "unknown key 'model.width'" in shown.err  # strict as for dlx's own
    shown = dlx(*with_plugins(plugin_dir, "train", "model=mixer", "model.dim=64", "--cfg"))
    assert shown.code == 0, shown.err
    model = yaml.safe_load(shown.out)["model"]
    assert model == {"name": "mixer", "patch_size": 2, "dim": 64, "depth": 2, "token_hidden": 32,
                     "channel_hidden": 64, "dropout": 0.0}
    wrong = dlx(*with_plugins(plugin_dir, "train", "model=mixer", "model.dim=wide"))
    assert wrong.code == 2 and "model.dim: expected an integer" in wrong.err


def test_config_dir_adds_a_preset_on_top_of_the_schema(dlx, plugin_dir):
    args = with_plugins(plugin_dir, "--config-dir", str(EXAMPLES / "conf"))
    listed = dlx(*args, "list", "model")
    assert "mixer-wide   (config-dir) A wider MLP-Mixer" in listed.out
    shown = dlx(*args, "train", "model=mixer-wide", "model.depth=3", "--cfg")
    assert shown.code == 0, shown.err
    model = yaml.safe_load(shown.out)["model"]
    assert (model["name"], model["dim"], model["channel_hidden"], model["depth"]) == ("mixer", 64, 128, 3)


def test_plugins_from_the_environment(dlx, plugin_dir, monkeypatch):
    monkeypatch.setenv("DLX_PLUGINS", f"{plugin_dir / 'mixer.py'},{plugin_dir / 'stripes.py'}")
    shown = dlx("train", "model=mixer", "data=stripes", "--cfg")
    assert shown.code == 0, shown.err
    assert yaml.safe_load(shown.out)["data"]["name"] == "stripes"


def test_a_plugin_file_loads_once_even_when_named_twice(dlx, plugin_dir, monkeypatch):
    monkeypatch.setenv("DLX_PLUGINS", str(plugin_dir / "mixer.py"))
    shown = dlx("--plugin", str(plugin_dir / "mixer.py"), "train", "model=mixer", "--cfg")
    assert shown.code == 0, shown.err


def installed_package(tmp_path: Path) -> dict:
    """The example package as pip installs it: its code on the path and a *.dist-info folder with the
    entry point, which importlib.metadata reads exactly as it reads a pip install's."""
    site = tmp_path / "site"
    dist = site / "dlx_example_plugins-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dlx-example-plugins\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[dlx.plugins]\ndlx-example-plugins = dlx_example_plugins\n")
    shutil.copytree(EXAMPLES / "package" / "dlx_example_plugins", site / "dlx_example_plugins")
    return {"PYTHONPATH": f"{ROOT}:{site}"}


@pytest.mark.slow
def test_an_installed_package_is_found_with_no_flag(tmp_path):
    env = installed_package(tmp_path)
    listed = run_process(["list", "loss"], cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "focal" in listed.stdout and "(plugin: dlx-example-plugins (entry point))" in listed.stdout
    trained = run_process(["train", "loss=focal", "loss.gamma=1", "data.limit=100", "trainer.epochs=1",
                           "trainer.num_threads=1", "-q"], cwd=tmp_path, env=env)
    assert trained.returncode == 0, trained.stderr
    config = yaml.safe_load(only_run(tmp_path).joinpath("config.yaml").read_text())
    assert config["loss"] == {"name": "focal", "gamma": 1.0}
    assert config["plugins"] == [{"module": "dlx_example_plugins"}]


@pytest.mark.slow
def test_debug_shows_the_plugin_traceback(tmp_path):
    (tmp_path / "bad.py").write_text("x = 1\nraise ValueError('bad plugin')\n")
    plain = run_process(["--plugin", "bad.py", "list"], cwd=tmp_path)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip() == ("error: plugin bad.py failed to import (line 2): ValueError: bad plugin "
                                    "(--debug shows the traceback)")
    debug = run_process(["--debug", "--plugin", "bad.py", "list"], cwd=tmp_path)
    assert "Traceback" in debug.stderr and "bad.py\", line 2" in debug.stderr
