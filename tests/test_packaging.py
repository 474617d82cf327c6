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
    assert "*.yaml" in setuptools["package-data"]["*"]
    listed = set(setuptools["packages"])
    groups = {f"dlx.conf.{p.name}" for p in (ROOT / "conf").iterdir() if p.is_dir()}
    assert {"dlx.conf"} | groups <= listed, f"add to packages: {sorted(groups - listed)}"
