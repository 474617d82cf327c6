from dataclasses import dataclass

import pytest

from dlx.errors import ConfigError
from dlx.plugins import load_builtins as load_components
from dlx.registry import DATASETS, LOSSES, MODELS, OPTIMIZERS, SCHEDULERS, Ref, Registry


@dataclass
class WidgetConfig:
    name: str = "a"
    size: int = 1


def test_register_and_build():
    reg = Registry("widget")

    @reg.register("a", schema=WidgetConfig, colour="red")
    def build_a(x):
        return x * 2

    assert reg.build("a", 21) == 42
    assert reg.get("a").schema is WidgetConfig
    assert reg.get("a").meta == {"colour": "red"}
    assert reg.names() == ["a"]
    assert "a" in reg and "b" not in reg


def test_unknown_name_lists_choices_and_closest():
    reg = Registry("model")
    for name in ("mlp", "cnn", "resnet"):
        reg.register(name)(lambda: None)
    with pytest.raises(ConfigError) as info:
        reg.get("resnett")
    message = str(info.value)
    assert "unknown model 'resnett'" in message
    assert "did you mean 'resnet'" in message
    assert "cnn, mlp, resnet" in message


def test_unknown_name_without_close_match_has_no_guess():
    reg = Registry("model")
    reg.register("mlp")(lambda: None)
    with pytest.raises(ConfigError) as info:
        reg.get("zzzzzz")
    assert "did you mean" not in str(info.value)


def test_a_name_registered_twice_names_both_origins():
    reg = Registry("x")
    reg.register("a")(lambda: None)
    with pytest.raises(ConfigError, match="'a' is registered twice: by plugin: .* and by plugin: "):
        reg.register("a")(lambda: None)


def test_a_schema_without_a_name_field_gets_one():
    @dataclass
    class TinyConfig:
        width: int = 32

    reg = Registry("model")
    reg.register("tiny", schema=TinyConfig)(lambda: None)
    cfg = reg.get("tiny").schema()
    assert cfg.name == "tiny" and cfg.width == 32 and isinstance(cfg, TinyConfig)


def test_built_ins_say_so_and_every_table_names_origins():
    load_components()
    for table in (MODELS, OPTIMIZERS, SCHEDULERS, LOSSES, DATASETS):
        assert all(e.origin == "built-in" for e in table.entries() if e.builder.__module__.startswith("dlx."))


@pytest.mark.parametrize("table", [MODELS, OPTIMIZERS, SCHEDULERS, LOSSES, DATASETS], ids=lambda t: t.kind)
def test_every_component_has_a_schema(table):
    load_components()
    assert table.names(), f"no {table.kind} registered"
    for name in table.names():
        assert table.get(name).schema is not None, f"{table.kind} '{name}' has no schema"


def test_a_declared_builder_is_imported_when_first_built(tmp_path, monkeypatch):
    """The schema modules declare each built-in with its builder's `module:attr`: the name, schema
    and description are known without importing the builder's module (and torch with it)."""
    import sys

    (tmp_path / "lazy_widget.py").write_text("def build(x):\n    return x + 1\n\ndef fit(x):\n    return 'fitted'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget")
    reg.declare("lazy", WidgetConfig, "lazy_widget:build", summary="a lazy widget", fit=Ref("lazy_widget:fit"))
    assert reg.get("lazy").meta["summary"] == "a lazy widget" and "lazy_widget" not in sys.modules
    assert reg.build("lazy", 1) == 2 and reg.get("lazy").meta["fit"](0) == "fitted"
    assert reg.get("lazy").origin == "built-in"
    sys.modules.pop("lazy_widget", None)


def test_every_built_in_is_known_without_torch():
    """Importing the config (which imports the schema modules) declares every built-in component."""
    import subprocess
    import sys

    probe = ("import sys, dlx.config; from dlx.registry import TABLES; "
             "print(sum(len(t.names()) for t in TABLES.values()), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 60 and out[1] == "False"


def test_the_registry_imports_nothing_of_dlx_but_its_errors():
    import ast
    from pathlib import Path

    import dlx.registry

    tree = ast.parse(Path(dlx.registry.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.startswith("dlx")} == {"dlx.errors"}
