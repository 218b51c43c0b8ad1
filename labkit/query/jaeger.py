"""Traces into pandas: a client for Jaeger's query HTTP API and trace analysis helpers.

Fetching and parsing are split: :class:`Jaeger` fetches Jaeger's JSON envelopes and
:func:`traces_to_frame` turns them into a span DataFrame, one row per span:

* ``trace_id``, ``span_id`` (hex strings), ``parent_id`` (the CHILD_OF parent, None for roots);
* ``service``, ``operation``;
* ``start``: ``datetime64[ns, UTC]``; ``duration_ms``: float;
* ``status``: ``"error"``, ``"ok"`` or ``"unset"`` (from ``otel.status_code`` / ``error=true``);
* ``attributes``: dict of the span's tags.

:func:`trace_tree`, :func:`critical_path`, :func:`plot_waterfall` and :func:`trace_logs`
work on such a frame.
"""

from __future__ import annotations

import json
import re
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

import httpx
import pandas as pd

from labkit.errors import QueryError, QueryHTTPError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "COLUMNS",
    "Jaeger",
    "PathSpan",
    "SpanNode",
    "critical_path",
    "plot_waterfall",
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
_LOOKBACK = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h|d)")
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(value: str | timedelta | float, what: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)):
        return float(value)
    parts = _LOOKBACK.findall(value.strip())
    if not parts or "".join(n + u for n, u in parts) != value.strip():
        raise ValueError(f"{what} {value!r} is not a duration; use e.g. '500ms', '15m', '1h', '2d'")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _go_duration(value: str | timedelta | float, what: str) -> str:
    """A Go duration string for Jaeger; numbers are milliseconds, like ``duration_ms``."""
    if isinstance(value, str):
        _seconds(value.replace("µs", "us"), what)  # validate here, not in a 400 later
        return value
    ms = value.total_seconds() * 1000 if isinstance(value, timedelta) else float(value)
    return f"{round(ms * 1000)}us"


def _micros(value: datetime | pd.Timestamp | float) -> int:
    if isinstance(value, (int, float)):
        return int(value * 1_000_000)  # unix seconds
    return int(pd.Timestamp(value).timestamp() * 1_000_000)


class Jaeger:
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
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Jaeger URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"Jaeger({self.url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def get(self, path: str, params: Any = None) -> Any:
        """GET ``{url}{path}`` and return the JSON envelope, or raise a labkit QueryError."""
        try:
            resp = self._client.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise QueryError(
                f"Jaeger at {self.url} did not answer {path} within {self.timeout:g}s; "
                "narrow the search (a smaller limit or lookback) or use Jaeger(url, timeout=...)"
            ) from exc
        except httpx.TransportError as exc:
            raise QueryError(
                f"cannot reach Jaeger at {self.url}: {type(exc).__name__}: {exc}. "
                "Is the lab running? Start it with `labkit up`; `labkit status` shows its URLs."
            ) from exc
        try:
            body = resp.json()  # Jaeger sends its JSON error envelope as text/plain
        except ValueError:
            body = None
        if resp.status_code == 200 and isinstance(body, dict):
            return body
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            message = "; ".join(str(e.get("msg", e)) for e in errors)
            text = f"Jaeger answered HTTP {resp.status_code} for {path}: {message}"
        else:
            text = (
                f"{resp.url} answered HTTP {resp.status_code} without a Jaeger error body "
                f"({resp.text[:120]!r}); is {self.url} really Jaeger's query API?"
            )
        raise QueryHTTPError(text, url=str(resp.url), status=resp.status_code, body=resp.text)

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
            else end_us - int(_seconds(lookback, "lookback") * 1e6)
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


