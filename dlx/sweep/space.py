"""A search space from Hydra's sweep grammar, and its optuna distributions.

    optim.lr=0.1,0.01           categorical (a comma list or choice(...))
    trainer.batch_size=range(16,65,16)   integer steps (float steps become a categorical list)
    regularizer.dropout=interval(0,0.5)  continuous
    optim.lr=tag(log,interval(1e-4,1e-1)) log scale (also tag(log,range(1,65)))
    trainer.epochs=5            fixed for every trial

Categorical values are kept as the override text (`[128,128]`, `mlp`, `0.1`), so a trial's
parameters turn back into overrides without guessing at types.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

from dlx.errors import ConfigError

CHOICE, INT, FLOAT = "choice", "int", "float"


@dataclass(frozen=True)
class Dimension:
    """One swept key: `kind` is choice (override texts), int (range) or float (interval)."""

    key: str  # as typed, with any prefix: optim.lr, +foo, model
    kind: str
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: int | None = None
    log: bool = False

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == CHOICE:
            return CategoricalDistribution(list(self.choices))
        if self.kind == INT:
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=self.step or 1)
        return FloatDistribution(self.low, self.high, log=self.log)

    def grid_values(self) -> list:
        if self.kind == CHOICE:
            return list(self.choices)
        if self.kind == INT:
            return list(range(int(self.low), int(self.high) + 1, self.step or 1))
        raise ConfigError(f"{self.key}: interval() is continuous and has no grid; "
                          "use --sampler random or --sampler tpe")

    def override(self, value) -> str:
        return f"{self.key}={value}"

    def probes(self) -> list:
        """The values checked before any trial runs: every choice, or both ends."""
        if self.kind == CHOICE:
            return list(self.choices)
        return [int(self.low), int(self.high)] if self.kind == INT else [self.low, self.high]

    def describe(self) -> str:
        if self.kind == CHOICE:
            return ", ".join(self.choices)
        scale = " (log)" if self.log else ""
        if self.kind == INT:
            return f"{int(self.low)}..{int(self.high)} step {self.step or 1}{scale}"
        return f"[{self.low:g}, {self.high:g}]{scale}"


@dataclass
class SearchSpace:
    """The swept dimensions, in the order typed, and the overrides fixed for every trial."""

    dims: list[Dimension] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dims]

    def is_grid(self) -> bool:
        return all(d.kind in (CHOICE, INT) for d in self.dims)

    def grid(self) -> list[dict]:
        """Every combination, first key slowest, each as {key: value}."""
        values = [d.grid_values() for d in self.dims]
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*values)]

    def overrides(self, params: dict) -> list[str]:
        """The full override list of one trial: fixed ones first, then the swept values."""
        return [*self.fixed, *(d.override(params[d.key]) for d in self.dims)]

    def first(self) -> dict:
        return {d.key: d.probes()[0] for d in self.dims}

    def to_json(self) -> dict:
        return {"fixed": list(self.fixed), "dims": [asdict(d) for d in self.dims]}

    @classmethod
    def from_json(cls, data: dict) -> "SearchSpace":
        dims = [Dimension(**{**d, "choices": tuple(d["choices"])}) for d in data["dims"]]
        return cls(dims=dims, fixed=list(data["fixed"]))


def parse_space(overrides: list[str]) -> SearchSpace:
    """Hydra's parser reads the grammar; each sweep becomes a `Dimension`."""
    from dlx.config import parse_overrides

    space = SearchSpace()
    for o in parse_overrides(list(overrides)):
        if not o.is_sweep_override():
            space.fixed.append(o.input_line)
            continue
        key = o.get_key_element()
        if key in space.keys:
            raise ConfigError(f"'{key}' is swept twice; give each key one sweep")
        space.dims.append(_dimension(key, o))
    if not space.dims:
        raise ConfigError("nothing to sweep: give at least one key several values, e.g. "
                          "optim.lr=0.1,0.01 or optim.lr='tag(log,interval(1e-4,1e-1))'")
    return space


def _dimension(key: str, o) -> Dimension:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    sweep = o.value()
    if not isinstance(sweep, (ChoiceSweep, RangeSweep, IntervalSweep)):  # glob(): group names by pattern
        raise ConfigError(f"{o.input_line}: {type(sweep).__name__.lower()}() is not supported in a sweep; "
                          "list the values, e.g. optim=adam,sgd")
    tags = set(sweep.tags)
    unknown_tags = tags - {"log"}
    if unknown_tags:
        tag = sorted(unknown_tags)[0]
        raise ConfigError(f"{o.input_line}: unknown tag '{tag}'; only tag(log, ...) is understood")
    log = "log" in tags
    if isinstance(sweep, ChoiceSweep):
        if log:
            raise ConfigError(f"{o.input_line}: tag(log, ...) needs interval() or range(), not a list of choices")
        choices = tuple(o.sweep_string_iterator())  # each value as an override writes it
        if len(set(choices)) < len(choices):
            raise ConfigError(f"{o.input_line}: a value is listed twice")
        return Dimension(key, CHOICE, choices=choices)
    if isinstance(sweep, RangeSweep):
        return _range(key, o.input_line, sweep, log)
    if isinstance(sweep, IntervalSweep):
        low, high = float(sweep.start), float(sweep.end)
        if not low < high:
            raise ConfigError(f"{o.input_line}: interval(low, high) needs low < high")
        _check_log(o.input_line, log, low)
        return Dimension(key, FLOAT, low=low, high=high, log=log)


def _range(key: str, line: str, sweep, log: bool) -> Dimension:
    start, stop, step = sweep.start, sweep.stop, sweep.step
    if all(isinstance(v, int) for v in (start, stop, step)):
        values = list(range(start, stop, step))
        if not values or step < 0:
            raise ConfigError(f"{line}: range(start, stop, step) is empty or descending; "
                              "it counts up from start and stops before stop")
        _check_log(line, log, values[0])
        if log and step != 1:
            raise ConfigError(f"{line}: tag(log, range(...)) needs step 1")
        return Dimension(key, INT, low=values[0], high=values[-1], step=step, log=log)
    # float steps: a list of rounded values (0.30000000000000004 helps nobody)
    if log:
        raise ConfigError(f"{line}: tag(log, range(...)) needs integers; use tag(log, interval(...))")
    count = math.ceil((stop - start) / step) if step else 0
    if count <= 0:
        raise ConfigError(f"{line}: range(start, stop, step) is empty")
    choices = tuple(repr(round(start + i * step, 10)) for i in range(count))
    return Dimension(key, CHOICE, choices=choices)


def _check_log(line: str, log: bool, low: float) -> None:
    if log and low <= 0:
        raise ConfigError(f"{line}: tag(log, ...) needs a lower bound above 0, got {low:g}")


def validate_space(space: SearchSpace):
    """Compose and validate every choice and both ends of every range; return the first trial's config.

    Each probe changes one key from the first trial's values, so a bad value names its key.
    """
    first = space.first()
    exp = _load_probe(space, first)
    for dim in space.dims:
        for value in dim.probes()[1:]:
            _load_probe(space, {**first, dim.key: value})
    return exp


def _load_probe(space: SearchSpace, params: dict):
    from dlx import config

    try:
        return config.load(space.overrides(params))
    except ConfigError as e:
        ints = [d.key for d in space.dims if d.kind == FLOAT and "expected an integer" in str(e)]
        if ints:  # Hydra reads interval() bounds as floats
            raise ConfigError(f"{e} — {ints[0]} takes integers: use range(low, high), not interval()") from None
        raise
