"""Run LogQL for a check: the lines of a log query, the samples of a metric query.

Two queries are the same answer when log queries return the same set of
``(timestamp, line)`` entries over a window, whatever their stream labels, and
metric queries return the same label sets with the same values at an instant
(see :mod:`labkit.exercises.logql_check`).
"""

from __future__ import annotations

import json
from typing import Any

from labkit.errors import QueryError
from labkit.exercises.compare import Key, Samples
from labkit.exercises.core import CheckFailed

__all__ = ["Entries", "Samples", "entries", "line_preview", "samples"]

Entries = set[tuple[int, str]]

# Lines per log query: the whole answer, within real Loki's max_entries_limit_per_query (5000).
LIMIT = 5000
SELECTOR = '{job="llm-api"}'


def _fetch(lab: Any, path: str, params: dict[str, Any], who: str) -> dict[str, Any]:
    try:
        return lab.loki.fetch(path, params)["data"]  # type: ignore[no-any-return]
    except QueryError as exc:
        raise CheckFailed(f"Loki rejected {who}: {exc}") from None


def entries(lab: Any, logql: str, *, start: float, end: float, who: str = "the query"
            ) -> Entries:
    """The ``(ns, line)`` entries a log query returns over ``[start, end)``."""
    data = _fetch(lab, "/loki/api/v1/query_range", {
        "query": logql, "start": str(int(start * 1e9)), "end": str(int(end * 1e9)),
        "limit": LIMIT, "direction": "forward"}, who)
    if data.get("resultType") != "streams":
        raise CheckFailed(f"{who} is a metric query (it returns a {data.get('resultType')}); "
                          "this exercise wants a log query that returns lines")
    values = [(int(ts), line) for s in data["result"] for ts, line in s["values"]]
    found = set(values)
    if len(values) >= LIMIT:
        raise CheckFailed(f"{who} returns {LIMIT} lines or more: narrow it down")
    return found


def _key(metric: dict[str, str]) -> Key:
    # Loki treats an empty label as an absent one.
    return tuple(sorted((k, v) for k, v in metric.items() if v != ""))


def samples(lab: Any, logql: str, *, at: float, who: str = "the query") -> Samples:
    """A metric query's value per label set, evaluated at instant ``at``."""
    data = _fetch(lab, "/loki/api/v1/query", {"query": logql, "time": str(int(at * 1e9))}, who)
    kind = data.get("resultType")
    if kind == "scalar":
        return {(): float(data["result"][1])}
    if kind != "vector":
        raise CheckFailed(f"{who} returns {kind}, not numbers: this exercise wants a metric "
                          "query such as sum(count_over_time({...}[1m]))")
    return {_key(s.get("metric", {})): float(s["value"][1]) for s in data["result"]}


PREVIEW_FIELDS = ("request_id", "user_id", "level", "status", "duration_ms", "error_type",
                  "message")


def line_preview(line: str, width: int = 110) -> str:
    """A JSON line by its telling fields (they all start alike); other text cut to ``width``."""
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and any(k in obj for k in PREVIEW_FIELDS):
        return "{" + ", ".join(f"{k}={obj[k]}" for k in PREVIEW_FIELDS if k in obj) + "}"
    return line if len(line) <= width else line[:width] + "…"
