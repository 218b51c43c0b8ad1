"""LogQL into pandas: a client for Loki's HTTP API (the real Loki or labkit's stand-in).

Fetching and parsing are split: :class:`Loki` fetches raw JSON envelopes, and the pure
functions :func:`streams_to_frame`, :func:`matrix_to_frame` and :func:`vector_to_frame`
turn them into DataFrames, so the parsers are tested on saved responses.

Frame columns:

* streams: ``timestamp`` (``datetime64[ns, UTC]``), ``line``, one column per stream label,
  then the fields of the line when it is a JSON object (a field never overwrites a label);
  rows in time order, oldest first;
* matrix and vector: ``timestamp``, ``value`` (float64), then one column per label.

A label named like one of the frame's own columns (``| json`` extracts ``timestamp`` and
``line`` from the gateway's lines) is renamed ``<name>_extracted``, as Loki renames clashes.

>>> loki = Loki("http://127.0.0.1:3100")                       # doctest: +SKIP
>>> q = 'sum by (level) (count_over_time({job="llm-api"}[1m]))'
>>> loki.query_range(q, step="1m")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time as _time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import httpx
import pandas as pd

from labkit.durations import ALL_UNITS, parse_duration
from labkit.errors import QueryError
from labkit.query.http import ServiceAPI

__all__ = ["Loki", "matrix_to_frame", "streams_to_frame", "to_frame", "vector_to_frame"]

TimeLike: TypeAlias = datetime | pd.Timestamp | float | int | str


def _time_param(value: TimeLike | None) -> str | None:
    """Loki time parameter: nanoseconds for datetimes and numbers; RFC3339 strings pass through."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return str(value.value if value.tzinfo else value.tz_localize("UTC").value)
    if isinstance(value, datetime):
        return str(
            pd.Timestamp(value).tz_localize("UTC").value
            if value.tzinfo is None
            else pd.Timestamp(value).value
        )
    if isinstance(value, (int, float)):
        return str(round(value * 1e9))  # unix seconds
    text = value.strip()
    if text == "now":
        return str(_time.time_ns())
    for prefix in ("now-", "-"):
        if text.startswith(prefix):
            ago = parse_duration(text[len(prefix):], units=ALL_UNITS, what="relative time")
            return str(_time.time_ns() - int(ago * 1e9))
    return text


def _step_param(step: str | float | timedelta | None) -> str | None:
    if step is None:
        return None
    if isinstance(step, timedelta):
        return f"{step.total_seconds():g}"
    if isinstance(step, (int, float)):
        return f"{step:g}"
    return step


