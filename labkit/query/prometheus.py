"""PromQL into pandas: a client for Prometheus's HTTP API.

Fetching and parsing are split: :class:`Prometheus` fetches raw JSON envelopes and
:func:`vector_to_frame` / :func:`matrix_to_frame` turn them into tidy DataFrames, so the
parsers are tested on saved responses with no server.

Frame columns (both parsers):

* one column per label, sorted, with ``__name__`` renamed ``metric`` and put first;
* ``timestamp``: ``datetime64[ns, UTC]``;
* ``value``: ``float64`` (``NaN``/``+Inf`` kept as floats).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pandas as pd

from labkit.durations import parse_duration
from labkit.errors import QueryError, QueryParseError
from labkit.query.http import ServiceAPI

__all__ = ["Prometheus", "matrix_to_frame", "parse_time", "vector_to_frame"]

TimeLike = datetime | float | int | str
_MISSING: Any = object()
def parse_time(value: TimeLike | None, *, now: float | None = None) -> float:
    """Unix seconds for a datetime, a unix number, or ``"now"`` / ``"-5m"`` / ``"now-5m"``.

    Naive datetimes are local time, as ``datetime.timestamp()`` treats them.

    >>> parse_time("-5m", now=1000.0)
    700.0
    """
    now = _time.time() if now is None else now
    if value is None:
        return now
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text == "now":
            return now
        for prefix in ("now-", "-"):
            if text.startswith(prefix):
                return now - parse_duration(text[len(prefix):])
    raise ValueError(
        f"cannot read time {value!r}: pass a datetime, unix seconds, 'now', or a relative "
        "time like '-5m' or 'now-1h'"
    )


def _step_param(step: str | float | timedelta) -> str:
    if isinstance(step, timedelta):
        return f"{step.total_seconds():g}s"
    if isinstance(step, (int, float)):
        return f"{step:g}s"
    parse_duration(step)  # fail here, with a clear message, rather than as a 400 later
    return step


def _result(payload: dict[str, Any], expected: str) -> list[dict[str, Any]]:
    data = payload.get("data")
    if payload.get("status") != "success" or not isinstance(data, dict):
        raise QueryError(f"not a successful Prometheus query response: {str(payload)[:200]}")
    kind = data.get("resultType")
    if kind != expected:
        raise QueryError(f"expected a {expected} result, got {kind!r}")
    return list(data.get("result") or [])


def _utc(seconds: Any) -> pd.Series:
    """Prometheus timestamps (float seconds, millisecond precision) as UTC datetimes."""
    millis = (pd.Series(seconds, dtype="float64") * 1000).round().astype("int64")
    return pd.to_datetime(millis, unit="ms", utc=True).astype("datetime64[ns, UTC]")


def _frame(rows: list[dict[str, Any]], label_keys: set[str]) -> pd.DataFrame:
    labels = (["__name__"] if "__name__" in label_keys else []) + sorted(label_keys - {"__name__"})
    frame = pd.DataFrame(rows, columns=[*labels, "_ts", "_v"])
    frame["timestamp"] = _utc(frame.pop("_ts"))
    frame["value"] = frame.pop("_v").astype("float64")
    return frame.rename(columns={"__name__": "metric"})


def vector_to_frame(payload: dict[str, Any]) -> pd.DataFrame:
    """One row per series of an instant-vector response (``/api/v1/query``).

    Scalar and string results become one row with ``timestamp`` and ``value`` (a string
    result keeps its text in ``value``).
    """
    kind = (payload.get("data") or {}).get("resultType")
    if kind in ("scalar", "string"):
        ts, raw = payload["data"]["result"]
        value: Any = float(raw) if kind == "scalar" else raw
        return pd.DataFrame(
            {"timestamp": _utc([float(ts)]), "value": [value]}
        )
    rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    for item in _result(payload, "vector"):
        ts, raw = item.get("value", (math.nan, "NaN"))
        rows.append({**item["metric"], "_ts": float(ts), "_v": float(raw)})
        keys.update(item["metric"])
    return _frame(rows, keys)


def matrix_to_frame(payload: dict[str, Any]) -> pd.DataFrame:
    """One row per (series, sample) of a range response (``/api/v1/query_range``), tidy."""
    rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    for item in _result(payload, "matrix"):
        keys.update(item["metric"])
        for ts, raw in item.get("values", []):
            rows.append({**item["metric"], "_ts": float(ts), "_v": float(raw)})
    return _frame(rows, keys)


class Prometheus(ServiceAPI):
    """Run PromQL against a Prometheus server and get pandas DataFrames back.

    >>> prom = Prometheus("http://127.0.0.1:9090")                  # doctest: +SKIP
    >>> prom.query("up")[["job", "value"]]                          # doctest: +SKIP
    >>> prom.query_range("rate(llm_requests_total[1m])", start="-5m", step="5s")  # doctest: +SKIP
    >>> prom.scalar("sum(up)")                                      # doctest: +SKIP
    3.0
    """

    def __init__(
        self, url: str = "http://127.0.0.1:9090", *, timeout: float = 10.0,
        headers: dict[str, str] | None = None, transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            url, service="Prometheus", timeout=timeout, headers=headers, transport=transport,
            timeout_hint="try a shorter range, a larger step, or Prometheus(url, timeout=...)")

    # -- fetching: raw JSON envelopes -------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None,
            *, promql: str | None = None) -> dict[str, Any]:
        """GET ``{url}{path}`` and return the JSON envelope, or raise a labkit QueryError."""
        what = f"the query {promql!r}" if promql is not None else path
        resp = self._http.request("GET", path, params=params, what=what, json_errors=True)
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "success":
            return body
        raise self._http.error(resp, what, json_errors=True)

    def fetch(self, promql: str, *, time: TimeLike | None = None) -> dict[str, Any]:
        """The raw ``/api/v1/query`` envelope for an instant query."""
        params: dict[str, Any] = {"query": promql}
        if time is not None:
            params["time"] = parse_time(time)
        return self.get("/api/v1/query", params, promql=promql)

    def fetch_range(self, promql: str, *, start: TimeLike = "-5m", end: TimeLike | None = None,
                    step: str | float | timedelta = "5s") -> dict[str, Any]:
        """The raw ``/api/v1/query_range`` envelope."""
        now = _time.time()
        t0, t1 = parse_time(start, now=now), parse_time(end, now=now)
        step_s = _step_param(step)
        if t1 < t0:
            raise ValueError(f"range ends before it starts (start={start!r}, end={end!r})")
        points = (t1 - t0) / parse_duration(step_s)
        if points > 11_000:  # Prometheus refuses more than 11,000 points per series
            raise ValueError(f"{points:.0f} points per series is too many; use a larger step")
        params = {"query": promql, "start": t0, "end": t1, "step": step_s}
        return self.get("/api/v1/query_range", params, promql=promql)

    # -- frames -------------------------------------------------------------------------

    def query(self, promql: str, *, time: TimeLike | None = None) -> pd.DataFrame:
        """Instant query: one row per series (see :func:`vector_to_frame` for columns)."""
        payload = self.fetch(promql, time=time)
        is_matrix = payload["data"].get("resultType") == "matrix"  # e.g. ``up[1m]``
        frame = matrix_to_frame(payload) if is_matrix else vector_to_frame(payload)
        frame.attrs["warnings"] = payload.get("warnings", [])
        return frame

    def query_range(self, promql: str, *, start: TimeLike = "-5m", end: TimeLike | None = None,
                    step: str | float | timedelta = "5s") -> pd.DataFrame:
        """Range query, tidy: one row per (series, timestamp); see :func:`matrix_to_frame`."""
        payload = self.fetch_range(promql, start=start, end=end, step=step)
        frame = matrix_to_frame(payload)
        frame.attrs["warnings"] = payload.get("warnings", [])
        return frame

    def scalar(self, promql: str, *, time: TimeLike | None = None,
               default: float = _MISSING) -> float:
        """The single number a query returns; ``default`` if it returns nothing."""
        frame = self.query(promql, time=time)
        if len(frame) == 1:
            return float(frame["value"].iloc[0])
        if frame.empty:
            if default is not _MISSING:
                return default
            raise QueryError(f"{promql!r} returned no data — is there traffic yet? "
                             "(pass default=0.0 to accept an empty result)")
        raise QueryError(f"{promql!r} returned {len(frame)} series, expected one; "
                         "aggregate it, e.g. sum(...) or sum by (label) (...) and pick one")

    def series(self, match: str | list[str], *, start: TimeLike | None = None,
               end: TimeLike | None = None) -> pd.DataFrame:
        """Label sets of the series matching one or more selectors, one row each."""
        matches = [match] if isinstance(match, str) else list(match)
        params: list[tuple[str, Any]] = [("match[]", m) for m in matches]
        params += [(k, parse_time(v)) for k, v in (("start", start), ("end", end)) if v is not None]
        data = self.get("/api/v1/series", params, promql=", ".join(matches))["data"]
        keys = {k for d in data for k in d}
        cols = (["__name__"] if "__name__" in keys else []) + sorted(keys - {"__name__"})
        return pd.DataFrame(data, columns=cols).rename(columns={"__name__": "metric"})

    def label_values(self, name: str) -> list[str]:
        """Every value the label ``name`` takes, e.g. ``label_values("job")``."""
        return [str(v) for v in self.get(f"/api/v1/label/{name}/values")["data"]]

    def ready(self) -> bool:
        """Whether Prometheus answers ``/-/ready`` with 200 (False if unreachable)."""
        try:
            return self._http.send("GET", "/-/ready").status_code == 200
        except QueryError:
            return False

    def targets(self) -> pd.DataFrame:
        """Active scrape targets: job, instance, health, lastError, scrapeUrl, lastScrape..."""
        data = self.get("/api/v1/targets", {"state": "active"})["data"]
        rows = [{
            "job": t["labels"].get("job", t.get("scrapePool", "")),
            "instance": t["labels"].get("instance", ""),
            "health": t.get("health", "unknown"),
            "lastError": t.get("lastError", ""),
            "scrapeUrl": t.get("scrapeUrl", ""),
            "lastScrape": pd.Timestamp(t["lastScrape"]) if t.get("lastScrape") else pd.NaT,
            "lastScrapeDuration": float(t.get("lastScrapeDuration", math.nan)),
        } for t in data.get("activeTargets", [])]
        columns = ["job", "instance", "health", "lastError", "scrapeUrl", "lastScrape",
                   "lastScrapeDuration"]
        return pd.DataFrame(rows, columns=columns)

    def wait_for(self, promql: str, predicate: Callable[[pd.DataFrame], bool] | None = None, *,
                 timeout: float = 30.0, interval: float = 1.0) -> pd.DataFrame:
        """Poll ``promql`` until ``predicate(frame)`` holds (default: any data); return the frame.

        Scrapes land every few seconds, so a fresh metric needs a moment to appear.

        >>> prom.wait_for("llm_requests_total", lambda f: f.value.sum() >= 10)  # doctest: +SKIP
        """
        check = predicate or (lambda frame: not frame.empty)
        deadline = _time.monotonic() + timeout
        last = "no answer yet"
        while True:
            try:
                frame = self.query(promql)
                if check(frame):
                    return frame
                last = _describe(frame)
            except QueryParseError:
                raise  # a typo will not fix itself by waiting
            except QueryError as exc:
                last = f"error: {exc}"
            if _time.monotonic() >= deadline:
                raise QueryError(f"{promql!r} did not satisfy the condition within {timeout:g}s; "
                                 f"last result: {last}")
            _time.sleep(min(interval, max(0.0, deadline - _time.monotonic())))


def _describe(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "no data"
    values = ", ".join(f"{v:g}" for v in frame["value"].head(5))
    more = f" (+{len(frame) - 5} more)" if len(frame) > 5 else ""
    return f"{len(frame)} series, values [{values}]{more}"
