"""dlx: a command-line runner for deep-learning experiments in PyTorch, and its Python API.

    import dlx
    run = dlx.train("model=mlp", "data=digits", epochs=3)   # a dlx.Run: nothing printed
    run.predict(x), run.history, dlx.runs(), dlx.load("last")

Plugins register their components with the public decorators:

    from dlx import register_model, register_dataset, register_loss, register_optimizer, register_scheduler

`import dlx` loads no torch: the API functions (dlx/api/) are imported on first use.
"""

from dlx.errors import ConfigError, DataError, DlxError, RunError  # noqa: F401  (what the API raises)
from dlx.registry import (register_dataset, register_loss, register_model, register_optimizer,  # noqa: F401
                          register_scheduler)

import importlib
import types

__version__ = "0.1.0"

API = ("train", "load", "runs", "compare", "Run", "Sweep", "CV")


def __getattr__(name: str):
    # dlx.train & co. live in dlx.api, imported on first use: `import dlx` stays as light as the registry
    if name in API:
        from dlx import api

        return getattr(api, name)
    if name == "sklearn":
        import importlib

        return importlib.import_module("dlx.sklearn")
    raise AttributeError(f"module 'dlx' has no attribute {name!r}")


class Verb(types.ModuleType):
    """A subpackage whose name is also an API function: `dlx.cv(...)` calls `dlx.api.cv(...)`
    while `dlx.cv.driver` stays the package's module. (Python sets `dlx.cv` to the package as soon
    as anything imports it, so a module `__getattr__` alone could not serve `dlx.cv(...)`.)"""

    def __call__(self, *args, **kwargs):
        from dlx import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


for _verb in ("cv", "sweep"):  # both packages' __init__ are docstrings only: importing them costs nothing
    importlib.import_module(f"dlx.{_verb}").__class__ = Verb


def __dir__():
    return sorted([*globals(), *API, "sklearn", "cv", "sweep"])