def _data(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    return (
        payload["data"] if "data" in payload and isinstance(payload["data"], Mapping) else payload
    )


def _own_columns_suffixed(
    labels: Mapping[str, str], reserved: tuple[str, ...] = ("timestamp", "line")
) -> dict[str, str]:
    """Labels named like the frame's own columns get ``_extracted``, as Loki suffixes clashes.

    ``| json`` on the gateway's lines extracts ``timestamp`` (RFC3339 text) and ``line``
    (the source line number); they must not replace the entry's time, text or value.
    """
    out: dict[str, str] = {}
    for name, value in labels.items():
        key = name
        while key in reserved or (key != name and key in labels):
            key += "_extracted"
        out[key] = value
    return out


def streams_to_frame(payload: Mapping[str, Any]) -> pd.DataFrame:
    """A ``streams`` result as one row per line (see the module docstring for columns)."""
    rows: list[dict[str, Any]] = []
    label_cols: list[str] = []
    field_cols: list[str] = []
    for stream in _data(payload).get("result", []):
        labels = _own_columns_suffixed(stream.get("stream", {}))
        for name in labels:
            if name not in label_cols:
                label_cols.append(name)
        for entry in stream.get("values", []):
            ts, line = entry[0], entry[1]
            row: dict[str, Any] = {"timestamp": int(ts), "line": line, **labels}
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = None
                if isinstance(obj, dict):
                    for k, v in obj.items():
                        if k not in row:  # labels, timestamp and line win over fields
                            row[k] = v
                            if k not in field_cols:
                                field_cols.append(k)
            rows.append(row)
    labels_sorted = sorted(label_cols)
    columns = [
        "timestamp",
        "line",
        *labels_sorted,
        *[c for c in field_cols if c not in labels_sorted],
    ]
    if not rows:
        return pd.DataFrame(
            {
                "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
                "line": pd.Series([], dtype="object"),
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ns", utc=True)
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _sample_frame(points: list[tuple[Any, float, Mapping[str, str]]]) -> pd.DataFrame:
    points = [
        (t, v, _own_columns_suffixed(labels, ("timestamp", "value"))) for t, v, labels in points
    ]
    label_cols = sorted({k for _, _, labels in points for k in labels})
    if not points:
        return pd.DataFrame(
            {
                "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
                "value": pd.Series([], dtype="float64"),
            }
        )
    frame = pd.DataFrame(
        [{"timestamp": t, "value": v, **labels} for t, v, labels in points],
        columns=["timestamp", "value", *label_cols],
    )
    seconds = frame["timestamp"].astype("float64")
    frame["timestamp"] = pd.to_datetime(seconds * 1e3, unit="ms", utc=True).dt.round("ms")
    frame["value"] = frame["value"].astype("float64")
    return frame


def matrix_to_frame(payload: Mapping[str, Any]) -> pd.DataFrame:
    """A ``matrix`` result as a tidy frame: timestamp, value, one column per label."""
    points = [
        (t, float(v), s.get("metric", {}))
        for s in _data(payload).get("result", [])
        for t, v in s.get("values", [])
    ]
    return _sample_frame(points)


def vector_to_frame(payload: Mapping[str, Any]) -> pd.DataFrame:
    """A ``vector`` (or ``scalar``) result: timestamp, value, one column per label."""
    data = _data(payload)
    if data.get("resultType") == "scalar":
        t, v = data["result"]
        return _sample_frame([(t, float(v), {})])
    return _sample_frame(
        [(s["value"][0], float(s["value"][1]), s.get("metric", {})) for s in data.get("result", [])]
    )


def to_frame(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Dispatch on ``resultType``."""
    kind = _data(payload).get("resultType")
    if kind == "streams":
        return streams_to_frame(payload)
    if kind == "matrix":
        return matrix_to_frame(payload)
    if kind in ("vector", "scalar"):
        return vector_to_frame(payload)
    raise QueryError(
        f"unknown Loki resultType {kind!r}: expected streams, matrix, vector or scalar"
    )


class Loki(ServiceAPI):
    """A Loki HTTP API client returning DataFrames; errors raise :class:`QueryError`."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:3100",
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            url, service="Loki", timeout=timeout, transport=transport,
            timeout_hint="query a shorter range, a smaller limit, or Loki(url, timeout=...)")

    def fetch(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET ``path`` and return the decoded JSON envelope."""
        clean = {k: v for k, v in params.items() if v is not None}
        what = f"the query {clean['query']!r}" if "query" in clean else path
        answer = self._http.json("GET", path, params=clean, what=what)
        if not isinstance(answer, dict):
            raise QueryError(f"Loki at {self.url}{path} answered {str(answer)[:200]!r}, "
                             "not a JSON object")
        return answer

    def query(
        self,
        logql: str,
        *,
        time: TimeLike | None = None,
        limit: int = 100,
        direction: str = "backward",
    ) -> pd.DataFrame:
        """An instant query (metric queries; Loki refuses log queries here)."""
        return to_frame(
            self.fetch(
                "/loki/api/v1/query",
                {"query": logql, "time": _time_param(time), "limit": limit, "direction": direction},
            )
        )

    def query_range(
        self,
        logql: str,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        step: str | float | timedelta | None = None,
        limit: int = 1000,
        direction: str = "backward",
    ) -> pd.DataFrame:
        """A range query: streams for log queries, a tidy matrix for metric queries."""
        return to_frame(
            self.fetch(
                "/loki/api/v1/query_range",
                {
                    "query": logql,
                    "start": _time_param(start),
                    "end": _time_param(end),
                    "step": _step_param(step),
                    "limit": limit,
                    "direction": direction,
                },
            )
        )

    def labels(self, *, start: TimeLike | None = None, end: TimeLike | None = None) -> list[str]:
        return list(
            self.fetch(
                "/loki/api/v1/labels", {"start": _time_param(start), "end": _time_param(end)}
            )["data"]
            or []
        )

    def label_values(
        self, name: str, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> list[str]:
        return list(
            self.fetch(
                f"/loki/api/v1/label/{name}/values",
                {"start": _time_param(start), "end": _time_param(end)},
            )["data"]
            or []
        )

    def series(self, match: str | Iterable[str]) -> list[dict[str, str]]:
        matches = [match] if isinstance(match, str) else list(match)
        return list(self.fetch("/loki/api/v1/series", {"match[]": matches})["data"] or [])

    def ready(self) -> bool:
        try:
            return self._http.send("GET", "/ready").text.strip() == "ready"
        except QueryError:
            return False

    def push(
        self, lines: Iterable[str | Mapping[str, Any] | tuple[Any, str]], labels: Mapping[str, str]
    ) -> int:
        """Push lines (strings, dicts sent as JSON, or (time, line) pairs) as one stream.

        Lines without a time get the current time, one nanosecond apart, in order.
        """
        base = _time.time_ns()
        values = []
        for i, item in enumerate(lines):
            if isinstance(item, tuple):
                ts = _time_param(item[0])
                line = item[1]
            else:
                ts = str(base + i)
                line = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
            values.append([ts, line])
        if not values:
            return 0
        body = {"streams": [{"stream": dict(labels), "values": values}]}
        self._http.request("POST", "/loki/api/v1/push", json=body, what="the pushed lines")
        return len(values)
