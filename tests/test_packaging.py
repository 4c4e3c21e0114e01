"""What a wheel installs: every package of the source tree, under the import names the code uses."""

from __future__ import annotations

import tomllib

from conftest import ROOT


def test_every_package_is_listed_for_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {name: ROOT / path for name, path in config["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            found.add(".".join((name, *rel.parts)) if rel.parts else name)
    missing = sorted(found - listed)
    assert not missing, f"packages a wheel would leave out (add them to pyproject.toml): {missing}"
