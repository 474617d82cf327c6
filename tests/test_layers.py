"""The house rules that keep the layers honest (docs/architecture.md, "Layers").

- no import cycle between dlx's modules (top-level and function-level imports both);
- no private name (`_name`) imported or used across modules;
- every module imports on its own in a fresh interpreter (the order a user's command takes);
- `import dlx` and `dlx --help` load no heavy library.

The layer order itself is the import-linter contract in pyproject.toml (`lint-imports`, run by
`make test`); these tests hold what that contract cannot see.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dlx"
HEAVY = ("torch", "hydra", "omegaconf", "pandas", "sklearn", "scipy", "optuna", "matplotlib", "numpy",
         "tensorboard", "networkx")


# ---------------------------------------------------------------- the import graph


@dataclass
class Module:
    name: str  # dlx.engine.trainer; a package is named by its folder (dlx.engine)
    path: Path
    is_package: bool
    imports: dict[str, int] = field(default_factory=dict)  # imported dlx module -> first line
    private: list[tuple[int, str]] = field(default_factory=list)  # (line, dlx.a._b) used from another module


def module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def dlx_modules() -> dict[str, Module]:
    """Every module of dlx, with the dlx modules it imports (see `record_imports`)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name, is_package = module_name(path)
        modules[name] = Module(name, path, is_package)
    for module in modules.values():
        record_imports(module, modules)
    return modules


