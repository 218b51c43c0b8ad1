"""Every lab notebook runs end to end with papermill against the live stack.

With solutions, every check must pass: the harness sets LABKIT_STRICT_CHECKS (inherited by the
kernel), which turns a failed check into an error; the notebooks themselves never set it. The
student copy, solutions stripped, must also run without raising, and its checks must all
report "not attempted". A notebook run twice in a row against the same lab passes both times,
and so does one run on a lab restarted a moment earlier with its data kept.
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


@pytest.fixture
def strict(lab_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The lab, with checks that raise on a failed verdict (the kernel inherits this)."""
    monkeypatch.setenv("LABKIT_STRICT_CHECKS", "1")
    return lab_env


def _verdicts(nb: nbformat.NotebookNode) -> list[dict]:
    return [out["data"][MIME_TYPE] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if MIME_TYPE in out.get("data", {})]


def _run(src: Path, out: Path, params: dict | None = None) -> nbformat.NotebookNode:
    papermill.execute_notebook(str(src), str(out), parameters=params or {},
                               kernel_name="python3", cwd=str(src.parent), progress_bar=False,
                               execution_timeout=300)
    return nbformat.read(out, as_version=4)


def _all_passed(nb: nbformat.NotebookNode, name: str) -> list[dict]:
    verdicts = _verdicts(nb)
    least = MIN_CHECKS.get(Path(name).stem, 5)
    assert len(verdicts) >= least, f"{name} should check at least {least} exercises"
    failing = [v for v in verdicts if v["status"] != "passed"]
    assert not failing, failing
    return verdicts


# Run twice in a row (the second run at once after the first): the notebooks whose waits,
# sums or state a second run is most likely to trip over. 01 waits for a scrape holding its
# own requests, 02 for its own log lines, 05 leaves alerts and silences behind, 06 sums
# counters over its own window, 07 re-runs the same seed (same trace ids) into the same lab.
# The other notebooks' second runs are left to a manual `make notebooks`.
TWICE = {"01-metrics", "02-logs", "05-alerting", "06-slo-and-cost",
         f"07-incident-seed{INCIDENT_SEEDS[0]}"}


@pytest.mark.timeout(1200)  # 07 twice in a row: two incident runs on a busy machine
@pytest.mark.parametrize(("notebook", "params"), SOLVED)
def test_notebook_with_solutions_passes_every_check(notebook: Path, params: dict, strict: Path,
                                                    tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    """Executed with its solutions, the notebook raises nothing and every check passes; the
    notebooks of TWICE run again at once and pass again: the second run's waits and windows
    are its own, not satisfied by the first run's requests nor tripped by what it left."""
    first = _all_passed(_run(notebook, tmp_path / notebook.name, params), notebook.name)
    if request.node.callspec.id in TWICE:
        second = _all_passed(_run(notebook, tmp_path / f"2-{notebook.name}", params),
                             notebook.name)
        assert [v["exercise_id"] for v in first] == [v["exercise_id"] for v in second]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_copy_runs_and_reports_not_attempted(notebook: Path, strict: Path,
                                                     tmp_path: Path) -> None:
    """Without solutions the notebook still runs, and each check says 'not attempted'."""
    student = tmp_path / f"student-{notebook.name}"
    nbformat.write(strip_solutions(nbformat.read(notebook, as_version=4)), student)
    verdicts = _verdicts(_run(student, tmp_path / f"out-{notebook.name}"))
    assert verdicts, "the student copy shows no verdicts"
    assert {v["status"] for v in verdicts} == {"not attempted"}


RESTARTED = NOTEBOOKS[[p.stem for p in NOTEBOOKS].index("01-metrics")]


def test_notebook_runs_on_a_lab_restarted_with_its_data(lab_stack: object, strict: Path,
                                                        tmp_path: Path) -> None:
    """`labkit down` then `up` (data kept: Prometheus still holds the old process's counter
    series within its lookback), then Run All of 01, which waits on scrapes and sums counters:
    every check passes. Last in this file: the lab is restarted under the other tests."""
    lab = lab_stack
    lab.close()  # type: ignore[attr-defined]
    lab.down(progress=lambda _: None)  # type: ignore[attr-defined]
    lab.up(progress=lambda _: None)  # type: ignore[attr-defined]
    assert (strict / "data").is_dir()
    _all_passed(_run(RESTARTED, tmp_path / RESTARTED.name), RESTARTED.name)
