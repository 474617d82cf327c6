"""One source for every config: the schema dataclass. Every registered component composes from
it and validates; every yaml file in conf/ is a preset that names only keys its schema has and
only values that differ from the schema's defaults (so the two cannot drift apart)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from dlx import config
from dlx.config import GROUPS, conf_dir
from dlx.config import to_schema
from dlx.config.presets import FIXED, build_nodes, choices, component_schema, defaults, description
from dlx.plugins import load_builtins
from dlx.registry import BUILT_IN, TABLES

load_builtins()
COMPONENTS = [(group, e.name) for group, table in TABLES.items() for e in table.entries() if e.origin == BUILT_IN]
PRESETS = sorted(conf_dir().glob("*/*.yaml"))


NODES = build_nodes(GROUPS)  # what Hydra composes from: each option's schema defaults + its preset


@pytest.mark.parametrize("group, name", COMPONENTS, ids=[f"{g}={n}" for g, n in COMPONENTS])
def test_every_registered_component_composes_from_its_schema_and_validates(group, name):
    cfg = to_schema(group, component_schema(group, name), OmegaConf.create(NODES[group][name]))
    assert cfg.name == name and isinstance(cfg, component_schema(group, name))


@pytest.mark.parametrize("group", GROUPS)
def test_hydra_composes_each_group_from_the_nodes(group):
    exp = config.load([f"{group}={sorted(NODES[group])[-1]}"])
    assert OmegaConf.to_container(exp.raw[group]) == NODES[group][sorted(NODES[group])[-1]]


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_is_described_by_its_preset_or_its_registration(group):
    """`dlx list` shows a line for every option: a preset's first comment, else the component's summary."""
    for choice in choices(group):
        assert description(choice), f"{group}={choice.name} has no description"


@pytest.mark.parametrize("path", PRESETS, ids=[f"{p.parent.name}/{p.name}" for p in PRESETS])
def test_a_preset_exists_only_where_it_differs_from_its_schema(path):
    preset = OmegaConf.to_container(OmegaConf.load(path)) or {}
    assert preset, f"{path} holds only a comment: the schema alone composes {path.stem}; delete the file"


@pytest.mark.parametrize("path", PRESETS, ids=[f"{p.parent.name}/{p.name}" for p in PRESETS])
def test_each_preset_names_only_schema_keys_and_only_values_that_differ(path):
    group = path.parent.name
    preset = OmegaConf.to_container(OmegaConf.load(path)) or {}
    component = path.stem if group in FIXED else str(preset.get("name", path.stem))
    base = defaults(component_schema(group, component))
    for key, value in preset.items():
        assert key in base, f"{path}: '{key}' is not a key of {group} '{component}'"
        if isinstance(value, dict):
            for sub, inner in value.items():
                assert sub in base[key], f"{path}: '{key}.{sub}' is not a key of {group} '{component}'"
                assert inner != base[key][sub], f"{path}: {key}.{sub}={inner} is the schema's default; drop it"
        elif key != "name":
            assert value != base[key], f"{path}: {key}={value} is the schema's default; drop it"
    assert path.read_text(encoding="utf-8").startswith("# "), f"{path}: first line must describe it"


@pytest.mark.parametrize("path", PRESETS, ids=[f"{p.parent.name}/{p.name}" for p in PRESETS])
def test_every_preset_validates(path):
    group, node = path.parent.name, NODES[path.parent.name][path.stem]
    assert to_schema(group, component_schema(group, node.get("name", path.stem)), OmegaConf.create(node))


def test_the_drift_the_issue_found_is_gone():
    """MLPConfig.dropout and TrainerConfig.batch_size are what `dlx train --cfg` shows."""
    from dlx.engine.trainer import TrainerConfig
    from dlx.models.mlp import MLPConfig

    exp = config.load([])
    assert exp.model.dropout == MLPConfig().dropout == 0.0
    assert exp.trainer.batch_size == TrainerConfig().batch_size
