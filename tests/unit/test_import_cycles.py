"""No two labkit modules import each other, directly or through others.

A cycle makes import order matter: whichever module Python loads first sees the other half
empty, so a name that exists can raise ``ImportError`` depending on what the user imported
first. The graph is built from each module's source with ``ast``: module-level imports only
(an import inside a function runs when called, after both modules are loaded), and imports
under ``if TYPE_CHECKING:`` are left out (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "labkit"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _top_level_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module loads: its body, and inside if/try at that level."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _top_level_imports(node.body)
            found += _top_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody,
                          *(handler.body for handler in node.handlers)):
                found += _top_level_imports(block)
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             modules: set[str]) -> set[str]:
    """The labkit modules an import statement loads (the submodule when a name is one)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    found = set()
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        if sub in modules:
            found.add(sub)
        elif source in modules:
            found.add(source)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Each labkit module -> the labkit modules it imports at load time."""
    files = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = set().union(*(
            _targets(node, name, is_package, modules) for node in _top_level_imports(tree.body)
        )) - {name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_labkit_has_no_import_cycle() -> None:
    """No group of labkit modules imports itself back at load time."""
    graph = import_graph()
    assert len(graph) > 100, "the graph should cover every labkit module"
    assert find_cycles(graph) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


@pytest.mark.parametrize(("files", "expected"), [
    ({"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "import pkg.a\n"},
     [["pkg.a", "pkg.b"]]),
    ({"__init__.py": "", "a.py": "from .b import x\n", "b.py": "from .c import y\n",
      "c.py": "from pkg.a import z\n"},
     [["pkg.a", "pkg.b", "pkg.c"]]),
    ({"__init__.py": "", "sub/__init__.py": "from . import m\n", "sub/m.py": "from .. import a\n",
      "a.py": "from pkg.sub import m\n"},
     [["pkg.a", "pkg.sub.m"]]),
    ({"__init__.py": "", "a.py": "try:\n    from pkg import b\nexcept ImportError:\n    b = None\n",
      "b.py": "from pkg import a\n"},
     [["pkg.a", "pkg.b"]]),
], ids=["absolute", "relative-three", "parent-relative", "inside-try"])
def test_cycles_are_found(tmp_path: Path, files: dict[str, str],
                          expected: list[list[str]]) -> None:
    """The detector finds cycles whether imports are absolute, relative or guarded."""
    assert find_cycles(import_graph(_write(tmp_path, files))) == expected


@pytest.mark.parametrize("files", [
    {"__init__.py": "", "a.py": "from pkg import b\n",
     "b.py": "def f():\n    from pkg import a\n"},
    {"__init__.py": "", "a.py": "from pkg import b\n",
     "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"},
    {"__init__.py": "", "a.py": "from pkg import b\n",
     "b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import x\n"},
], ids=["function-level", "type-checking", "typing-attribute"])
def test_deferred_imports_are_not_cycles(tmp_path: Path, files: dict[str, str]) -> None:
    """An import inside a function or under TYPE_CHECKING does not run at load time."""
    assert find_cycles(import_graph(_write(tmp_path, files))) == []
