"""The package's layers: a module may import its own layer and the ones below, never above.

The folder listing is the architecture (issue 11); this test keeps it true. Imports inside
functions count too: a lazy import of an upper layer is still a dependency on it.
"""
import ast
from pathlib import Path

import pytest_finetune

PACKAGE = Path(pytest_finetune.__file__).parent
# Lowest first. Subpackages on one line share a layer and may import each other.
LAYERS = [
    {"errors", "_io"},
    {"config", "compat"},
    {"hf"},
    {"mrpc", "tasks"},
    {"runs"},
    {"baselines"},
    {"invariants"},
    {"checks"},
    {"report"},
    {"plugin"},
    {"cli", "upgrade", "guard", "__init__", "__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _room(module_path: Path) -> str:
    parts = module_path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_rooms(tree: ast.AST) -> set[str]:
    rooms = set()
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.ImportFrom) and node.level), "the package uses absolute imports"
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pytest_finetune."):
            rooms.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            rooms |= {a.name.split(".")[1] for a in node.names if a.name.startswith("pytest_finetune.")}
    return rooms


def test_every_room_has_a_layer():
    rooms = {_room(p) for p in PACKAGE.rglob("*.py")}
    assert rooms <= set(RANK), f"add these to LAYERS: {sorted(rooms - set(RANK))}"


def test_lower_layers_never_import_upper_ones():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        room = _room(path)
        for imported in _imported_rooms(ast.parse(path.read_text(encoding="utf-8"))):
            if imported in RANK and RANK[imported] > RANK[room]:
                violations.append(f"{path.relative_to(PACKAGE)} imports {imported}")
    assert not violations, "upward imports:\n  " + "\n  ".join(violations)


def test_the_layer_check_can_fail():
    tree = ast.parse("from pytest_finetune.plugin.stash import settings_of\nimport pytest_finetune.report.tables")
    assert _imported_rooms(tree) == {"plugin", "report"}
