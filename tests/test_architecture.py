"""docs/architecture.md draws the package layers that import-linter enforces (pyproject.toml): the
picture and the contract must stay the same, so that the document never describes another program."""

from __future__ import annotations

import re
import tomllib

from app.config import PROJECT_ROOT


def _documented_layers() -> list[str]:
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("## Packages and layers", 1)[1].split("```", 2)[1]
    # each line: the layer (modules joined by | or :), then two or more spaces and a comment
    return [re.split(r"\s{2,}", line.strip())[0] for line in block.strip().splitlines()]


def test_the_documented_layers_are_the_enforced_ones():
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [layers] = [c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    assert _documented_layers() == layers


def test_every_package_of_the_app_is_in_a_layer():
    layered = {name.strip() for layer in _documented_layers() for name in re.split(r"[|:]", layer)}
    packages = {f"app.{p.stem}" for p in (PROJECT_ROOT / "app").iterdir()
                if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert packages == layered
