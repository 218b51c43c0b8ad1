"""The exercises API: verdicts, unanswered answers, strict mode, and student copies."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

from labkit.errors import ConfigError
from labkit.exercises import MIME_TYPE, Outcome, check, evaluate, exercise
from labkit.exercises.core import CheckFailed, with_evidence
from labkit.exercises.release import strip_solutions, strip_source


@exercise("test.double", title="Double three", hint="3 * 2")
def _double(answer: Any, lab: Any) -> Outcome:
    if not isinstance(answer, int):
        raise CheckFailed("answer with an integer")
    return Outcome(answer == 6, f"you said {answer}")


@exercise("test.broken", title="A check that crashes", hint="")
def _broken(answer: Any, lab: Any) -> Outcome:
    raise RuntimeError("boom")


LAB = object()  # these checks never touch the lab


@pytest.mark.parametrize(("answer", "status", "points"), [
    (6, "passed", 1.0), (5, "failed", 0.0), ("six", "failed", 0.0),
    (None, "not attempted", 0.0), (..., "not attempted", 0.0), ("  ", "not attempted", 0.0),
], ids=["right", "wrong", "wrong-type", "none", "ellipsis", "blank"])
def test_verdicts(answer: Any, status: str, points: float) -> None:
    """Each answer gets the status and points a learner would expect."""
    verdict = evaluate("test.double", answer, LAB)
    assert (verdict.status, verdict.points) == (status, points)


def test_a_crashing_check_is_an_error_verdict_not_an_exception() -> None:
    """A check that raises shows an 'error' verdict instead of breaking the notebook."""
    verdict = evaluate("test.broken", 1, LAB)
    assert verdict.status == "error" and "boom" in verdict.detail


def test_verdict_renders_as_text_html_and_json() -> None:
    """A verdict shows a line in a terminal, a coloured box in Jupyter, JSON for graders."""
    verdict = evaluate("test.double", 5, LAB)
    assert repr(verdict).startswith("✘ test.double — failed") and "hint: 3 * 2" in repr(verdict)
    bundle = verdict._repr_mimebundle_()
    assert "FAILED" in bundle["text/html"]
    assert bundle[MIME_TYPE]["answer"] == 5 and bundle[MIME_TYPE]["status"] == "failed"


def test_strict_mode_raises_only_on_failure() -> None:
    """In strict mode a wrong answer raises; an unanswered one never does."""
    with pytest.raises(AssertionError, match=r"test\.double"):
        check("test.double", 5, LAB, strict=True)
    assert check("test.double", None, LAB, strict=True).status == "not attempted"
    assert check("test.double", 5, LAB, strict=False).status == "failed"


def test_strict_mode_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LABKIT_STRICT_CHECKS=1 turns strict mode on for every check."""
    monkeypatch.setenv("LABKIT_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError):
        check("test.double", 4, LAB)


def test_with_evidence_records_what_the_answer_names() -> None:
    """The wrapped check's verdict keeps its result and records the evidence described."""
    seen: list[Any] = []

    def describe(answer: Any, lab: Any) -> dict[str, Any]:
        seen.append(answer)
        return {"ramp": answer["ramp"]}

    @with_evidence(describe)
    def judged(answer: Any, lab: Any) -> Outcome:
        """A check of the answer's value."""
        if answer["value"] < 0:
            raise CheckFailed("a negative rate")
        return Outcome(answer["value"] == 3, "three", {"ignored": True})

    assert judged({"ramp": "r1", "value": 3}, LAB) == Outcome(True, "three", {"ramp": "r1"})
    assert judged({"ramp": "r2", "value": 4}, LAB) == Outcome(False, "three", {"ramp": "r2"})
    with pytest.raises(CheckFailed, match="negative"):
        judged({"ramp": "r3", "value": -1}, LAB)
    assert [a["ramp"] for a in seen] == ["r1", "r2"]  # a refused answer names no evidence
    assert judged.__doc__ == "A check of the answer's value."


def test_a_bad_strict_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """LABKIT_STRICT_CHECKS that is not a boolean says so instead of guessing."""
    monkeypatch.setenv("LABKIT_STRICT_CHECKS", "sometimes")
    with pytest.raises(ConfigError, match="LABKIT_STRICT_CHECKS='sometimes' is not a boolean"):
        check("test.double", 6, LAB)


def test_unknown_exercise_lists_known_ones() -> None:
    """A typo in an exercise id names the ids that exist."""
    with pytest.raises(KeyError, match=r"metrics\.request_rate"):
        evaluate("metrics.reqest_rate", "up", LAB)


def test_strip_source_keeps_names_unanswered() -> None:
    """A solution block becomes one `name = None` line per name it assigns."""
    source = ("x = 1\n# BEGIN SOLUTION\nquery = 'sum(rate(a[1m]))'\nn, m = 1, 2\n"
              "# END SOLUTION\nprint(x)")
    assert strip_source(source) == ("x = 1\nquery = None  # YOUR ANSWER HERE\n"
                                    "n = None  # YOUR ANSWER HERE\nm = None  # YOUR ANSWER HERE\n"
                                    "print(x)")


def test_strip_source_refuses_an_unclosed_block() -> None:
    """A BEGIN without END is an error, not a silently truncated cell."""
    with pytest.raises(ValueError, match="no matching"):
        strip_source("# BEGIN SOLUTION\nx = 1")


def test_strip_solutions_clears_outputs() -> None:
    """Student copies carry no solutions and no outputs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "# BEGIN SOLUTION\nanswer = 42\n# END SOLUTION", outputs=[], execution_count=3)])
    out = strip_solutions(nb)
    assert out.cells[0].source == "answer = None  # YOUR ANSWER HERE"
    assert out.cells[0].execution_count is None
    assert nb.cells[0].source.startswith("# BEGIN"), "the source notebook is left unchanged"
