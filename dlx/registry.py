"""Name -> builder tables. Components register themselves next to their code.

    @register_model("mlp", schema=MLPConfig)          # from dlx import register_model
    def build_mlp(cfg: MLPConfig, input_shape, num_outputs): ...

Every table builds by name and never returns None: an unknown name raises a
`ConfigError` that lists the choices and the closest match. Each entry carries a
dataclass schema whose defaults are the component's config (`dlx.config` turns it
into a config node; a yaml file is only a preset on top), and its origin: `built-in`
or the plugin that registered it.

This module imports nothing of dlx but its errors: the components import it, and
`dlx.plugins` decides which of them are loaded (the built-ins the same way as plugins).
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from dlx.errors import ConfigError, unknown

BUILT_IN = "built-in"
_loading: list[str] = []  # the origin of what registers now: `plugin: mymodels.py` while dlx.plugins imports it


@dataclass(frozen=True)
class Entry:
    name: str
    builder: Callable[..., Any]
    schema: type | None
    meta: dict
    origin: str = BUILT_IN


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, schema: type | None = None, **meta) -> Callable:
        """Decorator: register `fn` under `name` (and its schema and metadata)."""

        def decorate(fn: Callable) -> Callable:
            origin = origin_of(fn)
            if name in self._entries:
                first = self._entries[name].origin
                raise ConfigError(f"{self.kind} '{name}' is registered twice: by {first} and by {origin}; "
                                  "rename one of them")
            checked = check_schema(self.kind, name, schema, origin) if schema is not None else None
            self._entries[name] = Entry(name, fn, checked, meta, origin)
            return fn

        return decorate

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise unknown(self.kind, name, self.names()) from None

    def build(self, name: str, *args, **kwargs) -> Any:
        return self.get(name).builder(*args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def unregister(self, name: str) -> None:
        """Forget `name` (tests that register a component for their own duration)."""
        self._entries.pop(name, None)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


MODELS = Registry("model")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("scheduler")
LOSSES = Registry("loss")
DATASETS = Registry("dataset")
TASKS = Registry("task")  # dlx.engine.tasks: what one kind of learning problem trains

# config group -> its table (the groups `regularizer` and `trainer` have one fixed schema each)
TABLES = {"model": MODELS, "optim": OPTIMIZERS, "scheduler": SCHEDULERS, "loss": LOSSES, "data": DATASETS}


@contextmanager
def registering_as(origin: str):
    """What registers inside this block comes from `origin` (`plugin: mymodels.py`)."""
    _loading.append(origin)
    try:
        yield
    finally:
        _loading.pop()


def origin_of(fn: Callable) -> str:
    """`built-in` for dlx's own modules, else the plugin being loaded (or the registering module)."""
    module = getattr(fn, "__module__", None) or ""
    if module == "dlx" or module.startswith("dlx."):
        return BUILT_IN
    if _loading:
        return _loading[-1]
    return f"plugin: {module}" if module else "plugin"


# ---------------------------------------------------------------- schemas a config can hold


SCALARS = (int, float, bool, str)
HELP_TYPES = "int, float, bool, str, Optional[...] or list[...] of these, or a nested dataclass"


def check_schema(kind: str, name: str, schema: type, origin: str) -> type:
    """The schema as dlx uses it: a dataclass whose every field has a default of a type a config
    can hold, with a `name` field (added, defaulting to `name`, when the schema has none)."""
    where = f"{kind} '{name}' ({origin})"
    if not dataclasses.is_dataclass(schema) or not isinstance(schema, type):
        raise ConfigError(f"{where}: schema must be a dataclass class, got {schema!r}")
    for f in dataclasses.fields(schema):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: schema field '{f.name}' has no default; every key of a config "
                              f"needs one, e.g. `{f.name}: {_type_name(f.type)} = ...`")
    _check_types(schema, where)
    if "name" in {f.name for f in dataclasses.fields(schema)}:
        return schema
    named = dataclasses.make_dataclass(schema.__name__, [("name", str, dataclasses.field(default=name))],
                                       bases=(schema,))
    named.__module__, named.__qualname__, named.__doc__ = schema.__module__, schema.__qualname__, schema.__doc__
    return named


def _type_name(t) -> str:
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def _check_types(schema: type, where: str) -> None:
    """OmegaConf must be able to hold every field (it types the config from the schema)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.structured(schema)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or getattr(e, "key", None)
        field = f"field '{key}'" if key else "a field"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"{where}: schema {field} has a type a config cannot hold ({first}); "
                          f"use {HELP_TYPES}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: schema has a field a config cannot hold ({e}); use {HELP_TYPES}") from None


# ---------------------------------------------------------------- the public decorators


def register_model(name: str, schema: type | None = None, **meta) -> Callable:
    """`@register_model("tiny", schema=TinyConfig)` on `build(cfg, input_shape, num_outputs) -> nn.Module`.

    meta: `accepts=("image", "tabular", "sequence")` and `summary="..."` show in `dlx models`."""
    return MODELS.register(name, schema=_required(schema, "model", name), **meta)


def register_dataset(name: str, schema: type | None = None, **meta) -> Callable:
    """`@register_dataset("rings", schema=RingsConfig)` on `build(cfg) -> dlx.data.RawData`.

    The schema subclasses `dlx.data.DataConfig` (the split keys); meta: `task=`, `shape=`,
    `size=`, `download=`, `summary=` show in `dlx data`."""
    from dlx.data.bundle import DataConfig  # imported only when a plugin registers a dataset

    if schema is None or not (isinstance(schema, type) and issubclass(schema, DataConfig)):
        raise ConfigError(f"dataset '{name}': its schema must subclass dlx.data.DataConfig (the split keys "
                          "every dataset has: val_fraction, test_fraction, seed, folds, ...)")
    return DATASETS.register(name, schema=schema, **meta)


def register_loss(name: str, schema: type | None = None, **meta) -> Callable:
    """`@register_loss("focal", schema=FocalConfig, tasks=("multiclass",))` on
    `build(cfg, num_classes, num_targets, label_smoothing) -> dlx.losses.Loss`."""
    return LOSSES.register(name, schema=_required(schema, "loss", name), **meta)


def register_optimizer(name: str, schema: type | None = None, **meta) -> Callable:
    """`@register_optimizer("lion", schema=LionConfig)` on `build(cfg, params) -> torch.optim.Optimizer`."""
    return OPTIMIZERS.register(name, schema=_required(schema, "optimizer", name), **meta)


def register_scheduler(name: str, schema: type | None = None, **meta) -> Callable:
    """`@register_scheduler("poly", schema=PolyConfig)` on the schedule builder (see dlx.optim.schedulers)."""
    return SCHEDULERS.register(name, schema=_required(schema, "scheduler", name), **meta)


def _required(schema, kind: str, name: str):
    if schema is None:  # the schema is the config: without one there is nothing to compose
        @dataclasses.dataclass
        class NoKeys:
            pass

        NoKeys.__qualname__ = NoKeys.__name__ = f"{name}_config"
        return NoKeys
    return schema
