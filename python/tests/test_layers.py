"""The package's layering, read from its source: imports run at import time form no cycle, and no
module reaches into another object's private members (the connection is reached through
``_connection.Connection``)."""

from __future__ import annotations

import ast
from pathlib import Path

import shmcall

PACKAGE = Path(shmcall.__file__).parent


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.glob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _runtime_imports(tree: ast.Module) -> set[str]:
    """The package's modules ``tree`` imports when it runs (``TYPE_CHECKING`` blocks aside)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module)
            else:
                found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_runtime_imports_form_no_cycle():
    graph = {name: _runtime_imports(tree) for name, tree in _modules().items()}
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> None:
        assert name not in path, f"import cycle: {' -> '.join(path + [name])}"
        if name in done:
            return
        for imported in sorted(graph.get(name, ())):
            walk(imported, path + [name])
        done.add(name)

    for name in graph:
        walk(name, [])


def test_no_module_touches_another_objects_private_members():
    """``x._name`` only for ``self``, ``cls`` and modules; ``_client`` (which defines ``Client``)
    may touch a client's own, for ``connect`` and the fork hook."""
    offences = []
    for name, tree in _modules().items():
        if name == "_client":
            continue
        modules = {alias.asname or alias.name for node in ast.walk(tree)
                   if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if not (isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id in modules)):
                    offences.append(f"{name}.py:{node.lineno}: {ast.unparse(node)}")
    assert not offences, "\n".join(offences)
