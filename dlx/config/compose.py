"""Compose: conf/ + overrides -> a DictConfig, with Hydra's grammar and one-line errors.

Composition is Hydra's, unchanged (`key=value`, `+key=value`, `~key`, `group=choice`).
Nothing here imports torch; the group listings read conf/ as text.
"""

from __future__ import annotations

import os
import re
from typing import Any

from dlx import plugins
from dlx.config.direct import compose_direct
from dlx.config.direct import parse as parse_plain
from dlx.config.precheck import check_early
from dlx.config.presets import (GROUPS, TOP_LEVEL_KEYS, build_nodes, choices, conf_dir,  # noqa: F401  (re-exported)
                                default_choices, description)
from dlx.errors import ConfigError, closest, first_line, unknown


def group_choices(group: str) -> list[str]:
    """The options of a config group: presets (conf/, --config-dir) and the registered components."""
    return [c.name for c in choices(group)]


def describe_choices(group: str) -> list[tuple[str, str]]:
    """(name, description) of each option of `group`; plugins and --config-dir presets name their origin."""
    described = []
    for choice in choices(group):
        text = description(choice)
        described.append((choice.name, f"({choice.origin}) {text}".strip() if choice.origin else text))
    return described


def expand_home(overrides) -> list[str]:
    """`data.root=~/datasets` -> `data.root=/home/me/datasets`: a value that starts with `~`
    (a home folder, as in a shell) is expanded, since Hydra's grammar rejects `~` in a value
    and a shell expands it only after `NAME=` (so `output_dir=~/x`, never `data.root=~/x`)."""
    expanded = []
    for override in overrides:
        key, eq, value = str(override).partition("=")
        if eq and key and not key.startswith("~") and re.match(r"~[\w.-]*(/|$)", value):
            override = f"{key}={os.path.expanduser(value)}"
        expanded.append(override)
    return expanded