def is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def walk_runtime(tree: ast.AST):
    """Every node that can run: all of the module, functions included, except `if TYPE_CHECKING:`
    bodies (never executed, so they cannot close a cycle at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def own_packages(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def record_imports(module: Module, modules: dict[str, Module]) -> None:
    """Fill `module.imports` and `module.private`.

    An edge goes to each dlx module an import statement loads: `import dlx.a.b` and
    `from dlx.a.b import c` load dlx.a.b, and c too when c is a submodule; and they run the
    `__init__` of every package on the way (dlx.a) unless that package is one of the importer's
    own (already initialised, or initialising, before the importer's first line runs). So a
    package `__init__` that imports its own submodules is no cycle, but a submodule that imports
    names from its own package's `__init__` (`from dlx.config import X` in dlx/config/compose.py),
    which imports the submodule, is one: that is the partially initialised module of a real error.
    """
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    mine = own_packages(module.name)
    aliases: dict[str, str] = {}  # local name -> the dlx module it is bound to

    def add(target: str, line: int) -> None:
        parts = target.split(".")
        for i in range(2, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in modules and name != module.name and (name == target or name not in mine):
                module.imports.setdefault(name, line)

    for node in walk_runtime(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dlx":
                    add(alias.name, node.lineno)
                    aliases[alias.asname or "dlx"] = alias.name if alias.asname else "dlx"
        elif isinstance(node, ast.ImportFrom):
            base = absolute(module, node)
            if base.split(".")[0] != "dlx":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    add(sub, node.lineno)
                    aliases[alias.asname or alias.name] = sub
                else:
                    add(base, node.lineno)
                    if is_private(alias.name) and base != module.name:
                        module.private.append((node.lineno, f"{base}.{alias.name}"))
    for node in ast.walk(tree):  # `runs._int`, `dlx.store.files._yaml_dump`: a private name of another module
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = dotted(node.value, aliases)
            if owner in modules and owner != module.name:
                module.private.append((node.lineno, f"{owner}.{node.attr}"))


def dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The dlx module an expression names (`runs`, `dlx.store.runs`), or None."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = dotted(node.value, aliases)
        return f"{owner}.{node.attr}" if owner else None
    return None


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in modules[v].imports:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(modules)))
    try:
        for name in sorted(modules):
            if name not in index:
                visit(name)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(found, key=lambda c: (-len(c), c))


def describe(component: list[str], modules: dict[str, Module]) -> str:
    inside = set(component)
    lines = [f"{len(component)} modules import each other: {', '.join(component)}"]
    for name in component:
        module = modules[name]
        for target, line in sorted(module.imports.items()):
            if target in inside:
                lines.append(f"    {module.path.relative_to(ROOT)}:{line} -> {target}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return dlx_modules()


def test_the_graph_sees_what_the_code_imports(modules):
    """The graph builder itself: function-level imports count, submodules are resolved, a package's
    own __init__ is no edge of its submodules, and TYPE_CHECKING blocks are left out."""
    assert "dlx.engine.trainer" in modules and modules["dlx.engine"].is_package
    assert "dlx.registry" in modules["dlx"].imports  # the root package re-exports the decorators
    assert "dlx.log" in modules["dlx.cli"].imports  # an import inside main()
    assert "dlx.cli.train" in modules["dlx.cli"].imports  # `from dlx.cli import train`: a submodule
    assert "dlx.engine" not in modules["dlx.engine.trainer"].imports  # its own package: no edge
    assert "dlx.config" in modules["dlx.store.runs"].imports  # dlx/config/__init__ runs on the way
    assert "dlx.data.bundle" not in modules["dlx.data.splits"].imports  # only under TYPE_CHECKING


def test_no_import_cycle_between_modules(modules):
    found = cycles(modules)
    assert not found, "import cycles (move the shared part down a layer, or the import up):\n" + \
        "\n".join(describe(c, modules) for c in found)


def test_cycle_finder_finds_a_cycle_and_only_one():
    def mod(name, *imports):
        return Module(name, Path(name), False, dict.fromkeys(imports, 1))

    graph = {m.name: m for m in (mod("a", "b"), mod("b", "c"), mod("c", "a"), mod("d", "a"), mod("e"))}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_private_name_crosses_modules(modules):
    used = [f"{m.path.relative_to(ROOT)}:{line}: {name}" for m in modules.values() for line, name in m.private]
    assert not used, "private names used from another module (make them public, or keep them at home):\n" + \
        "\n".join(sorted(used))


# ---------------------------------------------------------------- fresh interpreters


def fresh_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def importable() -> list[str]:
    # dlx.__main__ is the command itself (importing it runs `dlx`): tests/test_fresh_process.py runs it
    return sorted(name for name, _ in map(module_name, PACKAGE.rglob("*.py")) if name != "dlx.__main__")


@pytest.mark.slow
def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    """A cycle bites only in one import order: the suite imports modules in its own order, a user's
    command in another (`dlx generate` failed on every call while the tests passed). Each module
    is the first dlx module of a fresh interpreter here, two interpreters at a time."""
    names = importable()

    def attempt(name: str):
        result = fresh_python(f"import {name}")
        return name, result.returncode, result.stderr.strip().splitlines()[-1:] if result.returncode else []

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [f"{name}: {' '.join(last)}" for name, code, last in pool.map(attempt, names) if code]
    assert not failed, f"{len(failed)} of {len(names)} modules fail to import first:\n" + "\n".join(failed)


def loaded_libraries(code: str) -> set[str]:
    result = fresh_python(code + "\nimport sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.slow
def test_import_dlx_loads_no_heavy_library():
    """`import dlx` (a plugin's `from dlx import register_model`) stays instant."""
    heavy = loaded_libraries("import dlx") & set(HEAVY)
    assert not heavy, f"`import dlx` imports {', '.join(sorted(heavy))}: import them inside the functions that use them"


HELP_CPU_S = 0.15  # the bound for `dlx --help`, held as CPU time (below)


def cpu_seconds(args: list[str]) -> float:
    """User + sys CPU seconds of one fresh `python ARGS`: unlike wall time, barely moved by other
    processes on a busy machine (a test suite on two cores), so a bound on it is not flaky."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_utime + usage.ru_stime


@pytest.mark.slow
def test_dlx_help_is_instant():
    """`dlx --help` ≤ 0.15 s. Wall time on a shared CI machine measures the neighbours; so this holds
    (1) what the help imports: no heavy library at all (the cause of every slow --help so far), and
    (2) its CPU time, the best of three runs (first runs warm the disk cache), under 0.15 s."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "dlx", "--help"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Usage" in result.stdout, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    heavy = imported & set(HEAVY)
    assert not heavy, f"`dlx --help` imports {', '.join(sorted(heavy))}: keep them inside the commands"
    best = min(cpu_seconds(["-m", "dlx", "--help"]) for _ in range(3))
    assert best <= HELP_CPU_S, f"`dlx --help` took {best:.3f} s of CPU (bound {HELP_CPU_S} s)"
