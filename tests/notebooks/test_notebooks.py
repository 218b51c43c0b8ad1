"""Every lab notebook runs end to end with papermill against the live stack.

With solutions, every check must pass (LABKIT_STRICT_CHECKS turns a failed check
into an error). The student copy, solutions stripped, must also run without
raising, and its checks must all report "not attempted".
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import papermill
import pytest

from labkit.exercises.core import MIME_TYPE
from labkit.exercises.release import strip_solutions

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9]*.ipynb"))
pytestmark = pytest.mark.notebook

# The capstone runs once per learner id: three ids, three different incidents (seeds 0-5 pick
# each category in turn). LABKIT_TEST_INCIDENT_SEEDS="0,1,2,3,4,5" runs them all.
INCIDENT_SEEDS = [int(s) for s in
                  (os.environ.get("LABKIT_TEST_INCIDENT_SEEDS") or "0,4,5").split(",")]
# Notebooks checked with solutions: each notebook, and the capstone once per seed.
SOLVED = [pytest.param(nb, {}, id=nb.stem) for nb in NOTEBOOKS if nb.stem != "07-incident"] + [
    pytest.param(nb, {"LEARNER_ID": seed}, id=f"{nb.stem}-seed{seed}")
    for nb in NOTEBOOKS if nb.stem == "07-incident" for seed in INCIDENT_SEEDS]
MIN_CHECKS = {"00-orientation": 2}  # a short warm-up; every other notebook checks 5 or more


def _verdicts(nb: nbformat.NotebookNode) -> list[dict]:
    return [out["data"][MIME_TYPE] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if MIME_TYPE in out.get("data", {})]


def _run(src: Path, out: Path, params: dict) -> nbformat.NotebookNode:
    papermill.execute_notebook(str(src), str(out), parameters=params, kernel_name="python3",
                               cwd=str(src.parent), progress_bar=False,
                               execution_timeout=300)
    return nbformat.read(out, as_version=4)


@pytest.mark.parametrize(("notebook", "params"), SOLVED)
def test_notebook_with_solutions_passes_every_check(notebook: Path, params: dict,
                                                    lab_env: Path, tmp_path: Path) -> None:
    """Executed with its solutions, the notebook raises nothing and every check passes."""
    nb = _run(notebook, tmp_path / notebook.name, {"STRICT_CHECKS": True, **params})
    verdicts = _verdicts(nb)
    least = MIN_CHECKS.get(notebook.stem, 5)
    assert len(verdicts) >= least, f"{notebook.name} should check at least {least} exercises"
    failing = [v for v in verdicts if v["status"] != "passed"]
    assert not failing, failing


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_copy_runs_and_reports_not_attempted(notebook: Path, lab_env: Path,
                                                     tmp_path: Path) -> None:
    """Without solutions the notebook still runs, and each check says 'not attempted'."""
    student = tmp_path / f"student-{notebook.name}"
    nbformat.write(strip_solutions(nbformat.read(notebook, as_version=4)), student)
    params = {"STRICT_CHECKS": True}
    nb = _run(student, tmp_path / f"out-{notebook.name}", params)
    verdicts = _verdicts(nb)
    assert verdicts, "the student copy shows no verdicts"
    assert {v["status"] for v in verdicts} == {"not attempted"}
