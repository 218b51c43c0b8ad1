"""Parse Jaeger's ``/api/traces`` query string and match tags, as Jaeger's query service does."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .goparse import GoParseError, parse_duration, parse_int, parse_tags_json, parse_trace_id

__all__ = [
    "QueryParamError",
    "TraceQuery",
    "canonical_trace_id",
    "parse_go_duration",
    "parse_trace_query",
    "span_matches_tags",
]

DEFAULT_LIMIT = 100  # Jaeger's defaultQueryLimit
DEFAULT_LOOKBACK_US = 2 * 24 * 3600 * 1_000_000  # Jaeger's defaultTraceQueryLookbackDuration

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class TraceQuery:
    """Search parameters, already parsed; times and durations in microseconds."""

    service: str
    start_us: int
    end_us: int
    operation: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    min_duration_us: int = 0
    max_duration_us: int = 0
    limit: int = 100


class QueryParamError(ValueError):
    """A query the real Jaeger refuses; the message (and ``status``) are what it answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_go_duration(text: str) -> int:
    """A Go duration string (``1.2s``, ``500ms``, ``1h30m``) in nanoseconds."""
    try:
        return parse_duration(text)
    except GoParseError as exc:
        raise QueryParamError(str(exc)) from None


def canonical_trace_id(text: str) -> str:
    """A trace id as 32 lowercase hex digits; Jaeger accepts 1 to 32 digits."""
    try:
        return parse_trace_id(text)
    except GoParseError as exc:
        raise QueryParamError(str(exc)) from None


def parse_int64(text: str, name: str, bits: int = 64) -> int:
    """An integer as Go's ``strconv.ParseInt(text, 10, bits)`` reads it, with its errors."""
    try:
        return parse_int(text, bits)
    except GoParseError as exc:
        raise QueryParamError(str(exc)) from None


def _first(params: Mapping[str, Sequence[str]], name: str) -> str:
    return (params.get(name) or [""])[0]


def _time_param(params: Mapping[str, Sequence[str]], name: str) -> int | None:
    """``start``/``end`` in microseconds; Jaeger's 400 names the parameter."""
    text = _first(params, name)
    if text == "":
        return None
    try:
        return parse_int(text)
    except GoParseError as exc:
        raise QueryParamError(f"unable to parse param '{name}': {exc}") from None


def _duration_us(params: Mapping[str, Sequence[str]], name: str) -> int:
    text = _first(params, name)
    if text == "":
        return 0
    try:
        return parse_duration(text) // 1000
    except GoParseError as exc:
        raise QueryParamError(f"unable to parse param '{name}': {exc}") from None


def _tags(params: Mapping[str, Sequence[str]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in params.get("tag", []):
        key, sep, value = tag.partition(":")
        if not sep:
            raise QueryParamError(
                f"malformed 'tag' parameter, expecting key:value, received: {tag}"
            )
        tags[key] = value
    for raw in params.get("tags", []):
        try:
            tags.update(parse_tags_json(raw))
        except GoParseError as exc:
            raise QueryParamError(
                f"malformed 'tags' parameter, cannot unmarshal JSON: {exc}"
            ) from None
    return tags


def parse_trace_query(
    params: Mapping[str, Sequence[str]], now_us: int | None = None
) -> tuple[TraceQuery | None, list[str]]:
    """(search query, trace ids): explicit ``traceID`` params are answered instead of a search."""
    now_us = int(time.time() * 1_000_000) if now_us is None else now_us
    try:
        trace_ids = [parse_trace_id(t) for t in params.get("traceID", [])]
    except GoParseError as exc:
        raise QueryParamError(f"cannot parse traceID param: {exc}") from None
    service = _first(params, "service")
    end_us = _time_param(params, "end")
    end_us = now_us if end_us is None else end_us
    start_us = _time_param(params, "start")
    if start_us is None:
        # Jaeger ignores `lookback` (its UI turns it into `start`): two days back from now.
        start_us = now_us - DEFAULT_LOOKBACK_US
    limit_text = _first(params, "limit")
    limit = parse_int64(limit_text, "limit", bits=32) if limit_text else None
    min_d, max_d = _duration_us(params, "minDuration"), _duration_us(params, "maxDuration")
    tags = _tags(params)
    if not trace_ids and not service:
        raise QueryParamError("parameter 'service' is required")
    if min_d and max_d and max_d < min_d:
        raise QueryParamError("'maxDuration' should be greater than 'minDuration'")
    if trace_ids:
        return None, trace_ids
    if start_us > end_us:  # the store's refusal, a 500 in Jaeger
        raise QueryParamError("min start time is above max", status=500)
    if start_us < 0 or min_d < 0:
        # The lab's Jaeger (Badger) indexes times and durations as unsigned 64-bit numbers:
        # a negative start or minDuration lies beyond every span, a negative max bounds none.
        start_us = end_us = INT64_MAX
    max_d = max(max_d, 0)
    query = TraceQuery(
        service=service,
        start_us=start_us,
        end_us=end_us,
        operation=(params.get("operation") or [""])[0],
        tags=tags,
        min_duration_us=min_d,
        max_duration_us=max_d,
        limit=limit if limit and limit > 0 else DEFAULT_LIMIT,
    )
    return query, []


def _as_string(tag: Mapping[str, Any]) -> str:
    """A tag value as Jaeger's KeyValue.AsString prints it."""
    value = tag.get("value")
    if tag.get("type") == "bool":
        return "true" if value else "false"
    if tag.get("type") == "float64" and isinstance(value, float):
        return format(value, ".10g")
    return str(value)


def span_matches_tags(span_json: str, process_json: str, wanted: Mapping[str, str]) -> bool:
    """True when every wanted key:value is among the span's tags, process tags or log fields."""
    span = json.loads(span_json)
    have: dict[str, set[str]] = {}
    sources = [span["tags"], json.loads(process_json)["tags"]]
    sources += [log["fields"] for log in span["logs"]]
    for tags in sources:
        for tag in tags:
            have.setdefault(tag["key"], set()).add(_as_string(tag))
    return all(value in have.get(key, ()) for key, value in wanted.items())
