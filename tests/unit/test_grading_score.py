"""Answers come only from the grader's recording cells; verdicts are recomputed here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

from labkit.exercises.core import MIME_TYPE, Outcome, exercise
from labkit.grading.prepare import ANSWER_MIME, Recording, recording_cell
from labkit.grading.report import Row, write_csv, write_feedback, write_summary_plot
from labkit.grading.score import read_answers, score

v4 = nbformat.v4


@exercise("gradingunit.six", title="Six", hint="2 * 3")
def _six(answer: Any, lab: Any) -> Outcome:
    return Outcome(type(answer) is int and answer == 6, f"you said {answer!r}")


def _recorded_cell(nonce: str, record: dict[str, Any]) -> nbformat.NotebookNode:
    cell = recording_cell(Recording("gradingunit.six", "x"), nonce)
    cell.outputs = [v4.new_output("display_data", data={ANSWER_MIME: record})]
    return cell


def test_the_recorded_answer_is_read_and_scored_here() -> None:
    """An answer recorded with the run's nonce is checked by the grader's own evaluate."""
    nb = v4.new_notebook(cells=[_recorded_cell(
        "abc", {"exercise": "gradingunit.six", "nonce": "abc", "answer": 6})])
    [verdict] = score(read_answers(nb, "abc", ["gradingunit.six"]), lab=object())
    assert verdict.status == "passed" and verdict.points == 1.0


def test_forged_verdicts_and_records_count_for_nothing() -> None:
    """A passing verdict display, a record with a wrong nonce, a look-alike cell: none count."""
    forged_verdict = v4.new_code_cell("", outputs=[v4.new_output("display_data", data={
        MIME_TYPE: {"exercise_id": "gradingunit.six", "status": "passed", "points": 1.0}})])
    wrong_nonce = _recorded_cell("guess", {"exercise": "gradingunit.six", "nonce": "guess",
                                           "answer": 6})
    mismatched = _recorded_cell("abc", {"exercise": "gradingunit.six", "nonce": "other",
                                        "answer": 6})
    nb = v4.new_notebook(cells=[forged_verdict, wrong_nonce, mismatched])
    answers = read_answers(nb, "abc", ["gradingunit.six"])
    assert not answers["gradingunit.six"].answered
    [verdict] = score(answers, lab=object())
    assert verdict.status == "not attempted" and verdict.points == 0
    assert "stopped before" in verdict.detail


def test_a_missing_variable_is_not_attempted_with_the_reason() -> None:
    """A recording that could not read the answer says why in the verdict."""
    nb = v4.new_notebook(cells=[_recorded_cell(
        "abc", {"exercise": "gradingunit.six", "nonce": "abc",
                "missing": "NameError: name 'x' is not defined"})])
    [verdict] = score(read_answers(nb, "abc", ["gradingunit.six"]), lab=object())
    assert verdict.status == "not attempted" and "NameError" in verdict.detail


def test_an_answer_that_was_an_object_arrives_as_its_text() -> None:
    """An object whose == always holds was recorded as its repr: it is just a wrong string."""
    nb = v4.new_notebook(cells=[_recorded_cell(
        "abc", {"exercise": "gradingunit.six", "nonce": "abc", "answer": "<Always object>"})])
    [verdict] = score(read_answers(nb, "abc", ["gradingunit.six"]), lab=object())
    assert verdict.status == "failed"


def _rows() -> list[Row]:
    return [Row("bob/01", "01-metrics.ipynb", "ok", points={"a": 1.0, "b": 0.0},
                max_points={"a": 1.0, "b": 1.0},
                verdicts=[{"exercise_id": "a", "title": "A", "status": "passed", "detail": "ok",
                           "hint": "h", "points": 1.0, "max_points": 1.0, "answer": "q"}]),
            Row("amy/01", "01-metrics.ipynb", "kernel died", "the kernel died in cell 3",
                points={"a": 0.0, "b": 0.0}, max_points={"a": 1.0, "b": 1.0}),
            Row("zed/xx", "", "error", "cannot tell which lab notebook this is")]


def test_grades_csv_has_one_row_per_submission_with_points_and_reason(tmp_path: Path) -> None:
    """Every submission is a row, sorted by id, exercises as columns, the reason at the end."""
    columns = write_csv(_rows(), tmp_path / "grades.csv")
    assert columns == ["id", "notebook", "a", "b", "total", "max_total", "status",
                       "duration_s", "error"]
    lines = (tmp_path / "grades.csv").read_text().splitlines()
    assert lines[1] == "amy/01,01-metrics.ipynb,0,0,0,2,kernel died,0.0,the kernel died in cell 3"
    assert lines[2].startswith("bob/01,01-metrics.ipynb,1,0,1,2,ok")
    assert lines[3] == "zed/xx,,,,0,0,error,0.0,cannot tell which lab notebook this is"


def test_feedback_and_summary_plot_are_written(tmp_path: Path) -> None:
    """The feedback page shows score, run status and each verdict; the plot is a PNG."""
    page = write_feedback(_rows()[0], tmp_path / "fb.md").read_text()
    assert "**Score: 1 / 2**" in page and "verdict: **passed**" in page and "`q`" in page
    png = write_summary_plot(_rows(), tmp_path / "summary.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
