"""Validate: every group merged into its dataclass schema -> a typed `Experiment`.

Unknown keys, wrong types and impossible values fail here, before any data is loaded or
any model built (the checks themselves are in `dlx.config.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlx import plugins
from dlx.config.checks import check_names, reject_import_paths, resolve_interpolations, to_schema
from dlx.config.compose import compose
from dlx.config.presets import GROUPS, TOP_LEVEL_KEYS, default_choices, schema_for
from dlx.errors import ConfigError
from dlx.registry import DATASETS

__all__ = ["Experiment", "load", "reject_import_paths", "resolve_interpolations", "schema_for", "to_schema",
           "validate"]


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


def validate(cfg, check_files: bool = True) -> Experiment:
    """Check every group against its schema and return the typed `Experiment`; `check_files=False`
    leaves out whether the data files exist (`dlx train --cfg` shows a config without them)."""
    from omegaconf import OmegaConf

    reject_import_paths(cfg)
    extra = set(cfg.keys()) - set(GROUPS) - set(TOP_LEVEL_KEYS) - {"plugins"}
    if extra:
        key = sorted(extra)[0]
        raise ConfigError(f"unknown top-level key '{key}'; valid: {', '.join(GROUPS + TOP_LEVEL_KEYS)}")
    for group in GROUPS:
        if group not in cfg or cfg[group] is None:
            example = default_choices().get(group) or "<name>"
            raise ConfigError(f"config group '{group}' is missing (deleted with ~{group}?): every group needs "
                              f"a choice, e.g. {group}={example}")
    resolve_interpolations(cfg)
    reject_import_paths(cfg)  # again, resolved: a quoted ${oc.create:{_target_: ...}} makes the key now
    name, output_dir = check_names(cfg.get("name"), cfg.get("output_dir") or "outputs")
    data = to_schema("data", schema_for("data", cfg["data"]), cfg["data"]) if _declared(cfg["data"]) else None
    if data is not None and check_files:
        data.check_files()  # before torch loads: a wrong path is answered at once
    plugins.load()
    groups = {}
    for group in GROUPS:
        node = cfg[group]
        groups[group] = to_schema(group, schema_for(group, node), node)
    OmegaConf.resolve(cfg)
    record_plugins(cfg, {g: str(getattr(groups[g], "name", "")) for g in GROUPS})
    return Experiment(**groups, name=name, output_dir=output_dir, raw=cfg)


def record_plugins(cfg, names: dict[str, str]) -> None:
    """config.yaml's top-level `plugins:`: the plugins whose components this run uses, so that
    resume and workers load them (a path and its sha256, or a module name)."""
    from omegaconf import OmegaConf, open_dict

    used = plugins.records(names)
    with open_dict(cfg):
        if used:
            cfg.plugins = OmegaConf.create(used)
        elif "plugins" in cfg:
            del cfg["plugins"]


def _declared(node) -> bool:
    """Whether the data node names a registered dataset (checked, with its files, before torch loads)."""
    return hasattr(node, "get") and str(node.get("name")) in DATASETS


def load(overrides: list[str] = (), check_files: bool = True) -> Experiment:
    """compose + validate: the path every command takes from argv to a checked config."""
    return validate(compose(overrides, check_files=check_files), check_files)
