"""Review questions and the orientation warm-up: right answers pass with an explanation."""

from __future__ import annotations

import pytest

from labkit.exercises import evaluate
from labkit.exercises.sets.review import QUESTIONS, Choice, Numeric


@pytest.mark.parametrize("qid", list(QUESTIONS))
def test_right_answer_passes_and_explains(qid: str) -> None:
    """The right answer passes and its verdict carries the explanation."""
    question = QUESTIONS[qid][1]
    right = question.correct.lower() if isinstance(question, Choice) else question.value
    verdict = evaluate(qid, right, lab=object())
    assert verdict.status == "passed"
    assert question.explanation in verdict.detail


@pytest.mark.parametrize("qid", list(QUESTIONS))
def test_wrong_answers_fail_with_a_reason(qid: str) -> None:
    """Every other option (or nearby numbers) fails; each gets a reason, not the answer."""
    question = QUESTIONS[qid][1]
    if isinstance(question, Choice):
        wrong: list[object] = [k for k in question.options if k != question.correct]
        wrong += ["Z", "", 2, "traces"]
    else:
        v = question.value
        wrong = [v * 10, v / 10, v * 1.05, -v, 0, 100 - v, "12000", float("nan")]
    assert isinstance(question, Choice | Numeric)
    for value in wrong:
        verdict = evaluate(qid, value, lab=object())
        assert verdict.status in ("failed", "not attempted"), value
        if verdict.status == "failed" and isinstance(question, Choice):
            assert question.options[question.correct] not in verdict.detail
    assert sum(evaluate(qid, v, lab=object()).status == "failed" for v in wrong) >= 5


class FakeGatewayLab:
    gateway_url = "http://gateway.test"


def test_time_compression_warm_up() -> None:
    """300 s / 30 s = 10; the inverse, the raw values and others fail."""
    assert evaluate("orientation.time_compression", 10, lab=object()).status == "passed"
    for wrong in [0.1, 5, 30, 300, 60, "10", True]:
        assert evaluate("orientation.time_compression", wrong, lab=object()).status == "failed"


def test_models_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The list the gateway serves passes in any order; missing, extra or repeated names fail."""
    import httpx

    served = ["labkit-tiny", "labkit-tiny-chat", "labkit-tiny-code"]

    def fake_get(url: str, timeout: float) -> httpx.Response:
        assert url == "http://gateway.test/v1/models"
        return httpx.Response(200, json={"data": [{"id": m} for m in served]})

    monkeypatch.setattr(httpx, "get", fake_get)
    lab = FakeGatewayLab()
    assert evaluate("orientation.models", served, lab).status == "passed"
    assert evaluate("orientation.models", list(reversed(served)), lab).status == "passed"
    for wrong in [served[:1], served[:2], [*served, "gpt-4"], [*served, served[0]], "labkit-tiny",
                  3, [1, 2, 3]]:
        assert evaluate("orientation.models", wrong, lab).status == "failed", wrong
    assert evaluate("orientation.models", [], lab).status == "failed"
