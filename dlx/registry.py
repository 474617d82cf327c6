"""Name -> builder tables. Components register themselves next to their code.

    @MODELS.register("mlp", schema=MLPConfig)
    def build_mlp(cfg: MLPConfig, input_shape, num_outputs): ...

Every table builds by name and never returns None: an unknown name raises a
`ConfigError` that lists the choices and the closest match. Each entry may carry
a dataclass schema, which `dlx.config` uses to check types and values before
any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from dlx.errors import unknown


@dataclass(frozen=True)
class Entry:
    name: str
    builder: Callable[..., Any]
    schema: type | None
    meta: dict


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, schema: type | None = None, **meta) -> Callable:
        """Decorator: register `fn` under `name` (and its schema and metadata)."""

        def decorate(fn: Callable) -> Callable:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = Entry(name, fn, schema, meta)
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


def load_components() -> None:
    """Import every module that registers components (torch is imported here)."""
    import dlx.data.assemble  # noqa: F401  (registers every dataset)
    import dlx.losses  # noqa: F401
    import dlx.models  # noqa: F401
    import dlx.optim.optimizers  # noqa: F401
