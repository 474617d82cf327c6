"""Validate: every group merged into its dataclass schema -> a typed `Experiment`.

Unknown keys, wrong types and impossible values fail here, before any data is loaded or
any model built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from dlx.config.compose import GROUPS, TOP_LEVEL_KEYS, compose, default_choices, group_choices
from dlx.errors import ConfigError, InvalidValue, closest, first_line


@dataclass
class Experiment:
    """A validated experiment: one typed config object per group, plus the raw DictConfig."""

    model: Any
    optim: Any
    scheduler: Any
    regularizer: Any
    loss: Any
    data: Any
    trainer: Any
    name: str | None
    output_dir: str
    raw: Any  # the composed DictConfig, saved as config.yaml


def _schema_for(group: str, node) -> type:
    from dlx.config.presets import FIXED, component_schema, fixed_schema
    from dlx.registry import TABLES

    if group in FIXED:
        return fixed_schema(group)
    name = node.get("name") if hasattr(node, "get") else None
    if name is None:
        raise ConfigError(f"{group} has no 'name'; choose one with {group}=<{'|'.join(TABLES[group].names())}>")
    return component_schema(group, str(name))


def to_schema(group: str, schema: type, node) -> Any:
    """Merge `node` into `schema`: unknown keys, wrong types and bad values raise ConfigError."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ConfigTypeError, ValidationError

    missing = _missing_keys(schema, node)
    if missing:
        raise ConfigError(f"missing key '{group}.{missing}': every key of a config must be set "
                          f"(it was deleted with ~ or is absent from conf/{group}/)")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        return OmegaConf.to_object(merged)
    except (ConfigKeyError, ConfigAttributeError) as e:
        key = str(getattr(e, "key", "") or "")
        path = str(getattr(e, "full_key", "") or key)
        hint = closest(key, [f.name for f in fields(schema)])
        did_you_mean = f" — did you mean '{group}.{hint}'?" if hint else "; see `dlx train --cfg` for its keys"
        name = getattr(node, "name", group)
        raise ConfigError(f"unknown key '{group}.{path}' for {group} '{name}'{did_you_mean}") from None
    except ValidationError as e:
        path = f"{group}.{e.full_key}" if e.full_key else group
        expected = _field_type(schema, str(e.full_key))
        raise ConfigError(f"invalid value {e.value!r} for {path}: expected {expected}") from None
    except InvalidValue as e:
        raise ConfigError(f"invalid {group}.{e.key}: {e.message}") from None
    except ConfigTypeError:  # a mapping where the schema has a list or a value (e.g. made by ${oc.create:...})
        key = next((f.name for f in fields(schema) if f.name in node
                    and type(node._get_node(f.name)).__name__ == "DictConfig" and not is_dataclass(f.type)), None)
        path = f"{group}.{key}" if key else group
        expected = _field_type(schema, key) if key else "the keys of `dlx train --cfg`"
        raise ConfigError(f"invalid value for {path}: a mapping where {expected} belongs") from None


def _missing_keys(schema: type, node, prefix: str = "") -> str | None:
    """The first schema field absent from `node`: no silent defaults for config keys."""
    from omegaconf import DictConfig

    for f in fields(schema):
        if f.name not in node:
            return prefix + f.name
        if is_dataclass(f.type) and isinstance(node[f.name], DictConfig):
            deeper = _missing_keys(f.type, node[f.name], f"{prefix}{f.name}.")
            if deeper:
                return deeper
    return None


def _field_type(schema: type, dotted: str) -> str:
    dotted = re.sub(r"\[\d+\]", "", dotted)
    node = schema
    for part in dotted.split("."):
        if not is_dataclass(node):
            break
        match = {f.name: f for f in fields(node)}.get(part)
        if match is None:
            break
        node = match.type if not isinstance(match.type, str) else match.type
    text = node if isinstance(node, str) else str(node)
    text = text.replace("typing.", "")
    if text.startswith("list["):
        inner = text[5:-1]
        names = {"int": "integers", "float": "numbers", "str": "strings"}
        return f"a list of {names.get(inner, inner)}, e.g. [64,32]"
    text = getattr(node, "__name__", text)
    return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}.get(
        text.replace("Optional[", "").rstrip("]").strip(), text
    )


INSTANTIATE_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")


def reject_import_paths(cfg, prefix: str = "") -> None:
    """No Hydra `_target_` anywhere (command line, YAML, a resumed run's config.yaml):
    a config naming an import path could run any code; dlx builds components by name."""
    from omegaconf import DictConfig, ListConfig

    items = cfg.items_ex(resolve=False) if isinstance(cfg, DictConfig) else enumerate(cfg)
    for key, value in items:
        path = f"{prefix}{key}"
        if key in INSTANTIATE_KEYS:
            raise ConfigError(f"'{path}' is not allowed: dlx never imports code named in a config; "
                              "choose components by name (e.g. model=mlp) and remove the key")
        if isinstance(value, (DictConfig, ListConfig)):
            reject_import_paths(value, f"{path}.")


