"""Review questions on the course's interview topics: multiple choice and short numbers.

Each answer gets its explanation once answered: the whole explanation when right, and why
the chosen option falls short when wrong (so a wrong answer teaches without giving the
right one away). Graded like every other exercise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from labkit.exercises.core import CheckFailed, Outcome, exercise

__all__ = ["QUESTIONS", "Choice", "Numeric"]

EVIDENCE = {"fixture": "review-questions-v1"}  # fixed questions: no live data


@dataclass(frozen=True)
class Choice:
    """A multiple-choice question: options by letter, the right one, and why each is wrong."""

    question: str
    options: dict[str, str]
    correct: str
    explanation: str
    why_not: dict[str, str]

    def judge(self, answer: Any) -> Outcome:
        if not isinstance(answer, str) or answer.strip().upper() not in self.options:
            raise CheckFailed(f"answer with one letter of {', '.join(self.options)}")
        letter = answer.strip().upper()
        if letter == self.correct:
            return Outcome(True, f"{letter}. {self.explanation}", EVIDENCE)
        return Outcome(False, f"{letter} is not it: {self.why_not[letter]}", EVIDENCE)


@dataclass(frozen=True)
class Numeric:
    """A question answered with a number, within a relative tolerance."""

    question: str
    value: float
    explanation: str
    rel_tol: float = 0.01

    def judge(self, answer: Any) -> Outcome:
        if isinstance(answer, bool) or not isinstance(answer, int | float) or math.isnan(answer):
            raise CheckFailed(f"answer with a number, not {answer!r}")
        if math.isclose(float(answer), self.value, rel_tol=self.rel_tol):
            return Outcome(True, f"{answer:g}. {self.explanation}", EVIDENCE)
        return Outcome(False, f"{answer:g} is not it. Work it out step by step from the "
                              "definitions in the question.", EVIDENCE)


QUESTIONS: dict[str, tuple[str, Choice | Numeric]] = {
    "review.pillars": ("Three pillars: where one slow request spent its time", Choice(
        "A user reports that one request took 9 s. Which signal shows where that request "
        "spent its time?",
        {"A": "Metrics", "B": "Logs", "C": "Traces", "D": "Alerts"}, "C",
        "A trace follows that one request through every service; its spans show the time "
        "spent in each step (queue, tokenize, inference).",
        {"A": "metrics aggregate many requests: they show that p95 rose, not where one "
              "request's time went",
         "B": "a log line says the request took 9 s (and has its trace id), not how the 9 s "
              "split between steps",
         "D": "an alert says that something crossed a threshold, nothing about one request"})),
    "review.sla": ("SLI, SLO or SLA", Choice(
        "\"If fewer than 99.5 % of requests succeed in a month, the customer gets a 10 % "
        "credit.\" What is this?",
        {"A": "An SLI", "B": "An SLO", "C": "An SLA", "D": "An error budget"}, "C",
        "A contract with a consequence for the provider is an SLA; it is set looser than the "
        "internal SLO (say 99.9 %) so the team reacts before money is at stake.",
        {"A": "an SLI is the measurement itself (successful / all requests), with no target",
         "B": "an SLO is an internal target; it has no contractual consequence",
         "D": "the error budget is what a target allows to fail, not the agreement"})),
    "review.error_budget": ("Error budget in requests", Numeric(
        "A 99.9 % availability SLO over 30 days, with 12 million requests in the 30 days: how "
        "many requests may fail before the budget is spent?", 12_000,
        "(1 - 0.999) x 12 000 000 = 12 000 failed requests.")),
    "review.burn_rate": ("Burn rate", Numeric(
        "Over the last hour 0.72 % of requests failed; the SLO is 99.9 %. What is the burn "
        "rate?", 7.2,
        "burn rate = error ratio / (1 - target) = 0.0072 / 0.001 = 7.2: the 30-day budget "
        "would be gone in about 4 days.")),
    "review.alert_design": ("Which alert should page at night", Choice(
        "Which of these should wake someone up?",
        {"A": "CPU above 80 % for 5 minutes",
         "B": "The error budget burning 14.4x over both the last hour and the last 5 minutes",
         "C": "Any single request failing with a 500",
         "D": "Disk half full"}, "B",
        "Page on symptoms users feel and that need action now: a fast burn of the error "
        "budget, confirmed by a long and a short window, is both urgent and real.",
        {"A": "high CPU is a cause, not a symptom: users may be fine; a dashboard or ticket",
         "C": "one failure is within any SLO's budget: paging on it trains people to ignore "
              "pages",
         "D": "not urgent: a ticket, or a page only when it will fill within hours"})),
    "review.aggregation": ("Aggregating percentiles", Choice(
        "Four gateway instances each expose llm_request_duration_seconds (a histogram). How "
        "do you get the p95 over all of them?",
        {"A": "avg(histogram_quantile(0.95, rate(...bucket[5m])))",
         "B": "histogram_quantile(0.95, sum by (le) (rate(...bucket[5m])))",
         "C": "max(histogram_quantile(0.95, rate(...bucket[5m])))",
         "D": "histogram_quantile(0.95, rate(sum(...bucket)[5m]))"}, "B",
        "Buckets are counters that add up: sum their rates by le over the instances, then "
        "take one quantile of the combined distribution.",
        {"A": "an average of percentiles is not a percentile: a quiet instance weighs as much "
              "as a busy one",
         "C": "the worst instance's p95 is an upper bound, not the p95 of all requests",
         "D": "rate() of a sum breaks at counter resets (and is not valid PromQL without a "
              "subquery): take rate() first, then sum"})),
    "review.cost": ("A daily token bill", Numeric(
        "1 million requests a day, each with 500 prompt and 200 completion tokens; prompt "
        "tokens cost $0.0005 and completion tokens $0.0015 per 1K. Dollars per day?", 550,
        "1e6 x (0.5 x 0.0005 + 0.2 x 0.0015) = 1e6 x 0.00055 = $550 a day.")),
    "review.cost_optimisation": ("Cost optimisation", Choice(
        "Half of the traffic is the same 200 questions. What cuts cost the most without "
        "hurting answers?",
        {"A": "Cache responses to repeated prompts", "B": "Raise max_tokens",
         "C": "Add replicas", "D": "Log every prompt"}, "A",
        "A cache answers the repeated half without any inference: fewer tokens generated, "
        "lower latency too. Then right-size max_tokens and batch.",
        {"B": "more tokens per answer cost more",
         "C": "replicas add capacity and cost; they do not make a request cheaper",
         "D": "logging costs storage and risks personal data; it saves nothing"})),
}

for _id, (_title, _question) in QUESTIONS.items():
    def _check(answer: Any, lab: Any, q: Choice | Numeric = _question) -> Outcome:
        return q.judge(answer)

    exercise(_id, title=_title, hint=_question.question)(_check)
