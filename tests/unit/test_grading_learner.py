"""The grader reads a submission's learner id as data, and binds its answers to that id."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from labkit.config import LabConfig
from labkit.grading.learner import bind_to_learner, incident_problem, learner_parameters
from labkit.grading.score import Recorded
from labkit.incident import IncidentRecord, plan_incident
from labkit.incident.record import Truth


def notebook(*cells: tuple[str, list[str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


SOURCE = notebook(("LEARNER_ID = 3  # your id\nLOAD_SECONDS = 40", ["parameters"]),
                  ("run = incident.start(LEARNER_ID)", []))


@pytest.mark.parametrize(("cells", "want"), [
    ([("LEARNER_ID = 17", ["parameters"])], 17),
    ([("LEARNER_ID: int = 8\nLOAD_SECONDS = 2", ["parameters"])], 8),
    ([("LEARNER_ID = 5", ["parameters"]), ("LEARNER_ID = 6", ["injected-parameters"])], 6),
    ([("x = 1", []), ("LEARNER_ID = 11", ["parameters"]), ("LEARNER_ID = 12", [])], 11),
], ids=["plain", "annotated", "papermill-injected-wins", "only-the-parameters-cell"])
def test_the_submissions_own_learner_id_is_taken(cells: list, want: int) -> None:
    """LEARNER_ID comes from the submission's parameters cell; the rest stay the grader's."""
    found, note = learner_parameters(notebook(*cells), SOURCE)
    assert found == {"LEARNER_ID": want} and note == ""


@pytest.mark.parametrize("source", [
    "LEARNER_ID = __import__('os').getpid()",   # code: never executed
    "LEARNER_ID = -4", "LEARNER_ID = True", "LEARNER_ID = '12'", "LEARNER_ID = 1.5",
    "LEARNER_ID = (", "",
], ids=["code", "negative", "bool", "text", "float", "syntax-error", "missing"])
def test_an_unreadable_learner_id_falls_back_with_a_note(source: str) -> None:
    """Anything but a non-negative integer literal: the source's default, and a note why."""
    found, note = learner_parameters(notebook((source, ["parameters"])), SOURCE)
    assert found == {"LEARNER_ID": 3}
    assert "LEARNER_ID" in note


def test_a_notebook_without_learner_parameters_gets_none() -> None:
    """Notebooks that do not differ per learner (01-06) are run with the grader's parameters."""
    source = notebook(("LOAD_SECONDS = 40", ["parameters"]))
    assert learner_parameters(notebook(("LEARNER_ID = 4", ["parameters"])), source) == ({}, "")


def test_answers_are_bound_to_the_learner_whatever_seed_they_claim() -> None:
    """A seed answer (incident.answer) names the submission's id; other answers are untouched."""
    answers = {"incident.category": Recorded(True, {"seed": 4, "answer": "cost_spike"}),
               "review.sla": Recorded(True, "C"),
               "incident.fix": Recorded(False, reason="no answer")}
    bound = bind_to_learner(answers, 9)
    assert bound["incident.category"].answer == {"seed": 9, "answer": "cost_spike"}
    assert bound["review.sla"] == answers["review.sla"]
    assert bound["incident.fix"] == answers["incident.fix"]


def _record_of(seed: int, tmp_path: Path, t0: float, **change: object) -> LabConfig:
    plan = plan_incident(seed)
    truth = Truth(**{"category": plan.category, "model": plan.model, "user": plan.user,
                     "start": t0 + plan.start_s + 0.3, "end": t0 + plan.end_s + 0.4, **change})
    config = LabConfig(run_dir=tmp_path)
    IncidentRecord.seal(seed=seed, truth=truth, t0=t0, t1=t0 + plan.duration_s, requests=1,
                        trace_ids=[]).save(config)
    return config


@pytest.mark.parametrize(("change", "t0", "problem"), [
    ({}, 1000.0, None),
    ({}, 500.0, "while it was graded"),  # left over from a run before the grader's
    ({"category": "cost_spike"}, 1000.0, "not the one labkit's run wrote"),
    ({"user": "user_1"}, 1000.0, "not the one labkit's run wrote"),
    ({"start": 1000.0 + 2.0}, 1000.0, "not the one labkit's run wrote"),
], ids=["the-graders-run", "stale", "forged-category", "forged-user", "forged-window"])
def test_the_incident_record_must_be_the_graders_own_run(
        tmp_path: Path, change: dict, t0: float, problem: str | None) -> None:
    """Graded only against a record written during the grader's execution that agrees with
    the seed's plan: a stale or forged one (the kernel can write the run folder) is refused."""
    lab = SimpleNamespace(config=_record_of(4, tmp_path, t0, **change))
    found = incident_problem(4, lab, started=990.0, ended=1200.0)
    assert found is None if problem is None else problem in (found or ""), found


def test_no_incident_run_is_a_problem(tmp_path: Path) -> None:
    """A notebook that never ran its learner's incident gets no incident points."""
    lab = SimpleNamespace(config=LabConfig(run_dir=tmp_path))
    assert "did not run incident 4" in (incident_problem(4, lab, 0.0, 1e12) or "")
