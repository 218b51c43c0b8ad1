"""Traces into pandas: a client for Jaeger's query HTTP API and trace analysis helpers.

Fetching and parsing are split: :class:`Jaeger` fetches Jaeger's JSON envelopes and
:func:`traces_to_frame` turns them into a span DataFrame, one row per span:

* ``trace_id``, ``span_id`` (hex strings), ``parent_id`` (the CHILD_OF parent, None for roots);
* ``service``, ``operation``;
* ``start``: ``datetime64[ns, UTC]``; ``duration_ms``: float;
* ``status``: ``"error"``, ``"ok"`` or ``"unset"`` (from ``otel.status_code`` / ``error=true``);
* ``attributes``: dict of the span's tags.

:func:`trace_tree`, :func:`critical_path` and :func:`trace_logs` work on such a frame
(:func:`labkit.plots.plot_waterfall` draws one).
"""

from __future__ import annotations

import json
import re
import time as _time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx
import pandas as pd

from labkit.durations import ALL_UNITS, GO_UNITS, parse_duration
from labkit.query.http import ServiceAPI
from labkit.query.traces import PathSpan, SpanNode, critical_path, trace_tree

__all__ = [
    "COLUMNS",
    "Jaeger",
    "PathSpan",
    "SpanNode",
    "critical_path",
    "trace_logs",
    "trace_tree",
    "traces_to_frame",
]

COLUMNS = [
    "trace_id",
    "span_id",
    "parent_id",
    "service",
    "operation",
    "start",
    "duration_ms",
    "status",
    "attributes",
]


def _go_duration(value: str | timedelta | float, what: str) -> str:
    """A Go duration string for Jaeger; numbers are milliseconds, like ``duration_ms``."""
    if isinstance(value, str):
        parse_duration(value, units=GO_UNITS, what=what)  # fail here, not in a 400 later
        return value
    ms = value.total_seconds() * 1000 if isinstance(value, timedelta) else float(value)
    return f"{round(ms * 1000)}us"


def _micros(value: datetime | pd.Timestamp | float) -> int:
    if isinstance(value, (int, float)):
        return int(value * 1_000_000)  # unix seconds
    return int(pd.Timestamp(value).timestamp() * 1_000_000)


