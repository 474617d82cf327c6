"""The checks every composed group goes through: its schema (unknown keys, wrong types,
declared ranges and choices), the import-path ban, interpolations, names. Torch-free, and
used both by the early check (`dlx.config.precheck`) and the full one (`dlx.config.validate`).
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from typing import Any

from dlx.constraints import Checked, check
from dlx.errors import ConfigError, InvalidValue, closest, first_line


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
        checked = OmegaConf.to_object(merged)
        if not isinstance(checked, Checked):  # a plugin's schema may declare constraints without the base
            check(checked)
        return checked
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


