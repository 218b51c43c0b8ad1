"""Does a trace show the incident? The trace-id answer's check, on a span frame.

The frame is :func:`labkit.query.jaeger.traces_to_frame`'s (one row per span, ``tags`` a
dict). Only spans of requests that began inside the incident's window count: trace ids come
from the seed, so a trace id also holds the spans of earlier runs of the same seed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from labkit.incident.catalogue import INCIDENTS
from labkit.incident.record import IncidentRecord

__all__ = ["SLOW_MS", "symptom_problem"]

SLOW_MS = 1000.0  # "slow" for the latency incidents: the injected delays are 1.8 s
COST_TOKENS = 150  # a cost-spike request generated at least this many tokens


def _tag(row: pd.Series, key: str) -> Any:
    tags = row["attributes"] if isinstance(row["attributes"], dict) else {}
    return tags.get(key)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def symptom_problem(spans: pd.DataFrame, record: IncidentRecord) -> str | None:
    """None when the trace shows the recorded incident; else what is missing, in a sentence.

    The record answers yes/no questions only (it holds no answer in clear text): each
    category's symptom is tried, and counts only if the record says it is the run's.
    """
    if spans.empty:
        return "Jaeger has no spans for this trace id"
    requests = spans[spans["operation"] == "chat_completion"]
    if requests.empty:
        return "this trace has no chat_completion span: it is not a request to the gateway"
    began = requests["start"].map(lambda t: t.timestamp())
    inside = requests[began.map(record.during).astype(bool)]
    if inside.empty:
        return ("this request was not made during the incident (it began outside the window "
                "the signals show)")
    lo = float(began[inside.index].min()) - 1.0
    trace_spans = spans[spans["trace_id"].isin(inside["trace_id"])]
    window_spans = trace_spans[trace_spans["start"].map(lambda t: t.timestamp()) >= lo]
    cat = next((c for c in INCIDENTS if record.is_("category", c)), None)
    for _, req in inside.iterrows():
        model, user = _tag(req, "model"), _tag(req, "user_id")
        status = _num(_tag(req, "http.response.status_code"))
        children = window_spans[window_spans["parent_id"] == req["span_id"]]
        slowest = {op: children[children["operation"] == op]["duration_ms"].max()
                   for op in ("tokenize", "inference")}
        if cat == "error_burst" and record.is_("model", model) and status >= 500:
            return None
        if cat == "slow_upstream" and record.is_("model", model) and \
                _num(slowest["inference"]) >= SLOW_MS:
            return None
        if cat == "slot_exhaustion" and (_num(_tag(req, "queue_wait_ms")) >= SLOW_MS
                                         or _num(slowest["inference"]) >= SLOW_MS):
            return None
        if cat == "slow_tokenizer" and _num(slowest["tokenize"]) >= SLOW_MS:
            return None
        if cat == "oversized_prompts" and record.is_("user", user) and \
                _tag(req, "error.type") == "context_length_exceeded":
            return None
        if cat == "cost_spike" and record.is_("user", user):
            infer = window_spans[window_spans["operation"] == "inference"]
            tokens = infer["attributes"].map(lambda t: _num(t.get("gen_ai.usage.output_tokens")))
            if (tokens >= COST_TOKENS).any():
                return None
    return "the trace exists but does not show the incident's symptom (look at its spans)"
