"""Notebooks use labkit's public toolkit only, and never decide strictness themselves.

A learner reads the notebooks as examples of how to use labkit: an import of a private name
or of an exercise's internals (``labkit.exercises.sets.*``, the comparison helpers, the
reference answers) would teach them to depend on what may change, and would give solutions
away. Strict checks are the test harness's business (``LABKIT_STRICT_CHECKS``), not a
parameter in the learner's first cell.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9]*.ipynb"))
PUBLIC_EXERCISE_MODULES = {"labkit.exercises"}  # check(), windowed(), the Verdict types


def _code(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def _imports(source: str) -> list[tuple[str, str]]:
    """(module, name) of every import; IPython magics are dropped first."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def _private(module: str, name: str) -> bool:
    if not module.startswith("labkit"):
        return False
    parts = module.split(".")
    if any(p.startswith("_") for p in parts) or name.startswith("_"):
        return True
    return module.startswith("labkit.exercises") and module not in PUBLIC_EXERCISE_MODULES


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_import_only_public_names(notebook: Path) -> None:
    """No private name, no module inside labkit.exercises other than the package itself."""
    private = {f"{m}.{n}" if n else m for src in _code(notebook) for m, n in _imports(src)
               if _private(m, n)}
    assert not private, f"{notebook.name} imports internals: {sorted(private)}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_strictness_is_not_a_notebook_parameter(notebook: Path) -> None:
    """The notebook neither takes STRICT_CHECKS nor sets LABKIT_STRICT_CHECKS."""
    code = "\n".join(_code(notebook))
    assert "STRICT_CHECKS" not in code


def test_the_rule_catches_what_it_should() -> None:
    """The detector itself: internals are caught, the public toolkit is not."""
    source = ("from labkit.exercises.sets.traces import windowed\n"
              "from labkit.exercises.compare_logql import settled_end\n"
              "from labkit.load import _endpoint\n"
              "from labkit import check, wait_for\nfrom labkit.exercises import windowed\n"
              "%matplotlib inline\n")
    flagged = [(m, n) for m, n in _imports(source) if _private(m, n)]
    assert flagged == [("labkit.exercises.sets.traces", "windowed"),
                       ("labkit.exercises.compare_logql", "settled_end"),
                       ("labkit.load", "_endpoint")]
