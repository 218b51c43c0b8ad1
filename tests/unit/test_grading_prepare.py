"""The notebook the grader runs: check cells restored from the source, execution tags stripped."""

from __future__ import annotations

import nbformat

from labkit.exercises.release import strip_solutions
from labkit.grading.cells import check_calls
from labkit.grading.prepare import ANSWER_MIME, prepare, source_exercises

v4 = nbformat.v4
NONCE = "n0nce"


def _make_source() -> nbformat.NotebookNode:
    return v4.new_notebook(cells=[
        v4.new_code_cell("N = 1\nSTRICT_CHECKS = False", metadata={"tags": ["parameters"]}),
        v4.new_code_cell("from labkit import check"),
        v4.new_code_cell("# BEGIN SOLUTION\nrate_query = 'sum(rate(x[1m]))'\n# END SOLUTION"),
        v4.new_code_cell('check("demo.rate", rate_query)'),
        v4.new_code_cell("# BEGIN SOLUTION\ncount = 3\n# END SOLUTION"),
        v4.new_code_cell('v = check("demo.count", count)\nv'),
    ])


SOURCE = _make_source()


def _source() -> nbformat.NotebookNode:
    return nbformat.from_dict(SOURCE)


def _student() -> nbformat.NotebookNode:
    return strip_solutions(_source(), "demo.ipynb")


def _recorded(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    return [(i, c.metadata["labkit_grader"]["exercise"]) for i, c in enumerate(nb.cells)
            if c.metadata.get("labkit_grader")]


def test_check_calls_find_the_exercise_and_its_answer_expression() -> None:
    """Both plain and assigned calls count; magics do not stop the parse."""
    source = '%matplotlib inline\nv = check("a.b", my_answer)\ncheck("c.d", answer=x + 1)'
    assert check_calls(source) == [("a.b", "my_answer"), ("c.d", "x + 1")]
    assert check_calls("check(name, x)") == []
    assert source_exercises(_source())[1].expression == "count"


def test_each_check_cell_becomes_a_recording_cell_in_place() -> None:
    """The student's check cells are replaced, in place, by the grader's recording cells."""
    nb = prepare(_student(), _source(), NONCE)
    assert _recorded(nb) == [(3, "demo.rate"), (5, "demo.count")]
    assert "check(" not in nb.cells[3].source
    assert "(rate_query)" in nb.cells[3].source and NONCE in nb.cells[3].source


def test_an_edited_check_cell_is_replaced_by_the_source_one() -> None:
    """A check cell rewritten to pass a constant records the answer variable instead."""
    student = _student()
    student.cells[3].source = 'check("demo.rate", "sum(rate(x[1m]))")'
    nb = prepare(student, _source(), NONCE)
    assert "(rate_query)" in nb.cells[3].source
    assert "sum(rate(x[1m]))" not in "\n".join(c.source for c in nb.cells)


def test_a_deleted_check_cell_comes_back_after_its_answer_cell() -> None:
    """Deleting a check cell does not skip the exercise: it is recorded after the answer cell."""
    student = _student()
    del student.cells[3]
    nb = prepare(student, _source(), NONCE)
    assert _recorded(nb) == [(3, "demo.rate"), (5, "demo.count")]
    assert "rate_query = None" in nb.cells[2].source


def test_execution_changing_tags_and_outputs_are_stripped() -> None:
    """skip-execution, raises-exception and papermill tags go, with every stale output."""
    student = _student()
    student.cells[2].metadata["tags"] = ["skip-execution", "raises-exception", "mine"]
    student.cells[4].metadata["tags"] = ["parameters"]
    student.cells[4].outputs = [v4.new_output("display_data", data={ANSWER_MIME: {}})]
    nb = prepare(student, _source(), NONCE)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags[0] == ["parameters"] and tags.count(["parameters"]) == 1
    assert ["mine"] in tags
    assert not any("skip-execution" in t or "raises-exception" in t for t in tags)
    assert all(c.get("outputs", []) == [] for c in nb.cells)


def test_forged_recording_cells_and_parameters_are_dropped() -> None:
    """A student's own 'recording' cell or parameters cell never runs; the source's does."""
    student = _student()
    student.cells[0].source = "N = 99"
    forged = v4.new_code_cell("print('forged')")
    forged.metadata["labkit_grader"] = {"exercise": "demo.rate", "nonce": NONCE}
    student.cells.insert(1, forged)
    nb = prepare(student, _source(), NONCE)
    assert nb.cells[0].source.startswith("N = 1")
    assert "forged" not in "\n".join(c.source for c in nb.cells)
    assert len({c.id for c in nb.cells}) == len(nb.cells)
