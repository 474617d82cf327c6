"""Loading components: dlx's own modules and the user's plugins, by one path.

A plugin is a Python file or an importable module that registers components with the public
decorators (`from dlx import register_model`). Plugins come from

    dlx --plugin mymodels.py ...          a file or a module name; repeatable
    DLX_PLUGINS=mymodels,other.py         separated by commas or os.pathsep
    the entry-point group `dlx.plugins`   installed packages, found with no flag
    a run's config.yaml (`plugins:`)      resume, workers, show, compare; a file only while its
                                          sha256 is the recorded one, or when named again

Only code the user names this way runs: configs choose components by registry name and
never name import paths. Nothing here runs for `dlx --help`: commands call `load()` when
they need the components.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from dlx import registry
from dlx.errors import ConfigError, DlxError, first_line

GROUP = "dlx.plugins"  # the entry-point group installed packages declare
ENV = "DLX_PLUGINS"
# dlx's own components, loaded exactly as plugins are (origin: built-in)
BUILTINS = ("dlx.models.families", "dlx.data.assemble", "dlx.losses", "dlx.optim.optimizers", "dlx.optim.schedulers")


@dataclass(frozen=True)
class Plugin:
    """One loaded plugin: a file (path + sha256) or a module (name; `entry_point` when installed)."""

    spec: str  # an absolute file path, or a module name
    kind: str  # "file" | "module"
    sha256: str | None = None
    entry_point: str | None = None  # the entry point's name, for an installed package

    @property
    def label(self) -> str:
        if self.kind == "file":
            return Path(self.spec).name
        return f"{self.entry_point} (entry point)" if self.entry_point else self.spec

    @property
    def origin(self) -> str:
        return f"plugin: {self.label}"

    def record(self) -> dict:
        """What config.yaml keeps: `{path, sha256}` for a file, `{module}` for a module."""
        return {"path": self.spec, "sha256": self.sha256} if self.kind == "file" else {"module": self.spec}


_requested: list[str] = []  # `dlx --plugin ...` of this command
_config_dirs: list[str] = []  # `dlx --config-dir ...` of this command
_loaded: dict[str, Plugin] = {}  # spec -> plugin, in load order (a module is imported once per process)
_builtins_loaded = False


def request(specs: list[str] | None, config_dirs: list[str] | None = None) -> None:
    """Remember the root options of this command (`--plugin`, `--config-dir`); load nothing yet."""
    _requested[:] = list(specs or [])
    _config_dirs[:] = [str(Path(d).expanduser().resolve()) for d in (config_dirs or [])]


def requested() -> list[str]:
    """The plugins this command was given with `--plugin` (files as absolute paths), for the
    processes it starts to load too (a data-parallel run's ranks)."""
    return [str(file_path(s.strip())) if _is_file_spec(s.strip()) else s.strip() for s in _requested if s.strip()]


def config_dirs() -> list[str]:
    """The user's own preset folders (`dlx --config-dir`), first wins."""
    for d in _config_dirs:
        if not Path(d).is_dir():
            raise ConfigError(f"--config-dir {d}: no such folder (it holds <group>/<name>.yaml presets)")
    return list(_config_dirs)


def load(builtins: bool = True) -> list[Plugin]:
    """Load dlx's own components (unless `builtins=False`) and every plugin named by `--plugin`,
    `DLX_PLUGINS` or an installed entry point. Idempotent; returns the plugins loaded."""
    from dlx import heap

    with heap.setting_up():  # torch and the components load without garbage collection (dlx/heap.py)
        if builtins:
            load_builtins()
        for spec in [*_requested, *_env_specs()]:
            load_one(spec)
        for ep in _entry_points():
            dist = getattr(ep, "dist", None)
            load_one(ep.value.split(":")[0].strip(), entry_point=getattr(dist, "name", None) or ep.name)
    return loaded()


def may_register() -> bool:
    """Whether `load()` would import a plugin not loaded yet (which may register more names)."""
    specs = [*_requested, *_env_specs()]
    return any(spec.strip() not in _loaded for spec in specs) or bool(_entry_points())


def components_loaded() -> bool:
    """Whether dlx's own components (and with them torch) are imported already."""
    return _builtins_loaded


def load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for module in BUILTINS:
            importlib.import_module(module)
        _builtins_loaded = True


def loaded() -> list[Plugin]:
    return list(_loaded.values())


def load_one(spec: str, entry_point: str | None = None) -> Plugin:
    """Import one plugin (a file path or a module name) unless it is loaded already."""
    spec = spec.strip()
    if _is_file_spec(spec):
        path = file_path(spec)
        if str(path) in _loaded:
            return _loaded[str(path)]
        check_file(spec, path)
        plugin = Plugin(str(path), "file", sha256=file_sha256(path))
        _import(plugin, lambda: _import_file(path))
    else:
        if spec in _loaded:
            return _loaded[spec]
        plugin = Plugin(spec, "module", entry_point=entry_point)
        _import(plugin, lambda: importlib.import_module(spec))
    _loaded[plugin.spec] = plugin
    guard_builders(plugin)
    return plugin


def file_path(spec: str) -> Path:
    """The absolute path a file spec names (`mymodels` beside mymodels.py: that file)."""
    given = Path(spec).expanduser()
    if not spec.endswith(".py") and Path(f"{given}.py").is_file():
        given = Path(f"{given}.py")
    return given.resolve()


def check_file(spec: str, path: Path) -> None:
    """A plugin file must be a regular .py file: say plainly what `spec` is instead."""
    if path.is_dir():
        raise ConfigError(f"plugin '{spec}' is a folder, not a Python file: give a .py file in it (a package: "
                          "its module name, with the folder above it on PYTHONPATH)")
    if not path.exists():
        raise ConfigError(f"plugin '{spec}' not found: no such file (give a .py file or an importable "
                          "module, e.g. dlx --plugin mymodels.py)")
    if not path.is_file():
        raise ConfigError(f"plugin '{spec}' is not a regular file (a device, pipe or socket): give a .py file")
    if path.suffix != ".py":
        raise ConfigError(f"plugin '{spec}' is not a Python file: a plugin file ends in .py "
                          f"(rename it to {path.stem}.py)")


def _is_file_spec(spec: str) -> bool:
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        return True
    # `--plugin mymodels` beside mymodels.py: the `dlx` script does not put the cwd on sys.path;
    # `--plugin notes.txt` beside that file: a file (refused as one), not a module `notes.txt`
    return (Path(f"{spec}.py").is_file() or Path(spec).exists()) and not _importable(spec)


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _import(plugin: Plugin, do_import) -> None:
    try:
        with registry.registering_as(plugin.origin):
            do_import()
    except ConfigError as e:  # a registration the registry refused (twice, bad schema): already one line
        raise ConfigError(f"plugin {plugin.label}: {e}") from e
    except ModuleNotFoundError as e:
        if plugin.kind == "module" and e.name and plugin.spec.startswith(e.name):
            raise ConfigError(f"plugin '{plugin.spec}' not found: no module of that name (install it, put it on "
                              "PYTHONPATH, or give its .py file)") from None
        raise _failed(plugin, e) from e
    except Exception as e:  # the plugin's own bug: its first line here, the traceback with --debug
        raise _failed(plugin, e) from e


def guard_builders(plugin: Plugin) -> None:
    """Wrap the builders `plugin` registered, so that one raising is one line naming the plugin and
    the builder (`--debug` shows the traceback: the user's own bug is theirs to see on request)."""
    import inspect

    for table in registry.TABLES.values():  # not TASKS: a task is a class whose methods dlx calls
        for entry in table.entries():
            if entry.origin != plugin.origin or not inspect.isfunction(entry.builder) \
                    or getattr(entry.builder, "dlx_guarded", False):
                continue
            table.unregister(entry.name)
            with registry.registering_as(plugin.origin):
                table.register(entry.name, schema=entry.schema, **entry.meta)(_guarded(plugin, table.kind, entry))


def _guarded(plugin: Plugin, kind: str, entry):
    import functools

    builder = entry.builder

    @functools.wraps(builder)
    def build(*args, **kwargs):
        try:
            return builder(*args, **kwargs)
        except (DlxError, MemoryError):
            raise  # already one line, or out of memory: not the plugin's bug
        except Exception as e:
            if type(e).__name__ == "OutOfMemoryError":  # torch's: the caller says what to do
                raise
            name = getattr(builder, "__name__", "builder")
            raise ConfigError(f"plugin {plugin.label}: {kind} '{entry.name}' failed in {name}()"
                              f"{_plugin_line(plugin, e)}: {type(e).__name__}: {first_line(e)}".rstrip(": ")
                              + " (--debug shows the traceback)") from e

    build.dlx_guarded = True
    return build


def _failed(plugin: Plugin, e: BaseException) -> ConfigError:
    first = (str(e).strip().splitlines() or [""])[0]
    where = _plugin_line(plugin, e)
    return ConfigError(f"plugin {plugin.label} failed to import{where}: {type(e).__name__}: {first}".rstrip(": ")
                       + " (--debug shows the traceback)")


def _plugin_line(plugin: Plugin, e: BaseException) -> str:
    """`, line 12` of the plugin file where the error was raised, when it was raised there."""
    if plugin.kind != "file":
        return ""
    tb, line = e.__traceback__, None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == Path(plugin.spec):
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(e, SyntaxError) and e.lineno:
        line = e.lineno
    return f" (line {line})" if line else ""


def _import_file(path: Path) -> None:
    import hashlib
    import importlib.util

    name = f"dlx_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _env_specs() -> list[str]:
    text = os.environ.get(ENV, "")
    parts = [p for chunk in text.split(",") for p in chunk.split(os.pathsep)]
    return [p.strip() for p in parts if p.strip()]


def _entry_points():
    """Installed packages' `dlx.plugins` entry points (scanning every distribution costs; once per path)."""
    from importlib.metadata import entry_points

    key = tuple(sys.path)
    if key not in _found:
        _found.clear()
        _found[key] = sorted(entry_points(group=GROUP), key=lambda ep: ep.name)
    return _found[key]


_found: dict[tuple, list] = {}


# ---------------------------------------------------------------- plugins that travel with a run


def records(names: dict[str, str] | None = None) -> list[dict]:
    """config.yaml's `plugins:` for a run: the plugins that registered one of its components
    (`names`: group -> chosen component), or every loaded plugin when `names` is None."""
    if names is None:
        return [p.record() for p in loaded()]
    origins = set()
    for group, name in names.items():
        table = registry.TABLES.get(group)
        if table is not None and name in table:
            origins.add(table.get(name).origin)
    return [p.record() for p in loaded() if p.origin in origins]


def load_recorded(recorded, warn=None) -> None:
    """Load the plugins a run, sweep or CV recorded (config.yaml, sweep.json, cv.json).

    A recorded file runs only when its sha256 is the recorded one, or when the user names it
    (`--plugin FILE`, DLX_PLUGINS): a run folder someone sends must not run code by being
    resumed. Missing or changed: one line (exit 2), and nothing of it has run. A changed file
    the user names is trusted in the processes this one starts too (workers, ranks).
    `warn`: unused (nothing is only warned about any more), kept until the callers drop it.
    """
    named = named_files()
    for item in recorded or []:
        item = dict(item)
        if "module" in item:
            load_one(str(item["module"]))
            continue
        path = Path(str(item.get("path", "")))
        if str(path.resolve()) in _loaded:
            continue
        given = [p for p in named if p == path.resolve()] or [p for p in named if p.name == path.name]
        if given:  # the user names it (perhaps from where it lives now): theirs to trust
            plugin = load_one(str(given[0]))
            if plugin.sha256 != item.get("sha256"):
                _trust(plugin.spec)
            continue
        if not path.is_file():
            raise ConfigError(f"plugin {path} (used by this run) is missing; put it back, or load it from "
                              "elsewhere with dlx --plugin FILE")
        if not item.get("sha256") or file_sha256(path) != item["sha256"]:
            why = "has changed since it was recorded (its sha256 differs)" if item.get("sha256") else \
                "has no recorded sha256 to check it against"
            raise ConfigError(f"plugin {path} {why}, so it was not run; if you trust it as it is now, pass it: "
                              f"dlx --plugin {path} ...")
        load_one(str(path))


TRUST_ENV = "DLX_TRUSTED_PLUGINS"  # changed plugin files the user named: trusted by child processes too


def named_files() -> list[Path]:
    """The plugin files the user names: `--plugin`, DLX_PLUGINS, and those a parent process trusted."""
    inherited = [p for p in os.environ.get(TRUST_ENV, "").split(os.pathsep) if p]
    specs = [s.strip() for s in [*_requested, *_env_specs()] if s.strip() and _is_file_spec(s.strip())]
    return [file_path(s) for s in specs] + [Path(p) for p in inherited]


def _trust(path: str) -> None:
    kept = [p for p in os.environ.get(TRUST_ENV, "").split(os.pathsep) if p]
    if path not in kept:
        os.environ[TRUST_ENV] = os.pathsep.join([*kept, path])
