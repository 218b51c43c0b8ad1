"""Compare a learner's LogQL with a reference by *results*, against the live Loki.

Logs arrive a moment after they are written (the shipper batches them), and a
line is stored at the time the gateway logged it, so a window that ends *now*
can still grow. Both queries are therefore evaluated at one fixed, settled end:
just after the newest line Loki holds. The shipper pushes lines in file order,
so every line up to that one has arrived. Two queries are the same answer when:

* log queries return the same set of ``(timestamp, line)`` entries over
  ``[end - window, end)``, whatever their stream labels;
* metric queries return, at ``end``, the same label sets with the same values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from labkit.errors import QueryError
from labkit.exercises.compare import Key, Samples, compare_samples
from labkit.exercises.core import CheckFailed, Outcome

__all__ = ["Entries", "Samples", "entries", "request_ids", "same_logql_lines",
           "same_logql_metric", "samples", "settled_end", "wait_for_requests"]

Entries = set[tuple[int, str]]

LOOKBACK_S = 3600.0  # how far back settled_end looks for the newest line
# Lines per log query: the whole answer, within real Loki's max_entries_limit_per_query (5000).
LIMIT = 5000
SELECTOR = '{job="llm-api"}'


def settled_end(lab: Any, selector: str = SELECTOR) -> float:
    """Unix seconds just after the newest line of ``selector``: a window ending here is final."""
    now = time.time()
    payload = lab.loki.fetch("/loki/api/v1/query_range", {
        "query": selector, "start": str(int((now - LOOKBACK_S) * 1e9)),
        "end": str(int(now * 1e9)), "limit": 1, "direction": "backward"})
    newest = [int(v[0]) for s in payload["data"]["result"] for v in s["values"]]
    if not newest:
        raise CheckFailed(f"Loki holds no {selector} lines from the last hour: run the cells "
                          "that generate traffic, then check again")
    return (max(newest) + 1_000_000) / 1e9  # 1 ms later: the end of a log range is exclusive


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


def _line_preview(line: str, width: int = 110) -> str:
    """A JSON line by its telling fields (they all start alike); other text cut to ``width``."""
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and any(k in obj for k in PREVIEW_FIELDS):
        return "{" + ", ".join(f"{k}={obj[k]}" for k in PREVIEW_FIELDS if k in obj) + "}"
    return line if len(line) <= width else line[:width] + "…"


def _lines(n: int) -> str:
    return f"{n} line" if n == 1 else f"{n} lines"


def same_logql_lines(lab: Any, answer: Any, reference: str, *, window_s: float,
                     end: float | None = None, require_data: bool = True) -> Outcome:
    """Both log queries return the same lines over ``[end - window_s, end)``."""
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a LogQL string, got {type(answer).__name__}")
    end = end if end is not None else settled_end(lab)
    start = end - window_s
    want = entries(lab, reference, start=start, end=end, who="the reference")
    if require_data and not want:
        raise CheckFailed("the reference finds no lines yet: run the traffic cells above, "
                          "then check again")
    got = entries(lab, answer, start=start, end=end, who="your query")
    if got == want:
        return Outcome(True, f"same {_lines(len(want))} as the reference")
    missing, extra = want - got, got - want
    parts = [f"your query returned {_lines(len(got))}, the answer has {len(want)}"]
    if missing:
        parts.append(f"missing e.g. {_line_preview(min(missing)[1])}")
    if extra:
        parts.append(f"unexpected e.g. {_line_preview(min(extra)[1])}")
    return Outcome(False, "; ".join(parts))


def same_logql_metric(lab: Any, answer: Any, reference: str, *, end: float | None = None,
                      rel: float = 1e-6, require_data: bool = True) -> Outcome:
    """Both metric queries give the same series and values at the settled end."""
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a LogQL string, got {type(answer).__name__}")
    at = end if end is not None else settled_end(lab)
    want = samples(lab, reference, at=at, who="the reference")
    if require_data and not want:
        raise CheckFailed("the reference has no data in its window: run the traffic cells "
                          "above (the lab windows are [1m]), then check again")
    got = samples(lab, answer, at=at, who="your query")
    return compare_samples(got, want, rel=rel)


def request_ids(lines: Iterable[str]) -> set[str]:
    """The request_id of every JSON line that has one."""
    found = set()
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("request_id"), str):
            found.add(obj["request_id"])
    return found


def wait_for_requests(lab: Any, ids: Iterable[str], *, since: float, timeout: float = 30.0,
                      interval: float = 0.5) -> float:
    """Wait until Loki holds a line for every request id; returns the seconds waited.

    The shipper pushes in batches about a second apart, so a query right after
    the traffic can miss the last requests.
    """
    wanted = {i for i in ids if isinstance(i, str)}
    t0 = time.monotonic()
    while True:
        found = entries(lab, f'{SELECTOR} |= "Request completed"', start=since,
                        end=time.time() + 1)
        missing = wanted - request_ids(line for _, line in found)
        if not missing:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{len(missing)} of {len(wanted)} requests have no line in Loki "
                               f"after {timeout:g}s (e.g. {sorted(missing)[0]}): is the shipper "
                               "running? Try `labkit status` and `labkit logs shipper`")
        time.sleep(interval)
