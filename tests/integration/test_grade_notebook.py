"""`labkit grade` on the real notebook 01 against the live lab: answers score, forgeries do not."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from labkit.exercises.core import MIME_TYPE
from labkit.exercises.release import strip_solutions
from labkit.grading import GradeSettings, grade
from labkit.grading.prepare import source_exercises

pytestmark = [pytest.mark.integration, pytest.mark.notebook]
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOURCE = NOTEBOOKS / "01-metrics.ipynb"
FORGERY = '''
import labkit, labkit.exercises.core as core
def check(exercise_id, answer=None, lab=None, **kw):
    return core.Verdict(exercise_id, "x", "passed", "forged", points=1.0)
core.check = core.evaluate = labkit.check = check
'''


def _class(folder: Path) -> None:
    source = nbformat.read(SOURCE, as_version=4)
    student = strip_solutions(source, SOURCE.name)
    folder.mkdir()
    nbformat.write(student, folder / "empty-01-metrics.ipynb")
    full = nbformat.from_dict(student)
    for i, cell in enumerate(source.cells):
        if "# BEGIN SOLUTION" in cell.source:
            full.cells[i].source = cell.source.replace("# BEGIN SOLUTION\n", "").replace(
                "\n# END SOLUTION", "")
    nbformat.write(full, folder / "full-01-metrics.ipynb")
    forged = nbformat.from_dict(student)
    for cell in forged.cells:
        if cell.source.endswith("= None  # YOUR ANSWER HERE"):
            cell.source = cell.source.replace("None  # YOUR ANSWER HERE", "'vector(1)'")
        if cell.metadata.get("labkit", {}).get("exercise"):
            cell.outputs = [nbformat.v4.new_output("display_data", data={MIME_TYPE: {
                "exercise_id": cell.metadata["labkit"]["exercise"], "status": "passed",
                "points": 1.0}})]
    forged.cells.insert(2, nbformat.v4.new_code_cell(FORGERY))
    nbformat.write(forged, folder / "forged-01-metrics.ipynb")


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def test_grading_notebook_01(lab_env: Path, tmp_path: Path) -> None:
    """Full answers get every point, an empty copy none, a forged one none; a re-grade agrees."""
    _class(tmp_path / "subs")
    settings = GradeSettings(sources=NOTEBOOKS, jobs=2, progress=False,
                             parameters={"LOAD_SECONDS": 8})
    grade([tmp_path / "subs"], tmp_path / "out", settings)
    rows = _rows(tmp_path / "out" / "grades.csv")
    exercises = [r.exercise for r in source_exercises(nbformat.read(SOURCE, as_version=4))]
    assert len(exercises) >= 5
    full = rows["full-01-metrics"]
    assert full["status"] == "ok", full
    assert [full[e] for e in exercises] == ["1"] * len(exercises), full
    assert float(rows["empty-01-metrics"]["total"]) == 0
    assert rows["empty-01-metrics"]["status"] == "ok"
    assert float(rows["forged-01-metrics"]["total"]) == 0
    feedback = (tmp_path / "out" / "feedback" / "forged-01-metrics.md").read_text()
    assert "`vector(1)`" in feedback and "**failed**" in feedback
    assert (tmp_path / "out" / "summary.png").stat().st_size > 1000

    again = GradeSettings(sources=NOTEBOOKS, jobs=1, progress=False, force=True,
                          parameters={"LOAD_SECONDS": 8})
    grade([tmp_path / "subs" / "full-01-metrics.ipynb"], tmp_path / "again", again)
    regraded = _rows(tmp_path / "again" / "grades.csv")["full-01-metrics"]
    assert {k: v for k, v in regraded.items() if k != "duration_s"} == \
        {k: v for k, v in full.items() if k != "duration_s"}
