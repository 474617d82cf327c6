"""Declarative constraints on schema fields, and the one function that checks them.

A schema field declares its range or its choices next to its default, in the style of
scikit-learn's `Interval` / `StrOptions`:

    lr: float = positive(0.01)                        # must be > 0
    dropout: float = interval(0.0, 0, 1, closed="left")  # must be in [0, 1)
    pool: str = choices("max", "max", "avg")          # unknown pool 'sum' ...; choices: avg, max
    hidden: list[int] = positive([256, 128], each=True)

`check(obj)` reads every declared constraint of a schema instance and raises
`InvalidValue(key, message)` with one wording for all of them (`must be > 0, got -1`);
`Checked` runs it first in `__post_init__`, then the schema's own cross-field `validate()`.
Tests read the same declarations (`constrained_fields`, `Constraint.bad_value`), so a new
constrained key is tested the day it is added.

This module is base: it imports nothing of dlx but its errors.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

from dlx.errors import InvalidValue, closest

KEY = "dlx_constraint"  # the dataclass field metadata key holding a Constraint


class Constraint:
    """A check on one value; `problem` says what is wrong (None: fine)."""

    each = False  # a list field: the constraint applies to each element

    def problem(self, value, key: str) -> str | None:
        raise NotImplementedError

    def bad_value(self):
        """A value that breaks the constraint (for tests generated from the declarations)."""
        raise NotImplementedError


def _num(x) -> str:
    """A bound as a person writes it: 1 (not 1.0), 2**32 (not 4294967296)."""
    if isinstance(x, int) and abs(x) >= 2**20 and abs(x) & (abs(x) - 1) == 0:
        return f"{'-' if x < 0 else ''}2**{abs(x).bit_length() - 1}"
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else str(x)


@dataclass(frozen=True)
class Interval(Constraint):
    """low < / <= value < / <= high; None on a side: unbounded; `finite`: inf is refused."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"  # both | left | right | neither
    finite: bool = False
    each: bool = False
    integer: bool = False  # bad_value gives an int (for int fields)

    def holds(self, v) -> bool:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and not (v >= self.low if left else v > self.low):
            return False
        return self.high is None or (v <= self.high if right else v < self.high)

    def wording(self) -> str:
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"in {'[' if left else '('}{_num(self.low)}, {_num(self.high)}{']' if right else ')'}"
        if self.low is not None:
            return f"{'>=' if left else '>'} {_num(self.low)}"
        return f"{'<=' if right else '<'} {_num(self.high)}"

    def problem(self, value, key: str) -> str | None:
        values = list(value) if self.each else [value]
        if all(v is None or self.holds(v) for v in values):
            if self.finite and any(v is not None and math.isinf(v) for v in values):
                return f"must be finite, got {value} (a number beyond 1.8e308)"
            return None
        return f"{'values ' if self.each else ''}must be {self.wording()}, got {value}"

    def bad_value(self):
        if self.low is not None:
            bad = self.low - 1 if self.closed in ("both", "left") else self.low
        else:
            bad = self.high + 1 if self.closed in ("both", "right") else self.high
        bad = int(bad) if self.integer else float(bad)
        return [bad] if self.each else bad


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of strings (or None when `nullable`)."""

    options: tuple = ()
    nullable: bool = False

    def problem(self, value, key: str) -> str | None:
        if value in self.options or (value is None and self.nullable):
            return None
        names = sorted(str(o) for o in self.options) + (["null"] if self.nullable else [])
        hint = closest(str(value), names)
        did_you_mean = f" — did you mean '{hint}'?" if hint else ";"
        return f"unknown {key.split('.')[-1]} '{value}'{did_you_mean} choices: {', '.join(names)}"

    def bad_value(self):
        numbers = [o for o in self.options if isinstance(o, int)]
        return max(numbers) + 1 if numbers else "no_such_choice"


def _field(default, constraint: Constraint):
    """A dataclass field with `default` (a list becomes a default_factory) and its constraint."""
    meta = {KEY: constraint}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def interval(default, low=None, high=None, *, closed: str = "both", each: bool = False, finite: bool = False):
    """`interval(0.0, 0, 1, closed="left")`: the field holds a value in [0, 1), by default 0.0."""
    sample = default[0] if isinstance(default, list) and default else default
    return _field(default, Interval(low, high, closed, finite, each, isinstance(sample, int)
                                    and not isinstance(sample, bool)))


def positive(default, *, each: bool = False, finite: bool = False):
    """The field must be > 0 (each element, for a list)."""
    return interval(default, 0, None, closed="neither", each=each, finite=finite)


def at_least(default, low, *, each: bool = False):
    """The field must be >= `low`."""
    return interval(default, low, None, closed="left", each=each)


def fraction(default, *, closed: str = "left"):
    """The field is a fraction: in [0, 1) by default (`closed="both"`: [0, 1])."""
    return interval(default, 0, 1, closed=closed)


def choices(default, *options, nullable: bool = False):
    """The field is one of `options` (strings), by default `default`."""
    return _field(default, Options(tuple(options), nullable))


def constraint_of(f: dataclasses.Field) -> Constraint | None:
    return f.metadata.get(KEY) if f.metadata else None


def constrained_fields(schema: type, prefix: str = "") -> Iterator[tuple[str, Constraint]]:
    """(dotted key, constraint) of every constrained field of `schema`, nested dataclasses too."""
    for f in dataclasses.fields(schema):
        c = constraint_of(f)
        if c is not None:
            yield prefix + f.name, c
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            yield from constrained_fields(type(default), f"{prefix}{f.name}.")


def check(obj, prefix: str = "") -> None:
    """Raise `InvalidValue` for the first field of `obj` (a schema instance) outside its
    declared range or choices; nested schemas are checked by their own `__post_init__`."""
    for f in dataclasses.fields(obj):
        c = constraint_of(f)
        if c is None:
            continue
        key = prefix + f.name
        message = c.problem(getattr(obj, f.name), key)
        if message:
            raise InvalidValue(key, message)


class Checked:
    """Base of the built-in schemas: the declared constraints are checked first, then the
    schema's own cross-field `validate()` (which may then rely on each value's range)."""

    key_prefix: ClassVar[str] = ""  # a nested schema's keys, e.g. "augment." under data

    def __post_init__(self):
        check(self, self.key_prefix)
        self.validate()

    def validate(self) -> None:
        """Checks across fields (`val_fraction + test_fraction < 1`); override and call super()."""


def default_of(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