def parse_overrides(overrides: list[str]):
    """Hydra's own parser; a malformed override becomes one clear line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    try:
        return parser.parse_overrides(expand_home(overrides))
    except OverrideParseException as e:
        raise ConfigError(f"malformed override: {first_line(e, limit=None)} (expected key=value, e.g. optim.lr=0.01)") from None


def check_group_choices(parsed) -> None:
    for o in parsed:
        group = o.key_or_group
        if not group:  # `=3`: Hydra's grammar accepts it, its composer then fails obscurely
            raise ConfigError(f"malformed override '{o.input_line}': no key (expected key=value, e.g. optim.lr=0.01)")
        if group not in GROUPS or o.is_delete() or o.is_sweep_override():
            continue
        value = o.value()
        if not isinstance(value, str) or value not in group_choices(group):
            raise unknown(group, str(value), group_choices(group))


def compose(overrides: list[str] = (), *, allow_sweep: bool = False, check_files: bool = False):
    """Compose the defaults of conf/config.yaml with Hydra overrides into a DictConfig (not yet
    validated). Each group's options are nodes built from the schemas (dlx.config.presets).
    Plain overrides (`group=choice`, `key=value`) are composed directly, as Hydra would
    (dlx.config.direct); the others, and every mistake, by Hydra."""
    overrides = expand_home(list(overrides))
    plain = parse_plain(overrides)
    parsed = plain if plain is not None else parse_overrides(overrides)
    if not allow_sweep:
        for o in parsed:
            if o.is_sweep_override():
                raise ConfigError(
                    f"'{o.input_line}' is a sweep; `dlx train` takes one value per key "
                    "(use `dlx sweep` to search over several)"
                )
    for o in parsed:
        if (o.key_or_group or "").split(".")[0] == "plugins":
            raise ConfigError("plugins are not a config key: load one with `dlx --plugin FILE_OR_MODULE` "
                              "(or DLX_PLUGINS); the run records it in config.yaml")
    if not plugins.components_loaded():  # torch loads next: a wrong path or value is answered first
        check_early(parsed, check_files)  # (once loaded, the full check below answers as fast)
    plugins.load()
    check_group_choices(parsed)
    reachable = reachable_choices(parsed)
    if plain is not None:
        cfg = compose_direct(primary(), build_nodes(GROUPS, reachable), plain, GROUPS)
        if cfg is not None:
            return cfg
    return _compose_with_hydra(overrides, parsed, reachable)


def _compose_with_hydra(overrides: list[str], parsed, reachable):
    from hydra import compose as hydra_compose
    from hydra import initialize
    from hydra.errors import HydraException

    store_nodes(reachable)
    failure = None
    with initialize(config_path=None, version_base="1.3", job_name="dlx"):
        try:
            return hydra_compose(config_name="config", overrides=overrides)
        except HydraException as e:
            failure = e
    # explain it outside the Hydra context: finding the closest key composes again
    raise _composition_error(failure, parsed) from None


def primary() -> dict:
    """conf/config.yaml as plain data (read once per process, again if the file changed)."""
    from omegaconf import OmegaConf

    path = conf_dir() / "config.yaml"
    key = (str(path), path.stat().st_mtime_ns)
    if _primary.get("key") != key:
        _primary.update(key=key, data=OmegaConf.to_container(OmegaConf.load(path)))
    return _primary["data"]


_primary: dict = {}


def reachable_choices(parsed) -> dict[str, set[str] | None]:
    """group -> the options this composition can reach: the default of conf/config.yaml and what
    the overrides choose (None: all of them, for a sweep or deletion of the group). Building only
    these nodes saves composing all ~90 presets in every process."""
    reachable: dict[str, set[str] | None] = {group: set() for group in GROUPS}
    for entry in primary().get("defaults", []):
        if isinstance(entry, dict):
            for group, choice in entry.items():
                if group in reachable and isinstance(choice, str):
                    reachable[group].add(choice)
    for o in parsed:
        group = o.key_or_group
        if group not in reachable or reachable[group] is None:
            continue
        value = None if o.is_sweep_override() or o.is_delete() else o.value()
        if isinstance(value, str):
            reachable[group].add(value)
        else:
            reachable[group] = None
    return reachable


def store_nodes(reachable: dict[str, set[str] | None] | None = None) -> None:
    """Hand Hydra the primary config and the groups' options (schema defaults + presets): those
    in `reachable` (group -> names, None: all), or every one. Hydra's store lives as long as the
    process: a node is stored again only when it changed."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    primary = conf_dir() / "config.yaml"
    key = (str(primary), primary.stat().st_mtime_ns)
    if _stored.get("config") != key:
        store.store(name="config", node=OmegaConf.load(primary))
        _stored["config"] = key
    for group, nodes in build_nodes(GROUPS, reachable).items():
        for name, node in nodes.items():
            if _stored.get((group, name)) is not node:
                store.store(group=group, name=name, node=node)
                _stored[(group, name)] = node


_stored: dict = {}  # what store_nodes last gave Hydra, per option


def _composition_error(error: Exception, parsed) -> ConfigError:
    text = str(error)
    match = re.search(r"Could not override '([^']+)'", text)
    if match:
        key = match.group(1)
        hint = _closest_key(key, parsed)
        if hint:
            return ConfigError(f"unknown key '{key}' — did you mean '{hint}'?")
        return ConfigError(f"unknown key '{key}'; see `dlx train --cfg` for the keys")
    match = re.search(r"Could not delete from config. '([^']+)'", text)
    if match:
        return ConfigError(f"cannot delete '{match.group(1)}': no such key")
    match = re.search(r"An item is already at '([^']+)'", text)
    if match:
        key = match.group(1)
        return ConfigError(f"'{key}' already exists; set it with {key}=... (without the +)")
    return ConfigError(f"invalid overrides: {first_line(error, limit=None)}")


def _closest_key(dotted: str, parsed) -> str | None:
    """Compose with only the group choices, then find the nearest existing key."""
    from omegaconf import DictConfig

    choices = [o.input_line for o in parsed if o.key_or_group in GROUPS and "." not in o.key_or_group]
    try:
        base = compose(choices)
    except ConfigError:
        return None
    *parents, leaf = dotted.split(".")
    node: Any = base
    for part in parents:
        if not isinstance(node, DictConfig) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, DictConfig):
        return None
    hint = closest(leaf, list(node.keys()))
    return ".".join([*parents, hint]) if hint else None
