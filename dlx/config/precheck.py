"""Cheap checks before any component loads (and with it torch): `name`, and the data group's
keys and files, through the torch-free schemas of `dlx.data.schemas`.

A wrong path or an out-of-range value is answered in a fraction of a second, not after the
imports; everything is checked again, in full, once the components are loaded.
"""

from __future__ import annotations


def check_early(parsed, check_files: bool = True) -> None:
    """Raise the one-line error a mistake in `name` or `data.*` would raise later, now."""
    from dlx.config.validate import check_names

    given = {o.key_or_group: o for o in parsed if not o.is_delete()}
    name = given.get("name")
    if name is not None and not name.is_sweep_override() and "${" not in str(name.value()):
        check_names(name.value(), "outputs")  # an interpolation is checked once resolved
    if any(k == "data" or k.startswith("data.") for k, o in given.items() if o.is_sweep_override()):
        return  # a sweep over the data: each trial checks its own
    node = _data_node(given)
    if node is None:
        return
    schema, node = node
    from dlx.config.validate import to_schema

    checked = to_schema("data", schema, node)
    if check_files:
        checked.check_files()


def _data_node(given):
    """(schema, node) of the chosen built-in dataset with its preset and `data.*` overrides applied;
    None for a dataset only its module knows (a plugin's), or anything this cheap look cannot read."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from dlx.config.compose import conf_dir, default_choices
    from dlx.data import schemas

    choice = str(given["data"].value()) if "data" in given else default_choices().get("data")
    schema = schemas.BUILTIN.get(choice)
    if schema is None:
        return None
    try:
        node = OmegaConf.create(OmegaConf.to_container(OmegaConf.structured(schema)))
        preset = conf_dir() / "data" / f"{choice}.yaml"
        if preset.is_file():
            node = OmegaConf.merge(node, OmegaConf.load(preset))
        for key, o in given.items():
            if key.startswith("data."):
                OmegaConf.update(node, key[len("data."):], o.value(), merge=True, force_add=True)
        OmegaConf.to_container(node, resolve=True)  # a ${...} to another group: left to the full check
    except (OmegaConfBaseException, OSError, ValueError, TypeError):
        return None  # the full check after composition explains it
    return schema, node
