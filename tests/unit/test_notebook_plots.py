"""Notebooks draw time series with labkit.plots or matplotlib, never pandas' time-series plot.

``frame.plot(x="timestamp", ...)`` turns a regular series into period coordinates and an
irregular one into dates; two of them on one axis (``secondary_y=True``) made matplotlib
lay out hundreds of millions of ticks, and notebook 04 hung until papermill's timeout in CI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9]*.ipynb"))


def _pandas_time_plots(source: str) -> list[str]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "plot"):
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        x = keywords.get("x")
        if "secondary_y" in keywords or (isinstance(x, ast.Constant) and x.value == "timestamp"):
            found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_pandas_time_series_plot(notebook: Path) -> None:
    cells = nbformat.read(notebook, as_version=4).cells
    found = [call for cell in cells if cell.cell_type == "code"
             for call in _pandas_time_plots(cell.source)]
    assert not found, f"{notebook.name}: use labkit.plots.plot_series instead of {found}"


def test_the_rule_catches_what_it_should() -> None:
    source = ('ax = cpu.plot(x="timestamp", y="value")\n'
              'tps.plot(y="value", secondary_y=True, ax=ax)\n'
              'ax.plot(frame["timestamp"], frame["value"])\nplot_series(cpu)\n')
    assert len(_pandas_time_plots(source)) == 2
