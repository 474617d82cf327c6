"""Name -> builder tables. Components register themselves next to their code.

    @register_model("mlp", schema=MLPConfig)          # from dlx import register_model
    def build_mlp(cfg: MLPConfig, input_shape, num_outputs): ...

Every table builds by name and never returns None: an unknown name raises a
`ConfigError` that lists the choices and the closest match. Each entry carries a
dataclass schema whose defaults are the component's config (`dlx.config` turns it
into a config node; a yaml file is only a preset on top), and its origin: `built-in`
or the plugin that registered it.

The built-in components are declared in their torch-free schema modules with
`TABLE.declare(name, schema, builder="module:attr", **meta)`: the name, schema and
description are known without importing torch; the builder is imported when first used.

This module imports nothing of dlx but its errors: the components import it, and
`dlx.plugins` decides which of them are loaded (the built-ins the same way as plugins).
"""

from __future__ import annotations

import dataclasses
import importlib
from contextlib import contextmanager
from typing import Any, Callable

from dlx.errors import ConfigError, first_line, unknown

BUILT_IN = "built-in"
_loading: list[str] = []  # the origin of what registers now: `plugin: mymodels.py` while dlx.plugins imports it


class Ref(str):
    """`"dlx.models.mlp:build_mlp"`: a builder (or a meta value) imported only when first used,
    so the registry knows every built-in name, schema and description without importing torch."""

    def load(self) -> Any:
        module, _, attr = self.partition(":")
        return getattr(importlib.import_module(module), attr)


class Meta(dict):
    """An entry's metadata; a `Ref` value is imported on first read (baselines' estimators)."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, Ref):
            value = value.load()
            self[key] = value
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default


class Entry:
    """One registered name: its schema, its builder (maybe a `Ref` not imported yet), metadata, origin."""

    def __init__(self, name: str, builder: Callable | Ref, schema: type | None, meta: dict,
                 origin: str = BUILT_IN):
        self.name, self.schema, self.origin = name, schema, origin
        self.meta = Meta(meta)
        self._builder = builder

    @property
    def builder(self) -> Callable[..., Any]:
        if isinstance(self._builder, Ref):
            self._builder = self._builder.load()
        return self._builder

    def bind(self, fn: Callable, meta: dict) -> None:
        """The declared builder's module registers it too (baselines): one entry, its meta added."""
        self._builder = fn
        self.meta.update(meta)

    @property
    def ref(self) -> str:
        """`module:attr` of the builder (declared or registered)."""
        b = self._builder
        return str(b) if isinstance(b, Ref) else f"{getattr(b, '__module__', '')}:{getattr(b, '__name__', '')}"

    def __repr__(self) -> str:
        return f"Entry({self.name!r}, {self.ref!r}, origin={self.origin!r})"


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def declare(self, name: str, schema: type | None, builder: str, **meta) -> None:
        """A built-in component, declared in its torch-free schema module: `builder` is the
        `module:attr` of the function that builds it, imported when first built."""
        if name in self._entries:
            raise ConfigError(f"{self.kind} '{name}' is declared twice; rename one of them")
        # a built-in schema is trusted here (tests check every one): no OmegaConf import at declaration
        self._entries[name] = Entry(name, Ref(builder), schema, meta, BUILT_IN)

    def register(self, name: str, schema: type | None = None, **meta) -> Callable:
        """Decorator: register `fn` under `name` (and its schema and metadata)."""

        def decorate(fn: Callable) -> Callable:
            origin = origin_of(fn)
            known = self._entries.get(name)
            if known is not None and known.origin == BUILT_IN == origin and known.ref == f"{fn.__module__}:{fn.__name__}":
                known.bind(fn, meta)
                return fn
            if known is not None:
                raise ConfigError(f"{self.kind} '{name}' is registered twice: by {known.origin} and by {origin}; "
                                  "rename one of them")
            if schema is None or (origin == BUILT_IN and "name" in getattr(schema, "__dataclass_fields__", {})):
                checked = schema  # dlx's own schemas are trusted here (tests compose every one): no OmegaConf import
            else:
                checked = check_schema(self.kind, name, schema, origin)
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
        raise ConfigError(f"{where}: schema {field} has a type a config cannot hold ({first_line(e)}); "
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
    if not (isinstance(schema, type) and is_data_schema(schema)):
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


def is_data_schema(schema: type) -> bool:
    """Whether `schema` subclasses dlx.data.schemas.DataConfig (read from its classes: the registry
    is base and imports no component)."""
    return any(c.__name__ == "DataConfig" and c.__module__ == "dlx.data.schemas" for c in schema.__mro__)


def _required(schema, kind: str, name: str):
    if schema is None:  # the schema is the config: without one there is nothing to compose
        @dataclasses.dataclass
        class NoKeys:
            pass

        NoKeys.__qualname__ = NoKeys.__name__ = f"{name}_config"
        return NoKeys
    return schema
