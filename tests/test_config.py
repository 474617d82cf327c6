"""Composition and validation: every config file composes, every bad input is one clear error."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dlx import config
from dlx.errors import ConfigError

CONF = config.conf_dir()
CONFIG_FILES = sorted(p for p in CONF.glob("*/*.yaml"))


def test_default_composes_and_validates():
    exp = config.load([])
    assert exp.model.name == "mlp"
    assert exp.data.name == "digits"
    assert exp.trainer.epochs >= 1
    assert exp.optim.lr > 0


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_config_file_composes_and_validates(path: Path):
    group, choice = path.parent.name, path.stem
    exp = config.load([f"{group}={choice}"], check_files=False)  # csv and image_folder name no file yet
    node = getattr(exp, group)
    if hasattr(node, "name") and group != "trainer":
        assert node.name == choice or group == "regularizer"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_import_paths_in_config_files(path: Path):
    text = path.read_text()
    assert "_target_" not in text


def test_overrides_reach_the_typed_config():
    exp = config.load(["optim=sgd", "optim.lr=0.05", "trainer.epochs=5", "trainer.batch_size=32",
                       "trainer.seed=1", "model.hidden=[16,8]"])
    assert exp.optim.name == "sgd" and exp.optim.lr == 0.05
    assert (exp.trainer.epochs, exp.trainer.batch_size, exp.trainer.seed) == (5, 32, 1)
    assert exp.model.hidden == [16, 8]
    # the raw config that gets saved agrees with the typed one
    assert OmegaConf.select(exp.raw, "optim.lr") == 0.05


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model=resnett", "unknown model 'resnett'"),
        ("optim=adamm", "did you mean 'adam'"),
        ("optim.lrr=0.1", "did you mean 'optim.lr'"),
        ("trainer.epochss=3", "did you mean 'trainer.epochs'"),
        ("trainer.epochs=abc", "trainer.epochs"),
        ("trainer.epochs=0", "trainer.epochs"),
        ("optim.lr=-1", "optim.lr"),
        ("data.val_fraction=1.5", "data.val_fraction"),
        ("data.preprocess=zscore", "data.preprocess"),
        ("trainer.device=gpu", "trainer.device"),
        ("trainer.monitor=acc", "trainer.monitor"),
        ("model.hidden=[a]", "model.hidden"),
        ("model.activation=relux", "did you mean 'relu'"),
        ("model.dropout=1.5", "model.dropout"),
        ("~trainer.epochs", "missing key 'trainer.epochs'"),
        ("+optim.lr=1", "already exists"),
        ("+foo=1", "unknown top-level key 'foo'"),
        ("+model.depthh=3", "unknown key 'model.depthh'"),
        ("optim.lr=0.1,0.2", "dlx sweep"),
        ("optim.lr=(", "malformed override"),
        ("name=a/b", "invalid name"),
    ],
)
def test_bad_input_is_one_clear_error(override, expected):
    with pytest.raises(ConfigError) as info:
        config.load([override])
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_group_choices_come_from_the_files():
    assert "mlp" in config.group_choices("model")
    assert {"adam", "sgd"} <= set(config.group_choices("optim"))
    assert config.group_choices("nonexistent") == []
