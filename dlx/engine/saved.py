"""A run's saved config.yaml, read one way by every command (resume, eval, predict, plots).

Keys added to the schemas after a run was written are filled with their defaults, so runs from
before transfer learning can still be used and resumed.
"""

from __future__ import annotations

from pathlib import Path

from dlx import plugins
from dlx.errors import ConfigError, first_line

# keys added after some runs were written: filled with their defaults when a saved config lacks them
LATER_KEYS = {"model": {"init_from": None, "freeze": None}, "optim": {"head_lr_mult": 1.0}}


def read_raw(path: Path, then: str = ""):
    """config.yaml (a run folder's, or the file `path`) as written: an OmegaConf DictConfig; one
    line when it cannot be read (`then` adds what it means, e.g. "this run cannot be resumed")."""
    from omegaconf import DictConfig, OmegaConf

    path = Path(path)
    file = path / "config.yaml" if path.is_dir() else path
    then = f"; {then}" if then else ""
    try:
        raw = OmegaConf.load(file)
    except Exception as e:
        raise ConfigError(f"cannot read {file} ({first_line(e)}){then}") from None
    if not isinstance(raw, DictConfig) or len(raw) == 0:
        what = "empty" if len(raw) == 0 else f"damaged (a {type(raw).__name__}, not the run's settings)"
        raise ConfigError(f"the run's {file} is {what}: dlx wrote the whole experiment there; "
                          f"restore it from a copy, or train the run again{then}")
    return raw


def read_experiment(path: Path):
    """A run folder's config.yaml as a validated Experiment, later keys filled with their defaults.
    The plugins the run recorded are loaded first (a file only while its sha256 is the recorded one,
    or when named with --plugin), so a plugin's run is used without repeating --plugin."""
    from omegaconf import OmegaConf

    from dlx import config

    raw = read_raw(path)
    file = Path(path) / "config.yaml" if Path(path).is_dir() else Path(path)
    missing = [group for group in ("model", "data", "trainer") if raw.get(group) is None]
    if missing:
        raise ConfigError(f"the run's {file} is damaged: it has no '{missing[0]}' section; "
                          "restore it from a copy, or train the run again")
    recorded = raw.get("plugins")
    if recorded:
        plugins.load_recorded(OmegaConf.to_container(recorded))
    return config.validate(fill_later_keys(raw))


def fill_later_keys(raw):
    """A run's saved config with the keys added since it was written set to their defaults."""
    from omegaconf import open_dict

    for group, keys in LATER_KEYS.items():
        if raw.get(group) is not None:
            known = schema_keys(group, raw[group].get("name"))  # a plugin's schema may not have them
            with open_dict(raw[group]):
                for key, value in keys.items():
                    if known is None or key in known:
                        raw[group].setdefault(key, value)
    return raw


def schema_keys(group: str, name) -> set | None:
    """The keys of the registered component `name` of `group`; None when it is not known (yet)."""
    from dataclasses import fields

    from dlx.registry import TABLES

    plugins.load()
    table = TABLES.get(group)
    if table is None or name is None or str(name) not in table:
        return None
    schema = table.get(str(name)).schema
    return {f.name for f in fields(schema)} if schema is not None else None
