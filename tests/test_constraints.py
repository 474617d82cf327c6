"""Declared ranges and choices (dlx.constraints): one wording, and a bad-input case per constrained
key of every built-in component, generated from the declarations, so a new key is tested the day
it is added: the CLI refuses it with exit 2 and one line naming the key."""

from __future__ import annotations

import dataclasses

import pytest

from dlx.config.presets import FIXED, fixed_schema
from dlx.constraints import Checked, Interval, Options, check, choices, constrained_fields, fraction, positive
from dlx.errors import InvalidValue
from dlx.plugins import load_builtins
from dlx.registry import BUILT_IN, TABLES


@dataclasses.dataclass
class Toy(Checked):
    lr: float = positive(0.1, finite=True)
    dropout: float = fraction(0.0)
    widths: list[int] = positive([4], each=True)
    pool: str = choices("max", "max", "avg")


@pytest.mark.parametrize("change, message", [
    ({"lr": -1}, "lr: must be > 0, got -1"),
    ({"lr": float("inf")}, "lr: must be finite, got inf"),
    ({"dropout": 1.0}, "dropout: must be in [0, 1), got 1.0"),
    ({"widths": [4, 0]}, "widths: values must be > 0, got [4, 0]"),
    ({"pool": "mean"}, "pool: unknown pool 'mean'; choices: avg, max"),
    ({"pool": "maxx"}, "pool: unknown pool 'maxx' — did you mean 'max'? choices: avg, max"),
])
def test_one_function_words_every_declared_constraint(change, message):
    with pytest.raises(InvalidValue) as e:
        Toy(**change)
    assert str(e.value).startswith(message)


def test_values_inside_the_declarations_pass():
    check(Toy(lr=1e-9, dropout=0.99, widths=[1, 2], pool="avg"))


def test_bounds_are_worded_as_people_write_them():
    assert Interval(0, 2**32, "left").wording() == "in [0, 2**32)"
    assert Interval(-2**63, 2**64, "left").wording() == "in [-2**63, 2**64)"
    assert Interval(1, None, "left").wording() == ">= 1"
    assert not Options(("a",)).problem("a", "k") and Options(("a",), nullable=True).problem(None, "k") is None


def _components():
    """(group, choice, schema) of every built-in component, one per distinct schema."""
    load_builtins()
    seen, out = set(), []
    for group, table in TABLES.items():
        for entry in table.entries():
            if entry.origin == BUILT_IN and (group, entry.schema) not in seen:
                seen.add((group, entry.schema))
                out.append((group, entry.name, entry.schema))
    return out + [(group, None, fixed_schema(group)) for group in FIXED]


def _typed(schema: type, key: str, value):
    """The bad value as the field's type holds it (an int field gets an int)."""
    owner, *rest = key.split(".")
    field = {f.name: f for f in dataclasses.fields(schema)}[owner]
    if rest:
        return _typed(type(field.default_factory()), ".".join(rest), value)
    if "int" in str(field.type) and not isinstance(value, str):
        return [int(v) for v in value] if isinstance(value, list) else int(value)
    return value


def _override(value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


CASES = [(group, name, key, _typed(schema, key, c.bad_value()))
         for group, name, schema in _components() for key, c in constrained_fields(schema)]


def test_every_group_has_generated_cases():
    assert {group for group, *_ in CASES} == set(TABLES) | set(FIXED)
    assert len(CASES) > 100


@pytest.mark.parametrize("group, name, key, bad", CASES,
                         ids=[f"{g}={n or g}.{k}" for g, n, k, _ in CASES])
def test_a_value_outside_a_declared_constraint_is_refused_by_the_cli(group, name, key, bad, dlx):
    argv = ["train", "--cfg", *([f"{group}={name}"] if name else []), f"{group}.{key}={_override(bad)}"]
    res = dlx(*argv)
    assert res.code == 2, (argv, res.out[-300:], res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and f"{group}.{key}" in lines[0], (argv, res.err)