@dataclass
class SpanNode:
    """A span in a trace tree, with its children sorted by start time."""

    span_id: str
    operation: str
    service: str
    start: pd.Timestamp
    duration_ms: float
    status: str
    depth: int = 0
    children: list[SpanNode] = field(default_factory=list)

    @property
    def end(self) -> pd.Timestamp:
        return self.start + pd.Timedelta(milliseconds=self.duration_ms)

    def walk(self) -> list[SpanNode]:
        """This span and its descendants, depth first, in start order."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def _one_trace(frame: pd.DataFrame, trace_id: str | None) -> pd.DataFrame:
    ids = frame["trace_id"].unique()
    if trace_id is None:
        if len(ids) != 1:
            raise ValueError(
                f"the frame holds {len(ids)} traces; pass trace_id= (one of {list(ids)[:3]}...)"
            )
        return frame
    spans = frame[frame["trace_id"] == trace_id]
    if spans.empty:
        raise ValueError(f"trace {trace_id!r} is not in the frame; it holds {list(ids)[:3]}...")
    return spans


def trace_tree(frame: pd.DataFrame, trace_id: str | None = None) -> list[SpanNode]:
    """The root spans of one trace, holding their children (an orphan span is a root)."""
    spans = _one_trace(frame, trace_id).sort_values(["start", "span_id"])
    nodes = {
        r.span_id: SpanNode(r.span_id, r.operation, r.service, r.start, r.duration_ms, r.status)
        for r in spans.itertuples()
    }
    roots: list[SpanNode] = []
    for r in spans.itertuples():
        parent = nodes.get(r.parent_id) if r.parent_id else None
        (parent.children if parent is not None else roots).append(nodes[r.span_id])

    def set_depth(node: SpanNode, depth: int) -> None:
        node.depth = depth
        for child in node.children:
            set_depth(child, depth + 1)

    for root in roots:
        set_depth(root, 0)
    return roots


@dataclass(frozen=True)
class PathSpan:
    """A span on the critical path and the time it spends there (its self time on the path)."""

    span_id: str
    operation: str
    service: str
    self_ms: float


def critical_path(frame: pd.DataFrame, trace_id: str | None = None) -> list[PathSpan]:
    """The spans on a trace's critical path, in time order, with the time each contributes.

    The standard algorithm (as the Jaeger UI computes it): children are first clipped to
    their parent's interval; from the root, step into the child that finishes last; from
    a span with no such child, return to the parent at the span's start and step into
    the latest child finishing by then. Time not covered by a chosen child is the
    span's self time. The self times add up to the root's duration.
    """
    spans = _one_trace(frame, trace_id)
    t0 = spans["start"].min()
    us = {
        r.span_id: [int((r.start - t0) / pd.Timedelta(microseconds=1)), 0, r.parent_id, r]
        for r in spans.itertuples()
    }
    for entry in us.values():
        entry[1] = entry[0] + round(entry[3].duration_ms * 1000)
    children: dict[str, list[str]] = {}
    roots = []
    for span_id, (_, _, parent, _) in us.items():
        if parent in us:
            children.setdefault(parent, []).append(span_id)
        else:
            roots.append(span_id)
    root = max(roots, key=lambda s: (us[s][1] - us[s][0], -us[s][0]))

    # Clip children into their parent's interval; drop those wholly outside it.
    stack, kids = [root], {}
    while stack:
        span = stack.pop()
        start, end = us[span][0], us[span][1]
        inside = []
        for child in children.get(span, []):
            us[child][0], us[child][1] = max(us[child][0], start), min(us[child][1], end)
            if us[child][0] < us[child][1]:  # zero-width spans add no time to any path
                inside.append(child)
                stack.append(child)
        kids[span] = sorted(inside, key=lambda c: (-us[c][1], c))  # latest end first

    self_us: dict[str, int] = {}
    first_at: dict[str, int] = {}
    visited: set[str] = set()
    span = root
    returning: int | None = None
    while True:
        visited.add(span)
        bound = us[span][1] if returning is None else returning
        nxt = next((c for c in kids[span] if c not in visited and us[c][1] <= bound), None)
        section_start = us[nxt][1] if nxt is not None else us[span][0]
        if bound > section_start:
            self_us[span] = self_us.get(span, 0) + bound - section_start
            first_at[span] = min(first_at.get(span, section_start), section_start)
        if nxt is not None:
            span, returning = nxt, None
        elif span == root:
            break
        else:
            span, returning = str(us[span][2]), us[span][0]
    ordered = sorted(self_us, key=lambda s: (first_at[s], us[s][0]))
    return [PathSpan(s, us[s][3].operation, us[s][3].service, self_us[s] / 1000.0) for s in ordered]


def plot_waterfall(
    frame: pd.DataFrame, trace_id: str | None = None, ax: Axes | None = None
) -> Axes:
    """A Gantt chart of one trace: a bar per span, indented by depth, error spans in red."""
    import matplotlib.pyplot as plt  # lazy: only plotting needs matplotlib

    nodes = [n for root in trace_tree(frame, trace_id) for n in root.walk()]
    t0 = min(n.start for n in nodes)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.4 * len(nodes) + 1.2))
    total = max((n.end - t0) / pd.Timedelta(milliseconds=1) for n in nodes) or 1.0
    for i, n in enumerate(nodes):
        left = (n.start - t0) / pd.Timedelta(milliseconds=1)
        color = "tab:red" if n.status == "error" else "tab:blue"
        # A minimum width keeps sub-pixel spans visible.
        ax.barh(i, max(n.duration_ms, total / 500), left=left, color=color, height=0.6)
        ax.text(
            left + n.duration_ms + total / 100,
            i,
            f"{n.duration_ms:.1f} ms",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(nodes)))
    ax.set_yticklabels(
        ["    " * n.depth + f"{n.service}: {n.operation}" for n in nodes],
        fontfamily="monospace",
        fontsize=8,
    )
    ax.set_ylim(len(nodes) - 0.5, -0.5)  # first span at the top
    ax.set_xlabel("milliseconds since the trace started")
    shown = trace_id if trace_id is not None else frame["trace_id"].iloc[0]
    ax.set_title(f"trace {shown}")
    return ax


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