def resolve_interpolations(cfg) -> None:
    """Resolve `${...}` in place, against the whole config; a bad reference is one clear line."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or _unresolvable_key(cfg) or "a value"
        raise ConfigError(f"cannot resolve {key}: {first_line(e, limit=None)} — a ${{...}} reference must name an existing "
                          "key, e.g. ${trainer.epochs}") from None


def _unresolvable_key(cfg, prefix: str = "") -> str | None:
    """The dotted key of the first value whose interpolation fails."""
    from omegaconf import DictConfig, ListConfig
    from omegaconf.errors import OmegaConfBaseException

    for key, value in (cfg.items_ex(resolve=False) if isinstance(cfg, DictConfig) else enumerate(cfg)):
        path = f"{prefix}{key}"
        if isinstance(value, (DictConfig, ListConfig)):
            found = _unresolvable_key(value, f"{path}.")
            if found:
                return found
            continue
        try:
            cfg[key]
        except OmegaConfBaseException:
            return path
    return None


def validate(cfg, check_files: bool = True) -> Experiment:
    """Check every group against its schema and return the typed `Experiment`; `check_files=False`
    leaves out whether the data files exist (`dlx train --cfg` shows a config without them)."""
    from omegaconf import OmegaConf

    from dlx import plugins

    reject_import_paths(cfg)
    extra = set(cfg.keys()) - set(GROUPS) - set(TOP_LEVEL_KEYS) - {"plugins"}
    if extra:
        key = sorted(extra)[0]
        raise ConfigError(f"unknown top-level key '{key}'; valid: {', '.join(GROUPS + TOP_LEVEL_KEYS)}")
    for group in GROUPS:
        if group not in cfg or cfg[group] is None:
            example = default_choices().get(group) or (group_choices(group) or ["<name>"])[0]
            raise ConfigError(f"config group '{group}' is missing (deleted with ~{group}?): every group needs "
                              f"a choice, e.g. {group}={example}")
    resolve_interpolations(cfg)
    reject_import_paths(cfg)  # again, resolved: a quoted ${oc.create:{_target_: ...}} makes the key now
    name, output_dir = check_names(cfg.get("name"), cfg.get("output_dir") or "outputs")
    check_data_cheaply(cfg["data"], check_files)  # before torch loads: a wrong path is answered at once
    plugins.load()
    groups = {}
    for group in GROUPS:
        node = cfg[group]
        groups[group] = to_schema(group, _schema_for(group, node), node)
    OmegaConf.resolve(cfg)
    record_plugins(cfg, {g: str(getattr(groups[g], "name", "")) for g in GROUPS})
    return Experiment(**groups, name=name, output_dir=output_dir, raw=cfg)


def record_plugins(cfg, names: dict[str, str]) -> None:
    """config.yaml's top-level `plugins:`: the plugins whose components this run uses, so that
    resume and workers load them (a path and its sha256, or a module name)."""
    from omegaconf import OmegaConf, open_dict

    from dlx import plugins

    used = plugins.records(names)
    with open_dict(cfg):
        if used:
            cfg.plugins = OmegaConf.create(used)
        elif "plugins" in cfg:
            del cfg["plugins"]


MAX_NAME = 200  # a path component holds 255 bytes; the id adds a time stamp (20) and suffixes (-5x3fold, -2)


def check_names(name, output_dir) -> tuple[str | None, str]:
    """`name` must fit in a folder name beside the run's time stamp; output_dir's parts in the file system's."""
    if name is not None:
        name = str(name)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ConfigError(f"invalid name {name!r}: use letters, digits, '.', '_' and '-' only")
        if len(name) > MAX_NAME:
            raise ConfigError(f"name is {len(name)} characters long; at most {MAX_NAME} fit in a run folder's "
                              "name beside its time stamp — shorten name")
    output_dir = str(output_dir)
    for part in output_dir.split("/"):
        if len(part.encode("utf-8", "surrogateescape")) > 255:
            raise ConfigError(f"output_dir has a folder name of {len(part.encode())} bytes; the file system "
                              "allows 255 — shorten output_dir")
    return name, output_dir


def check_data_cheaply(node, check_files: bool = True) -> None:
    """The data keys every dataset shares (and a built-in dataset's own, with its files) checked
    with the torch-free schemas in dlx.data.schemas; the full check follows once components load."""
    from omegaconf import DictConfig, OmegaConf

    from dlx.data import schemas

    if not isinstance(node, DictConfig):
        return
    schema = schemas.BUILTIN.get(str(node.get("name")))
    if schema is None:  # a plugin dataset: only the keys every dataset shares, if it has them all
        if not schemas.shared_keys() <= set(node.keys()):
            return
        schema = schemas.DataConfig
        node = OmegaConf.create({k: v for k, v in node.items() if k in schemas.shared_keys()})
    checked = to_schema("data", schema, node)
    if check_files:
        checked.check_files()


def load(overrides: list[str] = (), check_files: bool = True) -> Experiment:
    """compose + validate: the path every command takes from argv to a checked config."""
    return validate(compose(overrides, check_files=check_files), check_files)
