"""Plots live in labkit.plots; the query layer, SLO maths and cost reports return data only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import labkit.plots

PACKAGE = Path(labkit.plots.__file__).resolve().parents[1]
# Drawing that is its feature's whole point, not a plot of lab data: the Grafana dashboard
# preview (a renderer of dashboard JSON) and the grader's summary PNG (drawn headless, Agg).
OTHER_DRAWERS = {"dashboards/render.py", "grading/report.py"}


def _modules() -> dict[str, ast.Module]:
    return {path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))}


def _imports_matplotlib(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(name.split(".")[0] == "matplotlib" for name in names):
            return True
    return False


def test_every_plot_function_is_in_labkit_plots() -> None:
    """A public plot_* function defined anywhere else would be a second home for plots."""
    elsewhere = [f"{rel}:{node.name}" for rel, tree in _modules().items()
                 if not rel.startswith("plots/")
                 for node in tree.body
                 if isinstance(node, ast.FunctionDef) and node.name.startswith("plot_")]
    assert elsewhere == []
    assert {name for name in labkit.plots.__all__ if name.startswith("plot_")} == set(
        labkit.plots.__all__)


def test_only_labkit_plots_imports_matplotlib() -> None:
    """Outside labkit/plots/, matplotlib is imported only by the declared drawers."""
    importers = {rel for rel, tree in _modules().items() if _imports_matplotlib(tree)}
    assert {rel for rel in importers if not rel.startswith("plots/")} == OTHER_DRAWERS


def test_data_modules_load_without_matplotlib() -> None:
    """Querying, SLO maths and cost reports do not pay for matplotlib."""
    code = ("import sys, labkit, labkit.query.prometheus, labkit.query.loki, labkit.query.jaeger,"
            " labkit.query.traces, labkit.query.alerts, labkit.slo, labkit.cost;"
            " print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]"
