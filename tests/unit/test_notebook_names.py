"""Every labkit name a notebook imports exists, so moving code cannot break a notebook unseen.

Executing the notebooks takes minutes and a running lab; importing what they import takes
a second and catches a moved or renamed name (a plot that left the query layer, say).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9]*.ipynb"))


def _labkit_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of each ``from labkit... import name``; (module, "") for ``import``."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        lines = [ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "labkit":
                found += [(node.module or "", alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(a.name, "") for a in node.names if a.name.split(".")[0] == "labkit"]
    return found


def _missing(module: str, name: str) -> bool:
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return True
    if not name or hasattr(loaded, name):
        return False
    try:
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return True
    return False


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_imported_labkit_name_exists(notebook: Path) -> None:
    """Each module a notebook imports from labkit loads and has the names it asks for."""
    imports = _labkit_imports(notebook)
    assert imports, f"{notebook.name} imports nothing from labkit"
    assert [f"{m}.{n}" if n else m for m, n in imports if _missing(m, n)] == []


def test_a_moved_name_is_caught(tmp_path: Path) -> None:
    """A notebook importing a name its module no longer has is reported."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "%matplotlib inline\nfrom labkit.query.jaeger import plot_waterfall, trace_tree\n"
        "import labkit.nonexistent")])
    path = tmp_path / "09-x.ipynb"
    nbformat.write(nb, path)
    imports = _labkit_imports(path)
    assert [(m, n) for m, n in imports if _missing(m, n)] == [
        ("labkit.query.jaeger", "plot_waterfall"), ("labkit.nonexistent", "")]
