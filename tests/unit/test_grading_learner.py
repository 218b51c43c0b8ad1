"""The grader reads a submission's learner id as data, and binds its answers to that id."""

from __future__ import annotations

import nbformat
import pytest

from labkit.grading.learner import bind_to_learner, learner_parameters
from labkit.grading.score import Recorded


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
    """LEARNER_ID comes from the submission's parameters cell; other parameters stay the grader's."""
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
