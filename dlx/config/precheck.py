"""Cheap checks before any component loads (and with it torch): `name`, the group choices,
and every group's keys and values, through the components' torch-free schemas (declared in
`dlx.data.schemas`, `dlx.models.schemas`, `dlx.optim.schemas`, `dlx.losses`; the fixed
groups' in `dlx.config.trainer` and `dlx.regularize`).

A wrong path, an out-of-range value or a misspelt choice is answered in a fraction of a
second, not after the imports; everything is checked again, in full, once the components
are loaded. A component only a plugin (or a module not loaded yet) knows is left to that full check.
"""

from __future__ import annotations

from dlx import plugins
from dlx.config.checks import check_names, reject_import_paths, to_schema
from dlx.config.presets import FIXED, SCHEMA_OPTION, component_schema, default_choices, preset_files, read_preset
from dlx.errors import ConfigError, closest, unknown
from dlx.registry import TABLES

CHECKED = ("data", "model", "optim", "scheduler", "regularizer", "loss", "trainer")  # data first, as before


def check_early(parsed, check_files: bool = True) -> None:
    """Raise the one-line error a mistake in `name`, a group choice or a group's keys would raise later, now."""
    given = {o.key_or_group: o for o in parsed if not o.is_delete()}
    name = given.get("name")
    if name is not None and not name.is_sweep_override() and "${" not in str(name.value()):
        check_names(name.value(), "outputs")  # an interpolation is checked once resolved
    touched = {(o.key_or_group or "").split(".")[0] for o in parsed if o.is_delete() or o.is_sweep_override()}
    # interpolations resolve against the whole config, and must pass the `_target_` ban first
    touched |= {(o.key_or_group or "").split(".")[0] for o in given.values() if "${" in str(o.value())}
    for group in CHECKED:
        if group in touched:
            continue  # a sweep over the group (each trial checks its own), a deleted key, a ${...}
        found = _group_node(group, given)
        if found is None:
            continue
        reject_import_paths(found[1], f"{group}.")  # `+model._target_=...`: the ban's words, not "unknown key"
        checked = to_schema(group, *found)
        if group == "data" and check_files:
            checked.check_files()


def _group_node(group: str, given):
    """(schema, node) of the group's choice with its preset and `group.*` overrides applied; None for
    a component not registered yet (a plugin's), or anything this cheap look cannot read."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    choice = given[group].value() if group in given else default_choices().get(group)
    presets = preset_files(group)
    if not isinstance(choice, str) or choice not in set(presets) | _known(group):
        _refuse_unknown(group, choice, presets)
        return None
    try:
        preset = read_preset(presets[choice][0]) if choice in presets else {}
    except ConfigError:
        return None  # a broken preset: the full check names it
    component = choice if group in FIXED else str(preset.get("name", choice))
    if group not in FIXED and component not in TABLES[group]:
        return None
    schema = component_schema(group, component)
    try:
        node = OmegaConf.create(OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(schema), preset)))
        if "name" in node:
            node.name = component
        for key, o in given.items():
            if key.startswith(f"{group}."):
                if not (o.is_add() or o.is_force_add()):
                    _require_key(node, key, group)
                OmegaConf.update(node, key[len(group) + 1:], o.value(), merge=True, force_add=True)
        OmegaConf.to_container(node, resolve=True)  # a preset's ${...} to another group: left to the full check
    except (OmegaConfBaseException, OSError, ValueError, TypeError):
        return None  # the full check after composition explains it
    return schema, node


def _require_key(node, key: str, group: str) -> None:
    """`optim.lrr=1` sets a key the group lacks (only `+optim.lrr=1` may add one): Hydra's refusal, now."""
    from omegaconf import DictConfig

    *parents, leaf = key[len(group) + 1:].split(".")
    for part in parents:
        if not isinstance(node, DictConfig) or part not in node:
            return  # deeper mistakes: the composition explains them
        node = node[part]
    if isinstance(node, DictConfig) and leaf not in node:
        hint = closest(leaf, list(node.keys()))
        if hint:
            raise ConfigError(f"unknown key '{key}' — did you mean '{'.'.join([group, *parents, hint])}'?")
        raise ConfigError(f"unknown key '{key}'; see `dlx train --cfg` for the keys")


def _known(group: str) -> set[str]:
    """Choices with no preset file: the components registered so far (every built-in one is
    declared), and a fixed group's schema-only option."""
    table = TABLES.get(group)
    names = set(table.names() if table is not None else ())
    return names | ({SCHEMA_OPTION[group]} if group in SCHEMA_OPTION else set())


def _refuse_unknown(group: str, choice, presets) -> None:
    """An unknown choice fails now, unless a plugin still to be loaded could register it."""
    if plugins.may_register():
        return
    raise unknown(group, str(choice), set(presets) | _known(group))
