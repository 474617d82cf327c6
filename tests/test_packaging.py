"""What a non-editable `pip install .` ships: every package, and the config tree."""

import tomllib

from tests.conftest import ROOT


def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_is_listed():
    listed = set(project()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "dlx").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_config_tree_ships_inside_the_wheel():
    setuptools = project()["tool"]["setuptools"]
    assert setuptools["package-dir"]["dlx.conf"] == "conf"
    patterns = setuptools["package-data"]["dlx.conf"]
    files = {p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    from fnmatch import fnmatch

    unshipped = [f for f in files if not any(fnmatch(f, pat) and f.count("/") == pat.count("/") for pat in patterns)]
    assert not unshipped, unshipped
