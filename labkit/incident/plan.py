"""A seed fixes everything about an incident run: which incident, when, and all the traffic.

Offsets are seconds after the run starts. The same seed always gives the same plan, and
every request carries a trace id drawn from the seed, so a re-run (the grader's) makes the
same requests with the same trace ids at the same offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labkit.incident.catalogue import ALL, CATEGORIES, INCIDENTS, MODELS, USERS

__all__ = ["LONG_PROMPT", "OVERSIZED_PROMPT", "Plan", "PlannedRequest", "plan_incident"]

SHORT_PROMPTS = (
    "Say hello in one short sentence.", "List three primary colors.",
    "What is 17 times 3?", "Write a haiku about monitoring dashboards.",
    "Explain what a histogram is in two sentences.", "What does HTTP status 503 mean?",
)
# About 1100 characters of words the tiny model's tokenizer knows: over the gateway's quick
# byte bound (so it takes the exact /tokenize path), well within the context in tokens.
LONG_PROMPT = (
    "Observability is the ability to understand the internal state of a system from its "
    "outputs. Metrics, logs and traces are the three pillars. A metric is a number measured "
    "over time, such as the request rate, the error ratio, the latency of each request or the "
    "number of tokens the model generated. Prometheus scrapes metrics from each service and "
    "stores them as time series. Logs record events with their context, and traces follow a "
    "request through every service it touches. The language model server reports prompt "
    "tokens, predicted tokens, and the time it spent on each. An alert fires when the error "
    "rate stays above its threshold for five minutes. The gateway in front of the model "
    "counts requests, measures the time to first token and the time per output token, and "
    "limits how many requests run at once while the others wait in a queue. Dashboards show "
    "the rate, errors and duration of the service for the people on call. Summarize this."
)
# Far over the 1024-token context of a slot: refused with context_length_exceeded.
OVERSIZED_PROMPT = " ".join(f"item{i} zq{i * 7} xv{i * 13}"
                            for i in range(700))

RATE = 1.0  # background requests per second (light: the lab runs on 2 cores)
LONG_SHARE = 0.35  # of background requests with the long prompt
LEAD = (20.0, 32.0)  # the incident starts this many seconds into the run
LENGTH = (22.0, 30.0)  # and lasts this long
TAIL = 18.0  # quiet traffic after it ends, so the end is visible
COST_TOKENS = 200  # completion tokens of each request of a cost spike


@dataclass(frozen=True)
class PlannedRequest:
    """One request of the run: when, to which model, from whom, and its trace id."""

    offset_s: float
    model: str
    user: str
    prompt: str
    max_tokens: int
    trace_id: str
    incident: bool = False  # part of the incident's own traffic
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Everything a seed decides."""

    seed: int
    category: str
    model: str  # the affected model, or ALL
    user: str  # the user who causes it, or ALL
    start_s: float
    end_s: float
    duration_s: float  # the whole run
    fault: dict[str, Any]
    requests: tuple[PlannedRequest, ...]


def _trace_id(rng: np.random.Generator) -> str:
    return "".join(f"{int(x):08x}" for x in rng.integers(0, 2**32, size=4, dtype=np.uint64))


def plan_incident(seed: int) -> Plan:
    """The plan of learner ``seed``'s incident run.

    >>> plan_incident(7) == plan_incident(7)
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"the seed must be a non-negative integer (the learner id), got {seed!r}")
    rng = np.random.default_rng([int(seed), 14])
    category = CATEGORIES[int(seed) % len(CATEGORIES)] if seed < len(CATEGORIES) else \
        CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    incident = INCIDENTS[category]
    start = round(float(rng.uniform(*LEAD)), 1)
    end = round(start + float(rng.uniform(*LENGTH)), 1)
    model = MODELS[int(rng.integers(len(MODELS)))] if incident.per_model else ALL
    user = USERS[int(rng.integers(len(USERS)))] if incident.per_user else ALL
    faults: dict[str, dict[str, Any]] = {
        "error_burst": {"upstream": {"model": model, "error_rate": 1.0}},
        "slow_upstream": {"upstream": {"model": model, "latency_ms": 1800.0}},
        "slot_exhaustion": {"gateway": {"hold_slots": 4}},
        "slow_tokenizer": {"upstream": {"tokenize_ms": 1800.0}},
    }
    fault = faults.get(category, {})
    duration = end + TAIL
    requests = []
    t = float(rng.exponential(1 / RATE))
    while t < duration:
        long = rng.random() < LONG_SHARE
        requests.append(PlannedRequest(
            offset_s=round(t, 3), model=MODELS[int(rng.integers(len(MODELS)))],
            user=USERS[int(rng.integers(len(USERS)))],
            prompt=LONG_PROMPT if long else SHORT_PROMPTS[int(rng.integers(len(SHORT_PROMPTS)))],
            max_tokens=int(rng.integers(4, 17)), trace_id=_trace_id(rng)))
        t += float(rng.exponential(1 / RATE))
    if category in ("oversized_prompts", "cost_spike"):
        # The culprit's own traffic through the window: 2 oversized prompts a second, or
        # a long generation every 2 seconds.
        oversized = category == "oversized_prompts"
        t = start
        while t < end:
            requests.append(PlannedRequest(
                offset_s=round(t, 3), model=model, user=user,
                prompt=OVERSIZED_PROMPT if oversized else SHORT_PROMPTS[0],
                max_tokens=64 if oversized else COST_TOKENS, trace_id=_trace_id(rng),
                incident=True))
            t += 0.5 if oversized else 2.0
    requests.sort(key=lambda r: r.offset_s)
    return Plan(seed=int(seed), category=category, model=model, user=user, start_s=start,
                end_s=end, duration_s=duration, fault=fault, requests=tuple(requests))
