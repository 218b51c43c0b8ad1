"""Exercises, checks and verdicts: the API every notebook uses.

An exercise has an id, a title, a hint and a check. The check takes the
learner's answer and the live lab, and compares *results* (two different
correct queries both pass). ``check(id, answer)`` in a notebook returns a
:class:`Verdict` that renders as a green/red box in Jupyter and a line in a
terminal, and records the answer and the verdict in the cell output so a
grader can read them back (and recompute them in its own process).

    >>> from labkit.exercises import check                          # doctest: +SKIP
    >>> check("metrics.request_rate", "sum(rate(llm_requests_total[1m]))")
    ✔ metrics.request_rate — passed: ...
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from labkit.config import LabConfig

__all__ = [
    "MIME_TYPE",
    "CheckFailed",
    "Exercise",
    "Outcome",
    "Verdict",
    "all_exercises",
    "check",
    "evaluate",
    "exercise",
    "get",
    "is_unanswered",
    "windowed",
    "with_evidence",
]

MIME_TYPE = "application/vnd.labkit.verdict+json"


@dataclass(frozen=True)
class Outcome:
    """What a check found: passed or not, a sentence saying why, and what it looked at.

    ``evaluated_on`` names the evidence: ``{"fixture": "metrics-v1", "live": {"at": ...,
    "window": "1m"}}`` or ``{"observed": {...}}`` for an exercise acting on the live system.
    """

    passed: bool
    detail: str
    evaluated_on: dict[str, Any] = field(default_factory=dict)


class CheckFailed(Exception):
    """Raised by a check helper to fail an answer with a reason the learner can act on."""

    def __init__(self, message: str, evaluated_on: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.evaluated_on = evaluated_on or {}


Check = Callable[[Any, Any], Outcome]


@dataclass(frozen=True)
class Exercise:
    """One checked exercise."""

    id: str
    title: str
    hint: str
    check: Check
    points: float = 1.0


@dataclass
class Verdict:
    """The result of checking one answer: ``passed``, ``failed``, ``not attempted`` or ``error``."""

    exercise_id: str
    title: str
    status: str
    detail: str
    hint: str = ""
    answer: Any = None
    points: float = 0.0
    max_points: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)
    evaluated_on: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["answer"] = _jsonable(self.answer)
        return data

    def __repr__(self) -> str:
        mark = {"passed": "✔", "failed": "✘", "not attempted": "…", "error": "!"}[self.status]
        text = f"{mark} {self.exercise_id} — {self.status}: {self.detail}"
        if self.status != "passed" and self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def _repr_html_(self) -> str:
        colour = {"passed": "#1a7f37", "failed": "#cf222e", "not attempted": "#6e7781",
                  "error": "#9a6700"}[self.status]
        hint = ""
        if self.status != "passed" and self.hint:
            hint = f"<div style='margin-top:4px'><b>Hint:</b> {html.escape(self.hint)}</div>"
        return (
            f"<div style='border-left:6px solid {colour};padding:6px 10px;margin:4px 0;"
            f"background:{colour}14'><b style='color:{colour}'>{html.escape(self.status.upper())}"
            f"</b> &nbsp; <code>{html.escape(self.exercise_id)}</code> — "
            f"{html.escape(self.title)}<div>{html.escape(self.detail)}</div>{hint}</div>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        # The JSON part is what a grader reads back from the executed notebook.
        return {"text/plain": repr(self), "text/html": self._repr_html_(),
                MIME_TYPE: self.to_json()}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


_REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, *, title: str, hint: str, points: float = 1.0
             ) -> Callable[[Check], Check]:
    """Register a check function as an exercise: ``@exercise("metrics.x", title=..., hint=...)``."""

    def wrap(fn: Check) -> Check:
        if id in _REGISTRY:
            raise ValueError(f"exercise {id!r} is registered twice")
        _REGISTRY[id] = Exercise(id=id, title=title, hint=hint, check=fn, points=points)
        return fn

    return wrap


def with_evidence(describe: Callable[[Any, Any], dict[str, Any]]) -> Callable[[Check], Check]:
    """A check decorator: the outcome's ``evaluated_on`` becomes ``describe(answer, lab)``.

    For checks that judge an answer against a saved artefact the answer names (a capacity
    ramp, an incident record): the verdict records which one, whatever the check returned.
    """
    def decorate(check: Check) -> Check:
        @functools.wraps(check)
        def wrapped(answer: Any, lab: Any) -> Outcome:
            outcome = check(answer, lab)
            return dataclasses.replace(outcome, evaluated_on=describe(answer, lab))
        return wrapped
    return decorate


def _load_all() -> None:
    from labkit.exercises import sets  # noqa: F401  (importing registers every exercise)


def get(id: str) -> Exercise:
    _load_all()
    try:
        return _REGISTRY[id]
    except KeyError:
        raise KeyError(f"no exercise {id!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def all_exercises(prefix: str = "") -> list[Exercise]:
    _load_all()
    return [e for k, e in sorted(_REGISTRY.items()) if k.startswith(prefix)]


def is_unanswered(answer: Any) -> bool:
    """None, ``...`` or an empty string mean the learner has not answered yet."""
    return answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip())


def windowed(answer: Any, window: Mapping[str, float]) -> dict[str, Any] | None:
    """The answer with the time window it was computed over (``{"start": s, "end": s}``, unix
    seconds), for checks that recompute it there: ``check(id, windowed(answer, WINDOW))``.
    An unanswered answer stays None."""
    if is_unanswered(answer):
        return None
    return {"answer": answer, "start": float(window["start"]), "end": float(window["end"])}


def evaluate(exercise_id: str, answer: Any, lab: Any = None) -> Verdict:
    """Check an answer and return the verdict; never raises for a wrong or missing answer."""
    ex = get(exercise_id)
    base = dict(exercise_id=ex.id, title=ex.title, hint=ex.hint, answer=answer,
                max_points=ex.points)
    if is_unanswered(answer):
        return Verdict(status="not attempted", detail="no answer yet: fill in the cell above",
                       **base)
    owned = lab is None  # a connection made for this check alone: closed after it
    if lab is None:
        from labkit.lab import connect

        lab = connect()
    try:
        outcome = ex.check(answer, lab)
    except CheckFailed as exc:
        outcome = Outcome(False, str(exc), exc.evaluated_on)
    except Exception as exc:  # a broken answer must not break the notebook
        return Verdict(status="error", detail=f"{type(exc).__name__}: {exc}", **base)
    finally:
        if owned:
            lab.close()
    return Verdict(status="passed" if outcome.passed else "failed", detail=outcome.detail,
                   points=ex.points if outcome.passed else 0.0,
                   evaluated_on=_jsonable(outcome.evaluated_on), **base)


def check(exercise_id: str, answer: Any, lab: Any = None, *, strict: bool | None = None
          ) -> Verdict:
    """Check an answer against the live lab and show the verdict.

    With ``strict`` (default: ``$LABKIT_STRICT_CHECKS``, set by the test harness when it
    runs the notebooks with their solutions, never by the learner's notebook) a failed or
    erroring check raises ``AssertionError`` so the run fails; an unanswered exercise
    never raises. The verdict records what it was evaluated on (``verdict.evaluated_on``).
    """
    verdict = evaluate(exercise_id, answer, lab)
    if strict is None:
        strict = LabConfig.from_env().strict_checks
    if strict and verdict.status in ("failed", "error"):
        raise AssertionError(repr(verdict))
    return verdict
