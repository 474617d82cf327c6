"""Plain overrides composed without Hydra: the same DictConfig, without Hydra's start-up.

Importing Hydra (with its ANTLR grammar) and running its compose, which builds and then drops
Hydra's own `hydra:` node, cost ~0.7 s per process: more than the rest of a small run's set-up.
Most command lines hold only `group=choice` and `key=value` with a plain value: a number, a word,
a path, true/false/null, or a flat list of those. For them `compose_direct` builds the config
Hydra would: the defaults list of conf/config.yaml with the chosen options, conf/config.yaml's
own keys after them (`_self_` is last), each value set as Hydra sets it
(`OmegaConf.update(cfg, key, value, merge=True)`), struct mode on at the root.

Anything else (`+key`, `~key`, `${...}`, quotes, spaces, sweeps, an unknown key) returns None,
and the caller goes through Hydra, which also words the errors. Values are read by Hydra's
lexer rules (hydra/grammar/OverrideLexer.g4), restricted to the cases written out here;
tests/test_config_direct.py composes a catalogue both ways and parses values both ways.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_UNSIGNED = r"(?:0|[1-9][0-9]*)"  # Hydra's INT_UNSIGNED, without its `_` separators
_POINT = rf"(?:{_UNSIGNED}\.|{_UNSIGNED}?\.[0-9]+)"
INT = re.compile(rf"[+-]?{_UNSIGNED}")
FLOAT = re.compile(rf"[+-]?(?:{_POINT}|(?:{_UNSIGNED}|{_POINT})[eE][+-]?[0-9]+)")
WORDS = {"true": True, "false": False, "null": None}  # Hydra's BOOL and NULL, any case
# an unquoted string: an ID, or tokens (IDs, digits, `/`, `.`, `-`) whose text Hydra keeps; it starts
# with a letter, `_` or `/` (not a digit, sign or dot: "1_000", "1.5.2", "-x" are left to Hydra)
PLAIN_TEXT = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")


@dataclass(frozen=True)
class Plain:
    """A `key=value` override, with the part of Hydra's `Override` interface dlx reads."""

    key_or_group: str
    input_line: str
    parsed: Any

    def value(self) -> Any:
        return self.parsed

    def is_delete(self) -> bool:
        return False

    def is_add(self) -> bool:
        return False

    def is_force_add(self) -> bool:
        return False

    def is_sweep_override(self) -> bool:
        return False


class _NotPlain(Exception):
    """A value this module does not read: Hydra does."""


def primitive(text: str) -> Any:
    """A value as Hydra's grammar reads it: int, float, bool, None or the text itself."""
    if INT.fullmatch(text):
        return int(text)
    if FLOAT.fullmatch(text):
        return float(text)
    if text.lower() in WORDS:
        return WORDS[text.lower()]
    if not PLAIN_TEXT.fullmatch(text) or text.lower() in ("inf", "nan"):  # inf, nan: Hydra's floats
        raise _NotPlain(text)
    return text


def value(text: str) -> Any:
    """A primitive, or a flat list of them (`[64,32]`, `[ 64, 32 ]`, `[]`)."""
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip(" \t")
        if not inner:
            return []
        return [primitive(item.strip(" \t")) for item in inner.split(",")]
    return primitive(text)


def parse(overrides: list[str]) -> list[Plain] | None:
    """Every override as a `Plain`, or None when any of them is not plain (Hydra parses those)."""
    parsed, seen = [], set()
    for line in overrides:
        key, eq, text = line.partition("=")
        if not eq or not KEY.fullmatch(key) or key in seen or key.split(".")[0] == "hydra":
            return None
        try:
            parsed.append(Plain(key, line, value(text)))
        except _NotPlain:
            return None
        seen.add(key)
    return parsed


def compose_direct(primary: dict, nodes: dict[str, dict[str, dict]], parsed: list[Plain], groups) -> Any:
    """The DictConfig Hydra composes from `primary` (conf/config.yaml as data), the groups' option
    nodes (group -> choice -> node) and `parsed`; None where Hydra must decide (a key the config
    lacks, a group override in a form not handled here)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    defaults = primary.get("defaults", [])
    if not defaults or defaults[-1] != "_self_":
        return None  # conf/config.yaml's own keys come last: otherwise, Hydra's order
    choices = {}
    for entry in defaults[:-1]:
        if not isinstance(entry, dict) or len(entry) != 1:
            return None
        (group, choice), = entry.items()
        choices[group] = choice
    if set(choices) != set(groups):
        return None
    keys = []
    for o in parsed:
        if o.key_or_group in choices:
            if not isinstance(o.value(), str) or o.value() not in nodes.get(o.key_or_group, {}):
                return None
            choices[o.key_or_group] = o.value()
        else:
            keys.append(o)
    data = {group: nodes[group][choice] for group, choice in choices.items()}
    data.update((k, v) for k, v in primary.items() if k != "defaults")
    try:
        cfg = OmegaConf.create(data)
        OmegaConf.set_struct(cfg, True)
        for o in keys:
            OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True)
    except OmegaConfBaseException:
        return None
    return cfg
