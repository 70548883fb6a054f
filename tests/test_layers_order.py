"""The library's layer order, read from the import statements of every module in ``core/``.

    utilities (core.errors, core.validation, core.atomic, core.threads, core.memory)
      < core.data < core.nn < core.optim < core.train < core.probe

A module may import its own layer or a lower one, never a higher one; and ``core/`` never imports the
UI (``workbench``, ``textual``, ``plotext``) or the developer tools (``tests``, ``benchmarks``, torch).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"
LAYERS = ("util", "data", "nn", "optim", "train", "probe")
FORBIDDEN = ("workbench", "textual", "plotext", "textual_plotext", "textual_serve", "tests", "benchmarks", "torch")


def layer_of(module: str) -> str:
    """``core.nn.models.decoder`` → ``nn``; top-level modules of ``core`` are utilities."""
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in LAYERS else "util"


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            if node.module == "core":  # ``from core import train`` names a subpackage
                found.extend(f"core.{alias.name}" for alias in node.names)
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(CORE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()  # a package's __init__ belongs to the package's layer
    return ".".join(parts)


MODULES = sorted(CORE.rglob("*.py"))


def test_layer_of_names_the_layers() -> None:
    assert layer_of("core.nn.models.decoder") == "nn"
    assert layer_of("core.train.session") == "train"
    assert layer_of("core.errors") == "util"
    assert layer_of("core.probe") == "probe"


def test_every_core_module_is_in_a_known_layer() -> None:
    assert len(MODULES) > 40
    for path in MODULES:
        rel = path.relative_to(CORE)
        assert len(rel.parts) == 1 or rel.parts[0] in LAYERS, f"{rel} is outside the layers {LAYERS}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_no_module_imports_a_higher_layer_or_the_ui(path: Path) -> None:
    me = module_name(path)
    rank = LAYERS.index(layer_of(me))
    for imported in imports_of(path):
        top = imported.split(".")[0]
        assert top not in FORBIDDEN, f"{me} imports {imported}"
        if top == "core":
            other = layer_of(imported)
            assert LAYERS.index(other) <= rank, f"{me} ({layer_of(me)}) imports {imported} ({other})"


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from core.train.run import Run\nimport textual\n")
    found = imports_of(bad)
    assert "core.train.run" in found and "textual" in found
    assert LAYERS.index(layer_of("core.train.run")) > LAYERS.index(layer_of("core.data.x"))
