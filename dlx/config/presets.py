"""Config nodes: a component's schema defaults, with a yaml preset on top.

The schema dataclass is the config: `model=tiny` composes from `TinyConfig`'s defaults even
with no yaml file, and so does every built-in component (declared with its schema in the
torch-free schema modules imported below). A yaml file, in dlx's `conf/<group>/` or the user's
`--config-dir`, is a preset: a choice of its own (`model=tiny-wide`), holding only what
differs from the schema, plus `name:` when it presets another component (`name: tiny`). Its
first comment line, if any, is the description `dlx list` shows; else the component's
registration gives it.

Nothing here imports torch: listing and building nodes read the registry (built-ins declared,
plugins loaded) and the preset files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import dlx.data.dataset_schemas  # noqa: F401  (declares the generated and ordered-file datasets)
import dlx.data.env_schemas  # noqa: F401  (declares the environments)
import dlx.data.schemas  # noqa: F401  (declares the built-in datasets)
import dlx.losses  # noqa: F401  (registers the built-in losses: torch loads only to build one)
import dlx.models.agent_schemas  # noqa: F401  (declares the reinforcement-learning agents)
import dlx.models.dqn_schema  # noqa: F401  (declares model=dqn)
import dlx.models.schemas  # noqa: F401  (declares the built-in models)
import dlx.optim.schemas  # noqa: F401  (declares the built-in optimizers and schedules)
from dlx import plugins
from dlx.config.trainer import TrainerConfig
from dlx.errors import ConfigError, first_line, unknown
from dlx.registry import BUILT_IN, TABLES
from dlx.regularize import RegularizerConfig

GROUPS = ("model", "optim", "scheduler", "regularizer", "loss", "data", "trainer")
TOP_LEVEL_KEYS = ("name", "output_dir")
FIXED = ("regularizer", "trainer")  # one schema each; every choice is a preset of it
# the option of a fixed group that is its schema's defaults (no preset file needed)
SCHEMA_OPTION = {"regularizer": "none", "trainer": "default"}


@dataclass(frozen=True)
class Choice:
    """One option of a group: its preset file (if any) and where it comes from."""

    name: str
    file: Path | None
    origin: str  # "" (dlx's own) | "config-dir" | "plugin: mymodels.py"
    group: str = ""  # the config group it is an option of


def conf_dir() -> Path:
    """The config tree: `dlx/conf` inside a wheel, `conf/` beside `dlx/` in a checkout."""
    here = Path(__file__).resolve().parent.parent  # the dlx package
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise ConfigError(f"dlx's config tree is missing (looked in {here / 'conf'}); reinstall dlx")


def search_dirs() -> list[Path]:
    """The user's `--config-dir`s first (their presets win), then dlx's conf/."""
    return [Path(d) for d in plugins.config_dirs()] + [conf_dir()]


def preset_files(group: str) -> dict[str, tuple[Path, bool]]:
    """name -> (file, from the user's config dir) for the yaml presets of `group`."""
    found: dict[str, tuple[Path, bool]] = {}
    dirs = search_dirs()
    for i, folder in enumerate(dirs):
        for path in sorted((folder / group).glob("*.yaml")) if (folder / group).is_dir() else ():
            found.setdefault(path.stem, (path, i < len(dirs) - 1))
    return found


def choices(group: str) -> list[Choice]:
    """Every option of `group`: presets, then registered components without a preset file (and a
    fixed group's schema-only option)."""
    out = {name: Choice(name, path, "config-dir" if user else "", group)
           for name, (path, user) in preset_files(group).items()}
    if group in SCHEMA_OPTION and SCHEMA_OPTION[group] not in out:
        out[SCHEMA_OPTION[group]] = Choice(SCHEMA_OPTION[group], None, "", group)
    table = TABLES.get(group)
    for entry in table.entries() if table is not None else ():
        if entry.name not in out:
            out[entry.name] = Choice(entry.name, None, "" if entry.origin == BUILT_IN else entry.origin, group)
        elif entry.origin != BUILT_IN and not out[entry.name].origin:
            out[entry.name] = Choice(entry.name, out[entry.name].file, entry.origin, group)
    return [out[n] for n in sorted(out)]


def description(choice: Choice) -> str:
    """What `dlx list` shows: the registered component's summary (or its schema's docstring); for a
    preset of another name (`regularizer=l2`, a user's `model=tiny-wide`), its first comment line."""
    table = TABLES.get(choice.group)
    if table is not None and choice.name in table:
        entry = table.get(choice.name)
        summary = entry.meta.get("summary") or _first_line(entry.schema.__doc__)
        if summary:
            return summary
    if choice.file is not None:
        lines = choice.file.read_text(encoding="utf-8").lstrip().splitlines()
        return lines[0][1:].strip() if lines and lines[0].startswith("#") else ""
    return _first_line(fixed_schema(choice.group).__doc__) if choice.group in FIXED else ""


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n")[0]


# ---------------------------------------------------------------- nodes (schemas loaded)


def fixed_schema(group: str) -> type:
    return {"regularizer": RegularizerConfig, "trainer": TrainerConfig}[group]


def component_schema(group: str, name: str) -> type:
    """The schema of component `name` in `group` (a registry table, or the group's fixed one)."""
    if group in FIXED:
        return fixed_schema(group)
    return TABLES[group].get(name).schema


def defaults(schema: type) -> dict:
    """The schema's defaults as plain data (nested dataclasses as dicts)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.structured(schema))


def node(group: str, choice: Choice) -> dict:
    """The config of one option: schema defaults, the preset's keys on top, `name` first."""
    from omegaconf import OmegaConf

    preset = read_preset(choice.file) if choice.file is not None else {}
    component = str(preset.get("name", choice.name)) if group not in FIXED else choice.name
    base = defaults(component_schema(group, component))
    merged = OmegaConf.to_container(OmegaConf.merge(base, preset))
    if "name" in base:
        merged.pop("name", None)
        merged = {"name": component, **merged}
    return merged


def read_preset(path: Path) -> dict:
    """A preset file's keys as plain data; a broken file is one line naming it."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    try:
        loaded = OmegaConf.load(path)
    except (OmegaConfBaseException, YAMLError) as e:
        raise ConfigError(f"preset {path}: not valid yaml ({first_line(e)})") from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"preset {path}: expected keys and values (name: ..., key: value)")
    return OmegaConf.to_container(loaded)


def build_nodes(groups, only: dict | None = None) -> dict[str, dict[str, dict]]:
    """group -> choice -> node, for every option of every group (components loaded), or for the
    options named in `only` (group -> names; a group missing or None there: all of its options)."""
    nodes = {}
    for group in groups:
        nodes[group] = {}
        wanted = (only or {}).get(group)
        for choice in choices(group):
            if wanted is not None and choice.name not in wanted:
                continue
            key = (group, choice, choice.file.stat().st_mtime_ns if choice.file else None,
                   _schema_id(group, choice))
            if key not in _cache:
                try:
                    _cache[key] = node(group, choice)
                except ConfigError as e:
                    if choice.file is None:
                        raise
                    raise ConfigError(f"preset {choice.file}: {e}") from None
            nodes[group][choice.name] = _cache[key]
    return nodes


_cache: dict[tuple, dict] = {}


def _schema_id(group: str, choice: Choice):
    """Which schema a cached node came from (a plugin re-registering a name gets a fresh node)."""
    table = TABLES.get(group)
    return id(table.get(choice.name).schema) if table is not None and choice.name in table else None


def check_choice(group: str, value) -> None:
    names = [c.name for c in choices(group)]
    if not isinstance(value, str) or value not in names:
        raise unknown(group, str(value), names)


def schema_for(group: str, node) -> type:
    """The schema a composed group node is checked against: its `name`'s (or the fixed group's)."""
    if group in FIXED:
        return fixed_schema(group)
    name = node.get("name") if hasattr(node, "get") else None
    if name is None:
        raise ConfigError(f"{group} has no 'name'; choose one with {group}=<{'|'.join(TABLES[group].names())}>")
    return component_schema(group, str(name))


def default_choices() -> dict[str, str]:
    """group -> its choice in the defaults list of conf/config.yaml (read as text: no imports)."""
    text = (conf_dir() / "config.yaml").read_text(encoding="utf-8")
    return dict(re.findall(r"^\s*-\s*(\w+)\s*:\s*([\w.-]+)", text, flags=re.M))
