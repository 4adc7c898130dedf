"""The architecture picture at the top of docs/DESIGN.md stays true to the code.

docs/architecture.py draws it from a table of bands and modules; these tests fail when a module
is added to the package without a place in the picture, when the picture names a module that no
longer exists, or when a band imports from a band above it (the picture's one rule).
"""
from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = {"tinygrad_edu_plugins": ROOT / "plugins" / "tinygrad_edu_plugins",
                   "tinygrad_edu_example": ROOT / "plugins" / "example-plugin" / "tinygrad_edu_example",
                   "tinygrad_edu_numba": ROOT / "plugins" / "tinygrad-edu-numba" / "tinygrad_edu_numba"}


def load_picture():
    spec = importlib.util.spec_from_file_location("architecture", ROOT / "docs" / "architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


picture = load_picture()


def package_modules() -> set[str]:
    """tinygrad_edu's public top-level modules and subpackages."""
    names = set()
    for path in (ROOT / "tinygrad_edu").iterdir():
        if path.name.startswith("_"):
            continue
        if path.suffix == ".py":
            names.add(f"tinygrad_edu.{path.stem}")
        elif (path / "__init__.py").exists():
            names.add(f"tinygrad_edu.{path.name}")
    return names


def test_every_package_module_has_a_place_in_the_picture():
    missing = package_modules() - picture.modules()
    assert not missing, f"add these to a band of docs/architecture.py: {sorted(missing)}"


def test_every_module_in_the_picture_exists():
    gone = []
    for name in picture.modules():
        if name in PLUGIN_PACKAGES:
            exists = (PLUGIN_PACKAGES[name] / "__init__.py").exists()
        else:
            relative = Path(*name.split("."))
            exists = (ROOT / relative).with_suffix(".py").exists() or (ROOT / relative / "__init__.py").exists()
        if not exists:
            gone.append(name)
    assert not gone, f"docs/architecture.py names modules that do not exist: {gone}"


def imports_of(module: str) -> set[str]:
    """The tinygrad_edu modules that ``module`` (a file or package) imports, anywhere in it."""
    relative = Path(*module.split("."))
    files = [(ROOT / relative).with_suffix(".py")]
    if (ROOT / relative).is_dir():
        files = list((ROOT / relative).rglob("*.py"))
    found = set()
    for file in files:
        if not file.exists():
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
    return found


def test_the_engine_band_imports_nothing_above_it():
    """The backward engine depends on nothing above it (issue 13): no module of the engine band
    imports a module of a higher band."""
    band_of = {m: row for row, (_, _, boxes) in enumerate(picture.BANDS)
               for _, names in boxes for m in names}
    engine = [m for m, row in band_of.items() if row == 0]
    upward = {m: sorted(d for d in imports_of(m) if band_of.get(d, 0) > 0) for m in engine}
    assert not {m: d for m, d in upward.items() if d}, upward


def test_the_picture_draws(tmp_path):
    pytest.importorskip("matplotlib")
    out = picture.draw(tmp_path / "architecture.png")
    assert out.stat().st_size > 10_000
    assert sys.modules.get("matplotlib") is not None