class Jaeger(ServiceAPI):
    """Search traces in Jaeger (or labkit's stand-in) and get span DataFrames back.

    >>> jaeger = Jaeger("http://127.0.0.1:16686")                         # doctest: +SKIP
    >>> spans = jaeger.find_traces("llm-api", min_duration="500ms")       # doctest: +SKIP
    >>> spans.groupby("operation").duration_ms.quantile(0.95)             # doctest: +SKIP
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:16686",
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            url, service="Jaeger", timeout=timeout, transport=transport,
            timeout_hint="narrow the search (a smaller limit or lookback) or use "
                         "Jaeger(url, timeout=...)")

    def get(self, path: str, params: Any = None) -> Any:
        """GET ``{url}{path}`` and return the JSON envelope, or raise a labkit QueryError."""
        # Jaeger sends its JSON error envelope as text/plain; a 200 must be an object too.
        resp = self._http.request("GET", path, params=params, what=path, json_errors=True)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        raise self._http.error(resp, path, json_errors=True)

    def services(self) -> list[str]:
        """Names of the services that sent spans."""
        return sorted(self.get("/api/services")["data"] or [])

    def operations(self, service: str) -> list[str]:
        """Operation (span) names of a service."""
        return sorted(
            self.get(f"/api/services/{httpx.URL(service).raw_path.decode()}/operations")["data"]
            or []
        )

    def fetch_traces(
        self,
        service: str,
        *,
        operation: str | None = None,
        tags: Mapping[str, Any] | None = None,
        min_duration: str | timedelta | float | None = None,
        max_duration: str | timedelta | float | None = None,
        start: datetime | float | None = None,
        end: datetime | float | None = None,
        lookback: str | timedelta = "1h",
        limit: int = 20,
    ) -> dict[str, Any]:
        """The raw ``/api/traces`` envelope of a search (see :meth:`find_traces`)."""
        if not service:
            raise ValueError("service is required: see Jaeger.services() for the names")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        end_us = _micros(end) if end is not None else int(_time.time() * 1_000_000)
        start_us = (
            _micros(start)
            if start is not None
            else end_us - int(parse_duration(lookback, units=ALL_UNITS, what="lookback") * 1e6)
        )
        if start_us > end_us:
            raise ValueError(
                f"the search window ends before it starts (start={start!r}, end={end!r})"
            )
        params: dict[str, Any] = {
            "service": service,
            "start": start_us,
            "end": end_us,
            "limit": limit,
        }
        if operation:
            params["operation"] = operation
        if tags:
            # Jaeger compares tag values as strings: True -> "true", 200 -> "200".
            params["tags"] = json.dumps(
                {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in tags.items()}
            )
        if min_duration is not None:
            params["minDuration"] = _go_duration(min_duration, "min_duration")
        if max_duration is not None:
            params["maxDuration"] = _go_duration(max_duration, "max_duration")
        return self.get("/api/traces", params)

    def find_traces(self, service: str, **search: Any) -> pd.DataFrame:
        """Spans of the most recent traces that have a span matching the search.

        Keywords: ``operation``, ``tags`` (dict), ``min_duration`` / ``max_duration``
        (Go duration strings like ``"1.2s"``, timedeltas, or numbers of milliseconds),
        ``start`` / ``end`` (datetimes or unix seconds), ``lookback="1h"``, ``limit=20``
        (traces, not spans).
        """
        return traces_to_frame(self.fetch_traces(service, **search))

    def trace(self, trace_id: str) -> pd.DataFrame:
        """All spans of one trace; a QueryHTTPError (status 404) when Jaeger has no such trace."""
        if not re.fullmatch(r"[0-9a-fA-F]{1,32}", trace_id or ""):
            raise ValueError(f"trace id {trace_id!r} is not 1 to 32 hexadecimal digits")
        return traces_to_frame(self.get(f"/api/traces/{trace_id}"))


def _tag_value(tag: Mapping[str, Any]) -> Any:
    value = tag.get("value")
    if tag.get("type") == "int64" and isinstance(value, str):
        return int(value)  # Jaeger sends integers beyond 2**53 as strings
    return value


def _status(tags: Mapping[str, Any]) -> str:
    code = tags.get("otel.status_code")
    if code == "ERROR" or tags.get("error") in (True, "true"):
        return "error"
    return "ok" if code == "OK" else "unset"


def traces_to_frame(payload: Mapping[str, Any] | list[Any]) -> pd.DataFrame:
    """A span DataFrame (see the module docstring) from a ``/api/traces`` envelope or trace list."""
    traces = payload.get("data") if isinstance(payload, Mapping) else payload
    rows = []
    for trace in traces or []:
        processes = trace.get("processes") or {}
        for span in trace.get("spans") or []:
            tags = {t["key"]: _tag_value(t) for t in span.get("tags") or []}
            parent = next(
                (
                    r["spanID"]
                    for r in span.get("references") or []
                    if r.get("refType") == "CHILD_OF"
                ),
                None,
            )
            process = processes.get(span.get("processID"), span.get("process") or {})
            rows.append(
                (
                    span["traceID"],
                    span["spanID"],
                    parent,
                    process.get("serviceName", ""),
                    span["operationName"],
                    span["startTime"],
                    span["duration"] / 1000.0,
                    _status(tags),
                    tags,
                )
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["start"] = pd.to_datetime(frame["start"].astype("int64"), unit="us", utc=True)
    frame["duration_ms"] = frame["duration_ms"].astype("float64")
    # pandas 3 would store a missing parent as NaN in a string column; keep None.
    frame["parent_id"] = pd.Series(
        [p if isinstance(p, str) else None for p in frame["parent_id"]],
        index=frame.index,
        dtype=object,
    )
    return frame.sort_values(["trace_id", "start", "span_id"], ignore_index=True)


def trace_logs(
    trace_id: str,
    loki: Any,
    *,
    job: str = "llm-api",
    start: Any = None,
    end: Any = None,
    limit: int = 1000,
) -> pd.DataFrame:
    """The log lines of a trace, fetched from Loki by ``trace_id``.

    ``loki`` is a :class:`labkit.query.loki.Loki` or its URL. Runs
    ``{job="llm-api"} | json | trace_id="<32 hex digits>"``.
    """
    if not re.fullmatch(r"[0-9a-fA-F]{1,32}", trace_id or ""):
        raise ValueError(f"trace id {trace_id!r} is not 1 to 32 hexadecimal digits")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", job):
        raise ValueError(f"job {job!r} may hold only letters, digits and _.:-")
    if isinstance(loki, str):
        from labkit.query.loki import Loki  # lazy: only this helper needs the logs client

        loki = Loki(loki)
    # Jaeger prints ids with a zero high half as 16 digits; logs carry all 32.
    logql = f'{{job="{job}"}} | json | trace_id="{trace_id.lower().rjust(32, "0")}"'
    window = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    return loki.query_range(logql, limit=limit, **window)
